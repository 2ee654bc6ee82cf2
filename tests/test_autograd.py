"""The graph engine: accumulation, ordering, freeing, grad modes, deep graphs."""
import numpy as np
import pytest

import nyang
from tests.oracle import torch


def test_gradients_accumulate_across_backward_calls_as_in_torch(backend):
    x = nyang.tensor(backend.asarray([1.0, 2.0, 3.0]), requires_grad=True)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1, 2, 3]) + 3)


def test_a_tensor_used_twice_gets_both_contributions():
    x = nyang.tensor([2.0], requires_grad=True)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward(nyang.ones(1))
    assert x.grad.item() == 5.0


def test_diamond_graph_matches_torch():
    a = np.array([0.3, -1.2, 2.0], dtype=np.float32)
    x, tx = nyang.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    for lib, t in ((nyang, x), (torch, tx)):
        h = t.exp()
        (h * h.sin() + h.tanh() * t).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


def test_chain_of_ten_thousand_ops_backpropagates_without_recursion_error():
    x = nyang.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert abs(x.grad.item() - 1.0001 ** 10_000) < 1e-2


def test_second_backward_raises_unless_retain_graph():
    x = nyang.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp([1.0, 2.0]), rtol=1e-6)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_graph_saved_values_are_freed_after_backward():
    x = nyang.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    node = y.grad_fn
    y.sum().backward()
    assert not hasattr(node, "a") and node.next is None


def test_no_grad_and_enable_grad_as_context_managers_and_decorators():
    x = nyang.tensor([1.0], requires_grad=True)
    with nyang.no_grad():
        assert not (x * 2).requires_grad
        with nyang.enable_grad():
            assert (x * 2).requires_grad
    assert (x * 2).requires_grad

    @nyang.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad and nyang.is_grad_enabled()


def test_no_grad_and_enable_grad_as_bare_decorators():
    """``@nyang.no_grad`` without parentheses, as ``@torch.no_grad`` in torch 2.13."""
    x = nyang.tensor([1.0], requires_grad=True)

    @nyang.no_grad
    def doubled(t):
        """Twice t."""
        return t * 2

    @nyang.enable_grad
    def tripled(t):
        return t * 3

    assert doubled.__name__ == "doubled" and doubled.__doc__ == "Twice t."
    assert not doubled(x).requires_grad and nyang.is_grad_enabled()
    with nyang.no_grad():
        assert tripled(x).requires_grad and not nyang.is_grad_enabled()
    assert isinstance(nyang.no_grad(), nyang.no_grad) and isinstance(nyang.enable_grad(), nyang.enable_grad)
    with pytest.raises(TypeError, match="no_grad"):
        nyang.no_grad(3)

    @torch.no_grad
    def torch_doubled(t):
        return t * 2

    @torch.enable_grad
    def torch_tripled(t):
        return t * 3

    t = torch.ones(1, requires_grad=True)  # the same answers as torch's bare decorators
    assert doubled(x).requires_grad == torch_doubled(t).requires_grad
    with nyang.no_grad(), torch.no_grad():
        assert tripled(x).requires_grad == torch_tripled(t).requires_grad


def test_set_grad_enabled_as_call_context_manager_and_decorator():
    x = nyang.tensor([1.0], requires_grad=True)
    nyang.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad and not nyang.is_grad_enabled()
    finally:
        nyang.set_grad_enabled(True)
    with nyang.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with nyang.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not nyang.is_grad_enabled()
    assert nyang.is_grad_enabled()

    @nyang.set_grad_enabled(False)
    def f(t):
        return t * 2

    assert nyang.is_grad_enabled()  # decorating does not switch it off outside f
    assert not f(x).requires_grad and (x * 2).requires_grad
    with pytest.raises(TypeError, match="mode must be a bool"):
        nyang.set_grad_enabled(0)


def test_grad_mode_is_per_thread():
    """As in PyTorch: no_grad in one thread does not stop another thread's graph."""
    import threading

    x = nyang.tensor([1.0], requires_grad=True)
    inside, seen = threading.Event(), {}

    def other():
        inside.wait(5)
        seen["enabled"], seen["records"] = nyang.is_grad_enabled(), (x * 2).requires_grad

    thread = threading.Thread(target=other)
    thread.start()
    with nyang.no_grad():
        inside.set()
        thread.join(5)
        assert not nyang.is_grad_enabled()
    assert seen == {"enabled": True, "records": True}


def test_detach_and_requires_grad_():
    x = nyang.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and d.data is x.data
    y = (x * 2).detach() * x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    z = nyang.zeros(2).requires_grad_()
    assert z.requires_grad and z.is_leaf
    with pytest.raises(TypeError, match="floating-point"):
        nyang.arange(3).requires_grad_()


def test_only_leaves_get_grad_unless_retain_grad():
    x = nyang.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h2 = (x * 2).retain_grad()
    (h * h2).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(h2.grad.numpy(), (x * 3).detach().numpy())


def test_autograd_grad_returns_gradients_without_touching_dot_grad():
    x = nyang.tensor([1.0, 2.0], requires_grad=True)
    g = nyang.autograd.grad((x ** 3).sum(), x)
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    assert x.grad is None


def test_backward_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="does not require grad"):
        nyang.tensor([1.0]).sum().backward()
    x = nyang.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\(2,\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\), expected \(2,\)"):
        (x * 2).backward(nyang.ones(3))


def test_backward_checks_the_gradient_device_and_shape_and_converts_its_dtype(backend):
    x = nyang.tensor(backend.asarray(np.array([1.0, 2.0], np.float32)), requires_grad=True)
    y = x * 2

    def gradient(values, dtype=np.float32):
        return nyang.tensor(backend.asarray(np.array(values, dtype=dtype)))

    if backend.name != "numpy":
        with pytest.raises(RuntimeError, match="gradient is on device cpu") as info:
            y.backward(nyang.ones(2), retain_graph=True)
        assert str(x.device) in str(info.value)
    with pytest.raises(ValueError, match=r"gradient has shape \(1, 2\), expected \(2,\)"):
        y.backward(gradient([[1.0, 1.0]]), retain_graph=True)
    assert x.grad is None
    y.backward(gradient([1, 3], np.int64), retain_graph=True)  # converted to the tensor's dtype, as in torch
    assert x.grad.dtype == nyang.float32 and x.grad.tolist() == [2.0, 6.0]
    x.grad = None
    y.backward(gradient([1.0, 3.0], np.float64))
    assert x.grad.dtype == nyang.float32 and x.grad.tolist() == [2.0, 6.0]


def test_backward_from_an_integer_tensor_is_a_type_error():
    x = nyang.tensor([1.0, 2.0], requires_grad=True)
    y = x.sum()
    y.data = y.data.astype(np.int64)  # an integer result that still carries the graph
    with pytest.raises(TypeError, match="floating-point"):
        y.backward()


def test_leaf_gradient_is_cast_to_the_leaf_dtype():
    x = nyang.tensor([1.0, 2.0], requires_grad=True)
    w = nyang.tensor(np.array([0.5, 0.5]), requires_grad=True)  # float64
    (x * w).sum().backward()
    assert x.grad.dtype == nyang.float32 and w.grad.dtype == nyang.float64


def test_gradcheck_catches_a_wrong_backward():
    class WrongSquare(nyang.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.x = x
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g * ctx.x  # should be 2x

    x = nyang.randn(4, dtype=nyang.float64, requires_grad=True)
    with pytest.raises(AssertionError, match="analytic"):
        nyang.gradcheck.gradcheck(lambda t: WrongSquare.apply(t), x)
    assert nyang.gradcheck.gradcheck(lambda t: t * t, x)
