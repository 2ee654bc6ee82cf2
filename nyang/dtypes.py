"""nyang's data types, independent of the array library underneath.

``nyang.float32`` names a dtype; :func:`to_xp` finds that dtype in an array
namespace (NumPy, CuPy, array_api_strict, ...) and :func:`from_xp` goes back.
:func:`promote_types` is PyTorch's rule for the dtype two dtypes combine to.
"""


class DType:
    """A data type such as ``nyang.float32``; compares by name. ``category`` orders
    the kinds for type promotion: 0 bool, 1 integer, 2 floating point."""

    __slots__ = ("name", "is_floating_point", "itemsize", "category")

    def __init__(self, name, is_floating_point, itemsize):
        self.name = name
        self.is_floating_point = is_floating_point
        self.itemsize = itemsize
        self.category = 2 if is_floating_point else 0 if name == "bool" else 1

    def __repr__(self):
        return f"nyang.{self.name}"

    def __reduce__(self):
        return (get, (self.name,))


float16 = DType("float16", True, 2)
float32 = DType("float32", True, 4)
float64 = DType("float64", True, 8)
int8 = DType("int8", False, 1)
uint8 = DType("uint8", False, 1)
int16 = DType("int16", False, 2)
int32 = DType("int32", False, 4)
int64 = DType("int64", False, 8)
bool_ = DType("bool", False, 1)

half, float, double = float16, float32, float64
long, int = int64, int32

default_float = float32  # PyTorch's default dtype: Python floats, and float ops on integers

ALL = (float16, float32, float64, int8, uint8, int16, int32, int64, bool_)
_BY_NAME = {d.name: d for d in ALL}
_XP_TABLES = {}


def get(name_or_dtype):
    """The :class:`DType` for a name (``"float32"``), a DType, or a library dtype."""
    if isinstance(name_or_dtype, DType):
        return name_or_dtype
    if isinstance(name_or_dtype, str):
        try:
            return _BY_NAME[name_or_dtype]
        except KeyError:
            raise TypeError(f"dtype: unknown dtype name {name_or_dtype!r}; expected one of "
                            f"{sorted(_BY_NAME)}") from None
    name = getattr(name_or_dtype, "name", None) or getattr(name_or_dtype, "__name__", None)
    if name in _BY_NAME:
        return _BY_NAME[name]
    raise TypeError(f"dtype: cannot interpret {name_or_dtype!r} as a dtype; expected a nyang dtype "
                    f"such as nyang.float32 or one of {sorted(_BY_NAME)}")


def _table(xp):
    table = _XP_TABLES.get(id(xp))
    if table is None:
        table = [(getattr(xp, d.name), d) for d in ALL if hasattr(xp, d.name)]
        _XP_TABLES[id(xp)] = table
    return table


def to_xp(xp, dtype):
    """The dtype object of namespace ``xp`` for nyang dtype ``dtype`` (or None for None)."""
    if dtype is None:
        return None
    return getattr(xp, get(dtype).name)


def from_xp(xp, xp_dtype):
    """The nyang :class:`DType` equal to the library dtype ``xp_dtype``."""
    for candidate, dtype in _table(xp):
        if xp_dtype == candidate:
            return dtype
    raise TypeError(f"dtype: the array dtype {xp_dtype!r} has no nyang equivalent")


class _ArrayDtypes(dict):
    """Array dtype -> nyang DType for one namespace, filled as dtypes are met."""

    def __init__(self, xp):
        super().__init__()
        self.xp = xp

    def __missing__(self, xp_dtype):
        dtype = self[xp_dtype] = from_xp(self.xp, xp_dtype)
        return dtype


class _ByNamespace(dict):
    def __missing__(self, xp):
        table = self[xp] = _ArrayDtypes(xp)
        return table


# OF_ARRAY[xp][array.dtype] is the nyang DType of an array of namespace xp: two dict
# lookups, for the checks that run on every op. One table per namespace, because
# dtypes of different libraries may hash alike and must never be compared.
OF_ARRAY = _ByNamespace()


def promote_types(a, b):
    """The dtype that ``a`` and ``b`` combine to, as ``torch.promote_types``: the higher
    category (bool < integer < floating point) wins; within one, the larger type, and
    uint8 with a signed integer type gives a signed type that holds both."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if uint8 in (a, b):
        other = b if a is uint8 else a
        return int16 if other is int8 else other
    return a if a.itemsize >= b.itemsize else b
