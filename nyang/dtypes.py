"""nyang's data types, independent of the array library underneath.

``nyang.float32`` names a dtype; :func:`to_xp` finds that dtype in an array
namespace (NumPy, CuPy, array_api_strict, ...) and :func:`from_xp` goes back.
"""


class DType:
    """A data type such as ``nyang.float32``; compares by name."""

    __slots__ = ("name", "is_floating_point", "itemsize")

    def __init__(self, name, is_floating_point, itemsize):
        self.name = name
        self.is_floating_point = is_floating_point
        self.itemsize = itemsize

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
