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
        stop = min(start + chunk, index.shape[0])
        idx = index[start:stop]
        one_hot = xp.astype(idx[:, None] == positions[None, :], values.dtype)
        out = out + values[None, start:stop] @ one_hot
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


# ---------------------------------------------------------------- per-channel sums and ReLU
#
# Layers that work on channels-last rows (M, C) (batch norm, conv bias gradients)
# reduce over the M rows per channel; ReLU keeps a bool mask for its backward.


def channel_sum(xp, rows):
    """Column sums of ``rows`` (M, C): the per-channel sum, shape (C,)."""
    return xp.sum(rows, axis=0)


def channel_dot(xp, a, b):
    """Column sums of ``a * b`` for ``a``, ``b`` of shape (M, C): shape (C,)."""
    return xp.sum(a * b, axis=0)


def channel_affine(xp, rows, scale=None, shift=None, inplace=False):
    """``rows * scale + shift`` for rows (M, C) and per-channel vectors (C,) (either may
    be None): a new array, or ``rows`` itself updated when ``inplace``."""
    if inplace:
        if scale is not None:
            rows *= scale
        if shift is not None:
            rows += shift
        return rows
    if scale is None:
        return rows + shift if shift is not None else xp.asarray(rows, copy=True)
    y = rows * scale
    if shift is not None:
        y += shift
    return y


def matmul_into(xp, a, b, out):
    """``out[...] = a @ b``: the product written into ``out`` (a slice of a larger
    array), which NumPy's kernels do without a temporary."""
    out[...] = a @ b


def relu(xp, x):
    """ReLU forward for training: ``(max(x, 0), mask)`` with ``mask = not (x <= 0)``, the
    elements whose gradient passes (as PyTorch, a NaN passes it)."""
    return xp.maximum(x, 0.0), xp.logical_not(x <= 0)


def relu_backward(xp, grad, mask):
    """``grad`` where ``mask`` (bool, same shape), exactly +0 elsewhere."""
    return xp.where(mask, grad, 0.0)


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


# ================================================================ convolution and pooling
#
# Arrays are (N, C, H, W). kernel_size, stride, padding and dilation arrive as
# 2-tuples of ints. All kernels walk the kh*kw offsets of the window: offset (i, j)
# of every window is one strided slice of the padded input, the slice starting at
# (i*dh, j*dw) with steps (sh, sw). The NumPy module uses the same walk, in the same
# order, so the two give bit-identical sums.


def conv_output_size(size, kernel, stride, padding, dilation):
    """Output length of a convolution along one axis (PyTorch's formula, floor mode)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool_output_size(size, kernel, stride, padding, dilation, ceil_mode):
    """Output length of a pooling along one axis, exactly as PyTorch computes it.

    With ``ceil_mode`` the division rounds up, but the last window must start inside
    the input or its left padding.
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _check_positive(name, value):
    if any(v <= 0 for v in value):
        raise ValueError(f"{name} must be positive, got {name}={tuple(value)}")


def conv_geometry(x_shape, kernel_size, stride, padding, dilation):
    """(OH, OW) of a convolution over ``x_shape``; ValueError when it is empty."""
    _check_positive("kernel_size", kernel_size)
    _check_positive("stride", stride)
    _check_positive("dilation", dilation)
    if any(p < 0 for p in padding):
        raise ValueError(f"padding must be non-negative, got padding={tuple(padding)}")
    out = tuple(conv_output_size(x_shape[2 + a], kernel_size[a], stride[a], padding[a],
                                 dilation[a]) for a in range(2))
    if out[0] < 1 or out[1] < 1:
        raise ValueError(
            f"output would be empty: input (H, W)={tuple(x_shape[2:])} with "
            f"kernel_size={tuple(kernel_size)}, stride={tuple(stride)}, "
            f"padding={tuple(padding)}, dilation={tuple(dilation)} gives {out}")
    return out


def check_groups(channels, groups):
    """ValueError unless ``groups`` is a positive int dividing ``channels``."""
    if not isinstance(groups, int) or groups <= 0 or channels % groups:
        raise ValueError(f"groups must be a positive divisor of the {channels} input channels, "
                         f"got groups={groups!r}")


def pool_geometry(x_shape, kernel_size, stride, padding, dilation, ceil_mode):
    """(OH, OW) of a 2-D pooling over ``x_shape``, with PyTorch's argument checks.

    Raises ValueError for non-positive kernel_size/stride/dilation, negative padding,
    padding above half the kernel size (PyTorch: ``pad <= kernel_size // 2``), or an
    empty output.
    """
    _check_positive("kernel_size", kernel_size)
    _check_positive("stride", stride)
    _check_positive("dilation", dilation)
    if any(p < 0 for p in padding):
        raise ValueError(f"padding must be non-negative, got padding={tuple(padding)}")
    if any(p > k // 2 for p, k in zip(padding, kernel_size)):
        raise ValueError(
            f"padding must be at most half of kernel_size, got padding={tuple(padding)} "
            f"with kernel_size={tuple(kernel_size)}")
    out = tuple(pool_output_size(x_shape[2 + a], kernel_size[a], stride[a], padding[a],
                                 dilation[a], ceil_mode) for a in range(2))
    if out[0] < 1 or out[1] < 1:
        raise ValueError(
            f"output would be empty: input (H, W)={tuple(x_shape[2:])} with "
            f"kernel_size={tuple(kernel_size)}, stride={tuple(stride)}, "
            f"padding={tuple(padding)}, dilation={tuple(dilation)}, "
            f"ceil_mode={ceil_mode} gives {out}")
    return out


def window_extent(out_size, kernel, stride, dilation):
    """Rows (or columns) of padded input that ``out_size`` windows reach."""
    return (out_size - 1) * stride + (kernel - 1) * dilation + 1


def window_slice(offset, out_size, stride, dilation):
    """The slice of padded input that kernel offset ``offset`` reads, one per window."""
    start = offset * dilation
    return slice(start, start + (out_size - 1) * stride + 1, stride)


def argmax_dtype_name(kernel_size):
    """``"uint8"`` when a window has at most 256 elements, else ``"int32"``."""
    return "uint8" if kernel_size[0] * kernel_size[1] <= 256 else "int32"


def first_valid_offsets(out_size, kernel, stride, padding, dilation):
    """Per window along one axis, the first kernel offset that is not padding.

    PyTorch reports this element as the argmax of a window whose real values are
    all -inf (nothing beats its initial -inf).
    """
    return [max(0, -(-(padding - o * stride) // dilation)) for o in range(out_size)]


def avg_pool_divisors(size, out_size, kernel, stride, padding, count_include_pad):
    """Per window along one axis, its share of the divisor (PyTorch's CPU rule).

    count_include_pad: the window clipped to the padded input (a window that overhangs
    the right padding in ceil mode is cut there); otherwise the real elements only.
    The 2-D divisor is the product of the two axes' shares.
    """
    shares = []
    for o in range(out_size):
        start = o * stride - padding
        end = min(start + kernel, size + padding)
        if not count_include_pad:
            start, end = max(start, 0), min(end, size)
        shares.append(end - start)
    return shares


def _padded(xp, x, padding, extent, fill):
    """A buffer of shape (N, C, max(ph+H, extent_h), max(pw+W, extent_w)) filled with
    ``fill`` and holding ``x`` at offset (ph, pw)."""
    n, c, h, w = x.shape
    (ph, pw), (eh, ew) = padding, extent
    buf = xp.full((n, c, max(ph + h, eh), max(pw + w, ew)), fill, dtype=x.dtype,
                  device=x.device)
    buf[:, :, ph:ph + h, pw:pw + w] = x
    return buf


def needs_buffer(x_shape, padding, extent):
    """Whether the windows reach outside ``x`` (padding, or ceil-mode overhang)."""
    return bool(padding[0] or padding[1] or extent[0] > x_shape[2]
                or extent[1] > x_shape[3])


def conv_blocking(xp, n, column_bytes, keep_columns):
    """How a convolution walks a batch of ``n`` images whose columns (``im2col``'s or
    ``row_columns``') take ``column_bytes`` per image: ``(images per block, keep)``.
    ``keep_columns`` says the weight gradient will need the columns; ``keep`` whether
    forward keeps each block's columns for it rather than backward recomputing them
    block by block. The reference takes the whole batch at once and keeps them when asked."""
    return n, keep_columns


def conv_by_rows(xp, x_shape, weight_shape, stride, groups):
    """Whether a convolution of an ``x_shape`` input with an (O, C/G, kh, kw) weight runs
    on :func:`row_columns` (one GEMM of K = kw*C per kernel row) rather than on
    :func:`im2col` (one GEMM of K = kh*kw*C): stride 1, one group and at least 16 input
    channels, below which the K = kw*C products are too thin to pay."""
    return tuple(stride) == (1, 1) and groups == 1 and weight_shape[1] >= 16


def conv_channels_first(xp, x_shape, weight_shape, groups):
    """Whether a convolution of an ``x_shape`` input with an (O, C/G, kh, kw) weight
    returns channels-first (N, O, OH, OW) memory rather than channels-last. The
    reference keeps one layout: channels-last, whose rows the GEMMs write directly."""
    return False


def row_columns(xp, x, kernel_size, padding, dilation):
    """Columns of one kernel row for a stride-1 convolution with one group: kh times less
    data than :func:`im2col`, from which every kernel row's GEMM operand is a slice.

    x: (N, C, H, W). Returns z of shape (N, Hp*OW, kw*C), Hp = OH + (kh-1)*dh the padded
    height, with ``z[n, h*OW + ow, j*C + c] = x_padded[n, c, h, ow + j*dw]``. The rows
    (N, OH*OW) of kernel row i's operand are ``z[:, i*dh*OW : i*dh*OW + OH*OW]``: output
    (oh, ow) reads padded row oh + i*dh. With the weight permuted to (kh, kw*C, O), the
    convolution is ``sum_i z[:, i*dh*OW : i*dh*OW + OH*OW] @ w[i]``.
    """
    n, c, h, w = x.shape
    (kh, kw), (dh, dw) = kernel_size, dilation
    oh, ow = conv_geometry(x.shape, kernel_size, (1, 1), padding, dilation)
    extent = (window_extent(oh, kh, 1, dh), window_extent(ow, kw, 1, dw))
    buf = _padded(xp, x, padding, extent, 0.0) if needs_buffer(x.shape, padding, extent) else x
    src = xp.permute_dims(buf, (0, 2, 3, 1))  # (N, Hp, Wp, C): stride 1 reads every padded row
    z = xp.stack([src[:, :, window_slice(j, ow, 1, dw), :] for j in range(kw)], axis=3)  # (N, Hp, OW, kw, C)
    return xp.reshape(z, (n, extent[0] * ow, kw * c))


def im2col(xp, x, kernel_size, stride, padding, dilation, groups=1):
    """Columns for a convolution as one GEMM per group.

    x: (N, C, H, W). Returns cols of shape (N, OH, OW, G, kh, kw, C/G), G = ``groups``,
    with ``cols[n, oh, ow, g, i, j, c] = x_padded[n, g*C/G + c, oh*sh + i*dh, ow*sw + j*dw]``
    (zero padding). The channel index is innermost, so a channels-last input is copied
    in runs of C/G contiguous elements. With the weight (O, C/G, kh, kw) permuted to
    w_g = (G, O/G, kh*kw*C/G), the convolution is the batched GEMM
    ``permute(reshape(cols, (N*OH*OW, G, kh*kw*C/G)), (1, 0, 2)) @ matrix_transpose(w_g)``.
    OH = (H + 2*ph - dh*(kh-1) - 1)//sh + 1, likewise OW.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = conv_geometry(x.shape, kernel_size, stride, padding, dilation)
    check_groups(c, groups)
    extent = (window_extent(oh, kh, sh, dh), window_extent(ow, kw, sw, dw))
    buf = _padded(xp, x, padding, extent, 0.0) if needs_buffer(
        x.shape, padding, extent) else x
    src = xp.permute_dims(buf, (0, 2, 3, 1))
    parts = [src[:, window_slice(i, oh, sh, dh), window_slice(j, ow, sw, dw), :]
             for i in range(kh) for j in range(kw)]
    cols = xp.reshape(xp.stack(parts, axis=3), (n, oh, ow, kh, kw, groups, c // groups))
    return xp.permute_dims(cols, (0, 1, 2, 5, 3, 4, 6))


def col2im(xp, cols, x_shape, kernel_size, stride, padding, dilation):
    """The adjoint of :func:`im2col`: scatter-add columns back onto the input.

    cols: (N, OH, OW, G, kh, kw, C/G); x_shape: (N, C, H, W). Returns (N, C, H, W),
    each element the sum of every column entry that reads it (padding cropped away).
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = conv_geometry(x_shape, kernel_size, stride, padding, dilation)
    groups = cols.shape[3]
    extent = (window_extent(oh, kh, sh, dh), window_extent(ow, kw, sw, dw))
    hb, wb = max(ph + h, extent[0]), max(pw + w, extent[1])
    buf = xp.zeros((n, hb, wb, groups, c // groups), dtype=cols.dtype, device=cols.device)
    for i in range(kh):
        rows = window_slice(i, oh, sh, dh)
        for j in range(kw):
            cs = window_slice(j, ow, sw, dw)
            buf[:, rows, cs, :, :] = buf[:, rows, cs, :, :] + cols[:, :, :, :, i, j, :]
    buf = xp.reshape(buf, (n, hb, wb, c))
    return xp.permute_dims(buf[:, ph:ph + h, pw:pw + w, :], (0, 3, 1, 2))


def max_pool2d(xp, x, kernel_size, stride, padding, dilation, ceil_mode):
    """2-D max pooling with PyTorch's semantics; returns ``(out, argmax)``.

    x: (N, C, H, W). out: (N, C, OH, OW), sizes as in PyTorch (``ceil_mode`` included).
    Padding is implicit -inf and never selected. argmax: (N, C, OH, OW) holding the
    offset inside the window, ``i*kw + j``; dtype uint8 when kh*kw <= 256, else int32.
    Ties go to the first maximum in row-major (i, j) order; a NaN counts as a maximum
    and a later NaN replaces an earlier one (PyTorch's CPU scan: ``v > best or
    isnan(v)``). A window whose real values are all -inf reports its first non-padded
    element. Raises ValueError on invalid arguments (see :func:`pool_geometry`).
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    extent = (window_extent(oh, kh, sh, dh), window_extent(ow, kw, sw, dw))
    buf = _padded(xp, x, padding, extent, -math.inf) if needs_buffer(
        x.shape, padding, extent) else x
    arg_dtype = getattr(xp, argmax_dtype_name(kernel_size))
    i0 = first_valid_offsets(oh, kh, sh, ph, dh)
    j0 = first_valid_offsets(ow, kw, sw, pw, dw)
    first = xp.asarray([[i * kw + j for j in j0] for i in i0], dtype=arg_dtype,
                       device=x.device)
    arg = xp.broadcast_to(first, (n, c, oh, ow))
    best = xp.full((n, c, oh, ow), -math.inf, dtype=x.dtype, device=x.device)
    for i in range(kh):
        rows = window_slice(i, oh, sh, dh)
        for j in range(kw):
            v = buf[:, :, rows, window_slice(j, ow, sw, dw)]
            take = (v > best) | xp.isnan(v)
            best = xp.where(take, v, best)
            arg = xp.where(take, i * kw + j, arg)
    return best, arg


def max_pool2d_values(xp, x, kernel_size, stride, padding, dilation, ceil_mode):
    """The ``out`` of :func:`max_pool2d` without the argmax (inference needs no more):
    the running maximum over the window offsets, which NaN propagates as the scan does."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    oh, ow = pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    extent = (window_extent(oh, kh, sh, dh), window_extent(ow, kw, sw, dw))
    buf = _padded(xp, x, padding, extent, -math.inf) if needs_buffer(
        x.shape, padding, extent) else x
    best = None
    for i in range(kh):
        rows = window_slice(i, oh, sh, dh)
        for j in range(kw):
            v = buf[:, :, rows, window_slice(j, ow, sw, dw)]
            best = v if best is None else xp.maximum(best, v)
    return best


def max_pool2d_backward(xp, grad_out, argmax, x_shape, kernel_size, stride, padding,
                        dilation):
    """Gradient of :func:`max_pool2d` with respect to its input.

    grad_out, argmax: (N, C, OH, OW) (argmax as max_pool2d returns it). Returns
    (N, C, H, W): each grad_out element added to the input element its window picked;
    overlapping windows accumulate.
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = grad_out.shape[2:]
    extent = (window_extent(oh, kh, sh, dh), window_extent(ow, kw, sw, dw))
    buf = xp.zeros((n, c, max(ph + h, extent[0]), max(pw + w, extent[1])),
                   dtype=grad_out.dtype, device=grad_out.device)
    for i in range(kh):
        rows = window_slice(i, oh, sh, dh)
        for j in range(kw):
            cs = window_slice(j, ow, sw, dw)
            part = xp.where(argmax == i * kw + j, grad_out, 0.0)
            buf[:, :, rows, cs] = buf[:, :, rows, cs] + part
    return buf[:, :, ph:ph + h, pw:pw + w]


def _avg_divisor(xp, x_shape, out_shape, kernel_size, stride, padding, count_include_pad,
                 divisor_override, dtype, device):
    """The (OH, OW) divisor array of an average pooling, or a Python number."""
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError(f"divisor_override must be non-zero, got {divisor_override}")
        return divisor_override
    rows = avg_pool_divisors(x_shape[2], out_shape[0], kernel_size[0], stride[0],
                             padding[0], count_include_pad)
    cols = avg_pool_divisors(x_shape[3], out_shape[1], kernel_size[1], stride[1],
                             padding[1], count_include_pad)
    return xp.asarray([[r * q for q in cols] for r in rows], dtype=dtype, device=device)


def avg_pool2d(xp, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
               divisor_override):
    """2-D average pooling with PyTorch's semantics.

    x: (N, C, H, W). Returns (N, C, OH, OW), sizes as in PyTorch. Each window's sum
    is divided by ``divisor_override`` when given (an int, non-zero), else by its size
    clipped to the padded input (``count_include_pad``) or by its number of real
    elements. Raises ValueError on invalid arguments (see :func:`pool_geometry`).
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = pool_geometry(x.shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    divisor = _avg_divisor(xp, x.shape, (oh, ow), kernel_size, stride, padding,
                           count_include_pad, divisor_override, x.dtype, x.device)
    extent = (window_extent(oh, kh, sh, 1), window_extent(ow, kw, sw, 1))
    buf = _padded(xp, x, padding, extent, 0.0) if needs_buffer(
        x.shape, padding, extent) else x
    total = None
    for i in range(kh):
        rows = window_slice(i, oh, sh, 1)
        for j in range(kw):
            v = buf[:, :, rows, window_slice(j, ow, sw, 1)]
            total = v if total is None else total + v
    return total / divisor


def avg_pool2d_backward(xp, grad_out, x_shape, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override):
    """Gradient of :func:`avg_pool2d` with respect to its input.

    grad_out: (N, C, OH, OW). Returns (N, C, H, W): every element of a window gets
    that window's grad_out divided by the window's divisor; windows accumulate.
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = pool_geometry(x_shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    divisor = _avg_divisor(xp, x_shape, (oh, ow), kernel_size, stride, padding,
                           count_include_pad, divisor_override, grad_out.dtype,
                           grad_out.device)
    share = grad_out / divisor
    extent = (window_extent(oh, kh, sh, 1), window_extent(ow, kw, sw, 1))
    buf = xp.zeros((n, c, max(ph + h, extent[0]), max(pw + w, extent[1])),
                   dtype=grad_out.dtype, device=grad_out.device)
    for i in range(kh):
        rows = window_slice(i, oh, sh, 1)
        for j in range(kw):
            cs = window_slice(j, ow, sw, 1)
            buf[:, :, rows, cs] = buf[:, :, rows, cs] + share
    return buf[:, :, ph:ph + h, pw:pw + w]
