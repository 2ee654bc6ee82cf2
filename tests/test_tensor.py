"""Tensor construction, attributes, conversion, printing and the factories."""
import numpy as np
import pytest

import nyang
from tests.oracle import torch


def test_default_dtypes_follow_torch():
    assert nyang.tensor([1.0, 2.0]).dtype == nyang.float32
    assert nyang.tensor([1, 2]).dtype == nyang.int64
    assert nyang.tensor([True]).dtype == nyang.bool
    assert nyang.tensor(np.zeros(2)).dtype == nyang.float64  # NumPy arrays keep their dtype
    assert nyang.zeros(2).dtype == nyang.float32
    assert nyang.arange(3).dtype == nyang.int64 and nyang.arange(0, 1, 0.5).dtype == nyang.float32
    assert nyang.full((2,), 7).dtype == nyang.int64 and nyang.full((2,), 0.5).dtype == nyang.float32
    assert nyang.tensor([1, 2], dtype=nyang.float16).dtype == nyang.float16


def test_attributes():
    t = nyang.ones(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.size() == (2, 3, 4) and t.size(1) == 3
    assert t.ndim == 3 and t.dim() == 3 and t.numel() == 24 and len(t) == 2
    assert str(t.device) == "cpu" and t.device == "cpu" and t.is_leaf and t.grad is None


def test_tensor_copies_and_from_numpy_shares():
    a = np.arange(3.0, dtype=np.float32)
    t, s = nyang.tensor(a), nyang.from_numpy(a)
    a[0] = 9
    assert t.numpy()[0] == 0 and s.numpy()[0] == 9
    assert nyang.as_tensor(a).data is a
    with pytest.raises(TypeError, match="numpy.ndarray"):
        nyang.from_numpy([1, 2])


def test_item_numpy_tolist():
    assert nyang.tensor([[2.5]]).item() == 2.5
    assert nyang.tensor([[1, 2]]).tolist() == [[1, 2]]
    with pytest.raises(ValueError, match=r"one-element.*\(2,\)"):
        nyang.tensor([1.0, 2.0]).item()
    assert float(nyang.tensor(3.0)) == 3.0 and int(nyang.tensor(4)) == 4


def test_repr_matches_torch_layout():
    for values in ([[1.0, 2.5], [-3.0, 4.0]], [1.0, 2.0], [0.12345, 1e-5], [[1e9, 1.0]], [0.5]):
        assert repr(nyang.tensor(values)) == repr(torch.tensor(values))
    assert repr(nyang.tensor([1, 2, 3])) == repr(torch.tensor([1, 2, 3]))
    x = nyang.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "tensor([1., 2.], requires_grad=True)"
    assert repr(x * 2).endswith("grad_fn=<MulBackward>)")
    assert repr(nyang.tensor([1.0], dtype=nyang.float64)) == "tensor([1.], dtype=nyang.float64)"


@pytest.mark.parametrize("values", [
    [float("nan"), 1.0], [0.0, -0.0], [float("inf"), -1.5], [-1.0, float("nan"), float("inf")], [1e-10, 1.0],
    [123456.0, 0.001], 3.5, 7, [True, False], np.zeros(0, np.float32), np.zeros(0, np.int64),
    np.zeros((0, 3), np.float32), np.zeros((2, 0), np.int32), np.arange(2000), np.arange(2000, dtype=np.float32) / 7,
    np.arange(30, dtype=np.float32), np.arange(3000).reshape(10, 10, 30), np.arange(1001, dtype=np.float32) - 500.5,
    np.random.default_rng(0).standard_normal((40, 40)).astype(np.float32),
    np.arange(6, dtype=np.float64).reshape(2, 3) / 3, np.arange(6, dtype=np.float16).reshape(2, 3) / 3,
    np.arange(50, dtype=np.int32) * 1000, np.ones(25, bool),
], ids=lambda v: f"{np.asarray(v).dtype}{np.asarray(v).shape}")
def test_repr_matches_torch(values):
    """Widths from the nonzero finite values only (nan, inf and zeros do not pad the rest),
    empty tensors, summaries with ``...``, line wrapping and the dtype suffix, as torch."""
    expected = repr(torch.tensor(values)).replace("torch.", "nyang.")
    assert repr(nyang.tensor(values)) == expected


def test_repr_wraps_suffixes_as_torch():
    values = np.arange(30, dtype=np.float64) / 3
    x, t = nyang.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    assert repr(x) == repr(t).replace("torch.", "nyang.")
    assert repr(x * 2) == repr(t * 2).replace("torch.", "nyang.").replace("MulBackward0", "MulBackward")


def test_factories_shapes_and_values():
    np.testing.assert_array_equal(nyang.zeros(2, 3).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(nyang.ones((2,)).numpy(), np.ones(2))
    np.testing.assert_array_equal(nyang.full((2, 2), 3.0).numpy(), np.full((2, 2), 3.0))
    assert nyang.empty(4, 1).shape == (4, 1)
    np.testing.assert_array_equal(nyang.arange(1, 7, 2).numpy(), [1, 3, 5])
    np.testing.assert_allclose(nyang.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(nyang.eye(2, 3).numpy(), np.eye(2, 3))
    t = nyang.ones(2, 3)
    assert nyang.zeros_like(t).shape == (2, 3) and nyang.full_like(t, 2.0).numpy().sum() == 12
    assert nyang.ones_like(t, dtype=nyang.float64).dtype == nyang.float64
    assert nyang.empty_like(t).shape == (2, 3) and nyang.rand_like(t).shape == (2, 3)
    assert nyang.randn_like(t).shape == (2, 3)
    r = nyang.randint_like(t, 5)  # keeps t's dtype, as torch.randint_like
    assert r.dtype == nyang.float32 and 0 <= r.numpy().min() and r.numpy().max() < 5
    assert np.all(r.numpy() == np.round(r.numpy()))


def test_random_factories_ranges_and_moments():
    nyang.manual_seed(1)
    u = nyang.rand(20000).numpy()
    n = nyang.randn(20000).numpy()
    k = nyang.randint(3, 7, (20000,)).numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1) < 0.03
    assert k.min() == 3 and k.max() == 6
    assert sorted(nyang.randperm(6).tolist()) == list(range(6))


def test_factories_reject_bad_sizes():
    with pytest.raises(ValueError, match="non-negative"):
        nyang.zeros(-1)
    with pytest.raises(ValueError, match="high"):
        nyang.randint(5, 5, (2,))
    with pytest.raises(TypeError, match="ragged"):
        nyang.tensor([[1, 2], [3]])


def test_tensor_on_each_backend_keeps_its_device(backend):
    t = nyang.tensor(backend.asarray([1.0, 2.0]))
    assert t.device.xp is backend.xp or backend.name == "numpy"
    z = nyang.zeros(3, device=t.device)
    assert z.device is t.device
    back = t.to("cpu")
    assert back.device == "cpu" and back.numpy().tolist() == [1.0, 2.0]


def test_to_is_differentiable_across_devices_and_dtypes(backend):
    x = nyang.tensor([1.0, 2.0], requires_grad=True)
    moved = nyang.tensor(backend.asarray([0.0]))
    y = x.to(moved.device).double()
    assert y.dtype == nyang.float64 and y.device is moved.device
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    assert x.grad.dtype == nyang.float32 and x.grad.device == "cpu"


def test_ops_across_devices_name_both_devices(backend):
    if backend.name == "numpy":
        pytest.skip("needs a second device")
    a = nyang.tensor(backend.asarray([1.0]))
    with pytest.raises(RuntimeError, match="cpu") as info:
        a + nyang.tensor([1.0])
    assert str(a.device) in str(info.value)


def test_matmul_and_broadcast_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\).*3 != 4"):
        nyang.ones(2, 3) @ nyang.ones(4, 5)
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        nyang.ones(2, 3) + nyang.ones(4)
    with pytest.raises(ValueError, match=r"mul: shapes"):
        nyang.ones(2, 3) * nyang.ones(3, 2)
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*\(4,\)"):
        nyang.ones(2, 3).reshape(4)
    with pytest.raises(IndexError, match="dim 3 is out of range"):
        nyang.ones(2, 3).sum(dim=3)
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(2, 4\)"):
        nyang.cat([nyang.ones(3, 4), nyang.ones(2, 4)], dim=1)


def test_setitem_works_outside_the_graph_and_refuses_inside():
    t = nyang.zeros(3)
    t[1] = 5.0
    assert t.tolist() == [0.0, 5.0, 0.0]
    x = nyang.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 1.0
    with nyang.no_grad():
        x[0] = 1.0
    assert x.tolist()[0] == 1.0


def test_iteration_and_indexing_with_tensors():
    t = nyang.arange(6).reshape(2, 3)
    rows = list(t)
    assert rows[1].tolist() == [3, 4, 5]
    assert t[nyang.tensor(1)].tolist() == [3, 4, 5]
    assert t[:, nyang.tensor([2, 0])].tolist() == [[2, 0], [5, 3]]


def test_max_with_dim_returns_values_and_indices_like_torch():
    a = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], dtype=np.float32)
    ours, theirs = nyang.tensor(a).max(dim=1), torch.tensor(a).max(dim=1)
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
