"""Linear, activations, dropout, flatten and init against PyTorch."""
import math

import numpy as np
import pytest

import nyang
import nyang.nn as nn
import nyang.nn.functional as F
from tests.oracle import check_gradients, check_op, to_numpy, torch


def _r(*shape, seed=0, scale=2.0):
    return (np.random.default_rng(seed).uniform(-1, 1, shape) * scale).astype(np.float32)


ACTIVATIONS = [
    ("relu", lambda L, x: L.nn.functional.relu(x)),
    ("leaky_relu", lambda L, x: L.nn.functional.leaky_relu(x, 0.2)),
    ("elu", lambda L, x: L.nn.functional.elu(x, alpha=0.7)),
    ("selu", lambda L, x: L.nn.functional.selu(x)),
    ("gelu", lambda L, x: L.nn.functional.gelu(x)),
    ("gelu_tanh", lambda L, x: L.nn.functional.gelu(x, approximate="tanh")),
    ("sigmoid", lambda L, x: L.sigmoid(x)),
    ("tanh", lambda L, x: L.tanh(x)),
    ("softmax", lambda L, x: L.nn.functional.softmax(x, dim=1)),
    ("softmax_dim0", lambda L, x: L.nn.functional.softmax(x, dim=0)),
    ("log_softmax", lambda L, x: L.nn.functional.log_softmax(x, dim=-1)),
    ("module_relu", lambda L, x: L.nn.ReLU()(x)),
    ("module_leaky", lambda L, x: L.nn.LeakyReLU(0.05)(x)),
    ("module_elu", lambda L, x: L.nn.ELU(1.3)(x)),
    ("module_selu", lambda L, x: L.nn.SELU()(x)),
    ("module_gelu", lambda L, x: L.nn.GELU()(x)),
    ("module_softmax", lambda L, x: L.nn.Softmax(dim=1)(x)),
    ("module_log_softmax", lambda L, x: L.nn.LogSoftmax(dim=1)(x)),
    ("module_sigmoid_tanh", lambda L, x: L.nn.Tanh()(L.nn.Sigmoid()(x))),
]


@pytest.mark.parametrize("name,f", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activations_match_torch(backend, name, f):
    x = _r(4, 6, scale=4.0)
    x[0, :3] = [0.0, 30.0, -30.0]
    check_op(backend, lambda t: f(nyang, t), lambda t: f(torch, t), [x])


@pytest.mark.parametrize("name,f", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_gradients_match_finite_differences(backend, name, f):
    x = _r(3, 4, seed=1)
    x = np.where(np.abs(x) < 1e-3, 0.5, x)  # keep away from kinks
    check_gradients(backend, lambda t: f(nyang, t), [x])


def test_gelu_exact_is_accurate_to_float32():
    # Absolute error within a few float32 ulps of 1; for x < -5, 1 + erf(x / sqrt 2)
    # cancels in float32 (PyTorch's float32 GELU loses those digits too).
    x = np.linspace(-6, 6, 2001).astype(np.float32)
    ours = F.gelu(nyang.tensor(x)).numpy()
    expected = torch.nn.functional.gelu(torch.tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6)
    x64 = np.linspace(-6, 6, 201)
    ours64 = F.gelu(nyang.tensor(x64)).numpy()
    np.testing.assert_allclose(ours64, torch.nn.functional.gelu(torch.tensor(x64)).numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(backend, bias):
    ours, theirs = nn.Linear(5, 3, bias=bias), torch.nn.Linear(5, 3, bias=bias)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    dev = nyang.tensor(backend.asarray([0.0])).device
    ours.to(dev)
    x = _r(2, 4, 5)
    check_op(backend, ours, theirs, [x])
    upstream = torch.ones(2, 4, 3)
    theirs.zero_grad()
    ours.zero_grad()
    theirs(torch.tensor(x)).backward(upstream)
    ours(nyang.tensor(backend.asarray(x))).backward(nyang.ones(2, 4, 3, device=dev))
    np.testing.assert_allclose(to_numpy(ours.weight.grad), theirs.weight.grad.numpy(), rtol=1e-5, atol=1e-5)
    if bias:
        np.testing.assert_allclose(to_numpy(ours.bias.grad), theirs.bias.grad.numpy(), rtol=1e-5)


def test_linear_gradients_match_finite_differences(backend):
    w, b = _r(3, 4, seed=2), _r(3, seed=3)
    check_gradients(backend, lambda x, w, b: F.linear(x, w, b), [_r(2, 4), w, b])


def test_linear_bad_input_names_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Linear\(784, 10\): expected input of shape \(\*, 784\), got \(8, 100\)"):
        nn.Linear(784, 10)(nyang.zeros(8, 100))
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        nn.Linear(0, 3)


@pytest.mark.parametrize("init,nonlinearity", [(None, None), ("kaiming", "relu"), ("xavier", "linear"),
                                               ("kaiming_normal", "relu"), ("xavier_normal", "linear")])
def test_linear_init_has_the_right_spread(init, nonlinearity):
    layer = nn.Linear(400, 300, init=init, generator=nyang.Generator().manual_seed(0))
    w = layer.weight.numpy()
    if init is None:  # PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        bound = 1 / math.sqrt(400)
        assert w.max() <= bound and w.min() >= -bound and abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
        assert np.abs(layer.bias.numpy()).max() <= bound
        return
    if init.startswith("kaiming"):
        std = math.sqrt(2.0) / math.sqrt(400)
    else:
        std = math.sqrt(2.0 / 700)
    assert abs(w.std() - std) < 0.02 * std
    assert np.all(layer.bias.numpy() == 0)


def test_init_functions_statistics_and_generator():
    t = nyang.empty(200, 300)
    g = nyang.Generator().manual_seed(0)
    nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu", generator=g)
    assert abs(t.numpy().std() - math.sqrt(2 / 200)) < 0.002
    nn.init.kaiming_uniform_(t, a=0.1, generator=g)
    bound = math.sqrt(3) * math.sqrt(2 / (1 + 0.01)) / math.sqrt(300)
    assert t.numpy().max() <= bound and t.numpy().min() >= -bound
    nn.init.xavier_uniform_(t, gain=nn.init.calculate_gain("tanh"))
    assert abs(t.numpy().std() - 5 / 3 * math.sqrt(2 / 500)) < 0.002
    nn.init.trunc_normal_(t, std=1.0, a=-0.5, b=0.5, generator=g)
    assert t.numpy().min() >= -0.5 and t.numpy().max() <= 0.5
    nn.init.constant_(t, 0.3)
    assert np.all(t.numpy() == np.float32(0.3))
    nn.init.ones_(t), nn.init.zeros_(t)
    assert np.all(t.numpy() == 0)
    state = g.get_state()
    nn.init.constant_(t, 2.0, generator=g), nn.init.ones_(t, generator=g), nn.init.zeros_(t, generator=g)
    assert np.all(t.numpy() == 0) and np.array_equal(g.get_state(), state)  # nothing drawn
    a = nn.init.normal_(nyang.empty(5), generator=nyang.Generator().manual_seed(4)).numpy()
    b = nn.init.normal_(nyang.empty(5), generator=nyang.Generator().manual_seed(4)).numpy()
    assert np.array_equal(a, b)
    for name, param in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("selu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.2)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match="at least 2 dims"):
        nn.init.xavier_uniform_(nyang.empty(3))


def test_dropout_train_and_eval(backend):
    dev = nyang.tensor(backend.asarray([0.0])).device
    x = nyang.ones(200, 50, device=dev, requires_grad=True)
    layer = nn.Dropout(0.3, generator=nyang.Generator(dev).manual_seed(0))
    y = layer(x)
    values = np.unique(y.detach().numpy())
    np.testing.assert_allclose(values, [0.0, 1 / 0.7], rtol=1e-6)
    kept = (y.detach().numpy() > 0).mean()
    assert abs(kept - 0.7) < 0.02
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())  # gradient uses the same mask
    layer.eval()
    assert layer(x) is x
    assert float(nn.Dropout(1.0)(x).abs().sum()) == 0.0
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)


def test_dropout2d_drops_whole_channels():
    x = nyang.ones(8, 16, 4, 4)
    y = nn.Dropout2d(0.5, generator=nyang.Generator().manual_seed(1))(x).numpy()
    per_channel = y.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0.3 < (per_channel[..., 0] == 0).mean() < 0.7
    with pytest.raises(ValueError, match=r"dropout2d: expected input of shape \(N, C, H, W\)"):
        nn.Dropout2d()(nyang.ones(3, 4))


def test_flatten_unflatten_match_torch(backend):
    x = _r(2, 3, 4, 5)
    check_op(backend, nn.Flatten(), torch.nn.Flatten(), [x])
    check_op(backend, nn.Flatten(0, 2), torch.nn.Flatten(0, 2), [x])
    check_op(backend, nn.Unflatten(1, (2, 6)), torch.nn.Unflatten(1, (2, 6)), [_r(3, 12)])
