"""Kernels for the array libraries nyang runs on.

Everything in ``nyang/`` is written once against the Python Array API. What the
standard cannot express fast (or at all: random numbers, ``erf``, scatter-add,
im2col/col2im, pooling argmax) sits behind the small interface below, with one
module per array library:

``generic``        pure Array API; the reference, works on any conforming library
``numpy_kernels``  NumPy fast paths (stride tricks, ``add.at``, BLAS-friendly layouts);
                   loading it keeps freed host memory for reuse (``host_memory``)
``cupy_kernels``   CuPy, with RawKernels compiled from ``backends/cuda/*.cu``

Each implementation module exposes the same functions; the ones it does not
specialise it takes from ``generic``. The interface:

``to_numpy(x)`` / ``from_numpy(xp, a, device)``     move arrays across the host boundary
``scatter_add(xp, size, index, values)``             1-D ``out[index[k]] += values[k]``
``erf(xp, x)``                                       the error function, elementwise
``new_rng(seed)``, ``rng_get_state``, ``rng_set_state``, ``uniform``, ``normal``,
``integers``, ``permutation``                        seeded random numbers
``channel_sum(xp, rows)``, ``channel_dot(xp, a, b)``   per-channel sums over rows (M, C): of
                                                     ``rows``, of ``a * b``; shape (C,)
``channel_affine(xp, rows, scale=None, shift=None, inplace=False)``
                                                     ``rows * scale + shift`` per channel (C,)
``matmul_into(xp, a, b, out)``                       ``out[...] = a @ b`` (out: a slice of an array)
``relu(xp, x)``                                      ``(max(x, 0), mask)``, mask = not (x <= 0)
``relu_backward(xp, grad, mask)``                    ``grad`` where mask, +0 elsewhere
``conv_blocking(xp, n, column_bytes, keep_columns)``  (images per block, keep the columns?) for a
                                                     convolution over n images
``conv_by_rows(xp, x_shape, weight_shape, stride, groups)``
                                                     whether a convolution runs on row_columns
``conv_channels_first(xp, x_shape, weight_shape, groups)``
                                                     whether a convolution's output is
                                                     channels-first (N, O, OH, OW) memory
``im2col(xp, x, kernel_size, stride, padding, dilation, groups=1)``
                                                     conv columns, (N, OH, OW, G, kh, kw, C/G)
``row_columns(xp, x, kernel_size, padding, dilation)``
                                                     one kernel row's conv columns (stride 1),
                                                     (N, Hp*OW, kw*C)
``col2im(xp, cols, x_shape, kernel_size, stride, padding, dilation)``
                                                     adjoint of im2col, (N, C, H, W)
``max_pool2d(xp, x, kernel_size, stride, padding, dilation, ceil_mode)``
                                                     (out, argmax); argmax = i*kw + j inside
                                                     the window, uint8 (int32 if kh*kw > 256)
``max_pool2d_values(xp, x, kernel_size, stride, padding, dilation, ceil_mode)``
                                                     ``out`` of max_pool2d, no argmax (inference)
``max_pool2d_backward(xp, grad_out, argmax, x_shape, kernel_size, stride, padding,
dilation)``                                          input gradient of max_pool2d
``avg_pool2d(xp, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
divisor_override)``                                  average pooling
``avg_pool2d_backward(xp, grad_out, x_shape, kernel_size, stride, padding, ceil_mode,
count_include_pad, divisor_override)``               input gradient of avg_pool2d

CUDA only (``cupy_kernels``; the DataLoader's pinned-memory staging uses them):
``new_stream()``, ``current_stream()``, ``pinned_empty(shape, dtype)`` (page-locked host
array), ``to_device_async(host, stream)`` (start a host-to-device copy on ``stream``).

Convolution and pooling take (N, C, H, W) arrays, 2-tuples for kernel_size, stride,
padding and dilation, and follow PyTorch exactly (output sizes, ceil_mode, -inf
padding and first-maximum ties in max pooling, the avg-pool divisor); invalid
arguments raise ValueError. ``generic.pool_geometry`` / ``generic.conv_geometry``
give the output size (OH, OW).
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
