"""2-D pooling ops: max, average and adaptive average, each one Function.

Max and average pooling run the backend kernels (``backends``); max pooling keeps
only the small integer argmax (offset inside each window) for its backward.
Adaptive average pooling is average pooling when the windows are equal (the output
size divides the input size), else one GEMM with an averaging matrix.
"""
from backends.generic import pool_geometry
from nyang.autograd import Function
from nyang.functional.conv import pair
from nyang.tensor import Tensor


class MaxPool2dFunction(Function):
    """Max over windows of x (N, C, H, W) -> (N, C, OH, OW). With ``indices`` (a list),
    forward appends the flat input index h*W + w of each maximum (int64, as PyTorch)."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode, indices=None):
        if indices is None and not ctx.needs_input_grad[0]:  # inference: no argmax to keep
            return ctx.kernels.max_pool2d_values(ctx.xp, x, kernel_size, stride, padding, dilation, ceil_mode)
        out, argmax = ctx.kernels.max_pool2d(ctx.xp, x, kernel_size, stride, padding, dilation, ceil_mode)
        if indices is not None:
            indices.append(_flat_indices(ctx.xp, argmax, x.shape, kernel_size, stride, padding, dilation))
        if ctx.needs_input_grad[0]:
            ctx.argmax, ctx.geometry = argmax, (x.shape, kernel_size, stride, padding, dilation)
        return out

    @staticmethod
    def backward(ctx, g):
        return (ctx.kernels.max_pool2d_backward(ctx.xp, g, ctx.argmax, *ctx.geometry),
                None, None, None, None, None)


def _flat_indices(xp, argmax, x_shape, kernel_size, stride, padding, dilation):
    """Window offsets i*kw + j (N, C, OH, OW) as flat input indices h*W + w (int64)."""
    oh, ow = argmax.shape[2], argmax.shape[3]
    kw = kernel_size[1]
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    arg = xp.astype(argmax, xp.int64)
    h = xp.arange(oh, dtype=xp.int64, device=arg.device)[:, None] * sh - ph + (arg // kw) * dh
    w = xp.arange(ow, dtype=xp.int64, device=arg.device) * sw - pw + (arg % kw) * dw
    return h * x_shape[3] + w


class AvgPool2dFunction(Function):
    """Mean over windows of x (N, C, H, W) -> (N, C, OH, OW), PyTorch's divisors."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
        ctx.arguments = (x.shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        return ctx.kernels.avg_pool2d(ctx.xp, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                      divisor_override)

    @staticmethod
    def backward(ctx, g):
        return (ctx.kernels.avg_pool2d_backward(ctx.xp, g, *ctx.arguments),) + (None,) * 6


def adaptive_windows(size, out_size):
    """PyTorch's adaptive pooling windows along one axis: output i averages input
    [floor(i*size/out), ceil((i+1)*size/out))."""
    return [(i * size // out_size, -(-(i + 1) * size // out_size)) for i in range(out_size)]


class AdaptiveAvgPool2dFunction(Function):
    """Adaptive average pooling of x (N, C, H, W) -> (N, C, OH, OW) as one batched GEMM
    on channels-last rows: ``P @ x_rows`` with x_rows (N, H*W, C) (a view when x is
    channels-last) and P (OH*OW, H*W) holding 1/(window size) on each output's window;
    the output is channels-last too. Backward: ``P^T @ g_rows``. Costs OH*OW*H*W
    multiply-adds per channel and image: cheap for small outputs such as global pooling."""

    @staticmethod
    def forward(ctx, x, output_size):
        xp = ctx.xp
        n, c, h, w = x.shape
        oh, ow = output_size
        p_h, p_w = (_averaging_matrix(xp, x.shape[2 + a], output_size[a], x.dtype, x.device) for a in (0, 1))
        ctx.p = xp.reshape(p_h[:, None, :, None] * p_w[None, :, None, :], (oh * ow, h * w))
        ctx.x_shape = x.shape
        y = ctx.p @ xp.reshape(xp.permute_dims(x, (0, 2, 3, 1)), (n, h * w, c))
        return xp.permute_dims(xp.reshape(y, (n, oh, ow, c)), (0, 3, 1, 2))

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        n, c, h, w = ctx.x_shape
        rows = xp.reshape(xp.permute_dims(g, (0, 2, 3, 1)), (n, -1, c))
        gx = xp.matrix_transpose(ctx.p) @ rows
        return xp.permute_dims(xp.reshape(gx, (n, h, w, c)), (0, 3, 1, 2)), None


def _averaging_matrix(xp, size, out_size, dtype, device):
    """(out_size, size): row i holds 1/len on output i's adaptive window, 0 elsewhere."""
    rows = [[0.0] * size for _ in range(out_size)]
    for i, (start, end) in enumerate(adaptive_windows(size, out_size)):
        rows[i][start:end] = [1.0 / (end - start)] * (end - start)
    return xp.asarray(rows, dtype=dtype, device=device)


def _check_4d(op, input):
    if input.ndim != 4:
        raise ValueError(f"{op}: expected input of shape (N, C, H, W), got {input.shape}; inputs must "
                         f"be batched (add a batch dimension with x.unsqueeze(0))")


def _geometry(op, input, kernel_size, stride, padding, dilation, ceil_mode):
    """The pooling arguments as 2-tuples, checked (with PyTorch's rules) against input."""
    _check_4d(op, input)
    kernel_size = pair(kernel_size, "kernel_size", op)
    stride = kernel_size if stride is None else pair(stride, "stride", op)
    padding, dilation = pair(padding, "padding", op), pair(dilation, "dilation", op)
    try:
        pool_geometry(input.shape, kernel_size, stride, padding, dilation, ceil_mode)
    except ValueError as e:
        raise ValueError(f"{op}: {e} (input of shape {input.shape})") from None
    return kernel_size, stride, padding, dilation


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``: input (N, C, H, W) ->
    (N, C, OH, OW); padding counts as -inf; ties go to the first maximum. ``stride``
    defaults to ``kernel_size``. With ``return_indices``, also the flat index h*W + w
    of each maximum in its input plane (int64, as PyTorch)."""
    return _max_pool2d("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _max_pool2d(op, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    """:func:`max_pool2d`, with errors naming ``op`` (the function, or the layer)."""
    k, s, p, d = _geometry(op, input, kernel_size, stride, padding, dilation, ceil_mode)
    if not return_indices:
        return MaxPool2dFunction.apply(input, k, s, p, d, bool(ceil_mode))
    indices = []
    out = MaxPool2dFunction.apply(input, k, s, p, d, bool(ceil_mode), indices=indices)
    return out, Tensor._wrap(indices[0], input.device)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling, as ``torch.nn.functional.avg_pool2d``: input (N, C, H, W) ->
    (N, C, OH, OW). Each window's sum is divided by ``divisor_override`` when given,
    else by its size (padding included when ``count_include_pad``, never the ceil-mode
    overhang past the padding) or by its number of real elements."""
    return _avg_pool2d("avg_pool2d", input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                       divisor_override)


def _avg_pool2d(op, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """:func:`avg_pool2d`, with errors naming ``op``."""
    k, s, p, _ = _geometry(op, input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
    return AvgPool2dFunction.apply(input, k, s, p, bool(ceil_mode), bool(count_include_pad), divisor_override)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed ``output_size`` (OH, OW), as PyTorch: input
    (N, C, H, W) -> (N, C, OH, OW), output (i, j) the mean over rows
    [floor(i*H/OH), ceil((i+1)*H/OH)) and the same rule for columns. Any sizes work
    (larger than the input too: windows then repeat). ``output_size`` is an int, a
    pair, or a pair with None for "keep the input's size"."""
    return _adaptive_avg_pool2d("adaptive_avg_pool2d", input, output_size)


def _adaptive_avg_pool2d(op, input, output_size):
    """:func:`adaptive_avg_pool2d`, with errors naming ``op``."""
    _check_4d(op, input)
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        output_size = tuple(input.shape[2 + a] if s is None else s for a, s in enumerate(output_size))
    size = pair(output_size, "output_size", op)
    if min(size) <= 0:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    h, w = input.shape[2:]
    # The GEMM costs OH*OW multiply-adds per input element, the pooling kernel one pass
    # per window offset; with equal windows (the output size divides the input size)
    # the kernel is used when a window is smaller than the output. Measured fwd+bwd in
    # ms, GEMM / kernel: (64, 64, 32, 32) to 1x1: 10 / 12, to 4x4: 11 / 17, to 16x16:
    # 37 / 13; (64, 512, 7, 7) to 7x7: 9.5 / 4.9.
    kernel_size = (h // size[0], w // size[1])
    if h % size[0] == 0 and w % size[1] == 0 and kernel_size[0] * kernel_size[1] < size[0] * size[1]:
        return AvgPool2dFunction.apply(input, kernel_size, kernel_size, (0, 0), False, True, None)
    return AdaptiveAvgPool2dFunction.apply(input, size)
