"""Comparing nyang with PyTorch (the oracle) and with finite differences.

``check_op`` runs the same function in nyang (on a test backend) and in PyTorch
from the same NumPy inputs, then compares outputs and input gradients for the
same upstream gradient.
"""
import numpy as np
import pytest

import nyang

torch = pytest.importorskip("torch")


def to_numpy(t):
    """Host copy of a nyang or torch tensor (or a plain array)."""
    if isinstance(t, nyang.Tensor):
        return np.asarray(t.numpy())
    if hasattr(t, "detach"):
        return t.detach().numpy()
    return np.asarray(t)


def nyang_inputs(backend, arrays, requires_grad):
    return [nyang.tensor(backend.asarray(a), requires_grad=r and a.dtype.kind == "f")
            for a, r in zip(arrays, requires_grad)]


def torch_inputs(arrays, requires_grad):
    return [torch.tensor(a, requires_grad=r and a.dtype.kind == "f") for a, r in zip(arrays, requires_grad)]


def assert_close(actual, expected, rtol, atol, what):
    actual, expected = to_numpy(actual), to_numpy(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch's {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def check_op(backend, nyang_fn, torch_fn, arrays, requires_grad=None, rtol=1e-5, atol=1e-6, seed=0):
    """Same outputs and input gradients as PyTorch for ``arrays`` (NumPy inputs)."""
    arrays = [np.asarray(a) for a in arrays]
    requires_grad = requires_grad or [True] * len(arrays)
    ours = nyang_inputs(backend, arrays, requires_grad)
    theirs = torch_inputs(arrays, requires_grad)
    out, expected = nyang_fn(*ours), torch_fn(*theirs)
    assert_close(out, expected, rtol, atol, "output")
    if not any(t.requires_grad for t in theirs) or not expected.requires_grad:
        return
    upstream = np.random.default_rng(seed).standard_normal(expected.shape).astype(arrays[0].dtype)
    expected.backward(torch.tensor(upstream))
    out.backward(nyang.tensor(backend.asarray(upstream)))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if b.requires_grad:
            assert a.grad is not None, f"input {i}: nyang gave no gradient, torch did"
            assert_close(a.grad, b.grad, rtol, atol, f"gradient of input {i}")


def check_gradients(backend, nyang_fn, arrays, requires_grad=None, atol=1e-6, rtol=1e-4):
    """Autograd gradients of ``nyang_fn`` equal central differences, in float64."""
    arrays = [np.asarray(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
              for a in arrays]
    requires_grad = requires_grad or [True] * len(arrays)
    inputs = nyang_inputs(backend, arrays, requires_grad)
    differentiable = [i for i, t in enumerate(inputs) if t.requires_grad]

    def fn(*xs):
        args = list(inputs)
        for i, x in zip(differentiable, xs):
            args[i] = x
        return nyang_fn(*args)

    nyang.gradcheck.gradcheck(fn, *[inputs[i] for i in differentiable], atol=atol, rtol=rtol)
