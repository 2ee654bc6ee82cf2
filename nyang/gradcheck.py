"""Checking gradients against central finite differences (use float64 inputs)."""
from nyang.autograd import grad as autograd_grad
from nyang.creation import tensor as make_tensor
from nyang.random import Generator


def numerical_gradients(fn, inputs, weights, eps=1e-6):
    """Central differences of ``sum(fn(*inputs) * weights)`` with respect to each input
    (a list of host NumPy arrays, one per input)."""
    import numpy as np

    grads = []
    for i, x in enumerate(inputs):
        host = x.numpy().astype(np.float64)
        g = np.zeros_like(host)
        flat = host.reshape(-1)
        for k in range(flat.size):
            values = []
            for step in (eps, -eps):
                shifted = flat.copy()
                shifted[k] += step
                args = list(inputs)
                args[i] = make_tensor(shifted.reshape(host.shape), dtype=x.dtype, device=x.device)
                values.append(float((fn(*args) * weights).sum().item()))
            g.reshape(-1)[k] = (values[0] - values[1]) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0):
    """True when the autograd gradients of ``fn`` at ``inputs`` (float64 tensors with
    ``requires_grad``) match central finite differences; raises AssertionError naming
    the input and the worst element otherwise."""
    import numpy as np

    out = fn(*inputs)
    weights = Generator(out.device).manual_seed(seed).normal(out.shape, out.dtype.name)
    weights = make_tensor(weights, device=out.device)
    analytic = autograd_grad((out * weights).sum(), list(inputs))
    numeric = numerical_gradients(fn, inputs, weights, eps)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        a = np.zeros_like(n) if a is None else a.numpy()
        if not np.allclose(a, n, atol=atol, rtol=rtol):
            k = int(np.argmax(np.abs(a - n) - rtol * np.abs(n)))
            raise AssertionError(f"gradcheck: input {i}: analytic {a.reshape(-1)[k]!r} vs numeric "
                                 f"{n.reshape(-1)[k]!r} at flat index {k} (shape {n.shape})")
    return True
