"""Normalization layers against PyTorch (forward, input and parameter gradients,
running statistics, state dicts) and their ops against finite differences.

float32 comparisons use rtol 1e-5 with atol 1e-5: outputs are normalized values
of order 1 that cross zero, and the input gradients of the training-mode
closed form are differences of terms of order 1 (see the module docstring of
``nyang.functional.normalization``), so an absolute floor near float32 epsilon
times those terms is needed.
"""
import numpy as np
import pytest

import nyang
from nyang.device import device_of_array
from nyang.functional.normalization import batch_norm, group_norm, instance_norm, layer_norm
from nyang.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm
from tests.oracle import assert_close, check_gradients, to_numpy, torch

TOL = dict(rtol=1e-5, atol=1e-5)


def _x(*shape, seed=0):
    """Inputs with a non-zero mean and spread, so that normalization does something."""
    return (1.5 + 2.0 * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def _device(backend):
    return device_of_array(backend.asarray(np.zeros(1, np.float32)))


# (id, nyang layer, torch layer, input shape); both built from the same arguments
LAYERS = [
    ("bn1d_NC", BatchNorm1d, torch.nn.BatchNorm1d, (4,), {}, (8, 4)),
    ("bn1d_NCL", BatchNorm1d, torch.nn.BatchNorm1d, (4,), {}, (5, 4, 6)),
    ("bn2d", BatchNorm2d, torch.nn.BatchNorm2d, (3,), {}, (4, 3, 5, 6)),
    ("bn2d_no_affine", BatchNorm2d, torch.nn.BatchNorm2d, (3,), {"affine": False}, (4, 3, 5, 6)),
    ("bn2d_no_bias", BatchNorm2d, torch.nn.BatchNorm2d, (3,), {"bias": False}, (4, 3, 5, 6)),
    ("bn2d_untracked", BatchNorm2d, torch.nn.BatchNorm2d, (3,), {"track_running_stats": False}, (4, 3, 5, 6)),
    ("bn1d_untracked_no_affine", BatchNorm1d, torch.nn.BatchNorm1d, (4,),
     {"track_running_stats": False, "affine": False}, (6, 4, 3)),
    ("ln", LayerNorm, torch.nn.LayerNorm, (6,), {}, (4, 5, 6)),
    ("ln_2d_shape", LayerNorm, torch.nn.LayerNorm, ((5, 6),), {}, (4, 5, 6)),
    ("ln_no_affine", LayerNorm, torch.nn.LayerNorm, (6,), {"elementwise_affine": False}, (4, 5, 6)),
    ("ln_no_bias", LayerNorm, torch.nn.LayerNorm, (6,), {"bias": False}, (4, 6)),
    ("gn", GroupNorm, torch.nn.GroupNorm, (2, 6), {}, (3, 6, 4, 5)),
    ("gn_NCL", GroupNorm, torch.nn.GroupNorm, (3, 6), {}, (4, 6, 7)),
    ("gn_one_group", GroupNorm, torch.nn.GroupNorm, (1, 4), {}, (3, 4, 5, 5)),
    ("gn_no_affine", GroupNorm, torch.nn.GroupNorm, (2, 6), {"affine": False}, (3, 6, 4, 5)),
    ("in2d", InstanceNorm2d, torch.nn.InstanceNorm2d, (3,), {}, (2, 3, 5, 6)),
    ("in2d_affine", InstanceNorm2d, torch.nn.InstanceNorm2d, (3,), {"affine": True}, (2, 3, 5, 6)),
    ("in2d_tracked", InstanceNorm2d, torch.nn.InstanceNorm2d, (3,),
     {"affine": True, "track_running_stats": True}, (2, 3, 5, 6)),
    ("in2d_unbatched", InstanceNorm2d, torch.nn.InstanceNorm2d, (3,), {"affine": True}, (3, 5, 6)),
]


def _randomize(torch_layer, seed=1):
    """Non-trivial parameters and running statistics on the torch layer."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, t in list(torch_layer.named_parameters()) + list(torch_layer.named_buffers()):
            if name == "num_batches_tracked":
                t.fill_(3)
            elif name == "running_var":
                t.copy_(torch.tensor(rng.uniform(0.5, 2.0, t.shape)))
            else:
                t.copy_(torch.tensor(rng.standard_normal(t.shape)))


def _pair(backend, ours, theirs, args, kwargs):
    """A torch layer with random state and a nyang layer on the backend's device
    holding the same values (copied through the state dict)."""
    torch_layer = theirs(*args, **kwargs)
    _randomize(torch_layer)
    layer = ours(*args, **kwargs).to(_device(backend))
    layer.load_state_dict({k: v.numpy() for k, v in torch_layer.state_dict().items()})
    return layer, torch_layer


def _compare_step(backend, layer, torch_layer, x, seed=0):
    """Forward and backward of both layers on ``x``; outputs, input gradients and
    parameter gradients must agree."""
    ours = nyang.tensor(backend.asarray(x), requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out, expected = layer(ours), torch_layer(theirs)
    assert_close(out, expected, what="output", **TOL)
    upstream = np.random.default_rng(seed + 7).standard_normal(expected.shape).astype(np.float32)
    out.backward(nyang.tensor(backend.asarray(upstream)))
    expected.backward(torch.tensor(upstream))
    assert_close(ours.grad, theirs.grad, what="input gradient", **TOL)
    for name, p in torch_layer.named_parameters():
        mine = getattr(layer, name)
        assert mine.grad is not None, f"{name}: nyang gave no gradient, torch did"
        assert_close(mine.grad, p.grad, what=f"{name} gradient", **TOL)


def _compare_buffers(layer, torch_layer):
    theirs = dict(torch_layer.named_buffers())
    assert [k for k, _ in layer.named_buffers()] == list(theirs)
    for name, b in layer.named_buffers():
        assert to_numpy(b).dtype == theirs[name].numpy().dtype, name
        assert_close(b, theirs[name], what=name, **TOL)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_matches_torch(backend, case, training):
    _, ours, theirs, args, kwargs, shape = case
    layer, torch_layer = _pair(backend, ours, theirs, args, kwargs)
    layer.train(training)
    torch_layer.train(training)
    _compare_step(backend, layer, torch_layer, _x(*shape))
    _compare_buffers(layer, torch_layer)


RUNNING = [
    ("bn1d", BatchNorm1d, torch.nn.BatchNorm1d, {}, (6, 3, 4)),
    ("bn2d", BatchNorm2d, torch.nn.BatchNorm2d, {}, (4, 3, 5, 5)),
    # InstanceNorm treats momentum=None as 0: the running statistics never move
    ("in2d", InstanceNorm2d, torch.nn.InstanceNorm2d, {"track_running_stats": True}, (4, 3, 5, 5)),
]


@pytest.mark.parametrize("momentum", [0.1, 0.5, None], ids=["m0.1", "m0.5", "cumulative"])
@pytest.mark.parametrize("case", RUNNING, ids=[c[0] for c in RUNNING])
def test_running_statistics(backend, case, momentum):
    _, ours, theirs, kwargs, shape = case
    layer = ours(3, momentum=momentum, **kwargs).to(_device(backend))
    torch_layer = theirs(3, momentum=momentum, **kwargs)
    for step in range(3):
        _compare_step(backend, layer, torch_layer, _x(*shape, seed=step), seed=step)
    _compare_buffers(layer, torch_layer)
    assert layer.running_mean.requires_grad is False and layer.running_mean.grad_fn is None
    layer.eval()
    torch_layer.eval()
    _compare_step(backend, layer, torch_layer, _x(*shape, seed=9))
    _compare_buffers(layer, torch_layer)


def test_running_statistics_update_under_no_grad(backend):
    layer = BatchNorm1d(3).to(_device(backend))
    with nyang.no_grad():
        layer(nyang.tensor(backend.asarray(_x(5, 3))))
    assert int(layer.num_batches_tracked.item()) == 1
    assert np.abs(to_numpy(layer.running_mean)).sum() > 0


def test_eval_leaves_running_statistics_alone(backend):
    layer = BatchNorm2d(3).to(_device(backend)).eval()
    layer(nyang.tensor(backend.asarray(_x(2, 3, 4, 4))))
    np.testing.assert_array_equal(to_numpy(layer.running_mean), np.zeros(3, np.float32))
    np.testing.assert_array_equal(to_numpy(layer.running_var), np.ones(3, np.float32))
    assert int(layer.num_batches_tracked.item()) == 0


def test_reset_parameters_restores_the_initial_state(backend):
    layer = BatchNorm2d(3).to(_device(backend))
    _compare_step(backend, layer, torch.nn.BatchNorm2d(3), _x(4, 3, 2, 2))
    layer.weight.data = layer.weight.data * 2
    layer.reset_parameters()
    for key, value in torch.nn.BatchNorm2d(3).state_dict().items():
        np.testing.assert_array_equal(to_numpy(layer.state_dict()[key]), value.numpy(), err_msg=key)


def test_untracked_batch_norm_has_no_buffers():
    layer = BatchNorm2d(3, track_running_stats=False)
    assert layer.running_mean is None and layer.running_var is None and layer.num_batches_tracked is None
    assert list(layer.state_dict()) == ["weight", "bias"]


STATE_DICT_CASES = [
    (BatchNorm1d, torch.nn.BatchNorm1d, (4,), {}),
    (BatchNorm2d, torch.nn.BatchNorm2d, (4,), {"affine": False}),
    (BatchNorm2d, torch.nn.BatchNorm2d, (4,), {"track_running_stats": False}),
    (BatchNorm2d, torch.nn.BatchNorm2d, (4,), {"bias": False}),
    (LayerNorm, torch.nn.LayerNorm, ((2, 4),), {}),
    (LayerNorm, torch.nn.LayerNorm, (4,), {"bias": False}),
    (LayerNorm, torch.nn.LayerNorm, (4,), {"elementwise_affine": False}),
    (GroupNorm, torch.nn.GroupNorm, (2, 4), {}),
    (InstanceNorm2d, torch.nn.InstanceNorm2d, (4,), {}),
    (InstanceNorm2d, torch.nn.InstanceNorm2d, (4,), {"affine": True, "track_running_stats": True}),
]


@pytest.mark.parametrize("case", STATE_DICT_CASES, ids=[f"{c[0].__name__}-{'-'.join(c[3]) or 'default'}"
                                                         for c in STATE_DICT_CASES])
def test_state_dict_matches_torch(case):
    ours, theirs, args, kwargs = case
    layer, torch_layer = ours(*args, **kwargs), theirs(*args, **kwargs)
    mine, expected = layer.state_dict(), torch_layer.state_dict()
    assert list(mine) == list(expected)
    for key, value in expected.items():
        assert to_numpy(mine[key]).dtype == value.numpy().dtype, key
        np.testing.assert_array_equal(to_numpy(mine[key]), value.numpy(), err_msg=key)
    assert repr(layer) == repr(torch_layer)
    # and back: torch loads what nyang saved
    _randomize(torch_layer)
    layer.load_state_dict({k: v.numpy() for k, v in torch_layer.state_dict().items()})
    fresh = theirs(*args, **kwargs)
    fresh.load_state_dict({k: torch.tensor(to_numpy(v)) for k, v in layer.state_dict().items()})
    for key, value in torch_layer.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[key].numpy(), value.numpy(), err_msg=key)


def _f64(*shape, seed=0):
    return _x(*shape, seed=seed).astype(np.float64)


FUNCTIONAL = [
    ("batch_norm_NCHW", lambda x, w, b: batch_norm(x, None, None, w, b, training=True),
     [_f64(3, 2, 2, 2), _f64(2, seed=1), _f64(2, seed=2)]),
    ("batch_norm_NC", lambda x, w, b: batch_norm(x, None, None, w, b, training=True),
     [_f64(4, 3), _f64(3, seed=1), _f64(3, seed=2)]),
    ("batch_norm_no_affine", lambda x: batch_norm(x, None, None, training=True), [_f64(3, 2, 3)]),
    ("layer_norm", lambda x, w, b: layer_norm(x, (2, 3), w, b), [_f64(2, 2, 3), _f64(2, 3, seed=1),
                                                                 _f64(2, 3, seed=2)]),
    ("group_norm", lambda x, w, b: group_norm(x, 2, w, b), [_f64(2, 4, 2, 2), _f64(4, seed=1), _f64(4, seed=2)]),
    ("instance_norm", lambda x, w, b: instance_norm(x, weight=w, bias=b),
     [_f64(2, 2, 2, 3), _f64(2, seed=1), _f64(2, seed=2)]),
]


@pytest.mark.parametrize("case", FUNCTIONAL, ids=[c[0] for c in FUNCTIONAL])
def test_functional_gradients_finite_differences(backend, case):
    _, fn, arrays = case
    check_gradients(backend, fn, arrays)


def test_batch_norm_eval_gradients_finite_differences(backend):
    device = _device(backend)
    mean = nyang.tensor(backend.asarray(_f64(3, seed=3)), device=device)
    var = nyang.tensor(backend.asarray(np.array([0.5, 1.0, 2.0])), device=device)
    check_gradients(backend, lambda x, w, b: batch_norm(x, mean, var, w, b, training=False),
                    [_f64(2, 3, 2), _f64(3, seed=1), _f64(3, seed=2)])


def test_functional_ops_match_torch_updates(backend):
    """The functional forms update caller-owned running buffers in place, as torch's do."""
    F = torch.nn.functional
    x = _x(4, 3, 5)
    mean, var = np.zeros(3, np.float32), np.ones(3, np.float32)
    ours = [nyang.tensor(backend.asarray(a)) for a in (mean, var)]
    theirs = [torch.tensor(a) for a in (mean, var)]
    out = batch_norm(nyang.tensor(backend.asarray(x)), *ours, training=True, momentum=0.3)
    expected = F.batch_norm(torch.tensor(x), *theirs, training=True, momentum=0.3)
    assert_close(out, expected, what="batch_norm", **TOL)
    for a, b in zip(ours, theirs):
        assert_close(a, b, what="running statistic", **TOL)
    out = instance_norm(nyang.tensor(backend.asarray(x)), *ours, momentum=0.3)
    expected = F.instance_norm(torch.tensor(x), *theirs, momentum=0.3)
    assert_close(out, expected, what="instance_norm", **TOL)
    for a, b in zip(ours, theirs):
        assert_close(a, b, what="running statistic", **TOL)


@pytest.mark.parametrize("op", ["batch_norm", "layer_norm", "group_norm"])
def test_float16_is_computed_in_float32(op):
    x16 = _x(4, 4, 3).astype(np.float16)
    run = {"batch_norm": lambda x, w: batch_norm(x, None, None, w, None, training=True),
           "layer_norm": lambda x, w: layer_norm(x, 3, w if w.shape == (3,) else None),
           "group_norm": lambda x, w: group_norm(x, 2, w)}[op]
    results = []
    for dtype in (np.float16, np.float32):
        x = nyang.tensor(x16.astype(dtype), requires_grad=True)
        w = nyang.tensor(np.linspace(0.5, 1.5, 4).astype(dtype), requires_grad=True)
        out = run(x, w)
        out.backward(nyang.tensor(np.ones(out.shape, dtype) * np.linspace(-1, 1, out.shape[-1]).astype(dtype)))
        results.append((out, x.grad, w.grad))
    for half, single in zip(*results):
        if half is None:
            continue
        assert to_numpy(half).dtype == np.float16
        np.testing.assert_allclose(to_numpy(half).astype(np.float32), to_numpy(single), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("build, shape, message", [
    (lambda: BatchNorm2d(3), (2, 3, 4), r"BatchNorm2d\(3\): expected input of shape \(N, 3, H, W\), got \(2, 3, 4\)"),
    (lambda: BatchNorm2d(3), (2, 4, 5, 5), r"BatchNorm2d\(3\): expected .* got \(2, 4, 5, 5\)"),
    (lambda: BatchNorm1d(3), (2, 3, 4, 4), r"BatchNorm1d\(3\): expected input of shape \(N, 3\) or \(N, 3, L\), "
                                           r"got \(2, 3, 4, 4\)"),
    (lambda: BatchNorm1d(3), (2, 5), r"BatchNorm1d\(3\): .* got \(2, 5\)"),
    (lambda: BatchNorm1d(3), (1, 3), r"BatchNorm1d\(3\): expected more than 1 value per channel when training"),
    (lambda: LayerNorm(5), (2, 3, 4), r"LayerNorm\(\(5,\)\): expected input of shape \(\*, 5\), got \(2, 3, 4\)"),
    (lambda: LayerNorm((3, 5)), (3, 4, 5), r"expected input of shape \(\*, 3, 5\), got \(3, 4, 5\)"),
    (lambda: GroupNorm(2, 4), (2, 6, 3), r"GroupNorm\(2, 4\): expected input of shape \(N, 4, \*\), got \(2, 6, 3\)"),
    (lambda: InstanceNorm2d(3, affine=True), (2, 4, 5, 5), r"InstanceNorm2d\(3\): .* got \(2, 4, 5, 5\)"),
    (lambda: InstanceNorm2d(3), (2, 3), r"InstanceNorm2d\(3\): .* got \(2, 3\)"),
], ids=["bn2d_3d", "bn2d_channels", "bn1d_4d", "bn1d_channels", "bn1d_batch_of_one", "ln_shape", "ln_2d_shape",
        "gn_channels", "in2d_channels", "in2d_2d"])
def test_bad_input_errors(build, shape, message):
    with pytest.raises(ValueError, match=message):
        build()(nyang.tensor(_x(*shape)))


def test_batch_of_one_is_fine_in_eval():
    layer = BatchNorm1d(3).eval()
    assert layer(nyang.tensor(_x(1, 3))).shape == (1, 3)


def test_group_norm_groups_must_divide_channels():
    with pytest.raises(ValueError, match=r"GroupNorm: num_channels \(6\) must be divisible by num_groups \(4\)"):
        GroupNorm(4, 6)


@pytest.mark.parametrize("call, message", [
    (lambda x: batch_norm(x[:1, :, :1], None, None, training=True), "more than 1 value per channel"),
    (lambda x: batch_norm(x, None, None, training=False), "running_mean and running_var are required"),
    (lambda x: group_norm(x, 4), r"the 6 channels .* num_groups=4"),
    (lambda x: instance_norm(x[:, :, :1]), "more than 1 spatial element"),
    (lambda x: layer_norm(x, (6,)), r"normalized_shape \(6,\) does not match input of shape \(2, 6, 3\)"),
], ids=["bn_one_value", "bn_eval_without_stats", "gn_groups", "in_one_element", "ln_shape"])
def test_functional_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(nyang.tensor(_x(2, 6, 3)))
