"""Normalization layers as ops: batch, layer, group and instance norm.

Each is one Function with the closed-form backward. With x_hat = (x - mean) * inv_std,
statistics (mean and biased variance) over ``count`` elements, and g_hat the
gradient reaching x_hat, the input gradient is

    dx = inv_std / count * (count * g_hat - sum(g_hat) - x_hat * sum(g_hat * x_hat))

(sums over the same elements as the statistics). Batch norm, the one that runs
between convolutions, works on channels-last rows with the kernels' per-channel
sums (``channel_sum``, ``channel_dot``); the others reduce through :func:`_stat_sum`.
float16 inputs are computed (and reduced) in float32; results keep the input dtype.
"""
import math

from nyang.autograd import Function
from nyang.functional._util import channel_rows, from_channel_rows


def _stat_sum(xp, a, axes):
    """Sum of ``a`` over ``axes``, kept as size-1 dims (layer, group and instance norm)."""
    return xp.sum(a, axis=axes, keepdims=True)


def _compute_dtype(xp, dtype):
    """float32 for float16 data (its sums would lose precision), else ``dtype``."""
    half = getattr(xp, "float16", None)  # not in the standard: array_api_strict has none
    return xp.float32 if half is not None and dtype == half else dtype


def _as(xp, a, dtype):
    """``a`` in ``dtype`` (no copy when it already is)."""
    return a if a is None or a.dtype == dtype else xp.astype(a, dtype)


def _normalize(xp, x, axes, eps):
    """(x_hat, mean, var, inv_std): mean and biased variance over ``axes`` (kept as size 1)."""
    count = math.prod(x.shape[a] for a in axes)
    mean = _stat_sum(xp, x, axes) / count
    centered = x - mean
    var = _stat_sum(xp, centered * centered, axes) / count
    inv_std = 1.0 / xp.sqrt(var + eps)
    return centered * inv_std, mean, var, inv_std


def _input_grad(g_hat, x_hat, scale, sum_g_hat, sum_g_hat_x_hat, count):
    """The closed form of the module docstring, with ``scale`` = inv_std (times gamma
    where gamma is constant over the statistics' elements, g_hat then being g)."""
    return scale * (g_hat - sum_g_hat * (1.0 / count) - x_hat * (sum_g_hat_x_hat * (1.0 / count)))


def _affine(x_hat, weight, bias):
    y = x_hat if weight is None else x_hat * weight
    return y if bias is None else y + bias


def _update_running(xp, running_mean, running_var, mean, var, count, momentum):
    """Blend batch statistics of shape (C,) into the running buffers, in place. As
    PyTorch, the running variance is the unbiased one: var * count / (count - 1)."""
    if running_mean is not None:
        running_mean[...] = (1.0 - momentum) * running_mean + momentum * _as(xp, mean, running_mean.dtype)
    if running_var is not None:
        unbiased = var * (count / (count - 1))
        running_var[...] = (1.0 - momentum) * running_var + momentum * _as(xp, unbiased, running_var.dtype)


class BatchNormFunction(Function):
    """Batch norm of x (N, C, *): statistics per channel over N and the positions *.

    It works on channels-last rows (M, C), M = N * prod(*) (``channel_rows``): a view of
    a convolution's output, so no transposing copy is made, and the output is a
    channels-last view too. The per-channel sums are the kernels' ``channel_sum`` and
    ``channel_dot`` (BLAS-backed on NumPy). Measured at (64, 32, 32, 32) float32, forward
    + backward: 9 ms, against 16 ms for sums over an (N, C, L) view (that reshape
    copied the channels-last input back to channels-first, and the sums were slow);
    the evaluation forward 1.0 ms against 4.1.

    Training: ``centered = x - mean``, ``var = mean(centered ** 2)`` (biased), then
    ``y = centered * scale + bias`` with ``scale = inv_std * weight``; the batch
    statistics are blended into the running buffers (when given). Otherwise the
    running statistics normalize, as PyTorch computes it: ``y = x * scale + shift``,
    ``shift = bias - running_mean * scale``. Backward keeps ``centered`` (x_hat =
    centered * inv_std) and works with the same rows."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        xp, kernels, needs = ctx.xp, ctx.kernels, ctx.needs_input_grad
        dtype = _compute_dtype(xp, x.dtype)
        rows = _as(xp, channel_rows(xp, x), dtype)
        count = rows.shape[0]
        if training:
            mean = kernels.channel_sum(xp, rows) / count
            centered = kernels.channel_affine(xp, rows, None, -mean)
            var = kernels.channel_dot(xp, centered, centered) / count
            _update_running(xp, running_mean, running_var, mean, var, count, momentum)
        else:
            mean, var = _as(xp, running_mean, dtype), _as(xp, running_var, dtype)
            # only the weight's gradient needs it
            centered = kernels.channel_affine(xp, rows, None, -mean) if needs[1] else None
        inv_std = 1.0 / xp.sqrt(var + eps)
        scale = inv_std if weight is None else inv_std * _as(xp, weight, dtype)
        b = None if bias is None else _as(xp, bias, dtype)
        if training:
            y = kernels.channel_affine(xp, centered, scale, b)
        else:
            y = kernels.channel_affine(xp, rows, scale, -mean * scale if b is None else b - mean * scale)
        ctx.centered, ctx.inv_std, ctx.scale, ctx.count, ctx.training = centered, inv_std, scale, count, training
        ctx.shape, ctx.dtype, ctx.x_dtype = x.shape, dtype, x.dtype
        ctx.w_dtype, ctx.b_dtype = getattr(weight, "dtype", None), getattr(bias, "dtype", None)
        return _as(xp, from_channel_rows(xp, y, x.shape), x.dtype)

    @staticmethod
    def backward(ctx, g):
        xp, kernels, needs = ctx.xp, ctx.kernels, ctx.needs_input_grad
        centered, inv_std, scale, count = ctx.centered, ctx.inv_std, ctx.scale, ctx.count
        rows = _as(xp, channel_rows(xp, g), ctx.dtype)
        full = needs[0] and ctx.training  # the input gradient through the batch statistics
        sum_g = kernels.channel_sum(xp, rows) if full or needs[2] else None
        # sum(g * x_hat) = inv_std * sum(g * centered)
        sum_gx = kernels.channel_dot(xp, rows, centered) * inv_std if full or needs[1] else None
        gx = gw = gb = None
        if needs[0]:
            # gamma is constant over a channel's elements: folded into scale
            if full:  # the module docstring's closed form, with x_hat = centered * inv_std
                gx = kernels.channel_affine(xp, rows, scale, scale * sum_g * (-1.0 / count))
                gx -= kernels.channel_affine(xp, centered, scale * inv_std * sum_gx * (1.0 / count))
            else:
                gx = kernels.channel_affine(xp, rows, scale)
            gx = _as(xp, from_channel_rows(xp, gx, ctx.shape), ctx.x_dtype)
        if needs[1]:
            gw = _as(xp, sum_gx, ctx.w_dtype)
        if needs[2]:
            gb = _as(xp, sum_g, ctx.b_dtype)
        return gx, gw, gb, None, None


class LayerNormFunction(Function):
    """Layer norm of x viewed as (R, M): statistics per row over its M trailing
    elements; weight and bias (M elements) apply element-wise along the row."""

    @staticmethod
    def forward(ctx, x, weight, bias, size, eps):
        xp = ctx.xp
        dtype = _compute_dtype(xp, x.dtype)
        x2 = xp.reshape(_as(xp, x, dtype), (-1, size))
        x_hat, _, _, inv_std = _normalize(xp, x2, (1,), eps)
        w = None if weight is None else xp.reshape(_as(xp, weight, dtype), (1, size))
        b = None if bias is None else xp.reshape(_as(xp, bias, dtype), (1, size))
        ctx.x_hat, ctx.inv_std, ctx.w = x_hat, inv_std, w
        ctx.x_shape, ctx.x_dtype = x.shape, x.dtype
        ctx.w_shape, ctx.w_dtype = (None, None) if weight is None else (weight.shape, weight.dtype)
        ctx.b_shape, ctx.b_dtype = (None, None) if bias is None else (bias.shape, bias.dtype)
        return _as(xp, xp.reshape(_affine(x_hat, w, b), x.shape), x.dtype)

    @staticmethod
    def backward(ctx, g):
        xp, x_hat, needs = ctx.xp, ctx.x_hat, ctx.needs_input_grad
        g2 = xp.reshape(_as(xp, g, x_hat.dtype), x_hat.shape)
        gx = gw = gb = None
        if needs[0]:
            g_hat = g2 if ctx.w is None else g2 * ctx.w
            gx = _input_grad(g_hat, x_hat, ctx.inv_std, _stat_sum(xp, g_hat, (1,)),
                             _stat_sum(xp, g_hat * x_hat, (1,)), x_hat.shape[1])
            gx = _as(xp, xp.reshape(gx, ctx.x_shape), ctx.x_dtype)
        if needs[1]:
            gw = _as(xp, xp.reshape(_stat_sum(xp, g2 * x_hat, (0,)), ctx.w_shape), ctx.w_dtype)
        if needs[2]:
            gb = _as(xp, xp.reshape(_stat_sum(xp, g2, (0,)), ctx.b_shape), ctx.b_dtype)
        return gx, gw, gb


class GroupNormFunction(Function):
    """Group norm of x viewed as (N, G, K, L) (K = C / G channels per group, L spatial
    elements): statistics per (sample, group) over K and L; weight and bias per channel.

    With G = C this is instance norm; running buffers of shape (C,), when given,
    receive the batch average of the per-instance statistics (as PyTorch)."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, groups, momentum, eps):
        xp = ctx.xp
        dtype = _compute_dtype(xp, x.dtype)
        n, c = x.shape[0], x.shape[1]
        x4 = xp.reshape(_as(xp, x, dtype), (n, groups, c // groups, -1))
        x_hat, mean, var, inv_std = _normalize(xp, x4, (2, 3), eps)
        if running_mean is not None or running_var is not None:
            _update_running(xp, running_mean, running_var, xp.mean(xp.reshape(mean, (n, c)), axis=0),
                            xp.mean(xp.reshape(var, (n, c)), axis=0), x4.shape[3], momentum)
        shape = (1, groups, c // groups, 1)
        w = None if weight is None else xp.reshape(_as(xp, weight, dtype), shape)
        b = None if bias is None else xp.reshape(_as(xp, bias, dtype), shape)
        ctx.x_hat, ctx.inv_std, ctx.w = x_hat, inv_std, w
        ctx.x_shape, ctx.x_dtype = x.shape, x.dtype
        ctx.w_dtype, ctx.b_dtype = getattr(weight, "dtype", None), getattr(bias, "dtype", None)
        return _as(xp, xp.reshape(_affine(x_hat, w, b), x.shape), x.dtype)

    @staticmethod
    def backward(ctx, g):
        xp, x_hat, w, needs = ctx.xp, ctx.x_hat, ctx.w, ctx.needs_input_grad
        c = ctx.x_shape[1]
        g4 = xp.reshape(_as(xp, g, x_hat.dtype), x_hat.shape)
        # per-(sample, channel) sums first: they give the weight and bias gradients,
        # and, weighted by gamma, the per-group sums of g_hat and g_hat * x_hat
        sum_g = _stat_sum(xp, g4, (3,))
        sum_gx = _stat_sum(xp, g4 * x_hat, (3,))
        gx = gw = gb = None
        if needs[0]:
            g_hat, sum_g_hat, sum_g_hat_x = g4, sum_g, sum_gx
            if w is not None:
                g_hat, sum_g_hat, sum_g_hat_x = g4 * w, sum_g * w, sum_gx * w
            count = x_hat.shape[2] * x_hat.shape[3]
            gx = _input_grad(g_hat, x_hat, ctx.inv_std, _stat_sum(xp, sum_g_hat, (2,)),
                             _stat_sum(xp, sum_g_hat_x, (2,)), count)
            gx = _as(xp, xp.reshape(gx, ctx.x_shape), ctx.x_dtype)
        if needs[1]:
            gw = _as(xp, xp.reshape(_stat_sum(xp, sum_gx, (0,)), (c,)), ctx.w_dtype)
        if needs[2]:
            gb = _as(xp, xp.reshape(_stat_sum(xp, sum_g, (0,)), (c,)), ctx.b_dtype)
        return gx, gw, gb, None, None


def _check_channel_vector(name, what, t, c, input_shape):
    if t is not None and t.shape != (c,):
        raise ValueError(f"{name}: {what} has shape {t.shape}, expected ({c},) for input of shape {input_shape}")


def _check_eps(name, eps):
    if not eps > 0:
        raise ValueError(f"{name}: eps must be positive, got {eps}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalize each channel of input (N, C, *) by its statistics over N and the
    spatial dims, then scale by weight (C,) and shift by bias (C,).

    ``training``: normalize with the batch mean and biased variance and, when the
    running buffers (C,) are given, update them in place:
    ``running = (1 - momentum) * running + momentum * batch`` (unbiased variance).
    Otherwise normalize with ``running_mean`` and ``running_var``."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, *), got {input.shape}")
    c = input.shape[1]
    for what, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_channel_vector("batch_norm", what, t, c, input.shape)
    _check_eps("batch_norm", eps)
    if training:
        if input.shape[0] * math.prod(input.shape[2:]) == 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                             f"got input of shape {input.shape}")
    elif running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are required when not training")
    return BatchNormFunction.apply(input, weight, bias, running_mean, running_var,
                                   training=training, momentum=momentum, eps=eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize input (*, *normalized_shape) over its trailing ``normalized_shape``
    dims, then scale by weight and shift by bias (both of shape ``normalized_shape``)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or input.ndim < len(shape) or input.shape[input.ndim - len(shape):] != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} does not match input of shape {input.shape}; "
                         f"expected input of shape (*, {', '.join(map(str, shape))})")
    for what, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != shape:
            raise ValueError(f"layer_norm: {what} has shape {t.shape}, expected normalized_shape {shape}")
    _check_eps("layer_norm", eps)
    return LayerNormFunction.apply(input, weight, bias, size=math.prod(shape), eps=eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Split the C channels of input (N, C, *) into ``num_groups`` groups, normalize
    each group of each sample by its own statistics, then scale by weight (C,) and
    shift by bias (C,)."""
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected input of shape (N, C, *), got {input.shape}")
    c = input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"group_norm: the {c} channels of input of shape {input.shape} cannot be split "
                         f"into num_groups={num_groups} equal groups")
    for what, t in (("weight", weight), ("bias", bias)):
        _check_channel_vector("group_norm", what, t, c, input.shape)
    _check_eps("group_norm", eps)
    return GroupNormFunction.apply(input, weight, bias, None, None, groups=num_groups, momentum=0.0, eps=eps)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalize each channel of each sample of input (N, C, *) by its own statistics
    over the spatial dims, then scale by weight (C,) and shift by bias (C,).

    With ``use_input_stats`` the running buffers (C,), when given, are updated in place
    with the batch average of the per-instance mean and unbiased variance; without it,
    the running statistics normalize instead (as batch norm in eval mode)."""
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected input of shape (N, C, *spatial), got {input.shape}")
    c = input.shape[1]
    for what, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        _check_channel_vector("instance_norm", what, t, c, input.shape)
    _check_eps("instance_norm", eps)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: running_mean and running_var are required without use_input_stats")
        return BatchNormFunction.apply(input, weight, bias, running_mean, running_var,
                                       training=False, momentum=momentum, eps=eps)
    if math.prod(input.shape[2:]) == 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element when training, "
                         f"got input of shape {input.shape}")
    return GroupNormFunction.apply(input, weight, bias, running_mean, running_var,
                                   groups=c, momentum=momentum, eps=eps)
