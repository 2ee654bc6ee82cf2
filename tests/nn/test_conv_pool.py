"""Conv2d and the pooling layers against PyTorch, and their gradients against finite
differences."""
import math
from types import SimpleNamespace

import numpy as np
import pytest

import nyang
import nyang.functional.conv as conv_ops
import nyang.functional.pooling as pool_ops
from nyang.nn.conv import Conv2d
from nyang.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from tests.oracle import assert_close, check_gradients, check_op, to_numpy, torch

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
TF = torch.nn.functional
# rtol 1e-5 as everywhere; the atol 1e-5 is for elements near 0: a convolution output or
# gradient is a float32 sum of C*kh*kw (or N*OH*OW) products whose terms cancel, and the two
# libraries add them in different orders (blocked GEMMs), so an element of size ~1e-6 can
# differ by more than 1e-5 of itself while agreeing to 1e-7 of the sum's magnitude (~1).
TOL = dict(rtol=1e-5, atol=1e-5)
# nyang's layers under torch.nn's names, so one builder makes both models
NN = SimpleNamespace(Conv2d=Conv2d, MaxPool2d=MaxPool2d, AvgPool2d=AvgPool2d, AdaptiveAvgPool2d=AdaptiveAvgPool2d,
                     ReLU=nyang.nn.ReLU, Flatten=nyang.nn.Flatten, Linear=nyang.nn.Linear,
                     Sequential=nyang.nn.Sequential)


def _r(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _device(backend):
    return nyang.tensor(backend.asarray([0.0])).device


def _distinct(*shape, seed=0):
    """float64 values at least 0.01 apart (max pooling has no ties, so finite
    differences see one smooth piece)."""
    n = math.prod(shape)
    return np.random.default_rng(seed).permutation(n).reshape(shape) * 0.01 - n * 0.005


# ---------------------------------------------------------------- Conv2d against torch

# (in, out, kernel_size, stride, padding, dilation, groups, bias, input shape)
CONV_CASES = [
    (3, 4, 3, 1, 1, 1, 1, True, (2, 3, 7, 8)),
    (4, 6, (3, 2), (2, 1), (1, 0), (1, 2), 2, True, (2, 4, 9, 7)),    # stride, dilation, groups
    (4, 4, 3, 1, "same", 1, 4, True, (2, 4, 6, 5)),                    # depthwise
    (4, 8, 3, 2, 1, 1, 4, False, (1, 4, 7, 7)),                        # depthwise x2, no bias
    (3, 5, 4, 1, "same", 1, 1, True, (2, 3, 5, 6)),                    # even kernel: asymmetric
    (2, 3, (2, 4), 1, "same", (2, 1), 1, True, (2, 2, 6, 5)),          # even kernel, dilated
    (3, 2, 5, 3, 2, 1, 1, True, (2, 3, 11, 10)),
    (2, 3, 1, 1, 0, 1, 1, True, (2, 2, 4, 3)),                         # 1x1
    (2, 3, 3, 1, "valid", 1, 1, False, (1, 2, 5, 5)),
    (3, 4, (1, 3), (1, 2), (0, 1), 1, 1, True, (2, 3, 4, 9)),
]
CONV_IDS = [f"{c[0]}to{c[1]}-k{c[2]}-s{c[3]}-p{c[4]}-d{c[5]}-g{c[6]}-b{int(c[7])}" for c in CONV_CASES]


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_matches_torch(backend, case):
    cin, cout, k, s, p, d, g, bias, shape = case
    theirs = torch.nn.Conv2d(cin, cout, k, s, p, d, g, bias)
    ours = Conv2d(cin, cout, k, s, p, d, g, bias)
    ours.load_state_dict({name: v.numpy() for name, v in theirs.state_dict().items()})
    ours.to(_device(backend))
    x = _r(*shape)
    xn = nyang.tensor(backend.asarray(x), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yn, yt = ours(xn), theirs(xt)
    assert_close(yn, yt, what="output", **TOL)
    upstream = _r(*yt.shape, seed=1)
    yt.backward(torch.tensor(upstream))
    yn.backward(nyang.tensor(backend.asarray(upstream)))
    assert_close(xn.grad, xt.grad, what="input gradient", **TOL)
    assert_close(ours.weight.grad, theirs.weight.grad, what="weight gradient", **TOL)
    if bias:
        assert_close(ours.bias.grad, theirs.bias.grad, what="bias gradient", **TOL)
    else:
        assert ours.bias is None


CONV_FD_CASES = [  # (input shape, weight shape, stride, padding, dilation, groups)
    ((1, 2, 5, 4), (3, 2, 3, 3), 1, 1, 1, 1),
    ((2, 4, 6, 5), (4, 2, 2, 3), (2, 1), (1, 0), (2, 1), 2),
    ((1, 3, 4, 5), (3, 1, 3, 3), 1, "same", 1, 3),
    ((1, 2, 4, 4), (2, 2, 2, 2), 1, "same", 1, 1),
]


@pytest.mark.parametrize("case", CONV_FD_CASES, ids=[str(c[:2]) + str(c[2:]) for c in CONV_FD_CASES])
def test_conv2d_gradients_match_finite_differences(backend, case):
    shape, w_shape, s, p, d, g = case
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    check_gradients(backend, lambda x, w, b: conv_ops.conv2d(x, w, b, s, p, d, g), [x, w, b])


def test_conv2d_functional_matches_torch(backend):
    x, w, b = _r(2, 4, 6, 7), _r(6, 2, 3, 3, seed=1), _r(6, seed=2)
    check_op(backend, lambda x, w, b: conv_ops.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), groups=2),
             lambda x, w, b: TF.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), groups=2),
             [x, w, b], **TOL)
    check_op(backend, lambda x, w: conv_ops.conv2d(x, w), lambda x, w: TF.conv2d(x, w), [x, _r(3, 4, 2, 2)], **TOL)


def test_conv2d_saves_columns_only_for_the_weight_gradient():
    layer = Conv2d(2, 3, 3)
    x = nyang.tensor(_r(1, 2, 5, 5), requires_grad=True)
    assert hasattr(layer(x).grad_fn, "kept")
    layer.weight.requires_grad_(False)
    node = layer(x).grad_fn
    assert not hasattr(node, "kept") and hasattr(node, "weight")
    with nyang.no_grad():
        assert layer(x).grad_fn is None


def test_conv2d_init():
    layer = Conv2d(16, 32, 3, generator=nyang.Generator().manual_seed(0))
    bound = 1 / math.sqrt(16 * 9)  # PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert layer.weight.shape == (32, 16, 3, 3) and w.dtype == np.float32
    assert w.max() <= bound and w.min() >= -bound and abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert np.abs(b).max() <= bound
    again = Conv2d(16, 32, 3, generator=nyang.Generator().manual_seed(0))
    assert np.array_equal(again.weight.numpy(), w)
    relu = Conv2d(8, 64, 3, groups=2, init="kaiming", dtype=nyang.float64)
    assert relu.weight.shape == (64, 4, 3, 3) and relu.weight.dtype == nyang.float64
    assert abs(relu.weight.numpy().std() - math.sqrt(2 / 36)) < 0.05 * math.sqrt(2 / 36)
    assert np.all(relu.bias.numpy() == 0)


# ---------------------------------------------------------------- pooling against torch

# (input shape, kernel_size, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    ((2, 3, 8, 8), 2, None, 0, 1, False),
    ((2, 2, 7, 9), 3, 2, 1, 1, False),              # overlapping windows, padding
    ((1, 3, 9, 7), (3, 2), (2, 1), (1, 1), 1, True),
    ((2, 2, 10, 11), 3, (2, 3), (1, 0), (2, 1), True),
    ((1, 2, 5, 5), 5, 3, 2, 1, True),
    ((1, 1, 6, 7), (2, 3), 3, 1, 1, False),         # stride > kernel
    ((1, 2, 9, 10), (2, 3), (1, 2), 1, 2, False),     # dilation along both axes
]
MAX_IDS = [f"{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}-d{c[4]}-{'ceil' if c[5] else 'floor'}" for c in MAX_CASES]


@pytest.mark.parametrize("values", ["randn", "negative", "ties"])
@pytest.mark.parametrize("case", MAX_CASES, ids=MAX_IDS)
def test_max_pool2d_matches_torch(backend, case, values):
    shape, k, s, p, d, ceil = case
    x = _r(*shape)
    if values == "negative":  # padding (-inf) must never win
        x = -1.0 - np.abs(x)
    elif values == "ties":  # ties go to the first maximum
        x = np.round(x).astype(np.float32)
    layer, reference = MaxPool2d(k, s, p, d, ceil_mode=ceil), torch.nn.MaxPool2d(k, s, p, d, ceil_mode=ceil)
    check_op(backend, layer, reference, [x], **TOL)
    out, idx = pool_ops.max_pool2d(nyang.tensor(backend.asarray(x)), k, s, p, d, ceil, return_indices=True)
    t_out, t_idx = TF.max_pool2d(torch.tensor(x), k, s, p, d, ceil, return_indices=True)
    assert idx.dtype == nyang.int64 and not idx.requires_grad
    np.testing.assert_array_equal(to_numpy(idx), t_idx.numpy())
    np.testing.assert_array_equal(to_numpy(out), t_out.numpy())


def test_max_pool2d_return_indices_module(backend):
    x = nyang.tensor(backend.asarray(_r(1, 2, 6, 6)), requires_grad=True)
    out, idx = MaxPool2d(2, return_indices=True)(x)
    t_out, t_idx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(_r(1, 2, 6, 6)))
    np.testing.assert_array_equal(to_numpy(idx), t_idx.numpy())
    out.sum().backward()
    assert to_numpy(x.grad).sum() == 2 * 9


# (input shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_CASES = [
    ((2, 3, 8, 8), 2, None, 0, False, True, None),
    ((2, 2, 7, 9), 3, 2, 1, False, True, None),
    ((2, 2, 7, 9), 3, 2, 1, True, False, None),
    ((1, 3, 9, 7), (3, 2), (2, 1), (1, 1), True, True, None),
    ((1, 2, 10, 7), (4, 3), (3, 2), (2, 1), True, False, 5),
    ((1, 1, 6, 7), (2, 3), 3, 1, False, True, 2),
]
AVG_IDS = [f"{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}-ceil{int(c[4])}-cip{int(c[5])}-div{c[6]}" for c in AVG_CASES]


@pytest.mark.parametrize("case", AVG_CASES, ids=AVG_IDS)
def test_avg_pool2d_matches_torch(backend, case):
    shape, k, s, p, ceil, cip, div = case
    args = (k, s, p, ceil, cip, div)
    check_op(backend, AvgPool2d(*args), torch.nn.AvgPool2d(*args), [_r(*shape)], **TOL)


@pytest.mark.parametrize("size,output_size", [
    ((5, 7), 1), ((6, 8), (2, 4)), ((6, 8), (None, 2)), ((5, 7), (3, 4)), ((4, 3), (7, 5)), ((9, 10), [4, 3]),
], ids=["global", "divides", "none", "uneven", "upsampling", "list"])
def test_adaptive_avg_pool2d_matches_torch(backend, size, output_size):
    check_op(backend, AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size),
             [_r(2, 3, *size)], **TOL)


def test_pooling_gradients_match_finite_differences(backend):
    x = _distinct(1, 2, 5, 6)
    check_gradients(backend, lambda x: pool_ops.max_pool2d(x, 3, 2, 1, ceil_mode=True), [x])
    check_gradients(backend, lambda x: pool_ops.max_pool2d(x, (2, 3), (1, 2), (1, 0), (2, 1)), [x])
    check_gradients(backend, lambda x: pool_ops.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), [x])
    check_gradients(backend, lambda x: pool_ops.avg_pool2d(x, 2, 1, divisor_override=3), [x])
    check_gradients(backend, lambda x: pool_ops.adaptive_avg_pool2d(x, (3, 4)), [x])
    check_gradients(backend, lambda x: pool_ops.adaptive_avg_pool2d(x, 1), [x])
    check_gradients(backend, lambda x: pool_ops.adaptive_avg_pool2d(x, (5, 3)), [x])  # equal windows


def test_small_cnn_matches_torch(backend):
    """conv -> relu -> max pool -> conv -> avg pool -> adaptive pool -> linear, where the
    channels-last conv outputs pass through every other layer, forward and backward."""
    def net(nn):
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 6, 3, padding="same", groups=2), nn.AvgPool2d(2, 1),
                             nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten(), nn.Linear(36, 5))

    ours, theirs = net(NN), net(torch.nn)
    assert repr(ours) == repr(theirs)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.to(_device(backend))
    x = _r(4, 3, 10, 12)
    xn = nyang.tensor(backend.asarray(x), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yn, yt = ours(xn), theirs(xt)
    assert_close(yn, yt, what="output", **TOL)
    (yt * yt).sum().backward()
    (yn * yn).sum().backward()
    assert_close(xn.grad, xt.grad, what="input gradient", **TOL)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(p.grad, q.grad, what=f"gradient of {name}", **TOL)


# ---------------------------------------------------------------- repr and errors


@pytest.mark.parametrize("make", [
    lambda nn: nn.Conv2d(3, 16, 3),
    lambda nn: nn.Conv2d(3, 16, (3, 5), stride=2, padding=(1, 2), dilation=2, bias=False),
    lambda nn: nn.Conv2d(4, 8, 3, padding="same", groups=2),
    lambda nn: nn.Conv2d(4, 8, 1, padding="valid"),
    lambda nn: nn.Conv2d(4, 4, 3, 1, 1, 1, 4, False),
    lambda nn: nn.MaxPool2d(2),
    lambda nn: nn.MaxPool2d((2, 3), stride=1, padding=1, dilation=2, ceil_mode=True, return_indices=True),
    lambda nn: nn.AvgPool2d(2),
    lambda nn: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False, divisor_override=2),
    lambda nn: nn.AdaptiveAvgPool2d(1),
    lambda nn: nn.AdaptiveAvgPool2d((None, 3)),
])
def test_repr_and_attributes_match_torch(make):
    ours, theirs = make(NN), make(torch.nn)
    assert repr(ours) == repr(theirs)
    for name in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
                 "padding_mode", "ceil_mode", "return_indices", "count_include_pad", "divisor_override",
                 "output_size"):
        if hasattr(theirs, name):
            assert getattr(ours, name) == getattr(theirs, name), name
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}


def test_conv2d_input_errors_name_the_layer_and_shapes():
    layer = Conv2d(3, 8, 3)
    head = r"Conv2d\(3, 8, kernel_size=\(3, 3\), stride=\(1, 1\)\): expected input of shape \(N, 3, H, W\)"
    with pytest.raises(ValueError, match=head + r", got \(2, 1, 8, 8\)"):
        layer(nyang.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match=head + r", got \(3, 8, 8\); inputs must be batched"):
        layer(nyang.zeros(3, 8, 8))
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8, kernel_size=\(5, 5\).*spans 5 along the height, "
                                         r"more than the padded input's 4 .*\(1, 3, 2, 2\)"):
        Conv2d(3, 8, 5, padding=1)(nyang.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match=r"spans 5 along the width"):
        Conv2d(3, 8, 3, dilation=(1, 2))(nyang.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"conv2d: expected input of shape \(N, 4, H, W\)"):
        conv_ops.conv2d(nyang.zeros(1, 3, 5, 5), nyang.zeros(6, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(6,\)"):
        conv_ops.conv2d(nyang.zeros(1, 2, 5, 5), nyang.zeros(6, 2, 3, 3), nyang.zeros(5))
    with pytest.raises(ValueError, match="stride and dilation must be positive"):
        conv_ops.conv2d(nyang.zeros(1, 2, 5, 5), nyang.zeros(6, 2, 3, 3), stride=0)
    with pytest.raises(TypeError, match=r"input \(nyang.float64\) and weight \(nyang.float32\) must have "
                                        r"the same dtype"):
        layer(nyang.zeros(1, 3, 5, 5, dtype=nyang.float64))


def test_conv2d_construction_errors():
    with pytest.raises(ValueError, match=r"in_channels \(3\) must be divisible by groups \(2\)"):
        Conv2d(3, 8, 3, groups=2)
    with pytest.raises(ValueError, match=r"out_channels \(6\) must be divisible by groups \(4\)"):
        Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        Conv2d(4, 8, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding must be an int, a pair, 'valid' or 'same'"):
        Conv2d(4, 8, 3, padding="full")
    with pytest.raises(ValueError, match="padding_mode 'reflect' is not supported"):
        Conv2d(4, 8, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="groups must be a positive int"):
        Conv2d(4, 8, 3, groups=0)
    with pytest.raises(TypeError, match=r"kernel_size must be an int or a pair of ints, got \(3, 3, 3\)"):
        Conv2d(4, 8, (3, 3, 3))


def test_pooling_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=2, .*\): expected input of shape "
                                         r"\(N, C, H, W\), got \(3, 8, 8\)"):
        MaxPool2d(2)(nyang.zeros(3, 8, 8))
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=5.*output would be empty.*\(1, 1, 3, 3\)"):
        MaxPool2d(5)(nyang.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"AvgPool2d\(kernel_size=2, stride=2, padding=2\): padding must be "
                                         r"at most half of kernel_size"):
        AvgPool2d(2, padding=2)(nyang.zeros(1, 1, 6, 6))
    with pytest.raises(ValueError, match="divisor_override must be a non-zero int"):
        AvgPool2d(2, divisor_override=0)(nyang.zeros(1, 1, 6, 6))
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool2d\(output_size=0\): output_size must be positive"):
        AdaptiveAvgPool2d(0)(nyang.zeros(1, 1, 6, 6))
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: expected input of shape \(N, C, H, W\)"):
        pool_ops.adaptive_avg_pool2d(nyang.zeros(6, 6), 2)
