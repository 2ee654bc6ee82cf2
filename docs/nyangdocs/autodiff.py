"""Curves of a function and of its derivative, both computed by nyang."""
import numpy as np

import nyang


def value_and_grad(fn, points):
    """``fn`` at each of ``points`` and its derivative there, as NumPy: ``x.grad`` after
    ``fn(x).sum().backward()``, which is each point's own derivative because ``fn`` acts
    on every point separately (an activation, a loss with ``reduction="none"``)."""
    x = nyang.tensor(np.asarray(points, dtype=np.float32), requires_grad=True)
    y = fn(x)
    y.sum().backward()
    return y.detach().numpy(), x.grad.numpy()
