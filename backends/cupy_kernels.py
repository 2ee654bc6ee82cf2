"""CuPy implementations of the kernel interface (see ``backends/__init__.py``).

Random numbers come from the host generator of ``generic`` for now and are copied
to the GPU, so a seed gives the same numbers on every device and the generator
state can be saved; on-device generation belongs to the CUDA backend work.
"""
import cupy
import cupyx
import cupyx.scipy.special

from backends.generic import *  # noqa: F401,F403  (every kernel not specialised below)


def to_numpy(x):
    """A host copy of the CuPy array ``x``."""
    return cupy.asnumpy(x)


def from_numpy(xp, a, device):
    """The NumPy array ``a`` copied to the GPU ``device``."""
    with device:
        return cupy.asarray(a)


def scatter_add(xp, size, index, values):
    """``out = zeros(size); out[index[k]] += values[k]``, through ``cupyx.scatter_add``."""
    out = cupy.zeros(size, dtype=values.dtype)
    cupyx.scatter_add(out, index, values)
    return out


def erf(xp, x):
    """The error function, elementwise (``cupyx.scipy.special.erf``)."""
    return cupyx.scipy.special.erf(x)
