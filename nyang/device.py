"""Devices: which array library holds a tensor's data, and where.

``cpu`` is NumPy, ``cuda`` / ``cuda:N`` is CuPy on GPU N. Any other Array API
library (array_api_strict in the tests) gets a device named after it when its
arrays are wrapped. A :class:`Device` carries its namespace ``xp`` and its kernel
module, looked up once here, so no op ever looks them up again.

``NYANG_DEVICE`` (``cpu`` by default) selects the default device at import;
:func:`set_device` changes it. Nothing falls back silently: asking for CUDA where
it cannot run raises an error that says what is missing.
"""
import os

import re

import array_api_compat

from backends import kernels_for

_DEVICES = {}
_default = None


class Device:
    """Where a tensor lives: ``type`` (``"cpu"``, ``"cuda"`` or a library name), ``index``,
    the array namespace ``xp``, the library's own device object ``native`` and the
    backend ``kernels``. Devices are interned: compare with ``==`` or ``is``."""

    __slots__ = ("type", "index", "xp", "native", "kernels", "_name")

    def __init__(self, type, index, xp, native, name):
        self.type = type
        self.index = index
        self.xp = xp
        self.native = native
        self.kernels = kernels_for(xp)
        self._name = name

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"

    def __str__(self):
        return self._name

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (ValueError, RuntimeError):
                return False
        return self is other

    __hash__ = object.__hash__


def _intern(name, make):
    dev = _DEVICES.get(name)
    if dev is None:
        dev = _DEVICES[name] = make()
    return dev


def _cpu():
    import array_api_compat.numpy as xp

    return _intern("cpu", lambda: Device("cpu", None, xp, "cpu", "cpu"))


def _cuda(index):
    name = f"cuda:{index}"
    if name in _DEVICES:
        return _DEVICES[name]
    try:
        import cupy
    except ImportError:
        raise RuntimeError(f"device {name!r}: CuPy is not installed; install it with "
                           "`pip install nyang[cuda]` (CUDA 13) or `pip install cupy-cuda12x` (CUDA 12)") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, no GPU
        raise RuntimeError(f"device {name!r}: CuPy is installed but no CUDA GPU can be used ({exc})") from None
    if index >= count:
        raise RuntimeError(f"device {name!r}: GPU index {index} does not exist; this machine has {count} GPU(s)")
    import array_api_compat.cupy as xp

    return _intern(name, lambda: Device("cuda", index, xp, cupy.cuda.Device(index), name))


def device(spec=None):
    """The :class:`Device` for ``spec``: a Device, ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
    or None for the default device."""
    if spec is None:
        return get_device()
    if isinstance(spec, Device):
        return spec
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text == "cpu":
            return _cpu()
        if text == "cuda":
            return _cuda(0)
        if text.startswith("cuda:") and text[5:].isdigit():
            return _cuda(int(text[5:]))
    raise ValueError(f"device: unknown device {spec!r}; expected 'cpu', 'cuda' or 'cuda:N'")


def _short_name(native):
    """A library's device object as a short name: its ``name``, else the string its repr
    quotes (``Device('device1')`` -> ``device1``), else its str."""
    name = getattr(native, "name", None)
    if isinstance(name, str):
        return name
    quoted = re.search(r"\('([^']*)'\)", str(native))
    return quoted.group(1) if quoted else str(native)


def device_of_array(array):
    """The :class:`Device` holding ``array`` (any Array API array)."""
    if array_api_compat.is_numpy_array(array):
        return _cpu()
    if array_api_compat.is_cupy_array(array):
        return _cuda(array.device.id)
    xp = array_api_compat.array_namespace(array)
    native = array_api_compat.device(array)
    library = xp.__name__.split(".")[-1]
    name = f"{library}:{_short_name(native)}"
    return _intern(name, lambda: Device(library, None, xp, native, name))


def get_device():
    """The default device for new tensors."""
    return _default


def set_device(spec):
    """Make ``spec`` (``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a Device) the default device."""
    global _default
    _default = device(spec)
    return _default


def _from_environment():
    value = os.environ.get("NYANG_DEVICE", "cpu") or "cpu"
    try:
        return device(value)
    except ValueError:
        raise ValueError(f"NYANG_DEVICE={value!r} is not a device; expected 'cpu', 'cuda' or 'cuda:N'") from None
    except RuntimeError as exc:
        raise RuntimeError(f"NYANG_DEVICE={value!r}: {exc}") from None


_default = _from_environment()
