"""Elementwise arithmetic and functions, matrix products and dtype casts.

Binary ops broadcast like NumPy/PyTorch and accept Python numbers on either side;
their backward sums each gradient back to its input's shape. The Tensor operators
bring both operands to PyTorch's result dtype first (``nyang.tensor._operands``);
the float functions (exp, log, ...) take integer and bool arrays as the default
float dtype, as PyTorch does.
"""
import math

from nyang import dtypes
from nyang.autograd import Function
from nyang.functional._util import broadcast_shapes, shape_of, unbroadcast


class _Binary(Function):
    """Shared forward bookkeeping of the broadcasting binary ops: ``compute`` the
    result, then ``save(ctx, a, b, out)`` (None: nothing) keeps on ctx what backward needs."""

    name = ""
    save = None

    @staticmethod
    def compute(xp, a, b):
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.shapes = (shape_of(a), shape_of(b))
        try:
            out = cls.compute(ctx.xp, a, b)
        except (ValueError, TypeError):
            broadcast_shapes(*ctx.shapes, cls.name)  # raises the clear error when shapes clash
            raise
        if cls.save is not None:
            cls.save(ctx, a, b, out)
        return out


def _save_both(ctx, a, b, out):
    ctx.a, ctx.b = a, b


class Add(_Binary):
    name = "add"
    compute = staticmethod(lambda xp, a, b: a + b)

    @staticmethod
    def backward(ctx, g):
        n, xp = ctx.needs_input_grad, ctx.xp
        return (unbroadcast(xp, g, ctx.shapes[0]) if n[0] else None,
                unbroadcast(xp, g, ctx.shapes[1]) if n[1] else None)


class Sub(_Binary):
    name = "sub"
    compute = staticmethod(lambda xp, a, b: a - b)

    @staticmethod
    def backward(ctx, g):
        n, xp = ctx.needs_input_grad, ctx.xp
        return (unbroadcast(xp, g, ctx.shapes[0]) if n[0] else None,
                unbroadcast(xp, -g, ctx.shapes[1]) if n[1] else None)


class Mul(_Binary):
    name = "mul"
    compute = staticmethod(lambda xp, a, b: a * b)

    @staticmethod
    def save(ctx, a, b, out):
        n = ctx.needs_input_grad
        if n[0]:
            ctx.b = b  # d(ab)/da = b
        if n[1]:
            ctx.a = a

    @staticmethod
    def backward(ctx, g):
        n, xp = ctx.needs_input_grad, ctx.xp
        return (unbroadcast(xp, g * ctx.b, ctx.shapes[0]) if n[0] else None,
                unbroadcast(xp, g * ctx.a, ctx.shapes[1]) if n[1] else None)


class Div(_Binary):
    name = "div"
    compute = staticmethod(lambda xp, a, b: a / b)

    @staticmethod
    def save(ctx, a, b, out):
        ctx.b = b  # both gradients divide by b; only b's needs a
        if ctx.needs_input_grad[1]:
            ctx.a = a

    @staticmethod
    def backward(ctx, g):
        n, xp = ctx.needs_input_grad, ctx.xp
        ga = g / ctx.b
        return (unbroadcast(xp, ga, ctx.shapes[0]) if n[0] else None,
                unbroadcast(xp, -ga * ctx.a / ctx.b, ctx.shapes[1]) if n[1] else None)


class Pow(_Binary):
    """``a ** b``; either side may be a Python number."""

    name = "pow"
    compute = staticmethod(lambda xp, a, b: a ** b)

    @staticmethod
    def save(ctx, a, b, out):
        ctx.a, ctx.b = a, b
        if ctx.needs_input_grad[1]:
            ctx.out = out  # d(a^b)/db = a^b log a

    @staticmethod
    def backward(ctx, g):
        n, xp, a, b = ctx.needs_input_grad, ctx.xp, ctx.a, ctx.b
        ga = gb = None
        if n[0]:
            if isinstance(b, (int, float)):
                ga = xp.zeros_like(g) if b == 0 else g * (b * a ** (b - 1))
            else:
                ga = unbroadcast(xp, g * b * a ** (b - 1), ctx.shapes[0])
        if n[1]:
            # d(a^b)/db = a^b log a, taken as 0 where a == 0 and b >= 0 (as PyTorch)
            if isinstance(a, (int, float)):
                gb = g * ctx.out * (math.log(a) if a > 0 else (0.0 if a == 0 else math.nan))
            else:
                gb = xp.where((a == 0) & (b >= 0), 0.0, g * ctx.out * xp.log(a))
            gb = unbroadcast(xp, gb, ctx.shapes[1])
        return ga, gb


class Maximum(_Binary):
    """Elementwise maximum; where the inputs tie, each gets half the gradient (as PyTorch)."""

    name = "maximum"
    save = staticmethod(_save_both)
    compute = staticmethod(lambda xp, a, b: xp.maximum(a, b))
    a_wins = staticmethod(lambda a, b: a > b)

    @classmethod
    def backward(cls, ctx, g):
        return _tie_split_backward(ctx, g, cls.a_wins(ctx.a, ctx.b))


class Minimum(Maximum):
    """Elementwise minimum; ties split the gradient in half (as PyTorch)."""

    name = "minimum"
    compute = staticmethod(lambda xp, a, b: xp.minimum(a, b))
    a_wins = staticmethod(lambda a, b: a < b)


def _tie_split_backward(ctx, g, a_wins):
    n, xp = ctx.needs_input_grad, ctx.xp
    tie = ctx.a == ctx.b
    half = g * 0.5
    ga = gb = None
    if n[0]:
        ga = unbroadcast(xp, xp.where(a_wins, g, xp.where(tie, half, 0.0)), ctx.shapes[0])
    if n[1]:
        gb = unbroadcast(xp, xp.where(a_wins, 0.0, xp.where(tie, half, g)), ctx.shapes[1])
    return ga, gb


class Where(Function):
    """``where(condition, a, b)``; ``condition`` is a bool array and gets no gradient."""

    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.condition = condition
        ctx.shapes = (shape_of(a), shape_of(b))
        try:
            return ctx.xp.where(condition, a, b)
        except (ValueError, TypeError):
            broadcast_shapes(broadcast_shapes(shape_of(condition), ctx.shapes[0], "where"), ctx.shapes[1], "where")
            raise

    @staticmethod
    def backward(ctx, g):
        n, xp, c = ctx.needs_input_grad, ctx.xp, ctx.condition
        return (None,
                unbroadcast(xp, xp.where(c, g, 0.0), ctx.shapes[0]) if n[1] else None,
                unbroadcast(xp, xp.where(c, 0.0, g), ctx.shapes[1]) if n[2] else None)


class MatMul(Function):
    """Matrix product with NumPy's rules: 1-D operands are promoted, batch dims broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes "
                             f"{shape_of(a)} and {shape_of(b)}")
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise ValueError(f"matmul: shapes {shape_of(a)} and {shape_of(b)} cannot be multiplied "
                             f"({k_a} != {k_b}: the last dimension of the first must equal "
                             f"the {'only' if b.ndim == 1 else 'second-to-last'} dimension of the second)")
        if a.dtype != b.dtype:  # as PyTorch: no silent promotion inside a matrix product
            xp_dtypes = dtypes.OF_ARRAY[ctx.xp]
            raise TypeError(f"matmul: expected both operands to have the same dtype, got "
                            f"{xp_dtypes[a.dtype]} and {xp_dtypes[b.dtype]}; convert one with .to(dtype)")
        ctx.a, ctx.b = a, b
        return ctx.xp.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        xp, a, b = ctx.xp, ctx.a, ctx.b
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:
            g = xp.expand_dims(g, axis=g.ndim)
        if a.ndim == 1:
            g = xp.expand_dims(g, axis=g.ndim - 1)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = xp.reshape(unbroadcast(xp, g @ xp.matrix_transpose(b2), a2.shape), a.shape)
        if ctx.needs_input_grad[1]:
            gb = xp.reshape(unbroadcast(xp, xp.matrix_transpose(a2) @ g, b2.shape), b.shape)
        return ga, gb


def _as_float(xp, x):
    """``x``, or for an integer or bool array ``x`` as the default float dtype (as PyTorch
    does for exp, log, ...); an integer input never needs a gradient."""
    if dtypes.OF_ARRAY[xp][x.dtype].is_floating_point:
        return x
    return xp.astype(x, getattr(xp, dtypes.default_float.name))


class _Unary(Function):
    """An elementwise float function y = f(x). Its derivative ``df`` is written with
    x, or with y where ``uses_output`` is set; ctx keeps only that one (``x`` or ``y``)."""

    uses_output = False

    @classmethod
    def forward(cls, ctx, x):
        xp = ctx.xp
        x = _as_float(xp, x)
        y = cls.f(xp, x)
        if cls.uses_output:
            ctx.y = y
        else:
            ctx.x = x
        return y

    @classmethod
    def backward(cls, ctx, g):
        return g * cls.df(ctx.xp, ctx.y if cls.uses_output else ctx.x)


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g


class Abs(Function):
    """|x|, keeping integer dtypes (as PyTorch); the gradient is sign(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return ctx.xp.abs(x)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.xp.sign(ctx.x)


class Exp(_Unary):
    uses_output = True
    f = staticmethod(lambda xp, x: xp.exp(x))
    df = staticmethod(lambda xp, y: y)


class Log(_Unary):
    f = staticmethod(lambda xp, x: xp.log(x))
    df = staticmethod(lambda xp, x: 1.0 / x)


class Sqrt(_Unary):
    uses_output = True
    f = staticmethod(lambda xp, x: xp.sqrt(x))
    df = staticmethod(lambda xp, y: 0.5 / y)


class Sin(_Unary):
    f = staticmethod(lambda xp, x: xp.sin(x))
    df = staticmethod(lambda xp, x: xp.cos(x))


class Cos(_Unary):
    f = staticmethod(lambda xp, x: xp.cos(x))
    df = staticmethod(lambda xp, x: -xp.sin(x))


class Tanh(_Unary):
    uses_output = True
    f = staticmethod(lambda xp, x: xp.tanh(x))
    df = staticmethod(lambda xp, y: 1.0 - y * y)


def _sigmoid(xp, x):
    """1 / (1 + exp(-x)) written with z = exp(-|x|) <= 1, so nothing overflows (and
    warns) for large |x|: 1 / (1 + z) for x >= 0, z / (1 + z) = 1 / (1 + exp(-x)) below."""
    z = xp.exp(-xp.abs(x))
    inv = 1.0 / (1.0 + z)
    return xp.where(x >= 0, inv, z * inv)


class Sigmoid(_Unary):
    uses_output = True
    f = staticmethod(lambda xp, x: _sigmoid(xp, x))
    df = staticmethod(lambda xp, y: y * (1.0 - y))


class Erf(Function):
    @staticmethod
    def forward(ctx, x):
        x = ctx.x = _as_float(ctx.xp, x)
        return ctx.kernels.erf(ctx.xp, x)

    @staticmethod
    def backward(ctx, g):
        return g * (2.0 / math.sqrt(math.pi)) * ctx.xp.exp(-ctx.x * ctx.x)


class Clamp(Function):
    """Clip to [min, max] (either may be None); the gradient passes where
    min <= x <= max, bounds included (as PyTorch)."""

    @staticmethod
    def forward(ctx, x, min=None, max=None):
        ctx.inside = (x >= min if min is not None else True)
        if max is not None:
            ctx.inside = ctx.inside & (x <= max) if min is not None else (x <= max)
        return ctx.xp.clip(x, min=min, max=max)

    @staticmethod
    def backward(ctx, g):
        if ctx.inside is True:
            return g
        return ctx.xp.where(ctx.inside, g, 0.0)


class Cast(Function):
    """Convert to another dtype; the gradient converts back."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return ctx.xp.astype(x, dtype)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.astype(g, ctx.dtype)


_COMPARISONS = {
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
}


def compare(a, b, op):
    """Comparison or logical op ``op`` ("lt", "eq", "and", ...) on Tensors or numbers:
    a bool Tensor outside the graph (no gradient flows through a comparison)."""
    from nyang.tensor import Tensor

    t = a if isinstance(a, Tensor) else b
    a_data = a.data if isinstance(a, Tensor) else a
    b_data = b.data if isinstance(b, Tensor) else b
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a._device is not b._device:
        raise RuntimeError(f"{op}: expected both tensors on one device, got {a._device} and {b._device}")
    try:
        return Tensor._wrap(_COMPARISONS[op](a_data, b_data), t._device)
    except (ValueError, TypeError):
        broadcast_shapes(shape_of(a_data), shape_of(b_data), op)
        if op not in ("and", "or", "xor"):  # mixed dtypes the library refuses: compare in
            from nyang.tensor import _operands  # the common dtype, as PyTorch does

            a2, b2 = _operands(a, b)
            if a2 is not a or b2 is not b:
                return compare(a2, b2, op)
        raise
