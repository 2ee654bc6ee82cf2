"""2-D convolution as one op: GEMMs over columns of the input, forward and backward.

Shapes: input x (N, C, H, W), weight (O, C/G, kh, kw), bias (O,), output
(N, O, OH, OW), with G = ``groups``. The output is computed as rows (M, O),
M = N*OH*OW: an (N, OH, OW, O) channels-last array that the op returns as the
(N, O, OH, OW) view ``permute(y, (0, 3, 1, 2))``, so no transposing copy is made and the
next layer reads channels-last memory. With few channels (the kernels'
``conv_channels_first``: on NumPy, at most 4 in and fewer than 16 out, as LeNet's first
layer) it is computed per image as (O, OH*OW) instead, channels-first memory, in which
the next layers (ReLU, pooling) loop along image rows rather than over a few channels.

Two formulations (the kernels' ``conv_by_rows`` chooses; :class:`_Plan` runs them):

- im2col: ``cols = im2col(x)`` as (G, M, K), K = kh*kw*C/G (channel index innermost, see
  ``backends``), the weight as w_g (G, O/G, K) in the same column order, and
  ``y = cols @ w_g^T`` per group: one GEMM.
- kernel rows (stride 1, one group, C >= 16 on NumPy): ``z = row_columns(x)``, the
  columns of one kernel row (N, Hp*OW, kw*C), Hp the padded height. Output (oh, ow)
  reads padded rows oh + i*dh, i < kh, and the rows of z for kernel row i are the slice
  ``z[:, i*dh*OW : i*dh*OW + OH*OW]``, so ``y = sum_i z_i @ w_i`` with w (kh, kw*C, O):
  kh GEMMs over kh times less column data (27 instead of 75 MB at (64, 32, 32, 32)
  3x3). The VGG-small train step took 160 ms with it against 195 ms with im2col.

The batch may be walked in blocks of images (the kernels' ``conv_blocking`` says how):
on NumPy the columns of a few images stay in cache between their copy and the GEMM,
and the columns of the whole batch are never built at once when they are large.
Measured forward with im2col at (64, 32, 32, 32) 3x3 -> 32: 13 ms in blocks of 2
images against 23 ms for the whole batch; (64, 64, 16, 16) -> 64: 9.5 against 16.

Backward, with the upstream gradient g as rows g_m (M, O):

- weight: ``g_m^T @ cols`` per group (im2col), ``sum_n g_n^T @ z_i`` per kernel row
  (rows), from the columns forward kept when they are small enough, else recomputed
  block by block from the saved input. The columns are the only buffer a layer keeps
  for this, and only when the weight needs a gradient. Both are computed transposed,
  ``cols^T @ g_m`` (K, O): OpenBLAS runs that 15-30% faster on these shapes (weight
  gradient of (64, 32, 32, 32) 3x3 -> 32 by rows, blocks of 7 images: 11.7 ms against
  16.8);
- bias: the per-channel sum of g_m;
- input, three ways:

  * per offset: for each kernel offset (i, j), ``g_m @ weight[:, :, i, j]`` is the
    gradient of the input pixels that offset read (a strided slice of the padded
    input). One small GEMM per offset, added into those slices of a zero channels-last
    buffer (reads of the padding left out), replaces the (M, C*kh*kw) column gradient
    and its col2im. The buffer has the input's size, so the result is contiguous
    channels-last memory that the layer below reads as rows without a copy;
  * as a convolution (stride 1, one group, C >= 32; C >= 16 where that convolution runs
    by kernel rows): the gradient is g convolved with the flipped kernel, channels
    swapped, padded by dilation * (k - 1) - padding; the forward path then runs on g,
    with GEMMs of K = kh*kw*O (K = kw*O by rows) instead of O;
  * col2im, with one input channel per group (C/G = 1: a single-channel input,
    depthwise convolutions), where the per-offset products are matrix-vector products.

  Measured on 2 cores, float32, full input-gradient time (GEMMs included; "as conv" with
  im2col, before the kernel rows) in ms:

      input (N, C, H, W)   kernel -> O           per-offset   as conv   GEMM + col2im
      (64, 32, 32, 32)     3x3 p1 -> 64              26                     59
      (64, 32, 32, 32)     3x3 p1 -> 32              18          14         53
      (64, 32, 16, 16)     3x3 p1 -> 64               6.1         6.2        9.6
      (64, 64, 16, 16)     3x3 p1 -> 64              11.3        10.7
      (64, 6, 14, 14)      5x5    -> 16               1.6         2.5        3.9
      (64, 1, 28, 28)      5x5    -> 6                3.2                    2.8
      (64, 32, 32, 32)     3x3 p1 -> 32, groups 32   110                     93
      (64, 32, 16, 16)     3x3 p1 -> 64, groups 32    23                     18

  With the kernel rows ("as conv" by rows), ms:

      (64, 32, 32, 32)     3x3 p1 -> 32              22.4        15.9
      (64, 32, 16, 16)     3x3 p1 -> 64               7.3         7.8
      (64, 64, 16, 16)     3x3 p1 -> 64              14.4        11.8
      (64, 16, 16, 16)     3x3 p1 -> 16               2.6         1.7
      (64, 16, 8, 8)       3x3 p1 -> 32               0.94        0.79
      (64, 24, 32, 32)     3x3 p1 -> 24              15.9        10.3
      (32, 16, 64, 64)     3x3 p1 -> 16              20.6        11.8
"""
from backends.generic import conv_geometry
from nyang.autograd import Function
from nyang.functional._util import channel_rows
from nyang.functional.shape_ops import pad

# Elements of one per-offset GEMM result in the input gradient: blocks of whole images
# this size stay in cache while they are added into the gradient buffer (26 ms instead of
# 37 ms unblocked at (64, 32, 32, 32) 3x3 -> 64).
_BLOCK = 1 << 19


def pair(value, name, op):
    """``value`` (an int or a pair of ints) as a 2-tuple of ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        return tuple(value)
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def _weight_matrix(xp, weight, groups):
    """Weight (O, C/G, kh, kw) as (G, O/G, kh*kw*C/G), in im2col's column order."""
    return xp.reshape(xp.permute_dims(weight, (0, 2, 3, 1)), (groups, weight.shape[0] // groups, -1))


class Conv2dFunction(Function):
    """Cross-correlation of x (N, C, H, W) with weight (O, C/G, kh, kw), plus bias (O,)
    or None; stride, padding, dilation are 2-tuples (see the module docstring)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        xp, kernels, needs = ctx.xp, ctx.kernels, ctx.needs_input_grad
        plan = _Plan(xp, kernels, x.shape, weight, stride, padding, dilation, groups, needs[1],
                     channels_first=kernels.conv_channels_first(xp, x.shape, weight.shape, groups))
        y, kept = plan.convolve(x)
        n, o = x.shape[0], weight.shape[0]
        if plan.channels_first:
            if bias is not None:
                y += xp.reshape(bias, (1, o, 1))
            out = xp.reshape(y, (n, o, plan.oh, plan.ow))
        else:
            rows = xp.reshape(y, (-1, o))
            if bias is not None:
                rows = kernels.channel_affine(xp, rows, None, bias, inplace=True)
            out = xp.permute_dims(xp.reshape(rows, (n, plan.oh, plan.ow, o)), (0, 3, 1, 2))
        ctx.geometry = (x.shape, weight.shape, stride, padding, dilation, groups)
        ctx.channels_first = plan.channels_first
        if needs[0]:
            ctx.weight = weight
        if needs[1]:
            # the columns of each block when kept, else the input to recompute them from
            ctx.plan, ctx.kept, ctx.x = plan, kept, (x if kept is None else None)
        return out

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        x_shape, weight_shape, stride, padding, dilation, groups = ctx.geometry
        needs = ctx.needs_input_grad
        n, o = g.shape[0], g.shape[1]
        rows = None
        if needs[0] or not ctx.channels_first:
            rows = channel_rows(xp, g)  # (M, O): a view when g is channels-last
        gx = gw = gb = None
        if needs[0]:
            gx = _input_grad(xp, ctx.kernels, g, rows, ctx.weight, x_shape, stride, padding, dilation, groups)
        if needs[1]:
            per_image = xp.reshape(g, (n, o, -1)) if ctx.channels_first else xp.reshape(rows, (n, -1, o))
            gw = ctx.plan.weight_grad(per_image, ctx.kept, ctx.x)
        if needs[2]:
            gb = xp.sum(g, axis=(0, 2, 3)) if ctx.channels_first else ctx.kernels.channel_sum(xp, rows)
        return gx, gw, gb, None, None, None, None


class _Plan:
    """How one convolution runs: its output size, the columns it computes (the kernels'
    ``conv_by_rows`` chooses between im2col's and one kernel row's), the weight as the
    GEMM operand, the blocks of images it walks (``conv_blocking``), and the output's
    memory layout (``conv_channels_first``, asked by the caller).

    Results come per image, images first: (n, OH*OW, O) channels-last, or (n, O, OH*OW)
    channels-first.

    - im2col: columns (G, M, K), K = kh*kw*C/G; the output rows are ``cols @ w_t`` per
      group, w_t (G, K, O/G). Channels-first (one group): ``w @ cols_n^T`` per image n,
      w (O, K).
    - rows (stride 1, one group): z (n, Hp*OW, kw*C) from ``row_columns``; the output
      rows are ``sum_i z[:, i*dh*OW : i*dh*OW + OH*OW] @ w_rows[i]``, w_rows
      (kh, kw*C, O): kh GEMMs over kh times less column data.
    """

    def __init__(self, xp, kernels, x_shape, weight, stride, padding, dilation, groups, keep_columns,
                 channels_first=False):
        self.xp, self.kernels = xp, kernels
        o, cg, kh, kw = weight.shape
        self.weight_shape, self.stride, self.padding, self.dilation, self.groups = (
            tuple(weight.shape), stride, padding, dilation, groups)
        self.oh, self.ow = conv_geometry(x_shape, (kh, kw), stride, padding, dilation)
        self.by_rows = kernels.conv_by_rows(xp, x_shape, weight.shape, stride, groups)
        self.channels_first = channels_first and not self.by_rows and groups == 1
        itemsize = xp.finfo(weight.dtype).bits // 8
        if self.by_rows:
            column_bytes = (self.oh + (kh - 1) * dilation[0]) * self.ow * kw * cg * itemsize
            # (O, C, kh, kw) -> (kh, kw*C, O), in row_columns' (j, c) order
            self.w = xp.reshape(xp.permute_dims(weight, (2, 3, 1, 0)), (kh, kw * cg, o))
        else:
            column_bytes = self.oh * self.ow * groups * kh * kw * cg * itemsize
            self.w = _weight_matrix(xp, weight, groups)  # (G, O/G, K)
            self.w = self.w[0, ...] if self.channels_first else xp.matrix_transpose(self.w)  # (O, K) or (G, K, O/G)
        self.block, self.keep = kernels.conv_blocking(xp, x_shape[0], column_bytes, keep_columns)

    def columns(self, x):
        """The GEMM operand of images x (n, C, H, W): z (n, Hp*OW, kw*C) or cols (G, M, K)."""
        kernel_size, xp = self.weight_shape[2:], self.xp
        if self.by_rows:
            return self.kernels.row_columns(xp, x, kernel_size, self.padding, self.dilation)
        return _columns(xp, self.kernels, x, (kernel_size, self.stride, self.padding, self.dilation, self.groups))

    def _image_columns(self, cols):
        """im2col's columns (1, n*OH*OW, K) as (n, K, OH*OW): a view of the K-major
        memory that the NumPy kernels build for few input channels."""
        xp, length = self.xp, self.oh * self.ow
        k = cols.shape[2]
        return xp.permute_dims(xp.reshape(xp.matrix_transpose(cols[0, ...]), (k, -1, length)), (1, 0, 2))

    def product(self, cols, out):
        """Writes the output of n images, from their columns, into ``out``: (n, OH*OW, O),
        or (n, O, OH*OW) channels-first (a slice of the whole batch's output)."""
        xp, kernels, length = self.xp, self.kernels, self.oh * self.ow
        if self.channels_first:
            kernels.matmul_into(xp, self.w, self._image_columns(cols), out)
        elif not self.by_rows:
            out[...] = xp.reshape(_product(xp, cols, self.w), out.shape)
        else:
            step = self.dilation[0] * self.ow
            kernels.matmul_into(xp, cols[:, :length, :], self.w[0, ...], out)
            for i in range(1, self.w.shape[0]):
                out += cols[:, i * step:i * step + length, :] @ self.w[i, ...]

    def convolve(self, x):
        """(the output without bias, as :meth:`product` writes it for the whole batch,
        ``[(n0, n1, columns of images n0:n1)]`` when the columns are kept for the weight
        gradient, else None)."""
        xp, n, block = self.xp, x.shape[0], self.block
        o, length = self.weight_shape[0], self.oh * self.ow
        y = xp.empty((n, o, length) if self.channels_first else (n, length, o), dtype=x.dtype, device=x.device)
        kept = [] if self.keep else None
        for n0 in range(0, n, block):
            n1 = min(n, n0 + block)
            cols = self.columns(x if n1 - n0 == n else x[n0:n1, ...])
            self.product(cols, y if n1 - n0 == n else y[n0:n1, ...])
            if kept is not None:
                kept.append((n0, n1, cols))
        return y, kept

    def weight_grad(self, g, kept, x):
        """The weight gradient (O, C/G, kh, kw) from the output gradient per image g
        (N, OH*OW, O), or (N, O, OH*OW) channels-first, and the blocks' columns:
        ``kept`` (as :meth:`convolve` returns them), or recomputed block by block from
        the input x."""
        if kept is None:
            n = x.shape[0]
            kept = ((n0, min(n, n0 + self.block), None) for n0 in range(0, n, self.block))
        gw = None
        for n0, n1, cols in kept:
            if cols is None:
                cols = self.columns(x[n0:n1, ...])
            part = self._block_weight_grad(g[n0:n1, ...], cols)
            gw = part if gw is None else gw + part
        return gw

    def _block_weight_grad(self, g, cols):
        xp, o, kh = self.xp, self.weight_shape[0], self.weight_shape[2]
        if self.channels_first:  # sum_n g_n (O, OH*OW) @ cols_n (OH*OW, K)
            gw = xp.sum(g @ xp.matrix_transpose(self._image_columns(cols)), axis=0)
            return _from_column_order(xp, gw, self.weight_shape)
        if not self.by_rows:
            return _weight_grad(xp, xp.reshape(g, (-1, o)), cols, self.weight_shape, self.groups)
        length, step = self.oh * self.ow, self.dilation[0] * self.ow
        per_row = [xp.sum(xp.matrix_transpose(cols[:, i * step:i * step + length, :]) @ g, axis=0)
                   for i in range(kh)]  # each kernel row's gradient, transposed: (kw*C, O) in (j, c) order
        gw = xp.matrix_transpose(xp.reshape(xp.stack(per_row), (-1, o)))  # (O, K) in (i, j, c) order
        return _from_column_order(xp, gw, self.weight_shape)


def _columns(xp, kernels, x, geometry):
    """im2col of x (n, C, H, W) as the (G, n*OH*OW, K) operand of the GEMMs."""
    kernel_size, stride, padding, dilation, groups = geometry
    cols = kernels.im2col(xp, x, kernel_size, stride, padding, dilation, groups)
    return xp.permute_dims(xp.reshape(cols, (-1, groups, cols.shape[-3] * cols.shape[-2] * cols.shape[-1])),
                           (1, 0, 2))


def _product(xp, cols, w_t):
    """Rows (M, O) of the convolution: ``cols @ w_t`` per group, groups side by side."""
    y = cols @ w_t  # (G, M, O/G)
    return xp.reshape(xp.permute_dims(y, (1, 0, 2)), (y.shape[1], -1))  # a view when G == 1


def _weight_grad(xp, rows, cols, weight_shape, groups):
    """``g_m^T @ cols`` per group, computed transposed (module docstring): rows (M, O),
    cols (G, M, K) -> (O, C/G, kh, kw)."""
    o = weight_shape[0]
    rows = xp.permute_dims(xp.reshape(rows, (rows.shape[0], groups, o // groups)), (1, 0, 2))  # (G, M, O/G)
    gw_t = xp.matrix_transpose(cols) @ rows  # (G, K, O/G)
    return _from_column_order(xp, xp.reshape(xp.permute_dims(gw_t, (0, 2, 1)), (o, -1)), weight_shape)


def _from_column_order(xp, gw, weight_shape):
    """A weight gradient (O, K) in im2col's column order (kh, kw, C/G) as (O, C/G, kh, kw)."""
    o, cg, kh, kw = weight_shape
    gw = xp.reshape(gw, (o, kh, kw, cg))
    # reshaping the permuted view copies it in row-major order
    return xp.reshape(xp.reshape(xp.permute_dims(gw, (0, 3, 1, 2)), (o, -1)), weight_shape)


def _input_grad(xp, kernels, g, rows, weight, x_shape, stride, padding, dilation, groups):
    """The input gradient (N, C, H, W) of the convolution, from g (N, O, OH, OW) and its
    rows (M, O), by the cheapest of three formulations (module docstring)."""
    o, cg, kh, kw = weight.shape
    if cg == 1:  # one input channel per group: the per-offset products are matrix-vector products
        return _input_grad_col2im(xp, kernels, rows, weight, g.shape, x_shape, stride, padding, dilation, groups)
    full = tuple(d * (k - 1) - p for k, p, d in zip((kh, kw), padding, dilation))
    if stride == (1, 1) and groups == 1 and min(full) >= 0 and (
            cg >= 32 or cg >= 16 and kernels.conv_by_rows(xp, g.shape, (cg, o, kh, kw), (1, 1), 1)):
        return _input_grad_as_conv(xp, kernels, g, weight, x_shape, full, dilation)
    return _input_grad_per_offset(xp, kernels, rows, weight, g.shape, x_shape, stride, padding, dilation, groups)


def _input_grad_as_conv(xp, kernels, g, weight, x_shape, full_padding, dilation):
    """Stride 1, one group: the input gradient is the convolution of g with the kernel
    flipped and its channels swapped, padded by ``full_padding`` = dilation * (k - 1) -
    padding (the "full" correlation). Returns channels-last memory, as forward does."""
    flipped = xp.permute_dims(xp.flip(weight, axis=(2, 3)), (1, 0, 2, 3))  # (C, O, kh, kw)
    y, _ = _Plan(xp, kernels, g.shape, flipped, (1, 1), full_padding, dilation, 1, False).convolve(g)
    n, c, h, w = x_shape
    return xp.permute_dims(xp.reshape(y, (n, h, w, c)), (0, 3, 1, 2))


def _input_grad_col2im(xp, kernels, rows, weight, g_shape, x_shape, stride, padding, dilation, groups):
    """The input gradient (N, C, H, W) from rows (M, O) as ``col2im(rows @ w_g)``: the
    column gradient per group, scattered back onto the input."""
    n, oh, ow = g_shape[0], g_shape[2], g_shape[3]
    o, cg, kh, kw = weight.shape
    rows = xp.permute_dims(xp.reshape(rows, (rows.shape[0], groups, o // groups)), (1, 0, 2))  # (G, M, O/G)
    cols = xp.permute_dims(rows @ _weight_matrix(xp, weight, groups), (1, 0, 2))  # (M, G, K)
    cols = xp.reshape(cols, (n, oh, ow, groups, kh, kw, cg))
    return kernels.col2im(xp, cols, x_shape, (kh, kw), stride, padding, dilation)


def _input_grad_per_offset(xp, kernels, rows, weight, g_shape, x_shape, stride, padding, dilation, groups):
    """The input gradient (N, C, H, W) from rows (M, O): per kernel offset (i, j), the
    GEMM ``rows @ weight[:, :, i, j]`` added into the strided slice of the input that
    offset read (see the module docstring), leaving out the reads of the zero padding.
    Returns a view of contiguous channels-last memory (no padded border to crop, so
    the next layer's backward reads it as plain rows)."""
    n, c, h, w = x_shape
    o, cg, kh, kw = weight.shape
    oh, ow = g_shape[2], g_shape[3]
    og = o // groups
    buf = xp.zeros((n, h, w, groups, cg), dtype=rows.dtype, device=rows.device)
    w_g = xp.reshape(weight, (groups, og, cg, kh, kw))
    rows = xp.permute_dims(xp.reshape(rows, (n, oh * ow, groups, og)), (2, 0, 1, 3))  # (G, N, OH*OW, O/G)
    row_reads = [_inside(i, oh, h, stride[0], padding[0], dilation[0]) for i in range(kh)]
    col_reads = [_inside(j, ow, w, stride[1], padding[1], dilation[1]) for j in range(kw)]
    per_block = max(1, _BLOCK // (oh * ow * c))
    for n0 in range(0, n, per_block):
        n1 = min(n, n0 + per_block)
        block = xp.reshape(rows[:, n0:n1, :, :], (groups, (n1 - n0) * oh * ow, og))
        for i, (out_rows, in_rows) in enumerate(row_reads):
            for j, (out_cols, in_cols) in enumerate(col_reads):
                if out_rows is None or out_cols is None:  # this offset only ever read padding
                    continue
                part = xp.reshape(block @ w_g[:, :, :, i, j], (groups, n1 - n0, oh, ow, cg))
                part = xp.permute_dims(part[:, :, out_rows, out_cols, :], (1, 2, 3, 0, 4))
                buf[n0:n1, in_rows, in_cols, :, :] += part
    return xp.permute_dims(xp.reshape(buf, (n, h, w, c)), (0, 3, 1, 2))


def _inside(offset, out_size, size, stride, padding, dilation):
    """For kernel offset ``offset`` along one axis: (the outputs whose read falls inside
    the unpadded input, the input positions they read) as slices, or (None, None).
    Output o reads input o * stride + offset * dilation - padding."""
    shift = offset * dilation - padding
    first = max(0, -(shift // stride))  # smallest o with o * stride + shift >= 0
    last = min(out_size - 1, (size - 1 - shift) // stride)  # largest o with a read < size
    if last < first:
        return None, None
    return slice(first, last + 1), slice(first * stride + shift, last * stride + shift + 1, stride)


def check_conv2d_input(op, x_shape, weight_shape, stride, padding, dilation, groups, extra=(0, 0)):
    """Raise a ValueError naming ``op`` when input of ``x_shape`` does not fit the
    convolution (wrong rank or channels, bad stride/padding/dilation, kernel larger than
    the padded input); ``padding`` is the symmetric 2-tuple applied, ``extra`` the
    bottom/right padding added to it (odd "same" padding)."""
    o, cg, kh, kw = weight_shape
    expected = f"(N, {cg * groups}, H, W)"
    if len(x_shape) != 4:
        raise ValueError(f"{op}: expected input of shape {expected}, got {tuple(x_shape)}; "
                         f"inputs must be batched (add a batch dimension with x.unsqueeze(0))")
    if x_shape[1] != cg * groups:
        raise ValueError(f"{op}: expected input of shape {expected}, got {tuple(x_shape)} "
                         f"({x_shape[1]} channels instead of {cg * groups})")
    if min(stride) <= 0 or min(dilation) <= 0 or min(padding) < 0:
        raise ValueError(f"{op}: stride and dilation must be positive and padding non-negative, "
                         f"got stride={stride}, padding={padding}, dilation={dilation}")
    for a, name in ((0, "height"), (1, "width")):
        span = dilation[a] * ((kh, kw)[a] - 1) + 1
        padded = x_shape[2 + a] + 2 * padding[a] + extra[a]
        if span > padded:
            raise ValueError(
                f"{op}: the kernel ({kh}, {kw}) with dilation={dilation} spans {span} along the "
                f"{name}, more than the padded input's {padded} (input of shape {tuple(x_shape)}, "
                f"padding={padding})")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    input (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,) or None -> output
    (N, O, OH, OW) with OH = (H + 2*ph - dh*(kh-1) - 1)//sh + 1, likewise OW.
    ``padding`` is an int, a pair, ``"valid"`` (no padding) or ``"same"`` (output size =
    input size, stride 1 only; an even dilated kernel pads one more row/column at the
    bottom/right, as PyTorch). The output is a channels-last view.
    """
    return _conv2d("conv2d", input, weight, bias, stride, padding, dilation, groups)


def _conv2d(op, input, weight, bias, stride, padding, dilation, groups):
    """:func:`conv2d`, with errors naming ``op`` (the function, or the layer)."""
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must have shape (O, C/groups, kh, kw), got {weight.shape}")
    o, cg, kh, kw = weight.shape
    if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0 or o % groups:
        raise ValueError(f"{op}: groups must be a positive int dividing the {o} output channels, "
                         f"got groups={groups!r}")
    if bias is not None and tuple(bias.shape) != (o,):
        raise ValueError(f"{op}: bias must have shape ({o},), got {bias.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != input.dtype:
            raise TypeError(f"{op}: input ({input.dtype}) and {name} ({t.dtype}) must have the same dtype")
    stride, dilation = pair(stride, "stride", op), pair(dilation, "dilation", op)
    padding, extra = _resolve_padding(padding, (kh, kw), stride, dilation, op)
    check_conv2d_input(op, input.shape, weight.shape, stride, padding, dilation, groups, extra)
    if extra != (0, 0):  # odd total "same" padding: the extra row/column goes last
        input = pad(input, (0, extra[1], 0, extra[0]))
    return Conv2dFunction.apply(input, weight, bias, stride, padding, dilation, groups)


def _resolve_padding(padding, kernel_size, stride, dilation, op):
    """(symmetric padding pair, extra bottom/right padding pair) for ``padding``."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions, "
                             f"got stride={stride}")
        total = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
        return (total[0] // 2, total[1] // 2), (total[0] % 2, total[1] % 2)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    return pair(padding, "padding", op), (0, 0)
