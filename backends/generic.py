"""The reference kernels, written only with the Python Array API standard.

Slow where the standard offers no fast formulation, but correct on any conforming
array library; the NumPy and CuPy modules are tested against these.

Random numbers are the one exception to "pure standard": the standard has no
random-number API, so they are drawn on the host by a NumPy ``Generator`` (PCG64)
and copied to the array's device. NumPy arrays take this same path, so a seed
gives the same numbers on NumPy and on any other conforming library.
"""
import math

import numpy as np

# ---------------------------------------------------------------- host boundary


def to_numpy(x):
    """A NumPy array with the values of ``x`` (copied when ``x`` is not on the host)."""
    return np.from_dlpack(x) if not isinstance(x, np.ndarray) else x


def from_numpy(xp, a, device):
    """The NumPy array ``a`` as an array of namespace ``xp`` on ``device``."""
    return xp.asarray(a, device=device)


# ---------------------------------------------------------------- scatter-add

_ONE_HOT_BUDGET = 1 << 22  # elements of the one-hot block built per chunk


def scatter_add(xp, size, index, values):
    """``out = zeros(size); out[index[k]] += values[k]`` for every k (repeats add up).

    index: (M,) integer array; values: (M,) array. Returns (size,) of values' dtype.
    The standard has no scatter, so this multiplies by a one-hot matrix, in chunks.
    """
    device = values.device
    out = xp.zeros((size,), dtype=values.dtype, device=device)
    positions = xp.arange(size, dtype=index.dtype, device=device)
    chunk = max(1, _ONE_HOT_BUDGET // max(size, 1))
    for start in range(0, index.shape[0], chunk):
        idx = index[start:start + chunk]
        one_hot = xp.astype(idx[:, None] == positions[None, :], values.dtype)
        out = out + values[None, start:start + chunk] @ one_hot
    return xp.reshape(out, (size,))


# ---------------------------------------------------------------- erf

# Rational approximation of erf on [-4, 4] for float32 (the one Eigen and XLA use);
# accurate to a few float32 ulps. Coefficients are of x**2, highest power first.
_ERF_F32_NUM = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
                -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
                -1.60960333262415e-02)
_ERF_F32_DEN = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
                -7.37332916720468e-03, -1.42647390514189e-02)


def _polyval(coefficients, z):
    acc = coefficients[0]
    for c in coefficients[1:]:
        acc = acc * z + c
    return acc


def erf(xp, x):
    """The error function, elementwise, to the precision of ``x``'s dtype.

    float16/float32: Eigen's rational approximation (computed in float32).
    float64: erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)),
    a series of positive terms (no cancellation), summed until the last term is
    below 1e-17 of the sum for |x| <= 6; beyond 6, erf is +-1 in float64.
    """
    if x.dtype == xp.float64:
        a = xp.clip(xp.abs(x), max=6.0)
        z = a * a
        term = xp.asarray(a, copy=True)
        total = xp.asarray(a, copy=True)
        for n in range(1, 160):  # 2*6^2 + a margin: terms start shrinking after n ~ z
            term = term * (2.0 * z) / (2 * n + 1)
            total = total + term
        value = (2.0 / math.sqrt(math.pi)) * xp.exp(-z) * total
        return xp.where(x < 0, -value, value)
    x32 = xp.astype(x, xp.float32)
    c = xp.clip(x32, min=-4.0, max=4.0)
    z = c * c
    value = c * _polyval(_ERF_F32_NUM, z) / _polyval(_ERF_F32_DEN, z)
    return xp.astype(value, x.dtype)


# ---------------------------------------------------------------- random numbers


def new_rng(seed):
    """A new random-number generator seeded with ``seed`` (a non-negative int)."""
    return np.random.Generator(np.random.PCG64(seed))


def rng_get_state(rng):
    """The generator's state as plain JSON-serialisable data."""
    return rng.bit_generator.state


def rng_set_state(rng, state):
    """Restore a state taken by :func:`rng_get_state`."""
    rng.bit_generator.state = state


def _host_float(rng, draw, shape, dtype_name):
    host_dtype = np.float32 if dtype_name == "float32" else np.float64
    return draw(size=shape, dtype=host_dtype)


def uniform(rng, xp, shape, dtype_name, device, low=0.0, high=1.0):
    """Samples from U[low, high) of the given shape and float dtype (by name)."""
    a = _host_float(rng, rng.random, shape, dtype_name)
    if low != 0.0 or high != 1.0:
        a = a * (high - low) + low
    return xp.asarray(a, dtype=getattr(xp, dtype_name), device=device)


def normal(rng, xp, shape, dtype_name, device, mean=0.0, std=1.0):
    """Samples from N(mean, std^2) of the given shape and float dtype (by name)."""
    a = _host_float(rng, rng.standard_normal, shape, dtype_name)
    if mean != 0.0 or std != 1.0:
        a = a * std + mean
    return xp.asarray(a, dtype=getattr(xp, dtype_name), device=device)


def integers(rng, xp, low, high, shape, dtype_name, device):
    """Integers uniform on [low, high) of the given shape and dtype (by name)."""
    a = rng.integers(low, high, size=shape, dtype=np.int64)
    return xp.asarray(a, dtype=getattr(xp, dtype_name), device=device)


def permutation(rng, xp, n, device):
    """A random permutation of ``range(n)`` as an int64 array."""
    return xp.asarray(rng.permutation(n).astype(np.int64), device=device)
