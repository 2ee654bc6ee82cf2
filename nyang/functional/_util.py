"""Small helpers shared by the op files: shapes, dims, broadcasting of gradients."""


def shape_of(a):
    """The shape of an array, () for a Python number."""
    return tuple(getattr(a, "shape", ()))


def unbroadcast(xp, g, shape):
    """Sum ``g`` over the axes that broadcasting added or stretched, to get ``shape``."""
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    if axes:
        g = xp.sum(g, axis=axes, keepdims=True)
    return xp.reshape(g, shape)


def normalize_dim(dim, ndim, op):
    """``dim`` as a non-negative axis, with an error naming ``op`` when out of range."""
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    size = max(ndim, 1)
    if not -size <= dim < size:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of {ndim} dimension(s) "
                         f"(expected -{size} <= dim < {size})")
    return dim % size


def normalize_dims(dim, ndim, op):
    """``dim`` (None, an int or a sequence) as a sorted tuple of non-negative axes; None = all."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    axes = tuple(sorted({normalize_dim(d, ndim, op) for d in dim}))
    if len(axes) != len(tuple(dim)):
        raise ValueError(f"{op}: dim {tuple(dim)} names an axis twice")
    return axes


def broadcast_shapes(a, b, op):
    """The broadcast of shapes ``a`` and ``b``, or a ValueError naming ``op``."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and x != 1 and y != 1:
            raise ValueError(f"{op}: shapes {a} and {b} cannot be broadcast together "
                             f"(dimension -{i}: {x} vs {y}; sizes must match or one must be 1)")
        out.append(max(x, y) if x != 1 and y != 1 else x * y)
    return tuple(reversed(out))


def channel_rows(xp, x):
    """(N, C, *) as rows (N * prod(*), C), one row per sample and position: a view when
    ``x`` is channels-last in memory (convolutions return such arrays), else a copy."""
    if x.ndim == 2:
        return x
    last = (0,) + tuple(range(2, x.ndim)) + (1,)
    return xp.reshape(xp.permute_dims(x, last), (-1, x.shape[1]))


def from_channel_rows(xp, rows, shape):
    """Rows (N * prod(*), C) back as an (N, C, *) array of ``shape``: a channels-last view."""
    if len(shape) == 2:
        return xp.reshape(rows, shape)
    n, c, spatial = shape[0], shape[1], tuple(shape[2:])
    first = (0, len(shape) - 1) + tuple(range(1, len(shape) - 1))
    return xp.permute_dims(xp.reshape(rows, (n,) + spatial + (c,)), first)
