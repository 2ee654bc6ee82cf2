"""NumPy fast paths for the kernel interface (see ``backends/__init__.py``).

Anything not defined here is the reference implementation from ``generic``.
"""
import numpy as np

from backends.generic import (erf, integers, new_rng, normal, permutation,  # noqa: F401
                              rng_get_state, rng_set_state, uniform)


def to_numpy(x):
    """``x`` itself: NumPy arrays already live on the host."""
    return np.asarray(x)


def from_numpy(xp, a, device):
    """``a`` itself (no copy)."""
    return np.asarray(a)


def scatter_add(xp, size, index, values):
    """``out = zeros(size); out[index[k]] += values[k]``, through ``np.add.at``."""
    out = np.zeros(size, dtype=values.dtype)
    np.add.at(out, index, values)
    return out


# ================================================================ convolution and pooling
#
# Same walk over the kh*kw kernel offsets as ``generic`` (and in the same order, so
# sums agree bit for bit), with NumPy's in-place ufuncs instead of fresh arrays.
# Measured on 2 cores at x = (64, 32, 32, 32), 3x3, pad 1: im2col as one
# sliding_window_view copy took 50-80 ms (the copy into the (C, kh, kw)-innermost
# layout runs 3-element inner loops); one strided-slice copy per offset took the same
# unblocked, and 27 ms when done per block of ~2^19 output elements (cache-resident).
# col2im likewise: 45 ms unblocked, 24 ms blocked, with a channels-last buffer
# (40-50 ms channels-first).

from backends.generic import (argmax_dtype_name, avg_pool_divisors,  # noqa: E402
                              conv_geometry, first_valid_offsets, needs_buffer,
                              pool_geometry, window_extent, window_slice)

_BLOCK = 1 << 19  # elements of im2col/col2im output handled per block


def _padded(x, padding, extent, fill):
    """``x`` inside a border of ``fill``: shape (N, C, max(ph+H, eh), max(pw+W, ew)),
    in ``x``'s memory layout (a channels-last view stays channels-last)."""
    n, c, h, w = x.shape
    (ph, pw), (eh, ew) = padding, extent
    buf = np.empty_like(x, shape=(n, c, max(ph + h, eh), max(pw + w, ew)))
    buf[:, :, :ph] = fill
    buf[:, :, ph + h:] = fill
    buf[:, :, ph:ph + h, :pw] = fill
    buf[:, :, ph:ph + h, pw + w:] = fill
    buf[:, :, ph:ph + h, pw:pw + w] = x
    return buf


def _overlapping(kernel_size, stride, dilation):
    """Whether one input element can fall in more than one window."""
    return any((k - 1) * d + 1 > s for k, s, d in zip(kernel_size, stride, dilation))


def im2col(xp, x, kernel_size, stride, padding, dilation):
    """Columns for a convolution as one GEMM (see ``generic.im2col``).

    x: (N, C, H, W). Returns a C-contiguous (N, OH, OW, C, kh, kw) array with
    ``cols[n, oh, ow, c, i, j] = x_padded[n, c, oh*sh + i*dh, ow*sw + j*dw]``.
    Written in blocks of output rows small enough to stay in cache, one strided-slice
    copy per kernel offset and block.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = conv_geometry(x.shape, kernel_size, stride, padding, dilation)
    extent = (window_extent(oh, kh, sh, dh), window_extent(ow, kw, sw, dw))
    src = _padded(x, padding, extent, 0) if needs_buffer(x.shape, padding, extent) else x
    cols = np.empty((n, oh, ow, c, kh, kw), dtype=x.dtype)
    rows_per_block = max(1, _BLOCK // (ow * c * kh * kw))
    images_per_block = max(1, rows_per_block // oh)
    for n0 in range(0, n, images_per_block):
        images = slice(n0, n0 + images_per_block)
        for r0 in range(0, oh, rows_per_block):
            r1 = min(oh, r0 + rows_per_block)
            dst, part = cols[images, r0:r1], src[images, :, r0 * sh:]
            for i in range(kh):
                rows = window_slice(i, r1 - r0, sh, dh)
                for j in range(kw):
                    view = part[:, :, rows, window_slice(j, ow, sw, dw)]
                    dst[:, :, :, :, i, j] = view.transpose(0, 2, 3, 1)
    return cols


def col2im(xp, cols, x_shape, kernel_size, stride, padding, dilation):
    """The adjoint of :func:`im2col` (see ``generic.col2im``).

    cols: (N, OH, OW, C, kh, kw) -> (N, C, H, W), a view cropping the padded
    accumulation buffer (channels-last in memory).
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = conv_geometry(x_shape, kernel_size, stride, padding, dilation)
    extent = (window_extent(oh, kh, sh, dh), window_extent(ow, kw, sw, dw))
    buf = np.zeros((n, max(ph + h, extent[0]), max(pw + w, extent[1]), c),
                   dtype=cols.dtype).transpose(0, 3, 1, 2)
    # Blocks of whole images only: splitting rows would reorder the sums.
    images_per_block = max(1, _BLOCK // (oh * ow * c * kh * kw))
    for n0 in range(0, n, images_per_block):
        images = slice(n0, n0 + images_per_block)
        dst, part = buf[images], cols[images].transpose(0, 3, 1, 2, 4, 5)
        for i in range(kh):
            rows = window_slice(i, oh, sh, dh)
            for j in range(kw):
                view = dst[:, :, rows, window_slice(j, ow, sw, dw)]
                np.add(view, part[:, :, :, :, i, j], out=view)
    return buf[:, :, ph:ph + h, pw:pw + w]


def max_pool2d(xp, x, kernel_size, stride, padding, dilation, ceil_mode):
    """2-D max pooling with PyTorch's semantics; returns ``(out, argmax)``.

    See ``generic.max_pool2d`` for the exact semantics. x: (N, C, H, W); out and
    argmax: (N, C, OH, OW); argmax holds the offset ``i*kw + j`` inside the window,
    uint8 when kh*kw <= 256, else int32. Without padding the windows are strided
    views of ``x`` itself (no copy). Only branch-free ufuncs run per offset (masked
    ``copyto``/``where`` measured 5-10x slower); the NaN test runs only when ``x``
    has a NaN.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    extent = (window_extent(oh, kh, sh, dh), window_extent(ow, kw, sw, dw))
    src = _padded(x, padding, extent, -np.inf) if needs_buffer(x.shape, padding,
                                                                extent) else x
    arg_dtype = np.dtype(argmax_dtype_name(kernel_size))
    has_nan = bool(np.isnan(np.min(x)))  # min propagates NaN: one fast pass

    def window(k):
        i, j = divmod(k, kw)
        return src[:, :, window_slice(i, oh, sh, dh), window_slice(j, ow, sw, dw)]

    if ph == 0 and pw == 0:  # every window starts on a real element
        best = np.array(window(0), order="C")
        arg = np.zeros((n, c, oh, ow), dtype=arg_dtype)
        offsets = range(1, kh * kw)
    else:
        best = np.full((n, c, oh, ow), -np.inf, dtype=x.dtype)
        arg = np.empty((n, c, oh, ow), dtype=arg_dtype)
        i0 = np.array(first_valid_offsets(oh, kh, sh, ph, dh))
        j0 = np.array(first_valid_offsets(ow, kw, sw, pw, dw))
        arg[...] = np.add.outer(i0 * kw, j0)
        offsets = range(kh * kw)
    take = np.empty((n, c, oh, ow), dtype=bool)
    scaled = np.empty((n, c, oh, ow), dtype=arg_dtype)
    for k in offsets:
        v = window(k)
        np.greater(v, best, out=take)  # PyTorch's scan: take if v > best or isnan(v)
        if has_nan:
            take |= np.isnan(v)
        # np.maximum gives the scan's value (NaN sticks once seen). A taken element
        # is real, so its k is >= the window's first real offset and above every
        # offset taken before: the argmax is a running maximum of take * k.
        np.maximum(best, v, out=best)
        np.multiply(take.view(np.uint8), k, out=scaled, dtype=arg_dtype)
        np.maximum(arg, scaled, out=arg)
    return best, arg


def _int_view(a):
    """``a``'s bits as signed integers of the same width (``a`` C-contiguous)."""
    return a.view(np.dtype(f"i{a.dtype.itemsize}"))


def max_pool2d_backward(xp, grad_out, argmax, x_shape, kernel_size, stride, padding,
                        dilation):
    """Gradient of :func:`max_pool2d` (see ``generic.max_pool2d_backward``).

    grad_out, argmax: (N, C, OH, OW) -> (N, C, H, W), possibly a view of a padded
    buffer. Per kernel offset the selected gradients are cut out bitwise (``g & -mask``,
    exact, a NaN stays where it was), written straight into the buffer when windows do
    not overlap, added otherwise.
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = grad_out.shape[2:]
    extent = (window_extent(oh, kh, sh, dh), window_extent(ow, kw, sw, dw))
    buf = np.zeros((n, c, max(ph + h, extent[0]), max(pw + w, extent[1])),
                   dtype=grad_out.dtype)
    g_bits = _int_view(np.ascontiguousarray(grad_out))
    buf_bits = _int_view(buf)
    overlapping = _overlapping(kernel_size, stride, dilation)
    mask = np.empty(argmax.shape, dtype=bool)
    ones = np.empty(argmax.shape, dtype=g_bits.dtype)  # all bits set where selected
    picked = np.empty(grad_out.shape, dtype=grad_out.dtype)
    for i in range(kh):
        rows = window_slice(i, oh, sh, dh)
        for j in range(kw):
            cs = window_slice(j, ow, sw, dw)
            np.equal(argmax, i * kw + j, out=mask)
            np.negative(mask.view(np.uint8), out=ones, dtype=ones.dtype)
            if overlapping:
                np.bitwise_and(g_bits, ones, out=_int_view(picked))
                view = buf[:, :, rows, cs]
                np.add(view, picked, out=view)
            else:
                np.bitwise_and(g_bits, ones, out=buf_bits[:, :, rows, cs])
    return buf[:, :, ph:ph + h, pw:pw + w]


def _avg_divisor(x_shape, out_shape, kernel_size, stride, padding, count_include_pad,
                 divisor_override, dtype):
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError(f"divisor_override must be non-zero, got {divisor_override}")
        return divisor_override
    rows = avg_pool_divisors(x_shape[2], out_shape[0], kernel_size[0], stride[0],
                             padding[0], count_include_pad)
    cols = avg_pool_divisors(x_shape[3], out_shape[1], kernel_size[1], stride[1],
                             padding[1], count_include_pad)
    return np.multiply.outer(np.array(rows), np.array(cols)).astype(dtype)


def avg_pool2d(xp, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
               divisor_override):
    """2-D average pooling with PyTorch's semantics (see ``generic.avg_pool2d``).

    x: (N, C, H, W) -> (N, C, OH, OW). Window sums accumulate in place, offset by
    offset, in the same order as PyTorch's CPU kernel.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = pool_geometry(x.shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    divisor = _avg_divisor(x.shape, (oh, ow), kernel_size, stride, padding,
                           count_include_pad, divisor_override, x.dtype)
    extent = (window_extent(oh, kh, sh, 1), window_extent(ow, kw, sw, 1))
    src = _padded(x, padding, extent, 0) if needs_buffer(x.shape, padding, extent) else x
    total = np.array(src[:, :, window_slice(0, oh, sh, 1), window_slice(0, ow, sw, 1)],
                     order="C")
    for k in range(1, kh * kw):
        i, j = divmod(k, kw)
        np.add(total, src[:, :, window_slice(i, oh, sh, 1), window_slice(j, ow, sw, 1)],
               out=total)
    total /= divisor
    return total


def avg_pool2d_backward(xp, grad_out, x_shape, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override):
    """Gradient of :func:`avg_pool2d` (see ``generic.avg_pool2d_backward``).

    grad_out: (N, C, OH, OW) -> (N, C, H, W), possibly a view of a padded buffer.
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = pool_geometry(x_shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    divisor = _avg_divisor(x_shape, (oh, ow), kernel_size, stride, padding,
                           count_include_pad, divisor_override, grad_out.dtype)
    share = grad_out / divisor
    extent = (window_extent(oh, kh, sh, 1), window_extent(ow, kw, sw, 1))
    buf = np.zeros((n, c, max(ph + h, extent[0]), max(pw + w, extent[1])),
                   dtype=grad_out.dtype)
    overlapping = _overlapping(kernel_size, stride, (1, 1))
    for i in range(kh):
        rows = window_slice(i, oh, sh, 1)
        for j in range(kw):
            view = buf[:, :, rows, window_slice(j, ow, sw, 1)]
            if overlapping:
                np.add(view, share, out=view)
            else:
                view[...] = share
    return buf[:, :, ph:ph + h, pw:pw + w]
