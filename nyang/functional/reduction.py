"""Reductions over dims: sum, mean, var/std, max/min, logsumexp, argmax/argmin.

``dim`` is None (all dims), an int or a tuple; ``keepdim`` keeps reduced dims as
size 1. The backward re-inserts the reduced dims and broadcasts back. Dtypes follow
PyTorch: sums of integers and bools are int64, max/min keep the dtype (bool too),
logsumexp of integers is the default float dtype.
"""
from nyang import dtypes
from nyang.autograd import Function
from nyang.functional._util import normalize_dims
from nyang.functional.math import _as_float


def _expand_reduced(xp, g, in_shape, axes):
    """Broadcast a reduced gradient (with or without kept dims) back to ``in_shape``."""
    kept = tuple(1 if i in axes else s for i, s in enumerate(in_shape))
    return xp.broadcast_to(xp.reshape(g, kept), in_shape)


class Sum(Function):
    """Sum over dims; integer and bool inputs sum as int64 (as PyTorch)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        xp = ctx.xp
        ctx.shape, ctx.axes = x.shape, axes
        if not dtypes.OF_ARRAY[xp][x.dtype].is_floating_point:
            x = xp.astype(x, xp.int64, copy=False)
        return xp.sum(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return _expand_reduced(ctx.xp, g, ctx.shape, ctx.axes)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes = x.shape, axes
        ctx.count = 1
        for a in axes:
            ctx.count *= x.shape[a]
        return ctx.xp.mean(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return _expand_reduced(ctx.xp, g / ctx.count, ctx.shape, ctx.axes)


class Var(Function):
    """Variance with ``correction`` (1 = unbiased, PyTorch's default)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, correction):
        xp = ctx.xp
        count = 1
        for a in axes:
            count *= x.shape[a]
        centered = x - xp.mean(x, axis=axes, keepdims=True)
        ctx.centered, ctx.axes, ctx.denominator = centered, axes, max(count - correction, 0)
        return xp.sum(centered * centered, axis=axes, keepdims=keepdim) / ctx.denominator

    @staticmethod
    def backward(ctx, g):
        g = _expand_reduced(ctx.xp, g, ctx.centered.shape, ctx.axes)
        return g * ctx.centered * (2.0 / ctx.denominator)


class AMax(Function):
    """Largest (``largest=True``) or smallest value over dims; ties share the gradient
    evenly (PyTorch's rule for ``amax``/``amin`` and for ``max()`` without dim)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, largest):
        xp = ctx.xp
        if dtypes.OF_ARRAY[xp][x.dtype] is dtypes.bool_:  # the largest bool is any, the smallest all
            out = (xp.any if largest else xp.all)(x, axis=axes, keepdims=True)
        else:
            out = (xp.max if largest else xp.min)(x, axis=axes, keepdims=True)
        if ctx.needs_input_grad[0]:
            ctx.mask, ctx.axes = x == out, axes
        return out if keepdim else xp.squeeze(out, axis=axes) if axes else xp.reshape(out, ())

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        mask = xp.astype(ctx.mask, g.dtype)
        count = xp.sum(mask, axis=ctx.axes, keepdims=True)
        return _expand_reduced(xp, g, mask.shape, ctx.axes) * (mask / count)


class LogSumExp(Function):
    """log(sum(exp(x))) over dims, computed stably around the max."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        xp = ctx.xp
        x = _as_float(xp, x)
        m = xp.max(x, axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0.0)
        out = xp.log(xp.sum(xp.exp(x - m), axis=axes, keepdims=True)) + m
        ctx.x, ctx.out, ctx.axes = x, out, axes
        return out if keepdim else xp.squeeze(out, axis=axes) if axes else xp.reshape(out, ())

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        return _expand_reduced(xp, g, ctx.x.shape, ctx.axes) * xp.exp(ctx.x - ctx.out)


class Gather(Function):
    """``out[..., i, ...] = x[..., index[..., i, ...], ...]`` along ``dim`` (torch.gather);
    the backward adds each gradient into the element it came from."""

    @staticmethod
    def forward(ctx, x, index, dim):
        xp = ctx.xp
        for d in range(x.ndim):
            if d != dim and index.shape[d] > x.shape[d]:
                raise ValueError(f"gather: index shape {tuple(index.shape)} exceeds input shape "
                                 f"{tuple(x.shape)} in dimension {d}")
        ctx.shape, ctx.index, ctx.dim = x.shape, index, dim
        if tuple(index.shape[:dim] + index.shape[dim + 1:]) != tuple(x.shape[:dim] + x.shape[dim + 1:]):
            x = x[tuple(slice(0, s) if d != dim else slice(None) for d, s in enumerate(index.shape))]
        return xp.take_along_axis(x, index, axis=dim)

    @staticmethod
    def backward(ctx, g):
        xp, shape, index, dim = ctx.xp, ctx.shape, ctx.index, ctx.dim
        device = g.device
        strides = [1] * len(shape)
        for d in range(len(shape) - 2, -1, -1):
            strides[d] = strides[d + 1] * shape[d + 1]
        linear = xp.astype(index, xp.int64) * strides[dim]
        for d in range(len(shape)):
            if d != dim:
                view = [1] * len(shape)
                view[d] = index.shape[d]
                linear = linear + xp.reshape(xp.arange(index.shape[d], dtype=xp.int64, device=device) * strides[d], tuple(view))
        size = 1
        for s in shape:
            size *= s
        flat = ctx.kernels.scatter_add(xp, size, xp.reshape(linear, (-1,)), xp.reshape(g, (-1,)))
        return xp.reshape(flat, shape), None


def reduce_axes(x, dim, op):
    """The axes tuple for reducing tensor ``x`` over ``dim``."""
    return normalize_dims(dim, x.ndim, op)
