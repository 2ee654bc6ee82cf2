"""Kernels for the array libraries nyang runs on.

Everything in ``nyang/`` is written once against the Python Array API. What the
standard cannot express fast (or at all: random numbers, ``erf``, scatter-add,
im2col/col2im, pooling argmax) sits behind the small interface below, with one
module per array library:

``generic``        pure Array API; the reference, works on any conforming library
``numpy_kernels``  NumPy fast paths (stride tricks, ``add.at``, BLAS-friendly layouts)
``cupy_kernels``   CuPy, with RawKernels compiled from ``backends/cuda/*.cu``

Each implementation module exposes the same functions; the ones it does not
specialise it takes from ``generic``. The interface:

``to_numpy(x)`` / ``from_numpy(xp, a, device)``     move arrays across the host boundary
``scatter_add(xp, size, index, values)``             1-D ``out[index[k]] += values[k]``
``erf(xp, x)``                                       the error function, elementwise
``new_rng(seed)``, ``rng_get_state``, ``rng_set_state``, ``uniform``, ``normal``,
``integers``, ``permutation``                        seeded random numbers
"""
import array_api_compat

_BY_NAMESPACE = {}


def kernels_for(xp):
    """The kernel module for array namespace ``xp`` (cached per namespace)."""
    module = _BY_NAMESPACE.get(id(xp))
    if module is None:
        if array_api_compat.is_numpy_namespace(xp):
            from backends import numpy_kernels as module
        elif array_api_compat.is_cupy_namespace(xp):
            from backends import cupy_kernels as module
        else:
            from backends import generic as module
        _BY_NAMESPACE[id(xp)] = module
    return module
