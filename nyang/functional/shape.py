"""Ops that move elements without changing them: reshape, permute, expand,
concatenate, stack, indexing and constant padding."""
from nyang.autograd import Function
from nyang.functional._util import unbroadcast


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return ctx.xp.reshape(x, shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} "
                             f"({x.size} elements) into shape {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.reshape(g, ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.inverse = tuple(sorted(range(len(dims)), key=dims.__getitem__))
        return ctx.xp.permute_dims(x, dims)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.permute_dims(g, ctx.inverse)


class BroadcastTo(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = tuple(x.shape)
        try:
            return ctx.xp.broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"expand: cannot expand shape {tuple(x.shape)} to {tuple(shape)} "
                             f"(only size-1 dims can grow)") from None

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(ctx.xp, g, ctx.shape)


class Concat(Function):
    @staticmethod
    def forward(ctx, *arrays, dim):
        ref = arrays[0].shape
        for i, a in enumerate(arrays):
            if a.ndim != len(ref) or any(s != r for d, (s, r) in enumerate(zip(a.shape, ref)) if d != dim):
                raise ValueError(f"cat: tensor {i} has shape {tuple(a.shape)}, expected {tuple(ref)} "
                                 f"in every dimension but dim {dim}")
        ctx.sizes, ctx.dim = [a.shape[dim] for a in arrays], dim
        return ctx.xp.concat(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        out, start = [], 0
        lead = (slice(None),) * ctx.dim
        for size in ctx.sizes:
            out.append(g[lead + (slice(start, start + size), ...)])
            start += size
        return tuple(out)


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, dim):
        for i, a in enumerate(arrays):
            if tuple(a.shape) != tuple(arrays[0].shape):
                raise ValueError(f"stack: tensor {i} has shape {tuple(a.shape)}, expected "
                                 f"{tuple(arrays[0].shape)} like tensor 0")
        ctx.count, ctx.dim = len(arrays), dim
        return ctx.xp.stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.dim
        return tuple(g[lead + (i, ...)] for i in range(ctx.count))


class GetItem(Function):
    """``x[key]``. With only ints, slices, None and Ellipsis (basic indexing) the
    gradient is written into a zero array through the same key; with integer or
    bool arrays (advanced indexing), elements can repeat, so the gradient is
    scatter-added through the linear positions the key selects."""

    @staticmethod
    def forward(ctx, x, key):
        ctx.shape, ctx.key, ctx.dtype = x.shape, key, x.dtype
        try:
            return _index(ctx.xp, x, key)
        except IndexError as exc:
            raise IndexError(f"index: {exc} (tensor of shape {tuple(x.shape)}, index {_describe(key)})") from None

    @staticmethod
    def backward(ctx, g):
        xp, shape, key = ctx.xp, ctx.shape, ctx.key
        device = g.device
        if not any(hasattr(k, "shape") for k in key):
            out = xp.zeros(shape, dtype=g.dtype, device=device)
            key = tuple(k for k in key if k is not None)
            target = out[key]
            out[key] = xp.reshape(g, target.shape)
            return out, None
        size = 1
        for s in shape:
            size *= s
        positions = _index(xp, xp.reshape(xp.arange(size, dtype=xp.int64, device=device), shape), key)
        flat = ctx.kernels.scatter_add(xp, size, xp.reshape(positions, (-1,)), xp.reshape(g, (-1,)))
        return xp.reshape(flat, shape), None


def _index(xp, x, key):
    """``x[key]``; one integer array among full slices goes through ``take``, the
    form the standard defines (it allows other index arrays only with integers)."""
    arrays = [i for i, k in enumerate(key) if hasattr(k, "shape")]
    if len(arrays) == 1 and key[arrays[0]].dtype != xp.bool:
        axis = arrays[0]
        rest = key[:axis] + key[axis + 1:]
        if all(k == slice(None) for k in key[:axis]) and all(k is Ellipsis or k == slice(None) for k in rest):
            index = key[axis]
            size = x.shape[axis]
            index = xp.where(index < 0, index + size, index)
            out = xp.take(x, xp.reshape(index, (-1,)), axis=axis)
            return xp.reshape(out, tuple(x.shape[:axis]) + tuple(index.shape) + tuple(x.shape[axis + 1:]))
    return x[key]


def _describe(key):
    return "[" + ", ".join(f"array{tuple(k.shape)}" if hasattr(k, "shape") else repr(k) for k in key) + "]"


class Pad(Function):
    """Constant padding; ``widths`` is ((before, after), ...) for every dim."""

    @staticmethod
    def forward(ctx, x, widths, value):
        xp = ctx.xp
        shape = tuple(s + a + b for s, (a, b) in zip(x.shape, widths))
        out = xp.full(shape, value, dtype=x.dtype, device=x.device)
        ctx.inner = tuple(slice(a, a + s) for s, (a, _) in zip(x.shape, widths))
        out[ctx.inner] = x
        return out

    @staticmethod
    def backward(ctx, g):
        return g[ctx.inner]
