"""2-D convolution as one op: im2col + GEMM forward, GEMMs backward.

Shapes: input x (N, C, H, W), weight (O, C/G, kh, kw), bias (O,), output
(N, O, OH, OW), with G = ``groups``. Per group the GEMMs have M = N*OH*OW rows and
K = kh*kw*C/G columns.

Forward: ``cols = im2col(x)`` as (M, G, K) (channel index innermost, see
``backends``), the weight as w_g (G, O/G, K) in the same column order, and
``y = cols @ w_g^T`` per group. y is an (M, O) = (N, OH, OW, O) channels-last array;
the op returns it as the (N, O, OH, OW) view ``permute(y, (0, 3, 1, 2))``, so no
transposing copy is made and the next layer reads channels-last memory.

Backward, with the upstream gradient g as rows g_m (M, O):

- weight: ``g_m^T @ cols`` per group, from the columns saved by forward (the only
  column buffer a layer keeps, and only when the weight needs a gradient);
- bias: the per-channel sum of g_m;
- input: for each kernel offset (i, j), ``g_m @ weight[:, :, i, j]`` is the gradient of
  the input pixels that offset read (a strided slice of the padded input). One small
  GEMM per offset, added into those slices of a zero, padded, channels-last buffer,
  replaces the (M, C*kh*kw) column gradient and its col2im. Measured on 2 cores,
  float32, full input-gradient time (GEMMs included) in ms:

      input (N, C, H, W)   kernel -> O           per-offset   GEMM + col2im
      (64, 32, 32, 32)     3x3 p1 -> 64              26            59
      (64, 32, 32, 32)     3x3 p1 -> 32              18            53
      (64, 32, 16, 16)     3x3 p1 -> 64               6.5           9.6
      (64, 6, 14, 14)      5x5    -> 16               1.5           3.9
      (64, 1, 28, 28)      5x5    -> 6                3.2           2.8
      (64, 32, 32, 32)     3x3 p1 -> 32, groups 32   110            93
      (64, 32, 16, 16)     3x3 p1 -> 64, groups 32    23            18

  With one input channel per group (C/G = 1: a single-channel input, depthwise
  convolutions) the per-offset products are matrix-vector products and col2im wins;
  there the column gradient is formed and scattered back with the kernels' col2im.
"""
from backends.generic import window_extent, window_slice
from nyang.autograd import Function
from nyang.functional.shape_ops import pad

# Elements of one per-offset GEMM result in the input gradient: blocks of whole images
# this size stay in cache while they are added into the padded buffer (26 ms instead of
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


def channel_sum(xp, rows, n):
    """Column sums of ``rows`` (M, O), M = n*L, as (O,): per image one GEMV with a ones
    vector, then a sum over the n images. Measured at (65536, 64) float32: 0.8 ms and
    relative error 3e-7, against 1.7 ms and 1e-5 for NumPy's ``sum(axis=0)`` (which adds
    the rows in order) and 8 ms for one (1, M) @ (M, O) product (OpenBLAS stalls there)."""
    per_image = xp.reshape(rows, (n, -1, rows.shape[1]))
    ones = xp.ones((1, per_image.shape[1]), dtype=rows.dtype, device=rows.device)
    return xp.sum(ones @ per_image, axis=(0, 1))


def _weight_matrix(xp, weight, groups):
    """Weight (O, C/G, kh, kw) as (G, O/G, kh*kw*C/G), in im2col's column order."""
    return xp.reshape(xp.permute_dims(weight, (0, 2, 3, 1)), (groups, weight.shape[0] // groups, -1))


def _rows(xp, g):
    """Gradient (N, O, OH, OW) as rows (N*OH*OW, O); a view when g is channels-last."""
    return xp.reshape(xp.permute_dims(g, (0, 2, 3, 1)), (-1, g.shape[1]))


class Conv2dFunction(Function):
    """Cross-correlation of x (N, C, H, W) with weight (O, C/G, kh, kw), plus bias (O,)
    or None; stride, padding, dilation are 2-tuples (see the module docstring)."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        xp = ctx.xp
        n = x.shape[0]
        o, _, kh, kw = weight.shape
        cols = ctx.kernels.im2col(xp, x, (kh, kw), stride, padding, dilation, groups)
        oh, ow = cols.shape[1], cols.shape[2]
        cols = xp.permute_dims(xp.reshape(cols, (n * oh * ow, groups, -1)), (1, 0, 2))  # (G, M, K)
        y = cols @ xp.matrix_transpose(_weight_matrix(xp, weight, groups))  # (G, M, O/G)
        y = xp.reshape(xp.permute_dims(y, (1, 0, 2)), (n * oh * ow, o))  # a view when G == 1
        if bias is not None:
            y += bias
        needs = ctx.needs_input_grad
        ctx.geometry = (x.shape, weight.shape, stride, padding, dilation, groups)
        if needs[0]:
            ctx.weight = weight
        if needs[1]:
            ctx.cols = cols
        return xp.permute_dims(xp.reshape(y, (n, oh, ow, o)), (0, 3, 1, 2))

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        x_shape, weight_shape, stride, padding, dilation, groups = ctx.geometry
        needs = ctx.needs_input_grad
        rows = _rows(xp, g)
        gx = gw = gb = None
        if needs[0]:
            # per-offset GEMMs unless there is one input channel per group (module docstring)
            input_grad = _input_grad if weight_shape[1] > 1 else _input_grad_col2im
            gx = input_grad(xp, ctx.kernels, rows, ctx.weight, g.shape, x_shape, stride, padding, dilation, groups)
        if needs[1]:
            gw = _weight_grad(xp, rows, ctx.cols, weight_shape, groups)
        if needs[2]:
            gb = channel_sum(xp, rows, g.shape[0])
        return gx, gw, gb, None, None, None, None


def _weight_grad(xp, rows, cols, weight_shape, groups):
    """``g_m^T @ cols`` per group: rows (M, O), cols (G, M, K) -> (O, C/G, kh, kw)."""
    o, cg, kh, kw = weight_shape
    rows = xp.permute_dims(xp.reshape(rows, (rows.shape[0], groups, o // groups)), (1, 2, 0))
    gw = xp.reshape(rows @ cols, (o, kh, kw, cg))  # (G, O/G, K) in (kh, kw, C/G) order
    # Back to (O, C/G, kh, kw); reshaping the permuted view copies it in row-major order.
    return xp.reshape(xp.reshape(xp.permute_dims(gw, (0, 3, 1, 2)), (o, -1)), weight_shape)


def _input_grad_col2im(xp, kernels, rows, weight, g_shape, x_shape, stride, padding, dilation, groups):
    """The input gradient (N, C, H, W) from rows (M, O) as ``col2im(rows @ w_g)``: the
    column gradient per group, scattered back onto the input."""
    n, oh, ow = g_shape[0], g_shape[2], g_shape[3]
    o, cg, kh, kw = weight.shape
    rows = xp.permute_dims(xp.reshape(rows, (rows.shape[0], groups, o // groups)), (1, 0, 2))  # (G, M, O/G)
    cols = xp.permute_dims(rows @ _weight_matrix(xp, weight, groups), (1, 0, 2))  # (M, G, K)
    cols = xp.reshape(cols, (n, oh, ow, groups, kh, kw, cg))
    return kernels.col2im(xp, cols, x_shape, (kh, kw), stride, padding, dilation)


def _input_grad(xp, kernels, rows, weight, g_shape, x_shape, stride, padding, dilation, groups):
    """The input gradient (N, C, H, W) from rows (M, O): per kernel offset (i, j), the
    GEMM ``rows @ weight[:, :, i, j]`` added into the strided slice of the padded input
    that offset read (see the module docstring). Returns a channels-last view."""
    n, c, h, w = x_shape
    o, cg, kh, kw = weight.shape
    oh, ow = g_shape[2], g_shape[3]
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    og = o // groups
    hb, wb = max(ph + h, window_extent(oh, kh, sh, dh)), max(pw + w, window_extent(ow, kw, sw, dw))
    buf = xp.zeros((n, hb, wb, groups, cg), dtype=rows.dtype, device=rows.device)
    w_g = xp.reshape(weight, (groups, og, cg, kh, kw))
    rows = xp.permute_dims(xp.reshape(rows, (n, oh * ow, groups, og)), (2, 0, 1, 3))  # (G, N, OH*OW, O/G)
    per_block = max(1, _BLOCK // (oh * ow * c))
    for n0 in range(0, n, per_block):
        n1 = min(n, n0 + per_block)
        block = xp.reshape(rows[:, n0:n1, :, :], (groups, (n1 - n0) * oh * ow, og))
        for i in range(kh):
            hs = window_slice(i, oh, sh, dh)
            for j in range(kw):
                part = xp.reshape(block @ w_g[:, :, :, i, j], (groups, n1 - n0, oh, ow, cg))
                buf[n0:n1, hs, window_slice(j, ow, sw, dw), :, :] += xp.permute_dims(part, (1, 2, 3, 0, 4))
    buf = xp.reshape(buf, (n, hb, wb, c))
    return xp.permute_dims(buf[:, ph:ph + h, pw:pw + w, :], (0, 3, 1, 2))


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
