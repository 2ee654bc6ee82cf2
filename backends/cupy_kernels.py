"""CuPy implementations of the kernel interface (see ``backends/__init__.py``).

Convolution and pooling run CUDA kernels compiled from ``backends/cuda/*.cu``
(``common.cuh`` says how they are written); everything else is CuPy's own:

``to_numpy`` / ``from_numpy``   device <-> host copies
``scatter_add``                 ``cupyx.scatter_add``
``erf``                         ``cupyx.scipy.special.erf``
random numbers                  ``generic``'s host generator (NumPy PCG64), the draws
                                copied to the GPU. Deliberately not ``cupy.random``: so a
                                seed gives the same numbers on every device, and the
                                generator state is plain JSON that checkpoints save and
                                restore. On-device generation would be faster for large
                                draws (dropout masks); it would need a saveable state.
pinned-memory staging           ``new_stream``, ``current_stream``, ``pinned_empty``,
                                ``to_device_async`` (used by ``nyang/data/_staging.py``)

The CUDA kernels: one module per (GPU, element dtype), compiled by NVRTC through
``cupy.RawModule`` the first time a kernel of that dtype runs and cached (in this
process by ``functools.lru_cache``, across processes by CuPy's kernel cache). Every
kernel is a grid-stride loop over the elements of its output, one thread per element,
launched with :data:`THREADS` threads a block and at most :data:`BLOCKS_PER_SM` blocks
per multiprocessor. Inputs are read through their strides (channels-last views and
broadcasts need no copy); outputs take the layout of the input as in
``numpy_kernels`` (channels-last in, channels-last out), the columns of ``im2col`` are
C-contiguous and ``col2im`` returns a channels-last view. Dtypes other than float16,
float32 and float64 fall back to ``generic``.

The kernels were checked element by element against ``numpy_kernels`` by compiling the
same sources for the CPU (``tests/backends/cuda_host.py``), and compile with nvcc for
sm_90; ``tests/backends/test_cuda_kernels.py`` runs them on the GPU where there is one.
"""
import functools
import math
import pathlib

import cupy
import cupyx
import cupyx.scipy.special
import numpy as np

from backends import generic
from backends.generic import *  # noqa: F401,F403  (every kernel not specialised below)
from backends.generic import (argmax_dtype_name, check_groups, conv_geometry,
                              pool_geometry)

# ---------------------------------------------------------------- host boundary


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


# ---------------------------------------------------------------- pinned-memory staging
#
# The pieces ``nyang/data/_staging.py`` builds its copy pipeline from: batch k+1 goes
# through page-locked host memory to the GPU on a side stream while batch k computes.
# Streams and events are CuPy's (``stream.record()``, ``stream.wait_event(event)``,
# ``event.synchronize()``).


def new_stream():
    """A new non-blocking CUDA stream on the current device (for host-to-device copies)."""
    return cupy.cuda.Stream(non_blocking=True)


def current_stream():
    """The current device's current CUDA stream (the one kernels are queued on)."""
    return cupy.cuda.get_current_stream()


def pinned_empty(shape, dtype):
    """An uninitialised NumPy array of ``shape`` and ``dtype`` in page-locked host memory.

    The array holds its memory: when the array is freed the memory goes back to CuPy's
    pinned-memory pool, so keep it alive until every copy from it has finished.
    """
    dtype = np.dtype(dtype)
    count = math.prod(shape)
    memory = cupy.cuda.alloc_pinned_memory(max(count * dtype.itemsize, 1))
    return np.frombuffer(memory, dtype, count).reshape(shape)


def to_device_async(host, stream):
    """Start copying the host array ``host`` to a new array on the current device, on
    ``stream``; returns that array at once.

    The new array is allocated in the current stream's order, so the copy may land in
    memory that work queued there has just freed: make ``stream`` wait for that work
    first. The copy is asynchronous only from pinned memory (:func:`pinned_empty`); the
    result may be used on another stream only after waiting for an event recorded on
    ``stream`` after this call.
    """
    out = cupy.empty(host.shape, host.dtype)
    out.set(host, stream=stream)
    return out


# ================================================================ CUDA kernels

THREADS = 256  # threads per block; NYANG_THREADS in backends/cuda/common.cuh
BLOCKS_PER_SM = 32  # the grid's cap per multiprocessor; each thread then loops

CUDA_DIR = pathlib.Path(__file__).with_name("cuda")
KERNEL_FILES = ("conv.cu", "pool.cu")

# element dtype -> C++ type of the kernels' template argument T
CTYPES = {"float16": "__half", "float32": "float", "float64": "double"}
# max-pool argmax dtype -> C++ type of the template argument A
ARGMAX_CTYPES = {"uint8": "unsigned char", "int32": "int"}


def kernel_name(kernel, dtype_name, argmax_dtype=None):
    """The name expression of one instantiation, e.g. ``max_pool2d<float, unsigned char>``."""
    args = CTYPES[dtype_name] + ("" if argmax_dtype is None else ", " + ARGMAX_CTYPES[argmax_dtype])
    return f"{kernel}<{args}>"


def name_expressions(dtype_name):
    """Every instantiation compiled into the module of one element dtype."""
    names = [kernel_name(k, dtype_name)
             for k in ("im2col", "col2im", "avg_pool2d", "avg_pool2d_backward")]
    names += [kernel_name(k, dtype_name, a)
              for k in ("max_pool2d", "max_pool2d_backward") for a in ARGMAX_CTYPES]
    return names


def compile_options(dtype_name):
    """NVRTC options of the module of one element dtype: C++17, and cuda_fp16.h only for
    float16 (see common.cuh)."""
    return ("-std=c++17",) + (("-DNYANG_HALF",) if dtype_name == "float16" else ())


def source():
    """The CUDA source of every kernel: ``common.cuh`` followed by the kernel files, with
    their ``#include "common.cuh"`` lines (and the header's ``#pragma once``) dropped.
    Inlining the header (instead of ``-I backends/cuda``) keeps it in the text CuPy hashes
    for its kernel cache, so an edited header can never be served from a stale cache."""
    header = (CUDA_DIR / "common.cuh").read_text()
    parts = [header.replace("#pragma once\n", "", 1)]
    for name in KERNEL_FILES:
        text = (CUDA_DIR / name).read_text()
        parts.append("\n".join(line for line in text.splitlines()
                               if line.strip() != '#include "common.cuh"'))
    return "\n".join(parts)


@functools.lru_cache(maxsize=None)
def _module(device_id, dtype_name):
    """The compiled kernels of one element dtype on GPU ``device_id``."""
    with cupy.cuda.Device(device_id):
        return cupy.RawModule(code=source(), options=compile_options(dtype_name),
                              name_expressions=name_expressions(dtype_name))


@functools.lru_cache(maxsize=None)
def _function(name, dtype_name, device_id):
    with cupy.cuda.Device(device_id):
        return _module(device_id, dtype_name).get_function(name)


@functools.lru_cache(maxsize=None)
def _multiprocessors(device_id):
    return cupy.cuda.Device(device_id).attributes["MultiProcessorCount"]


def launch_shape(total, multiprocessors):
    """(blocks, threads) of a grid-stride launch over ``total`` > 0 elements."""
    return max(1, min(-(-total // THREADS), multiprocessors * BLOCKS_PER_SM)), THREADS


def _run(name, dtype_name, device, blocks, threads, args):
    """Launch kernel ``name`` on ``device`` (a ``cupy.cuda.Device``) in its current stream."""
    with device:
        _function(name, dtype_name, device.id)((blocks,), (threads,), args)


def _launch(name, dtype_name, total, args, device):
    """Run kernel ``name`` over ``total`` elements. ``args`` are its parameters in order:
    arrays (passed as pointers to their first element) and ints (passed as ``long long``,
    the type of every scalar parameter of the kernels)."""
    if total == 0:
        return
    blocks, threads = launch_shape(total, _multiprocessors(device.id))
    args = tuple(np.int64(a) if isinstance(a, (int, np.integer)) else a for a in args)
    _run(name, dtype_name, device, blocks, threads, args)


def _device(a):
    """The ``cupy.cuda.Device`` holding ``a``. The wrappers below allocate and launch
    inside ``with _device(x) as device:``: array_api_compat allocates CuPy arrays on the
    current device whatever ``device=`` says."""
    return a.device


def _strides(a):
    """The strides of ``a`` in elements."""
    return tuple(s // a.itemsize for s in a.strides)


def _is_channels_last(a):
    """Whether the (N, C, H, W) array ``a`` is a view of C-contiguous (N, H, W, C) memory
    (NumPy's rule: the strides of extent-1 axes do not matter)."""
    n, c, h, w = a.shape
    sn, sc, sh, sw = _strides(a)
    expected = 1
    for extent, stride in ((c, sc), (w, sw), (h, sh), (n, sn)):
        if extent != 1 and stride != expected:
            return False
        expected *= extent
    return True


def _empty(xp, shape, dtype, device, channels_last):
    """An uninitialised (N, C, H, W) array: a view of C-contiguous (N, H, W, C) memory when
    ``channels_last``, else C-contiguous itself (the order the kernels write in)."""
    if channels_last:
        n, c, h, w = shape
        return xp.permute_dims(xp.empty((n, h, w, c), dtype=dtype, device=device), (0, 3, 1, 2))
    return xp.empty(shape, dtype=dtype, device=device)


def _dtype_name(a):
    """``a``'s dtype name when the kernels have an instantiation for it, else None."""
    name = str(a.dtype)
    return name if name in CTYPES else None


def _check_shape(what, actual, expected):
    if tuple(actual) != tuple(expected):
        raise ValueError(f"{what} must have shape {tuple(expected)}, got {tuple(actual)}")


# ---------------------------------------------------------------- convolution


def conv_by_rows(xp, x_shape, weight_shape, stride, groups):
    """False: on the GPU every convolution runs on the :func:`im2col` RawKernel and one
    GEMM (see ``generic.conv_by_rows``)."""
    return False


def im2col(xp, x, kernel_size, stride, padding, dilation, groups=1):
    """Columns for a convolution (see ``generic.im2col``): a C-contiguous
    (N, OH, OW, G, kh, kw, C/G) array, one thread per element reading ``x`` through its
    strides with the padding bounds-checked (no padded copy)."""
    dtype_name = _dtype_name(x)
    if dtype_name is None:
        return generic.im2col(xp, x, kernel_size, stride, padding, dilation, groups)
    with _device(x) as device:
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        oh, ow = conv_geometry(x.shape, kernel_size, stride, padding, dilation)
        check_groups(c, groups)
        cols = xp.empty((n, oh, ow, groups, kh, kw, c // groups), dtype=x.dtype, device=x.device)
        total = n * oh * ow * kh * kw * c
        _launch(kernel_name("im2col", dtype_name), dtype_name, total,
                (x, cols, total, c, h, w, *_strides(x), oh, ow, groups, kh, kw, sh, sw, ph, pw, dh, dw),
                device)
        return cols


def col2im(xp, cols, x_shape, kernel_size, stride, padding, dilation):
    """The adjoint of :func:`im2col` (see ``generic.col2im``) as a gather: one thread per
    input element sums the column entries that read it (deterministic, no atomics).
    cols: (N, OH, OW, G, kh, kw, C/G), any strides. Returns (N, C, H, W), a view of
    channels-last memory."""
    dtype_name = _dtype_name(cols)
    if dtype_name is None:
        return generic.col2im(xp, cols, x_shape, kernel_size, stride, padding, dilation)
    with _device(cols) as device:
        n, c, h, w = x_shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        oh, ow = conv_geometry(x_shape, kernel_size, stride, padding, dilation)
        groups = cols.shape[3]
        check_groups(c, groups)
        _check_shape("col2im: cols", cols.shape, (n, oh, ow, groups, kh, kw, c // groups))
        out = _empty(xp, (n, c, h, w), cols.dtype, cols.device, True)
        total = n * c * h * w
        _launch(kernel_name("col2im", dtype_name), dtype_name, total,
                (cols, out, total, c, h, w, *_strides(cols), oh, ow, groups, kh, kw, sh, sw, ph, pw, dh, dw),
                device)
        return out


# ---------------------------------------------------------------- pooling


def max_pool2d(xp, x, kernel_size, stride, padding, dilation, ceil_mode):
    """2-D max pooling with PyTorch's semantics (see ``generic.max_pool2d``); returns
    ``(out, argmax)``, argmax the in-window offset i*kw + j (uint8 when kh*kw <= 256,
    else int32), both in ``x``'s memory layout. One thread per output element."""
    dtype_name = _dtype_name(x)
    if dtype_name is None:
        return generic.max_pool2d(xp, x, kernel_size, stride, padding, dilation, ceil_mode)
    with _device(x) as device:
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        oh, ow = pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
        arg_name = argmax_dtype_name(kernel_size)
        channels_last = _is_channels_last(x)
        out = _empty(xp, (n, c, oh, ow), x.dtype, x.device, channels_last)
        arg = _empty(xp, (n, c, oh, ow), getattr(xp, arg_name), x.device, channels_last)
        total = n * c * oh * ow
        _launch(kernel_name("max_pool2d", dtype_name, arg_name), dtype_name, total,
                (x, out, arg, total, c, h, w, *_strides(x), oh, ow, kh, kw, sh, sw, ph, pw, dh, dw,
                 int(channels_last)), device)
        return out, arg


def max_pool2d_values(xp, x, kernel_size, stride, padding, dilation, ceil_mode):
    """``max_pool2d(...)[0]`` (see ``generic.max_pool2d_values``), for inference: the same
    kernel, its argmax (one byte per output element, next to the value's two to eight)
    written and dropped."""
    return max_pool2d(xp, x, kernel_size, stride, padding, dilation, ceil_mode)[0]


def max_pool2d_backward(xp, grad_out, argmax, x_shape, kernel_size, stride, padding, dilation):
    """Gradient of :func:`max_pool2d` (see ``generic.max_pool2d_backward``) as a gather:
    one thread per input element sums grad_out over the windows whose argmax it is
    (deterministic, no atomics). Returns (N, C, H, W), channels-last when grad_out is."""
    dtype_name = _dtype_name(grad_out)
    arg_name = str(argmax.dtype)
    if dtype_name is None or arg_name not in ARGMAX_CTYPES:
        return generic.max_pool2d_backward(xp, grad_out, argmax, x_shape, kernel_size, stride,
                                           padding, dilation)
    with _device(grad_out) as device:
        n, c, h, w = x_shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        oh, ow = grad_out.shape[2:]
        _check_shape("max_pool2d_backward: grad_out", grad_out.shape, (n, c, oh, ow))
        _check_shape("max_pool2d_backward: argmax", argmax.shape, (n, c, oh, ow))
        channels_last = _is_channels_last(grad_out)
        grad_in = _empty(xp, (n, c, h, w), grad_out.dtype, grad_out.device, channels_last)
        total = n * c * h * w
        _launch(kernel_name("max_pool2d_backward", dtype_name, arg_name), dtype_name, total,
                (grad_out, argmax, grad_in, total, c, h, w, *_strides(grad_out), *_strides(argmax),
                 oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, int(channels_last)), device)
        return grad_in


def _divisor_argument(divisor_override):
    """``divisor_override`` as the kernels take it (0: none), with generic's check."""
    if divisor_override is None:
        return 0
    if divisor_override == 0:
        raise ValueError(f"divisor_override must be non-zero, got {divisor_override}")
    return int(divisor_override)


def avg_pool2d(xp, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
               divisor_override):
    """2-D average pooling with PyTorch's semantics (see ``generic.avg_pool2d``), in
    ``x``'s memory layout. One thread per output element; float16 sums in float32."""
    dtype_name = _dtype_name(x)
    if dtype_name is None:
        return generic.avg_pool2d(xp, x, kernel_size, stride, padding, ceil_mode,
                                  count_include_pad, divisor_override)
    with _device(x) as device:
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
        oh, ow = pool_geometry(x.shape, kernel_size, stride, padding, (1, 1), ceil_mode)
        divisor = _divisor_argument(divisor_override)
        channels_last = _is_channels_last(x)
        out = _empty(xp, (n, c, oh, ow), x.dtype, x.device, channels_last)
        total = n * c * oh * ow
        _launch(kernel_name("avg_pool2d", dtype_name), dtype_name, total,
                (x, out, total, c, h, w, *_strides(x), oh, ow, kh, kw, sh, sw, ph, pw,
                 int(bool(count_include_pad)), divisor, int(channels_last)), device)
        return out


def avg_pool2d_backward(xp, grad_out, x_shape, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override):
    """Gradient of :func:`avg_pool2d` (see ``generic.avg_pool2d_backward``) as a gather:
    one thread per input element sums grad_out / divisor over the windows covering it.
    Returns (N, C, H, W), channels-last when grad_out is."""
    dtype_name = _dtype_name(grad_out)
    if dtype_name is None:
        return generic.avg_pool2d_backward(xp, grad_out, x_shape, kernel_size, stride, padding,
                                           ceil_mode, count_include_pad, divisor_override)
    with _device(grad_out) as device:
        n, c, h, w = x_shape
        (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
        oh, ow = pool_geometry(x_shape, kernel_size, stride, padding, (1, 1), ceil_mode)
        divisor = _divisor_argument(divisor_override)
        _check_shape("avg_pool2d_backward: grad_out", grad_out.shape, (n, c, oh, ow))
        channels_last = _is_channels_last(grad_out)
        grad_in = _empty(xp, (n, c, h, w), grad_out.dtype, grad_out.device, channels_last)
        total = n * c * h * w
        _launch(kernel_name("avg_pool2d_backward", dtype_name), dtype_name, total,
                (grad_out, grad_in, total, c, h, w, *_strides(grad_out), oh, ow, kh, kw, sh, sw, ph, pw,
                 int(bool(count_include_pad)), divisor, int(channels_last)), device)
        return grad_in
