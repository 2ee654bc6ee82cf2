"""``nyang.Tensor``: an array of the device's namespace plus what autograd needs.

A tensor holds ``data`` (an array of NumPy, CuPy or any Array API library),
``requires_grad``, ``grad`` (a Tensor after backward) and, when an op made it,
the graph node ``_node`` it came from. Its device, and with it the namespace and
kernels every op uses, is looked up once when the tensor is made and carried.
"""
import builtins
import math
from collections import namedtuple

from nyang import dtypes
from nyang.device import device_of_array
from nyang.device_checks import run_queued as run_queued_checks

MaxResult = namedtuple("MaxResult", ["values", "indices"])


class Tensor:
    """A multi-dimensional array with automatic differentiation.

    ``Tensor(data, requires_grad=False)`` wraps an array (kept as is) or Python
    data (copied, float32 for floats); see ``nyang.tensor`` for the full factory.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_device", "__weakref__", "__dict__")
    __array_priority__ = 1000  # numpy scalars on the left defer to Tensor's operators

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        from nyang.creation import _to_array

        array, dev = _to_array(data, dtype=dtype, device=device, copy=False)
        self.data = array
        self._device = dev
        self.grad = None
        self._node = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array, device):
        """A tensor around ``array`` known to live on ``device`` (no checks; ops use this)."""
        t = object.__new__(cls)
        t.data = array
        t._device = device
        t.grad = None
        t._node = None
        t.requires_grad = False
        return t

    # ------------------------------------------------------------ attributes
    @property
    def shape(self):
        """The shape as a tuple of ints, e.g. (N, C, H, W)."""
        return tuple(self.data.shape)

    def size(self, dim=None):
        """The shape, or the size of dimension ``dim``."""
        return self.shape if dim is None else self.shape[dim]

    @property
    def ndim(self):
        return self.data.ndim

    def dim(self):
        return self.data.ndim

    def numel(self):
        """The number of elements."""
        n = 1
        for s in self.data.shape:
            n *= s
        return n

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    @property
    def dtype(self):
        """The nyang dtype, e.g. ``nyang.float32``."""
        return dtypes.OF_ARRAY[self._device.xp][self.data.dtype]

    @property
    def device(self):
        """The :class:`nyang.device.Device` holding the data."""
        return self._device

    @property
    def is_leaf(self):
        """True for tensors not made by a recorded op (parameters, inputs)."""
        return self._node is None

    @property
    def grad_fn(self):
        """The graph node that made this tensor, or None for a leaf."""
        return self._node

    def is_floating_point(self):
        return self.dtype.is_floating_point

    # ------------------------------------------------------------ autograd
    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place (only floating-point tensors can require grad)."""
        if requires_grad and not self.dtype.is_floating_point:
            raise TypeError(f"requires_grad_: only floating-point tensors can require grad, got {self.dtype}")
        if not requires_grad and self._node is not None:
            raise RuntimeError("requires_grad_: cannot turn off requires_grad on a non-leaf tensor; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph=False):
        """Back-propagate from this tensor into the ``.grad`` of the leaves it depends on.

        ``gradient`` (same shape) is required unless the tensor has one element."""
        from nyang.autograd import backward

        backward(self, gradient, retain_graph)

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        import weakref

        if self._node is not None:
            self._node.retained = weakref.ref(self)
        return self

    def detach(self):
        """A tensor sharing the data, outside the graph."""
        return Tensor._wrap(self.data, self._device)

    def detach_(self):
        self._node = None
        self.requires_grad = False
        return self

    def clone(self):
        """A copy of the data that stays in the graph."""
        return self * 1 if self.requires_grad else Tensor._wrap(self._device.xp.asarray(self.data, copy=True), self._device)

    def zero_(self):
        """Set every element to 0 in place."""
        self.data[...] = 0
        return self

    # ------------------------------------------------------------ conversion
    def numpy(self):
        """The data as a NumPy array (shared on the CPU, copied from other devices).
        On a GPU, first raises any failed check queued there (see ``device_checks``)."""
        run_queued_checks(self._device)
        return self._device.kernels.to_numpy(self.data)

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a Python number, "
                             f"got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with shape {self.shape} is ambiguous")
        return bool(self.item())

    def __index__(self):
        if self.dtype.is_floating_point or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def to(self, *args, dtype=None, device=None):
        """``to(device)``, ``to(dtype)`` or ``to(device, dtype)``: a converted tensor,
        differentiable; the tensor itself when nothing changes."""
        from nyang.device import Device

        for a in args:
            if isinstance(a, (str, Device)):
                device = a
            else:
                dtype = a
        out = self
        if device is not None:
            from nyang.device import device as as_device

            target = as_device(device)
            if target is not self._device:
                out = ToDevice.apply(out, target=target)
        if dtype is not None and dtypes.get(dtype) != out.dtype:
            out = Cast.apply(out, dtypes.to_xp(out._device.xp, dtype))
        return out

    def type(self, dtype):
        return self.to(dtype=dtype)

    def float(self):
        return self.to(dtype=dtypes.float32)

    def double(self):
        return self.to(dtype=dtypes.float64)

    def half(self):
        return self.to(dtype=dtypes.float16)

    def long(self):
        return self.to(dtype=dtypes.int64)

    def int(self):
        return self.to(dtype=dtypes.int32)

    def bool(self):
        return self.to(dtype=dtypes.bool_)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    def contiguous(self):
        return self

    # ------------------------------------------------------------ printing
    def __repr__(self):
        values = self.numpy()
        suffixes = []
        if self._device.type != "cpu":
            suffixes.append(f"device='{self._device}'")
        if values.size == 0:
            body = "[]"
            if self.ndim != 1:
                suffixes.append(f"size={self.shape}")
            if self.dtype is not dtypes.default_float:  # nothing shows whether it holds ints
                suffixes.append(f"dtype={self.dtype}")
        else:
            body = _format_values(values)
            if self.dtype not in (dtypes.default_float, dtypes.int64, dtypes.bool_):
                suffixes.append(f"dtype={self.dtype}")
        if self._node is not None:
            suffixes.append(f"grad_fn=<{self._node.name()}>")
        elif self.requires_grad:
            suffixes.append("requires_grad=True")
        return _add_suffixes("tensor(" + body, suffixes)

    __str__ = __repr__

    # ------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return _binary(Add, self, other)

    def __radd__(self, other):
        return _binary(Add, self, other, True)

    def __sub__(self, other):
        return _binary(Sub, self, other)

    def __rsub__(self, other):
        return _binary(Sub, self, other, True)

    def __mul__(self, other):
        return _binary(Mul, self, other)

    def __rmul__(self, other):
        return _binary(Mul, self, other, True)

    def __truediv__(self, other):
        return _binary(Div, self, other, False, True)

    def __rtruediv__(self, other):
        return _binary(Div, self, other, True, True)

    def __pow__(self, other):
        return _binary(Pow, self, other)

    def __rpow__(self, other):
        return _binary(Pow, self, other, True)

    def __matmul__(self, other):
        return MatMul.apply(self, _operand(other, self))

    def __rmatmul__(self, other):
        return MatMul.apply(_operand(other, self), self)

    def __neg__(self):
        return Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return Abs.apply(self)

    def __lt__(self, other):
        return compare(self, other, "lt")

    def __le__(self, other):
        return compare(self, other, "le")

    def __gt__(self, other):
        return compare(self, other, "gt")

    def __ge__(self, other):
        return compare(self, other, "ge")

    def __eq__(self, other):
        return compare(self, other, "eq")

    def __ne__(self, other):
        return compare(self, other, "ne")

    def __and__(self, other):
        return compare(self, other, "and")

    def __or__(self, other):
        return compare(self, other, "or")

    def __xor__(self, other):
        return compare(self, other, "xor")

    def __invert__(self):
        return Tensor._wrap(~self.data, self._device)

    __hash__ = object.__hash__

    def add(self, other):
        return self + other

    def sub(self, other):
        return self - other

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return self ** exponent

    def matmul(self, other):
        return self @ other

    def neg(self):
        return -self

    def abs(self):
        return Abs.apply(self)

    def exp(self):
        return Exp.apply(self)

    def log(self):
        return Log.apply(self)

    def sqrt(self):
        return Sqrt.apply(self)

    def sin(self):
        return Sin.apply(self)

    def cos(self):
        return Cos.apply(self)

    def tanh(self):
        return Tanh.apply(self)

    def sigmoid(self):
        return Sigmoid.apply(self)

    def erf(self):
        return Erf.apply(self)

    def relu(self):
        from nyang.functional.activation import relu

        return relu(self)

    def softmax(self, dim):
        from nyang.functional.activation import softmax

        return softmax(self, dim)

    def log_softmax(self, dim):
        from nyang.functional.activation import log_softmax

        return log_softmax(self, dim)

    def clamp(self, min=None, max=None):
        """Clip to [min, max]; the bounds are numbers or tensors (either may be None)."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self if min is None else self.maximum(min)
            return out if max is None else out.minimum(max)
        if isinstance(min, builtins.float) or isinstance(max, builtins.float):
            if not self.dtype.is_floating_point:  # a float bound makes an integer tensor float (as PyTorch)
                return Clamp.apply(self.to(dtypes.default_float), min=min, max=max)
        return Clamp.apply(self, min=min, max=max)

    clip = clamp

    def maximum(self, other):
        return _binary(Maximum, self, other)

    def minimum(self, other):
        return _binary(Minimum, self, other)

    def where(self, condition, other):
        """``self`` where ``condition`` is true, else ``other``: ``nyang.where(condition, self, other)``."""
        return where(condition, self, other)

    def eq(self, other):
        return self == other

    def ne(self, other):
        return self != other

    def lt(self, other):
        return self < other

    def le(self, other):
        return self <= other

    def gt(self, other):
        return self > other

    def ge(self, other):
        return self >= other

    # ------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False):
        return Sum.apply(self, reduce_axes(self, dim, "sum"), keepdim)

    def mean(self, dim=None, keepdim=False):
        if not self.dtype.is_floating_point:
            raise TypeError(f"mean: needs a floating-point tensor, got {self.dtype}")
        return Mean.apply(self, reduce_axes(self, dim, "mean"), keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, correction=None):
        """Variance; ``correction`` 1 (default, unbiased) or 0; ``unbiased`` is the old spelling."""
        if not self.dtype.is_floating_point:
            raise TypeError(f"var: needs a floating-point tensor, got {self.dtype}")
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        return Var.apply(self, reduce_axes(self, dim, "var"), keepdim, correction)

    def std(self, dim=None, unbiased=None, keepdim=False, correction=None):
        return self.var(dim, unbiased, keepdim, correction).sqrt()

    def amax(self, dim=None, keepdim=False):
        return AMax.apply(self, reduce_axes(self, dim, "amax"), keepdim, True)

    def amin(self, dim=None, keepdim=False):
        return AMax.apply(self, reduce_axes(self, dim, "amin"), keepdim, False)

    def max(self, dim=None, keepdim=False):
        """Without ``dim``: the largest value. With ``dim``: ``(values, indices)``; the
        gradient goes to the index (the first maximum). With a tensor: ``maximum``."""
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        if dim is None:
            return self.amax()
        return self._extreme_along(dim, keepdim, largest=True)

    def min(self, dim=None, keepdim=False):
        """Like :meth:`max`, for the smallest value."""
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        if dim is None:
            return self.amin()
        return self._extreme_along(dim, keepdim, largest=False)

    def _extreme_along(self, dim, keepdim, largest):
        dim = normalize_dim(dim, self.ndim, "max" if largest else "min")
        ranked = self if self.dtype is not dtypes.bool_ else self.to(dtypes.uint8)
        index = ranked._arg(dim, True, "argmax" if largest else "argmin")
        values = Gather.apply(self, index.data, dim=dim)
        if not keepdim:
            values, index = values.squeeze(dim), index.squeeze(dim)
        return MaxResult(values, index)

    def argmax(self, dim=None, keepdim=False):
        """Index of the first largest value (over the flattened tensor when ``dim`` is None)."""
        return self._arg(dim, keepdim, "argmax")

    def argmin(self, dim=None, keepdim=False):
        return self._arg(dim, keepdim, "argmin")

    def _arg(self, dim, keepdim, name):
        if self.dtype is dtypes.bool_:
            raise TypeError(f"{name}: does not support bool input (as PyTorch); convert it with .int()")
        xp = self._device.xp
        if dim is not None:
            dim = normalize_dim(dim, self.ndim, name)
        out = getattr(xp, name)(self.data, axis=dim, keepdims=keepdim)
        return Tensor._wrap(xp.astype(out, xp.int64, copy=False), self._device)

    def logsumexp(self, dim, keepdim=False):
        return LogSumExp.apply(self, reduce_axes(self, dim, "logsumexp"), keepdim)

    def gather(self, dim, index):
        """``out[i][j] = self[index[i][j]][j]`` for ``dim=0`` (and so on), as torch.gather."""
        dim = normalize_dim(dim, self.ndim, "gather")
        return Gather.apply(self, _index_array(index, self), dim=dim)

    # ------------------------------------------------------------ shape
    def reshape(self, *shape):
        shape = _shape_args(shape)
        if shape == self.shape:
            return self
        return Reshape.apply(self, shape)

    view = reshape

    def view_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        start = normalize_dim(start_dim, self.ndim, "flatten")
        end = normalize_dim(end_dim, self.ndim, "flatten")
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        shape = self.shape
        return self.reshape(shape[:start] + (-1,) + shape[end + 1:]) if shape[start:end + 1] else self

    def squeeze(self, dim=None):
        """Remove size-1 dims (only those in ``dim`` when given; others are left)."""
        dims = range(self.ndim) if dim is None else reduce_axes(self, dim, "squeeze")
        keep = tuple(s for i, s in enumerate(self.shape) if not (i in dims and s == 1))
        return self.reshape(keep)

    def unsqueeze(self, dim):
        dim = normalize_dim(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def permute(self, *dims):
        dims = _shape_args(dims)
        if len(dims) != self.ndim:
            raise ValueError(f"permute: got {len(dims)} dims {dims} for a tensor of {self.ndim} dimensions")
        dims = tuple(normalize_dim(d, self.ndim, "permute") for d in dims)
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of 0..{self.ndim - 1}")
        return Permute.apply(self, dims)

    def transpose(self, dim0, dim1):
        dims = list(range(self.ndim))
        a, b = normalize_dim(dim0, self.ndim, "transpose"), normalize_dim(dim1, self.ndim, "transpose")
        dims[a], dims[b] = dims[b], dims[a]
        return Permute.apply(self, tuple(dims))

    @property
    def T(self):
        return Permute.apply(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def t(self):
        return self.T

    def expand(self, *sizes):
        """Broadcast to ``sizes``; -1 keeps a dimension's size."""
        sizes = _shape_args(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ValueError(f"expand: the target {sizes} has fewer dims than the tensor {self.shape}")
        shape = tuple(self.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
        return self.broadcast_to(shape)

    def expand_as(self, other):
        return self.broadcast_to(other.shape)

    def broadcast_to(self, shape):
        shape = tuple(shape)
        return self if shape == self.shape else BroadcastTo.apply(self, shape)

    def split(self, split_size_or_sections, dim=0):
        """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the given sizes."""
        from nyang.functional.shape_ops import split

        return split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        from nyang.functional.shape_ops import chunk

        return chunk(self, chunks, dim)

    def __getitem__(self, key):
        return GetItem.apply(self, _index_key(key, self))

    def __setitem__(self, key, value):
        if self.requires_grad and autograd_enabled():
            raise RuntimeError("setitem: in-place assignment into a tensor that requires grad is not "
                               "supported; build a new tensor (e.g. with where or cat) instead")
        self.data[_index_key(key, self)] = value.data if isinstance(value, Tensor) else value

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))


# PyTorch's print options (torch/_tensor_str.py), which nyang's printing follows.
_PRECISION, _THRESHOLD, _EDGEITEMS, _LINEWIDTH = 4, 1000, 3, 80
_INDENT = len("tensor(")


class _Formatter:
    """How PyTorch writes the elements of one tensor: all padded to one width, measured
    (for floats) over the nonzero finite values only. Floats are written as integers
    with a dot (``1.``) when all are whole, else with 4 decimals, in scientific notation
    when the magnitudes span more than 1e3, exceed 1e8 or go below 1e-4."""

    def __init__(self, values):
        import numpy as np

        self.floating = values.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.width = True, False, 1
        if not self.floating:
            self.width = max(len(str(v)) for v in values.tolist())
            return
        finite = values[np.isfinite(values) & (values != 0)].astype(np.float64)
        if finite.size == 0:
            return
        magnitude = np.abs(finite)
        low, high = magnitude.min(), magnitude.max()
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        self.sci_mode = bool(high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4)
        if self.sci_mode:
            self.width = max(len(f"{v:.{_PRECISION}e}") for v in finite.tolist())
        elif self.int_mode:
            self.width = max(len(f"{v:.0f}") + 1 for v in finite.tolist())
        else:
            self.width = max(len(f"{v:.{_PRECISION}f}") for v in finite.tolist())

    def __call__(self, value):
        if not self.floating:
            text = f"{value}"
        elif self.sci_mode:
            text = f"{value:{self.width}.{_PRECISION}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{_PRECISION}f}"
        return " " * (self.width - len(text)) + text


def _format_values(values):
    """The bracketed body of a tensor's text (``values``: a non-empty NumPy array), laid
    out as PyTorch prints it: lines wrapped at 80 columns, and above 1000 elements only
    the first and last 3 along each dim, with ``...`` between."""
    summarize = values.size > _THRESHOLD
    shown = _edges(values) if summarize else values
    return _format_nested(values, _INDENT, summarize, _Formatter(shown.reshape(-1)))


def _edges(values):
    """The elements a summary shows: the first and last few along every long dim."""
    import numpy as np

    for axis, size in enumerate(values.shape):
        if size > 2 * _EDGEITEMS:
            keep = list(range(_EDGEITEMS)) + list(range(size - _EDGEITEMS, size))
            values = np.take(values, keep, axis=axis)
    return values


def _format_nested(values, indent, summarize, fmt):
    if values.ndim == 0:
        return fmt(values.item())
    n = values.shape[0]
    cut = summarize and n > 2 * _EDGEITEMS
    if values.ndim == 1:
        items = values.tolist()
        if cut:
            data = [fmt(v) for v in items[:_EDGEITEMS]] + [" ..."] + [fmt(v) for v in items[-_EDGEITEMS:]]
        else:
            data = [fmt(v) for v in items]
        per_line = max(1, (_LINEWIDTH - indent) // (fmt.width + 2))
        lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = list(range(_EDGEITEMS)) + [None] + list(range(n - _EDGEITEMS, n)) if cut else range(n)
    slices = ["..." if i is None else _format_nested(values[i], indent + 1, summarize, fmt) for i in rows]
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _add_suffixes(text, suffixes):
    """``text`` closed with ``, suffix`` items, each wrapped onto a new line where it
    would pass 80 columns (PyTorch's rule)."""
    parts = [text]
    last_line = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line + len(suffix) + 2 > _LINEWIDTH:
            parts.append(",\n" + " " * _INDENT + suffix)
            last_line = _INDENT + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line += len(suffix) + 2
    return "".join(parts) + ")"


def _shape_args(args):
    """``f(2, 3)`` and ``f((2, 3))`` both mean shape (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    return tuple(builtins.int(a) for a in args)


def _operand(value, like):
    """Numbers stay numbers (the array library handles them); tensors pass through."""
    if isinstance(value, Tensor) or isinstance(value, _NUMBER):
        return value
    from nyang.creation import tensor

    return tensor(value, device=like._device)


_NUMBER = (builtins.int, builtins.float)  # bool is an int
_PLAIN_NUMBER = (builtins.float, builtins.int, builtins.bool)
# The Python number classes that a tensor of each category (bool, integer, float)
# takes in without changing its dtype.
_KEEPS = ((builtins.bool,), (builtins.int,), (builtins.float, builtins.int))


def _binary(op, t, other, reverse=False, floating=False):
    """``op.apply(t, other)`` (``(other, t)`` when ``reverse``) for Tensor ``t``, the operands
    first brought to the dtype PyTorch gives the result (see :func:`_operands`;
    ``floating`` for true division). The common cases cost one dtype comparison or
    lookup: two tensors of one dtype, or a number the tensor's dtype takes in as it is."""
    if isinstance(other, Tensor):
        dtype = t.data.dtype
        if dtype is other.data.dtype or t._device is other._device and dtype == other.data.dtype:
            if not floating or dtypes.OF_ARRAY[t._device.xp][dtype].is_floating_point:
                return op.apply(other, t) if reverse else op.apply(t, other)
    elif other.__class__ in _PLAIN_NUMBER:
        dtype = dtypes.OF_ARRAY[t._device.xp][t.data.dtype]
        if other.__class__ in _KEEPS[dtype.category] and (not floating or dtype.is_floating_point):
            return op.apply(other, t) if reverse else op.apply(t, other)
    a, b = _operands(other, t, floating) if reverse else _operands(t, other, floating)
    return op.apply(a, b)


def _operands(a, b, floating=False):
    """``a`` and ``b`` (one a Tensor; the other a Tensor, a Python number or data) as the
    operands of a binary op, cast to the dtype PyTorch gives the result (see
    :func:`result_type`); ``floating`` (true division) makes an integer result the
    default float dtype. A float operand's cast is in the graph, so its gradient comes
    back in its own dtype."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"expected a Tensor operand, got {type(a).__name__} and {type(b).__name__}")
    if not isinstance(a, (Tensor,) + _NUMBER) or not isinstance(b, (Tensor,) + _NUMBER):
        a, b = _operand(a, b), _operand(b, a)  # data such as a list: a tensor beside the other
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a._device is not b._device:
        return a, b  # Function.apply raises the error that names both devices
    dtype = result_type(a, b)
    if floating and not dtype.is_floating_point:
        dtype = dtypes.default_float
    return _cast(a, dtype), _cast(b, dtype)


def _cast(value, dtype):
    """A tensor or Python number as an operand of dtype ``dtype``."""
    if isinstance(value, Tensor):
        return value.to(dtype)
    if isinstance(value, builtins.float):
        return builtins.float(value)  # a NumPy float64 is not a weak scalar in NumPy's rules
    if isinstance(value, builtins.bool) and dtype is not dtypes.bool_:
        return builtins.int(value)  # array libraries may refuse bools with numbers
    return value


def result_type(*operands):
    """The dtype of PyTorch's result for ``operands`` (Tensors and Python numbers), as
    ``torch.result_type(tensor, other)``.

    Tensors with dimensions decide among themselves (``dtypes.promote_types``); a 0-d
    tensor, then a Python number, changes the result only when of a higher category
    (bool < integer < floating point), a number counting as int64 (a bool as bool)
    and a float as the default float dtype. So int64 + float32 is float32, an int
    tensor times 0.5 is float32, a float16 tensor plus a float64 0-d tensor is float16."""
    dims = zero = number = None
    for x in operands:
        if isinstance(x, Tensor):
            if x.ndim:
                dims = x.dtype if dims is None else dtypes.promote_types(dims, x.dtype)
            else:
                zero = x.dtype if zero is None else dtypes.promote_types(zero, x.dtype)
        else:
            kind = (dtypes.bool_ if isinstance(x, builtins.bool) else
                    dtypes.int64 if isinstance(x, builtins.int) else dtypes.default_float)
            number = kind if number is None else dtypes.promote_types(number, kind)
    return _unless_higher(dims, _unless_higher(zero, number))


def _unless_higher(first, then):
    """``first``, unless ``then`` is of a higher category (or ``first`` is None)."""
    if first is None or then is not None and then.category > first.category:
        return then
    return first


def _index_array(index, like):
    xp = like._device.xp
    if isinstance(index, Tensor):  # index tensors may live elsewhere, as in PyTorch
        return index.data if index._device is like._device else index.to(like._device).data
    from nyang.creation import tensor

    return tensor(index, device=like._device).data if not hasattr(index, "shape") else xp.asarray(index)


def _index_key(key, like):
    """Normalise an indexing key to a tuple of ints, slices, None, Ellipsis and arrays."""
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if k is None or k is Ellipsis or isinstance(k, slice):
            out.append(k)
        elif isinstance(k, builtins.bool):
            raise IndexError("index: a bool scalar is not a valid index")
        elif isinstance(k, builtins.int):
            out.append(k)
        elif isinstance(k, Tensor) and k.ndim == 0 and not k.dtype.is_floating_point and k.dtype is not dtypes.bool_:
            out.append(builtins.int(k.item()))
        else:
            out.append(_index_array(k, like))
    covered = sum(k.ndim if getattr(k, "dtype", None) == like._device.xp.bool else 1 for k in out if k is not None)
    if not any(k is Ellipsis for k in out) and covered < like.ndim:
        out.append(Ellipsis)  # the standard wants every axis indexed; "..." covers the rest
    return tuple(out)


from nyang.autograd import is_grad_enabled as autograd_enabled  # noqa: E402
from nyang.functional._util import normalize_dim  # noqa: E402
from nyang.functional.math import (Abs, Add, Cast, Clamp, Cos, Div, Erf, Exp, Log, MatMul,  # noqa: E402
                                   Maximum, Minimum, Mul, Neg, Pow, Sigmoid, Sin, Sqrt, Sub, Tanh, compare)
from nyang.functional.ops import where  # noqa: E402
from nyang.functional.reduction import AMax, Gather, LogSumExp, Mean, Sum, Var, reduce_axes  # noqa: E402
from nyang.functional.shape import BroadcastTo, GetItem, Permute, Reshape  # noqa: E402
from nyang.functional.device_ops import ToDevice  # noqa: E402
