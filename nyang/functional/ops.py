"""Function forms of Tensor methods (``nyang.exp(x)`` is ``x.exp()``) and the ops
whose first argument may be a plain number (``where``, ``maximum``)."""
from nyang.functional.math import Maximum, Minimum, Where
from nyang.tensor import Tensor, _operands

_METHODS = ("add", "sub", "mul", "div", "pow", "neg", "abs", "exp", "log", "sqrt", "sin", "cos",
            "tanh", "sigmoid", "erf", "clamp", "clip", "sum", "mean", "var", "std", "amax", "amin",
            "max", "min", "argmax", "argmin", "logsumexp", "matmul", "reshape", "flatten", "squeeze",
            "unsqueeze", "transpose", "permute", "broadcast_to", "gather", "eq", "ne", "lt", "le",
            "gt", "ge", "detach", "numel")


def _method_form(name):
    def op(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Function form of ``Tensor.{name}``: ``nyang.{name}(x, ...)`` is ``x.{name}(...)``."
    return op


for _name in _METHODS:
    globals()[_name] = _method_form(_name)


def where(condition, input, other):
    """``input`` where ``condition`` is true, else ``other`` (tensors or numbers; broadcast),
    in the dtype PyTorch gives: that of ``input + other`` (two numbers: float32 for a
    float, else int64 or bool)."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = Tensor(input, device=condition.device if isinstance(condition, Tensor) else None)
    return Where.apply(condition, *_operands(input, other))


def maximum(input, other):
    """Elementwise maximum; ties split the gradient."""
    return input.maximum(other) if isinstance(input, Tensor) else Maximum.apply(*_operands(input, other))


def minimum(input, other):
    """Elementwise minimum; ties split the gradient."""
    return input.minimum(other) if isinstance(input, Tensor) else Minimum.apply(*_operands(input, other))


__all__ = list(_METHODS) + ["where", "maximum", "minimum"]
