"""Making tensors: from Python data or arrays, filled, ranges and random draws.

Floating-point results default to ``nyang.float32`` (as PyTorch); Python ints give
int64 and bools give bool. NumPy arrays keep their dtype. ``device`` defaults to
``nyang.get_device()``; random draws take ``generator=`` (default: the device's).
"""
import builtins

import array_api_compat
import numpy as np

from nyang import dtypes
from nyang.device import Device, device_of_array
from nyang.device import device as as_device
from nyang.functional.device_ops import move as _move
from nyang.random import default_generator
from nyang.tensor import Tensor


def _is_array(data):
    return hasattr(data, "__array_namespace__") or array_api_compat.is_array_api_obj(data)


def _host(data):
    """Python data (numbers, nested lists, tensors inside) as a NumPy array."""
    if isinstance(data, Tensor):
        return data.numpy()
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
        data = [_host(x) for x in data]
    try:
        a = np.asarray(data)
    except ValueError:  # ragged nesting
        a = np.asarray(None)
    if a.dtype == object:
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} data "
                        f"(ragged nested lists or non-numeric values)")
    return a


def _to_array(data, dtype=None, device=None, copy=False):
    """(array, Device) for ``data``: a Tensor, an array of any library, or Python data.

    Arrays and tensors keep their dtype; Python floats become float32 and ints int64.
    ``copy`` guarantees the result does not share memory with ``data``."""
    target = as_device(device) if device is not None else None
    if isinstance(data, Tensor):
        array, source = data.data, data._device
    elif _is_array(data) and not isinstance(data, np.generic):
        array, source = data, device_of_array(data)
    else:
        host = _host(data)
        if host.dtype.kind not in "fiub":
            raise TypeError(f"tensor: unsupported data of dtype {host.dtype}; expected numbers or bools")
        if dtype is None and not isinstance(data, np.generic):
            if host.dtype.kind == "f":
                host = host.astype(np.float32)
            elif host.dtype.kind in "iu":
                host = host.astype(np.int64)
        source = target or as_device(None)
        array, copy = source.kernels.from_numpy(source.xp, host, source.native), False
    target = target or source
    xp = target.xp
    if source is not target:
        array, copy = _move(array, source, target), False
    if dtype is not None:
        xp_dtype = dtypes.to_xp(xp, dtype)
        if array.dtype != xp_dtype:
            array, copy = xp.astype(array, xp_dtype), False
    if copy:
        array = xp.asarray(array, copy=True)
    return array, target


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor with a copy of ``data`` (numbers, nested lists, arrays, tensors)."""
    array, dev = _to_array(data, dtype, device, copy=True)
    return Tensor._wrap(array, dev).requires_grad_(requires_grad) if requires_grad else Tensor._wrap(array, dev)


def as_tensor(data, dtype=None, device=None):
    """``data`` as a tensor, sharing memory when no conversion is needed."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    array, dev = _to_array(data, dtype, device, copy=False)
    return Tensor._wrap(array, dev)


def from_numpy(array):
    """A CPU tensor sharing memory with the NumPy array ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array, as_device("cpu"))


def _size_args(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    for s in size:
        if not isinstance(s, (builtins.int, np.integer)) or isinstance(s, builtins.bool) or s < 0:
            raise ValueError(f"size: expected non-negative ints, got {tuple(size)}")
    return tuple(builtins.int(s) for s in size)


def _finish(array, dev, requires_grad):
    t = Tensor._wrap(array, dev)
    return t.requires_grad_(True) if requires_grad else t


def _filled(fill, size, dtype, device, requires_grad):
    dev = as_device(device)
    xp = dev.xp
    array = xp.full(size, fill, dtype=dtypes.to_xp(xp, dtype or dtypes.float32), device=dev.native)
    return _finish(array, dev, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros of shape ``size`` (float32 unless ``dtype``)."""
    return _filled(0, _size_args(size), dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    """A tensor of ones of shape ``size``."""
    return _filled(1, _size_args(size), dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    """An uninitialised tensor of shape ``size``."""
    dev = as_device(device)
    xp = dev.xp
    array = xp.empty(_size_args(size), dtype=dtypes.to_xp(xp, dtype or dtypes.float32), device=dev.native)
    return _finish(array, dev, requires_grad)


def _dtype_of_number(value):
    if isinstance(value, builtins.bool):
        return dtypes.bool_
    if isinstance(value, (builtins.int, np.integer)):
        return dtypes.int64
    return dtypes.float32


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of shape ``size`` filled with ``fill_value`` (dtype from the value)."""
    return _filled(fill_value, _size_args((size,)), dtype or _dtype_of_number(fill_value), device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` to ``end`` (excluded) by ``step``; int64 for ints, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        dtype = dtypes.int64 if all(isinstance(v, (builtins.int, np.integer)) for v in (start, end, step)) else dtypes.float32
    dev = as_device(device)
    xp = dev.xp
    return _finish(xp.arange(start, end, step, dtype=dtypes.to_xp(xp, dtype), device=dev.native), dev, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    if steps < 0:
        raise ValueError(f"linspace: steps must be non-negative, got {steps}")
    dev = as_device(device)
    xp = dev.xp
    array = xp.linspace(start, end, steps, dtype=dtypes.to_xp(xp, dtype or dtypes.float32), device=dev.native)
    return _finish(array, dev, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The (n, m) identity matrix."""
    dev = as_device(device)
    xp = dev.xp
    return _finish(xp.eye(n, m, dtype=dtypes.to_xp(xp, dtype or dtypes.float32), device=dev.native), dev, requires_grad)


def _generator(generator, device):
    if generator is None:
        return default_generator(device), as_device(device)
    dev = as_device(device) if device is not None else generator.device
    if generator.device is not dev:
        raise RuntimeError(f"generator: expected a generator on {dev}, got one on {generator.device}")
    return generator, dev


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Samples from U[0, 1) of shape ``size``."""
    gen, dev = _generator(generator, device)
    array = gen.uniform(_size_args(size), dtypes.get(dtype or dtypes.float32).name)
    return _finish(array, dev, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Samples from N(0, 1) of shape ``size``."""
    gen, dev = _generator(generator, device)
    array = gen.normal(_size_args(size), dtypes.get(dtype or dtypes.float32).name)
    return _finish(array, dev, requires_grad)


def randint(low, high=None, size=None, generator=None, dtype=None, device=None):
    """Integers uniform on [low, high); ``randint(high, size)`` means low = 0."""
    if size is None:
        low, high, size = 0, low, high
    if high is None or size is None:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be larger than low ({low})")
    gen, dev = _generator(generator, device)
    return Tensor._wrap(gen.integers(low, high, _size_args((size,)), dtypes.get(dtype or dtypes.int64).name), dev)


def randperm(n, generator=None, device=None):
    """A random permutation of 0..n-1 (int64)."""
    gen, dev = _generator(generator, device)
    return Tensor._wrap(gen.permutation(n), dev)


def _like(t, dtype, device):
    return dtype or t.dtype, device if device is not None else t.device


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return zeros(t.shape, dtype=d, device=dev, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return ones(t.shape, dtype=d, device=dev, requires_grad=requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return empty(t.shape, dtype=d, device=dev, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=d, device=dev, requires_grad=requires_grad)


def rand_like(t, generator=None, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return rand(t.shape, generator=generator, dtype=d, device=dev, requires_grad=requires_grad)


def randn_like(t, generator=None, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return randn(t.shape, generator=generator, dtype=d, device=dev, requires_grad=requires_grad)


def randint_like(t, low=0, high=None, generator=None, dtype=None, device=None):
    if high is None:
        low, high = 0, low
    d, dev = _like(t, dtype, device)
    return randint(low, high, t.shape, generator=generator, dtype=d, device=dev)


__all__ = ["tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "arange", "linspace",
           "eye", "rand", "randn", "randint", "randperm", "zeros_like", "ones_like", "empty_like",
           "full_like", "rand_like", "randn_like", "randint_like", "Device"]
