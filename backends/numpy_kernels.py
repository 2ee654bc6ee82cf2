"""NumPy fast paths for the kernel interface (see ``backends/__init__.py``).

Anything not defined here is the reference implementation from ``generic``.
"""
import math

import numpy as np

from backends.generic import *  # noqa: F401,F403  (every kernel not specialised below)
from backends.host_memory import keep_freed_memory

keep_freed_memory()  # each step reuses the last one's freed buffers instead of page-faulting new ones


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


# ---------------------------------------------------------------- per-channel sums and ReLU

_ROWS_PER_BLOCK = 1024  # rows reduced per block by channel_sum / channel_dot


def _row_blocks(a):
    """``a`` (M, C) as (M // 1024, 1024, C) full blocks plus the leftover rows."""
    m, c = a.shape
    q = m // _ROWS_PER_BLOCK
    return a[:q * _ROWS_PER_BLOCK].reshape(q, _ROWS_PER_BLOCK, c), a[q * _ROWS_PER_BLOCK:]


def channel_sum(xp, rows):
    """Column sums of ``rows`` (M, C) (see ``generic.channel_sum``): one BLAS product
    ``ones @ block`` per block of 1024 rows, then a sum of the block sums. Measured at
    (65536, 32) float32: 0.17 ms and relative error 2e-7, against 1.4 ms and 5e-6 for
    ``rows.sum(axis=0)`` (which adds the 65536 rows one after another)."""
    if rows.shape[0] < 2 * _ROWS_PER_BLOCK or rows.dtype not in (np.float32, np.float64):
        return rows.sum(axis=0)
    blocks, rest = _row_blocks(rows)
    total = (np.ones((1, _ROWS_PER_BLOCK), rows.dtype) @ blocks).sum(axis=(0, 1))
    return total + rest.sum(axis=0) if rest.shape[0] else total


def channel_dot(xp, a, b):
    """Column sums of ``a * b`` (see ``generic.channel_dot``) without forming the product:
    ``einsum`` per block of 1024 rows, then a sum of the block sums. Measured at
    (65536, 32) float32: 0.72 ms and relative error 3e-7, against 2.0 ms and 1e-5 for
    ``(a * b).sum(axis=0)``."""
    if a.shape[0] < 2 * _ROWS_PER_BLOCK:
        return np.einsum("mc,mc->c", a, b)
    (blocks_a, rest_a), (blocks_b, rest_b) = _row_blocks(a), _row_blocks(b)
    total = np.einsum("qlc,qlc->qc", blocks_a, blocks_b).sum(axis=0)
    return total + np.einsum("mc,mc->c", rest_a, rest_b) if rest_a.shape[0] else total


def _tile_channels(rows, *vectors):
    """``rows`` (M, C) as (M / k, k * C) with each per-channel vector repeated k times,
    k a power of two with k * C <= 1024 where M allows it: the same elementwise
    arithmetic, but NumPy's inner loop then runs up to 1024 elements instead of C (2x
    faster at C = 32)."""
    m, c = rows.shape
    k = math.gcd(m, 1 << (max(1, 1024 // c).bit_length() - 1))
    if k == 1 or not rows.flags.c_contiguous:
        return (rows,) + vectors
    return (rows.reshape(m // k, k * c),) + tuple(None if v is None else np.tile(v, k) for v in vectors)


def channel_affine(xp, rows, scale=None, shift=None, inplace=False):
    """``rows * scale + shift`` per channel (see ``generic.channel_affine``), in place on
    one array, with the channel vectors tiled (:func:`_tile_channels`). Measured at
    (65536, 32) float32: 1.2 ms against 1.8 ms for ``y = rows * scale; y += shift``;
    adding a bias in place at (50176, 6): 0.07 ms against 0.37 ms."""
    wide, scale, shift = _tile_channels(rows, scale, shift)
    if inplace:
        y = wide
        if scale is not None:
            y *= scale
    elif scale is None:
        y = wide + shift if shift is not None else wide.copy()
        shift = None
    else:
        y = np.multiply(wide, scale)
    if shift is not None:
        y += shift
    return rows if inplace else y.reshape(rows.shape)


def matmul_into(xp, a, b, out):
    """``a @ b`` written straight into ``out`` (see ``generic.matmul_into``): no
    temporary to copy. A convolution's output block by block this way, (64, 32, 32, 32)
    3x3 -> 32 by kernel rows: 16.1 ms against 17.0 with a copy per block."""
    np.matmul(a, b, out=out)


def relu(xp, x):
    """ReLU forward for training (see ``generic.relu``): the mask, then ``x`` cut out
    with it bitwise (:func:`relu_backward`), which gives max(x, 0) exactly (a NaN is
    kept, -0.0 becomes +0.0 as ``np.maximum`` gives). At (64, 32, 32, 32) float32: 1.0
    ms against 1.3 ms for ``np.maximum`` plus the mask."""
    mask = np.less_equal(x, 0)
    np.logical_not(mask, out=mask)
    return relu_backward(xp, x, mask), mask


def relu_backward(xp, grad, mask):
    """``grad`` where ``mask``, +0 elsewhere (see ``generic.relu_backward``), cut out
    bitwise as ``grad & -mask``: exact (no inf * 0) and, at (64, 32, 32, 32) float32,
    0.7 ms against 8.7 ms for ``np.where(mask, grad, 0)``."""
    bits = _int_view(grad)
    keep = mask.astype(bits.dtype)  # 0 / 1, in the mask's memory layout
    np.negative(keep, out=keep)  # 0 / all bits set
    return np.bitwise_and(bits, keep, out=keep).view(grad.dtype)


# ================================================================ convolution and pooling
#
# Same walk over the kh*kw kernel offsets as ``generic`` (and in the same order, so
# sums agree bit for bit), with NumPy's in-place ufuncs instead of fresh arrays.
#
# Memory layout: an (N, C, H, W) array may be a view of channels-last (N, H, W, C)
# memory (nyang's convolutions return their GEMM result that way). Every kernel here
# gives its output the layout of its input (the backward ones: of grad_out), so a
# conv -> relu -> pool -> conv chain stays channels-last forward and backward and
# no layer pays for a transposing copy.
#
# im2col, measured on 2 cores (min of 15 runs, ms): with the channel index innermost,
# (N, OH, OW, G, kh, kw, C/G), the columns are one copy of a strided view of the
# channels-last (padded) input. x = (64, 32, 32, 32) 3x3 pad 1: 12 from channels-last
# input, 16 from channels-first (the padded source is a transposing copy); the former
# (C, kh, kw)-innermost layout took 23-24. (64, 32, 16, 16): 1.3 against 4.4;
# (64, 6, 14, 14) 5x5: 0.3 against 1.3.

from numpy.lib.stride_tricks import as_strided  # noqa: E402

_BLOCK = 1 << 19  # elements of col2im input handled per block (cache-resident)


def _is_channels_last(a):
    """Whether the (N, C, H, W) array ``a`` keeps its channels innermost in memory, in
    (N, H, W, C) order: a view of C-contiguous (N, H, W, C) memory, or a crop of one."""
    n, c, h, w = a.shape
    s, item = a.strides, a.itemsize
    return ((c == 1 or s[1] == item) and (w == 1 or s[3] == c * item)
            and (h == 1 or s[2] >= w * c * item) and (n == 1 or s[0] >= h * s[2]))


def _empty(shape, dtype, channels_last):
    """An uninitialised (N, C, H, W) array, channels-last in memory if asked."""
    if channels_last:
        n, c, h, w = shape
        return np.empty((n, h, w, c), dtype=dtype).transpose(0, 3, 1, 2)
    return np.empty(shape, dtype=dtype)


def _zeros(shape, dtype, channels_last):
    """Like :func:`_empty`, filled with zeros."""
    if channels_last:
        n, c, h, w = shape
        return np.zeros((n, h, w, c), dtype=dtype).transpose(0, 3, 1, 2)
    return np.zeros(shape, dtype=dtype)


def _padded(x, padding, extent, fill, channels_last=None):
    """``x`` inside a border of ``fill``: shape (N, C, max(ph+H, eh), max(pw+W, ew)),
    channels-last in memory if asked, else in ``x``'s layout."""
    n, c, h, w = x.shape
    (ph, pw), (eh, ew) = padding, extent
    if channels_last is None:
        channels_last = _is_channels_last(x)
    buf = _empty((n, c, max(ph + h, eh), max(pw + w, ew)), x.dtype, channels_last)
    buf[:, :, :ph] = fill
    buf[:, :, ph + h:] = fill
    buf[:, :, ph:ph + h, :pw] = fill
    buf[:, :, ph:ph + h, pw + w:] = fill
    buf[:, :, ph:ph + h, pw:pw + w] = x
    return buf


def _overlapping(kernel_size, stride, dilation):
    """Whether one input element can fall in more than one window."""
    return any((k - 1) * d + 1 > s for k, s, d in zip(kernel_size, stride, dilation))


_COLUMN_BLOCK_BYTES = 3 << 20  # columns per block of images: they stay in cache for the GEMM
_WHOLE_BATCH_BYTES = 8 << 20  # up to this, the whole batch's columns at once (fewer, larger calls)
_KEPT_COLUMNS_MAX = 32 << 20  # larger column data is recomputed in backward instead of kept


def conv_blocking(xp, n, column_bytes, keep_columns):
    """Blocks of images with about 3 MB of columns each (see ``generic.conv_blocking``),
    so the columns are still in cache when the GEMM reads them: forward at
    (64, 32, 32, 32) 3x3 -> 32 with im2col took 13 ms in blocks of 2 images against 23
    ms for the whole batch. Up to 8 MB of columns in all, the whole batch at once.

    The blocks' columns are kept for the weight gradient up to 32 MB in all, the size
    above which glibc maps each such buffer afresh and the next step page-faults it in
    again (``host_memory``); larger ones are recomputed in backward. Measured on the
    VGG-small train step (rows, see ``generic.conv_by_rows``): 160 ms keeping the
    27 MB and 14 MB of its two large layers, 171 ms recomputing them, 164 ms keeping
    them as one whole-batch block."""
    keep = keep_columns and n * column_bytes <= _KEPT_COLUMNS_MAX
    if n * column_bytes <= _WHOLE_BATCH_BYTES:
        return n, keep
    return max(1, _COLUMN_BLOCK_BYTES // column_bytes), keep


def conv_channels_first(xp, x_shape, weight_shape, groups):
    """Channels-first output (see ``generic.conv_channels_first``) for one group, at most
    4 input channels (im2col's columns are then K-major, so each image's output is one
    GEMM ``w @ cols_n^T``) and fewer than 16 output channels: channels-last memory then
    gives the next layers inner loops of a few elements. LeNet's first convolution
    (1 -> 6 channels, 28x28, batch 64), its ReLU and 2x2 max pool, forward and backward,
    in ms: max pool 0.48 + 0.34 against 0.81 + 0.63 channels-last; the weight gradient
    0.67 against 0.98; the forward GEMMs 0.46 against 0.39. The whole LeNet train step:
    7.5 ms against 8.1 (same-process A/B)."""
    return groups == 1 and x_shape[1] <= 4 and weight_shape[0] < 16


def im2col(xp, x, kernel_size, stride, padding, dilation, groups=1):
    """Columns for a convolution as one GEMM per group (see ``generic.im2col``).

    x: (N, C, H, W). Returns (N, OH, OW, G, kh, kw, C/G) with
    ``cols[n, oh, ow, g, i, j, c] = x_padded[n, g*C/G + c, oh*sh + i*dh, ow*sw + j*dw]``,
    laid out so that (N, OH, OW) and (kh, kw, C/G) each merge into one axis without a
    copy. Usually C-contiguous: one copy of a strided view of the channels-last
    (padded) input, which is ``x`` itself when ``x`` is channels-last and needs no
    padding. With at most 4 channels per group that copy moves runs of C/G elements;
    there the columns are built offset by offset, whole image rows at a time, as
    (G, kh, kw, C/G, N, OH, OW) memory and returned as a transposed view (the GEMMs
    read it as is). Measured on 2 cores, ms: (64, 1, 28, 28) 5x5 pad 2: 0.5 against
    1.8; (64, 3, 32, 32) 3x3 pad 1: 0.6 against 1.8.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = conv_geometry(x.shape, kernel_size, stride, padding, dilation)
    check_groups(c, groups)
    extent = (window_extent(oh, kh, sh, dh), window_extent(ow, kw, sw, dw))
    cg = c // groups
    if cg <= 4:
        if needs_buffer(x.shape, padding, extent):
            x = _padded(x, padding, extent, 0)
        cols = np.empty((groups, kh, kw, cg, n, oh, ow), dtype=x.dtype)
        for i in range(kh):
            rows = window_slice(i, oh, sh, dh)
            for j in range(kw):
                window = x[:, :, rows, window_slice(j, ow, sw, dw)]  # (N, C, OH, OW)
                cols[:, i, j] = window.transpose(1, 0, 2, 3).reshape(groups, cg, n, oh, ow)
        return cols.transpose(4, 5, 6, 0, 1, 2, 3)
    if needs_buffer(x.shape, padding, extent) or not _is_channels_last(x):
        x = _padded(x, padding, extent, 0, channels_last=True)
    src = x.transpose(0, 2, 3, 1)
    s_n, s_h, s_w, s_c = src.strides
    windows = as_strided(src, shape=(n, oh, ow, groups, kh, kw, cg),
                         strides=(s_n, sh * s_h, sw * s_w, cg * s_c, dh * s_h, dw * s_w, s_c),
                         writeable=False)
    return np.ascontiguousarray(windows)


def row_columns(xp, x, kernel_size, padding, dilation):
    """Columns of one kernel row (see ``generic.row_columns``): (N, Hp*OW, kw*C), one
    copy of a strided view of the channels-last (padded) input, in runs of kw*C
    elements. At (64, 32, 32, 32) 3x3 pad 1 it writes 27 MB where im2col writes 75 MB;
    the forward took 11.2 ms against 13.1 (blocks of 4 images against 2)."""
    n, c, h, w = x.shape
    (kh, kw), (dh, dw) = kernel_size, dilation
    oh, ow = conv_geometry(x.shape, kernel_size, (1, 1), padding, dilation)
    extent = (window_extent(oh, kh, 1, dh), window_extent(ow, kw, 1, dw))
    if needs_buffer(x.shape, padding, extent) or not _is_channels_last(x):
        x = _padded(x, padding, extent, 0, channels_last=True)
    src = x.transpose(0, 2, 3, 1)
    s_n, s_h, s_w, s_c = src.strides
    windows = as_strided(src, shape=(n, extent[0], ow, kw, c), strides=(s_n, s_h, s_w, dw * s_w, s_c),
                         writeable=False)
    return np.ascontiguousarray(windows).reshape(n, extent[0] * ow, kw * c)


def col2im(xp, cols, x_shape, kernel_size, stride, padding, dilation):
    """The adjoint of :func:`im2col` (see ``generic.col2im``).

    cols: (N, OH, OW, G, kh, kw, C/G) -> (N, C, H, W), a view cropping the padded
    channels-last accumulation buffer.
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = conv_geometry(x_shape, kernel_size, stride, padding, dilation)
    groups = cols.shape[3]
    extent = (window_extent(oh, kh, sh, dh), window_extent(ow, kw, sw, dw))
    hb, wb = max(ph + h, extent[0]), max(pw + w, extent[1])
    buf = np.zeros((n, hb, wb, groups, c // groups), dtype=cols.dtype)
    # Blocks of whole images only: splitting rows would reorder the sums.
    images_per_block = max(1, _BLOCK // (oh * ow * c * kh * kw))
    for n0 in range(0, n, images_per_block):
        images = slice(n0, n0 + images_per_block)
        dst, part = buf[images], cols[images]
        for i in range(kh):
            rows = window_slice(i, oh, sh, dh)
            for j in range(kw):
                view = dst[:, rows, window_slice(j, ow, sw, dw)]
                np.add(view, part[:, :, :, :, i, j, :], out=view)
    return buf.reshape(n, hb, wb, c)[:, ph:ph + h, pw:pw + w].transpose(0, 3, 1, 2)


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
    out_shape, channels_last = (n, c, oh, ow), _is_channels_last(x)

    def window(k):
        i, j = divmod(k, kw)
        return src[:, :, window_slice(i, oh, sh, dh), window_slice(j, ow, sw, dw)]

    best = _empty(out_shape, x.dtype, channels_last)
    arg = _empty(out_shape, arg_dtype, channels_last)
    if ph == 0 and pw == 0:  # every window starts on a real element
        best[...] = window(0)
        arg.fill(0)
        offsets = range(1, kh * kw)
    else:
        best.fill(-np.inf)
        i0 = np.array(first_valid_offsets(oh, kh, sh, ph, dh))
        j0 = np.array(first_valid_offsets(ow, kw, sw, pw, dw))
        arg[...] = np.add.outer(i0 * kw, j0)
        offsets = range(kh * kw)
    take = _empty(out_shape, bool, channels_last)
    scaled = _empty(out_shape, arg_dtype, channels_last)
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


def max_pool2d_values(xp, x, kernel_size, stride, padding, dilation, ceil_mode):
    """``max_pool2d(...)[0]`` (see ``generic.max_pool2d_values``): one in-place
    ``np.maximum`` per window offset, in ``x``'s memory layout. Measured at
    (64, 32, 32, 32) 2x2 float32: 0.8 ms against 1.9 ms with the argmax."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    oh, ow = pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    extent = (window_extent(oh, kh, sh, dh), window_extent(ow, kw, sw, dw))
    src = _padded(x, padding, extent, -np.inf) if needs_buffer(x.shape, padding,
                                                                extent) else x
    best = _empty((x.shape[0], x.shape[1], oh, ow), x.dtype, _is_channels_last(x))
    for k in range(kh * kw):
        i, j = divmod(k, kw)
        v = src[:, :, window_slice(i, oh, sh, dh), window_slice(j, ow, sw, dw)]
        if k == 0:
            best[...] = v
        else:
            np.maximum(best, v, out=best)
    return best


def _int_view(a):
    """``a``'s bits as signed integers of the same width (a view, any strides)."""
    return a.view(np.dtype(f"i{a.dtype.itemsize}"))


def max_pool2d_backward(xp, grad_out, argmax, x_shape, kernel_size, stride, padding,
                        dilation):
    """Gradient of :func:`max_pool2d` (see ``generic.max_pool2d_backward``).

    grad_out, argmax: (N, C, OH, OW) -> (N, C, H, W), possibly a view of a padded
    buffer, in the memory layout of the forward's input (which argmax has): a
    channels-first grad_out (as Flatten's backward gives) is made channels-last here,
    at the pooled size, rather than leaving a mixed layout to the layers below. Per
    kernel offset the selected gradients are cut out bitwise (``g & -mask``, exact, a
    NaN stays where it was), written straight into the buffer when windows do not
    overlap, added otherwise.
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = grad_out.shape[2:]
    extent = (window_extent(oh, kh, sh, dh), window_extent(ow, kw, sw, dw))
    channels_last = _is_channels_last(argmax)
    if channels_last != _is_channels_last(grad_out):
        layout = _empty(grad_out.shape, grad_out.dtype, channels_last)
        layout[...] = grad_out
        grad_out = layout
    elif not channels_last:
        grad_out = np.ascontiguousarray(grad_out)
    buf_shape = (n, c, max(ph + h, extent[0]), max(pw + w, extent[1]))
    # Windows that tile the input exactly write every element once below: no zeros first.
    tiled = (kh, kw) == (sh, sw) and (dh, dw) == (1, 1) and (ph, pw) == (0, 0) and (h, w) == (oh * kh, ow * kw)
    buf = (_empty if tiled else _zeros)(buf_shape, grad_out.dtype, channels_last)
    g_bits = _int_view(grad_out)
    buf_bits = _int_view(buf)
    overlapping = _overlapping(kernel_size, stride, dilation)
    mask = _empty(argmax.shape, bool, channels_last)
    ones = _empty(argmax.shape, g_bits.dtype, channels_last)  # all bits set where selected
    picked = _empty(grad_out.shape, grad_out.dtype, channels_last)
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

    x: (N, C, H, W) -> (N, C, OH, OW), in ``x``'s memory layout. Window sums
    accumulate in place, offset by offset, in the same order as PyTorch's CPU kernel.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = pool_geometry(x.shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    divisor = _avg_divisor(x.shape, (oh, ow), kernel_size, stride, padding,
                           count_include_pad, divisor_override, x.dtype)
    extent = (window_extent(oh, kh, sh, 1), window_extent(ow, kw, sw, 1))
    src = _padded(x, padding, extent, 0) if needs_buffer(x.shape, padding, extent) else x
    total = _empty((x.shape[0], x.shape[1], oh, ow), x.dtype, _is_channels_last(x))
    total[...] = src[:, :, window_slice(0, oh, sh, 1), window_slice(0, ow, sw, 1)]
    for k in range(1, kh * kw):
        i, j = divmod(k, kw)
        np.add(total, src[:, :, window_slice(i, oh, sh, 1), window_slice(j, ow, sw, 1)],
               out=total)
    total /= divisor
    return total


def avg_pool2d_backward(xp, grad_out, x_shape, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override):
    """Gradient of :func:`avg_pool2d` (see ``generic.avg_pool2d_backward``).

    grad_out: (N, C, OH, OW) -> (N, C, H, W), possibly a view of a padded buffer,
    channels-last when grad_out is.
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = pool_geometry(x_shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    divisor = _avg_divisor(x_shape, (oh, ow), kernel_size, stride, padding,
                           count_include_pad, divisor_override, grad_out.dtype)
    share = grad_out / divisor
    extent = (window_extent(oh, kh, sh, 1), window_extent(ow, kw, sw, 1))
    buf = _zeros((n, c, max(ph + h, extent[0]), max(pw + w, extent[1])), grad_out.dtype,
                 _is_channels_last(grad_out))
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
