"""Saving and loading: one ``.npz`` file per checkpoint, no code inside, atomic writes.

``nyang.save(obj, path)`` stores state dicts and any nesting of dicts, lists and
tuples holding nyang Tensors, arrays (NumPy, CuPy, any Array API library), numbers,
bools, None and strings. The file is a NumPy ``.npz`` (a zip of ``.npy`` arrays,
written with ``allow_pickle=False``): every array under a generated name (``a0``,
``a1``, ...) plus one entry ``__nyang_meta__``, a uint8 array of UTF-8 JSON with

- ``format`` / ``format_version`` / ``nyang_version``;
- ``tree``: the structure. Strings, ints, finite floats, bools and None appear as
  themselves; everything else is a one-key object: ``{"dict": [[key, value], ...]}``
  (keys are str or int, so optimizer state keyed by parameter index survives),
  ``{"odict": ...}`` for an OrderedDict, ``{"list": [...]}``, ``{"tuple": [...]}``,
  ``{"float": "nan" | "inf" | "-inf"}``, ``{"scalar": ["float32", 0.5]}`` for a
  NumPy scalar (non-finite values as the strings above) and ``{"array": "a3"}``;
- ``arrays``: per array its dtype, shape and kind (``tensor``, ``parameter``,
  ``array``, or ``scalar`` for a NumPy scalar of a dtype JSON cannot hold exactly),
  and for tensors and arrays the device they were saved from.

``nyang.load(path, device=None)`` reads it back without executing anything from the
file: tensors come back as nyang Tensors on ``device`` (default: the default device),
arrays as NumPy arrays, dtypes unchanged. Pickles are refused unless the caller says
the file is trusted. ``nyang.save_model`` / ``nyang.load_model`` add the architecture
(class names and constructor arguments as JSON, see ``nyang.nn.registry``).

Every write goes to a temporary file in the same folder, is flushed and fsynced,
then renamed over the target (and the folder fsynced), so a crash leaves either the
old checkpoint or the new one, never half of one.
"""
import contextlib
import json
import math
import os
import pickle
import uuid
import zipfile
from collections import OrderedDict

import array_api_compat
import numpy as np

from nyang.device import device as as_device
from nyang.device import device_of_array, get_device
from nyang.tensor import Tensor

FORMAT = "nyang.checkpoint"
FORMAT_VERSION = 1
META_KEY = "__nyang_meta__"
_ZIP_MAGIC = b"PK\x03\x04"
# NumPy scalar dtypes whose values JSON holds exactly (via Python bool, int and float)
_INLINE_SCALARS = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                   "float16", "float32", "float64")
# what zipfile and numpy raise on damaged bytes (a bad offset shows as OSError, a
# garbled flag as NotImplementedError or, "encrypted", RuntimeError)
_DAMAGE = (zipfile.BadZipFile, EOFError, ValueError, OSError, NotImplementedError, RuntimeError)


class CheckpointError(ValueError):
    """A file that cannot be loaded as a checkpoint: truncated, corrupted, written by
    a newer nyang, or holding something nyang refuses to run (a pickle)."""


class NoArchitectureError(CheckpointError):
    """``load_model`` was given a checkpoint that holds weights but no architecture
    (written by ``nyang.save``, not ``nyang.save_model``)."""


def _refusal(path, detail=""):
    return CheckpointError(f"{path} contains a pickled object{detail}; nyang.load refuses to unpickle "
                           f"untrusted files; if you trust it, use nyang.load(path, trusted=True)")


# ================================================================ writing
def save(obj, path, format="npz"):
    """Save ``obj`` (a state dict, or nested dicts/lists/tuples of Tensors, arrays,
    numbers, bools, None and strings) to ``path`` as one ``.npz`` file, atomically.

    The file name is used as given (no extension is added). Dict subclasses come
    back as dicts (an OrderedDict as an OrderedDict), tuple subclasses such as
    namedtuples as tuples. ``format="pickle"``
    writes a pickle instead, which can hold any Python object; loading a pickle runs
    code chosen by whoever wrote the file, so only ``nyang.load(path, trusted=True)``
    reads it: never use it for files you did not make."""
    if format == "npz":
        _save_npz(obj, path, "object")
    elif format == "pickle":
        payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "nyang_version": _version(),
                   "pickled": _to_pickleable(obj)}
        _write_atomically(path, lambda f: pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL))
    else:
        raise ValueError(f"nyang.save: format must be 'npz' or 'pickle', got {format!r}")


def _version():
    import nyang

    return nyang.__version__


def _save_npz(obj, path, content):
    encoder = _Encoder()
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "nyang_version": _version(),
            "content": content, "tree": encoder.encode(obj, "obj"), "arrays": encoder.records}
    arrays = dict(encoder.arrays)
    arrays[META_KEY] = np.frombuffer(json.dumps(meta, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    # every entry is numeric (the encoder refuses object dtypes), so nothing in the file is pickled;
    # no allow_pickle keyword: NumPy before 2.2 would store it as an array named "allow_pickle"
    _write_atomically(path, lambda f: np.savez(f, **arrays))


def _write_atomically(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, make it durable, then
    rename it over ``path``. On any error the temporary file is removed."""
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with 0o666 lets the umask give the file the usual permissions
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _is_array(value):
    return isinstance(value, np.ndarray) or (array_api_compat.is_array_api_obj(value)
                                            and not isinstance(value, (np.generic, Tensor)))


class _Encoder:
    """Turns an object into the JSON ``tree`` plus named host arrays and their records."""

    def __init__(self):
        self.arrays = {}
        self.records = {}
        self._seen = {}  # id(object) -> array name, so one object is stored once
        self._keep = []  # the objects behind those ids, alive until the encoder is done

    def encode(self, value, where):
        # NumPy scalars first: np.float64 is also a Python float
        if isinstance(value, np.generic) and value.dtype.name in _INLINE_SCALARS:
            item = value.item()
            return {"scalar": [value.dtype.name, item if math.isfinite(item) else repr(item)]}
        if isinstance(value, (Tensor, np.generic)) or _is_array(value):
            return {"array": self._array(value, where)}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else {"float": repr(float(value))}
        if isinstance(value, dict):
            items = []
            for k, v in value.items():
                if isinstance(k, bool) or not isinstance(k, (str, int)):
                    raise TypeError(f"nyang.save: {where} has a key {k!r} of type {type(k).__name__}; "
                                    f"an .npz checkpoint keeps str and int keys only")
                items.append([int(k) if isinstance(k, int) else k, self.encode(v, f"{where}[{k!r}]")])
            return {"odict" if isinstance(value, OrderedDict) else "dict": items}
        if isinstance(value, (list, tuple)):
            return {"tuple" if isinstance(value, tuple) else "list":
                    [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        raise TypeError(f"nyang.save: cannot store {where} of type {type(value).__name__} in an .npz "
                        f"checkpoint; it holds Tensors, arrays, numbers, bools, None, strings and "
                        f"dicts/lists/tuples of them (format='pickle' stores anything, but is unsafe "
                        f"to load from others)")

    def _array(self, value, where):
        name = self._seen.get(id(value))
        if name is not None:
            return name
        if isinstance(value, Tensor):
            from nyang.nn.parameter import Parameter

            host = value.numpy()
            record = {"kind": "parameter" if isinstance(value, Parameter) else "tensor",
                      "device": str(value.device), "device_type": value.device.type,
                      "requires_grad": bool(value.requires_grad)}
        elif isinstance(value, np.generic):
            host, record = np.asarray(value), {"kind": "scalar"}
        else:
            dev = device_of_array(value)
            host = dev.kernels.to_numpy(value)
            record = {"kind": "array", "device": str(dev), "device_type": dev.type}
        if host.dtype.kind not in "biufc":
            raise TypeError(f"nyang.save: {where} is an array of dtype {host.dtype}; an .npz checkpoint "
                            f"keeps numeric and bool arrays only")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = host
        self.records[name] = {"dtype": host.dtype.name, "shape": list(host.shape), **record}
        self._seen[id(value)] = name
        self._keep.append(value)
        return name


class _PickledTensor:
    """A Tensor inside a ``format="pickle"`` checkpoint: host data plus what to rebuild."""

    def __init__(self, tensor):
        from nyang.nn.parameter import Parameter

        self.array = tensor.numpy()
        self.parameter = isinstance(tensor, Parameter)
        self.requires_grad = bool(tensor.requires_grad)


def _to_pickleable(value):
    if isinstance(value, Tensor):
        return _PickledTensor(value)
    if isinstance(value, dict):
        out = type(value)() if isinstance(value, OrderedDict) else {}
        out.update((k, _to_pickleable(v)) for k, v in value.items())
        return out
    if type(value) in (list, tuple):
        return type(value)(_to_pickleable(v) for v in value)
    return value


# ================================================================ reading
def load(path, device=None, trusted=False):
    """Load a checkpoint written by :func:`save` (or :func:`save_model`).

    Tensors come back as nyang Tensors on ``device`` (a name such as ``"cpu"`` or
    ``"cuda:0"``, or a Device; default: the default device), Parameters as
    Parameters, arrays as NumPy arrays, with their saved dtypes. Nothing in the file
    is executed: ``.npz`` entries are read with ``allow_pickle=False`` and a pickle
    (or an ``.npz`` holding an object array) is refused with a CheckpointError,
    unless ``trusted=True`` says you trust whoever wrote the file, since unpickling
    runs code of their choosing. An ``.npz`` without nyang metadata (e.g. written by
    ``numpy.savez``) loads as a dict of NumPy arrays.

    Raises CheckpointError (a ValueError) naming the file for a truncated or
    corrupted file and for one written by a newer checkpoint format."""
    return _read(path, device, trusted)[0]


def _read(path, device, trusted):
    """(object, metadata) from ``path``; metadata is None for foreign files."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise CheckpointError(f"{path} is empty (0 bytes): not a checkpoint, or its write never finished")
    if head == _ZIP_MAGIC:
        return _read_npz(path, device, trusted)
    if trusted:
        return _read_pickle(path, device)
    if head[0] == 0x80:  # the PROTO opcode that starts every pickle of protocol 2 or later
        raise _refusal(path)
    raise CheckpointError(f"{path} is not a nyang checkpoint: it is neither an .npz (zip) archive "
                          f"nor a pickle (it starts with {head!r})")


def _read_pickle(path, device):
    try:
        with open(path, "rb") as f:
            payload = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, ValueError) as exc:
        raise CheckpointError(f"{path} could not be unpickled ({type(exc).__name__}: {exc}); it is truncated, "
                              f"corrupted or not a pickle") from exc
    if not (isinstance(payload, dict) and payload.get("format") == FORMAT and "pickled" in payload):
        return payload, None
    _check_version(path, payload)
    dev = as_device(device)
    return _from_pickleable(payload["pickled"], dev), {k: v for k, v in payload.items() if k != "pickled"}


def _from_pickleable(value, dev):
    if isinstance(value, _PickledTensor):
        return _restore_tensor(value.array, value.parameter, value.requires_grad, dev)
    if isinstance(value, dict):
        out = type(value)() if isinstance(value, OrderedDict) else {}
        out.update((k, _from_pickleable(v, dev)) for k, v in value.items())
        return out
    if type(value) in (list, tuple):
        return type(value)(_from_pickleable(v, dev) for v in value)
    return value


def _restore_tensor(array, parameter, requires_grad, dev):
    from nyang.creation import as_tensor
    from nyang.nn.parameter import Parameter

    t = as_tensor(array, device=dev)
    if parameter:
        return Parameter(t, requires_grad=requires_grad)
    return t.requires_grad_(True) if requires_grad else t


def _read_npz(path, device, trusted):
    try:
        with zipfile.ZipFile(path) as zf:
            arrays = _read_members(path, zf, trusted)
    except CheckpointError:
        raise
    except _DAMAGE as exc:
        raise CheckpointError(f"{path} is truncated or corrupted: it is not a complete .npz (zip) archive "
                              f"({exc})") from exc
    if META_KEY not in arrays:
        return arrays, None
    meta = _parse_meta(path, arrays.pop(META_KEY))
    _check_version(path, meta)
    records = meta.get("arrays")
    if not isinstance(records, dict) or set(records) != set(arrays):
        missing = sorted(set(records or ()) - set(arrays))
        extra = sorted(set(arrays) - set(records or ()))
        raise CheckpointError(f"{path} is corrupted: its metadata and its arrays disagree (missing arrays "
                              f"{missing}, unexpected arrays {extra})")
    for name, record in records.items():
        array = arrays[name]
        found = (array.dtype.name, list(array.shape))
        if not isinstance(record, dict) or (record.get("dtype"), record.get("shape")) != found:
            raise CheckpointError(f"{path} is corrupted: array {name!r} has dtype {found[0]} and shape "
                                  f"{found[1]}, but its metadata says {record!r}")
    dev = as_device(device) if device is not None else get_device()
    return _Decoder(path, arrays, records, dev).decode(meta.get("tree")), meta


def _read_members(path, zf, trusted):
    """Every ``.npy`` entry of the archive as a NumPy array, object arrays refused
    (before anything is unpickled) unless ``trusted``."""
    arrays = {}
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            if info.filename.endswith(".pkl"):
                raise CheckpointError(f"{path} contains a pickled object ({info.filename!r}): it looks like a "
                                      f"PyTorch torch.save file, which nyang.load does not read; if you trust "
                                      f"it, read it with torch.load and pass the state dict to "
                                      f"load_state_dict, which accepts PyTorch tensors")
            raise CheckpointError(f"{path} is not a nyang checkpoint: it has an entry {info.filename!r} "
                                  f"that is not a .npy array")
        name = info.filename[:-4]
        try:
            with zf.open(info) as fp:
                dtype = _npy_dtype(fp)
            if dtype.hasobject and not trusted:
                raise _refusal(path, f" (entry {name!r} is an object array)")
            with zf.open(info) as fp:
                arrays[name] = np.lib.format.read_array(fp, allow_pickle=trusted)
        except CheckpointError:
            raise
        except _DAMAGE as exc:
            raise CheckpointError(f"{path} is truncated or corrupted: entry {name!r} cannot be read "
                                  f"({exc})") from exc
    return arrays


def _npy_dtype(fp):
    """The dtype in the header of the ``.npy`` stream ``fp``, read without its data."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fp)[2]
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fp)[2]
    raise ValueError(f"unsupported .npy format version {version}")


def _parse_meta(path, raw):
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is corrupted: its {META_KEY} entry is not UTF-8 JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a nyang checkpoint: its {META_KEY} entry does not describe "
                              f"the {FORMAT!r} format")
    return meta


def _check_version(path, meta):
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{path} is corrupted: format_version is {version!r}, expected an int")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer nyang ({meta.get('nyang_version')}, checkpoint "
                              f"format version {version}); this nyang ({_version()}) reads format versions up "
                              f"to {FORMAT_VERSION}; upgrade nyang to load it")


class _Decoder:
    """Rebuilds the object from the JSON ``tree`` and the arrays read from the file."""

    def __init__(self, path, arrays, records, device):
        self.path, self.arrays, self.records, self.device = path, arrays, records, device
        self._done = {}  # array name -> restored object, so shared objects stay shared

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not (isinstance(node, dict) and len(node) == 1):
            raise self._corrupt(node)
        (tag, body), = node.items()
        if tag in ("dict", "odict", "list", "tuple") and not isinstance(body, list):
            raise self._corrupt(node)
        if tag in ("dict", "odict"):
            out = OrderedDict() if tag == "odict" else {}
            for item in body:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))):
                    raise self._corrupt(node)
                out[item[0]] = self.decode(item[1])
            return out
        if tag in ("list", "tuple"):
            items = [self.decode(v) for v in body]
            return tuple(items) if tag == "tuple" else items
        if tag == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "scalar" and isinstance(body, list) and len(body) == 2 and body[0] in _INLINE_SCALARS:
            value = float(body[1]) if body[1] in ("nan", "inf", "-inf") else body[1]
            if isinstance(value, (bool, int, float)):
                return np.dtype(body[0]).type(value)
        if tag == "array" and body in self.arrays:
            return self._array(body)
        raise self._corrupt(node)

    def _corrupt(self, node):
        return CheckpointError(f"{self.path} is corrupted: its metadata has an entry it cannot read: "
                               f"{json.dumps(node)[:200]}")

    def _array(self, name):
        if name not in self._done:
            record, array = self.records[name], self.arrays[name]
            kind = record.get("kind")
            if kind in ("tensor", "parameter"):
                value = _restore_tensor(array, kind == "parameter", record.get("requires_grad", False),
                                        self.device)
            elif kind == "scalar":
                value = array[()]
            else:
                value = array
            self._done[name] = value
        return self._done[name]


# ================================================================ whole models
def model_record(model, metadata=None):
    """What :func:`save_model` writes: ``{"architecture": ..., "state_dict": ...,
    "metadata": ...}``. Raises TypeError when a module's class is not registered
    (see ``nyang.nn.registry``), so its architecture cannot be stored."""
    from nyang.nn.registry import CONTAINERS, config_of, name_of

    def describe(module):
        if module is None:
            return None
        name = name_of(module)
        spec = {"class": name, "config": config_of(module), "training": bool(module.training)}
        if name in CONTAINERS:
            spec["children"] = {key: describe(child) for key, child in module._modules.items()}
        return spec

    return {"architecture": describe(model), "state_dict": model.state_dict(), "metadata": metadata}


def save_model(model, path, metadata=None):
    """Save ``model``'s architecture (registered classes and their constructor
    arguments, as JSON) and its state dict to one ``.npz`` file, atomically.

    Built-in layers and Sequential/ModuleList/ModuleDict of them are known; classes
    of your own need ``@nyang.nn.register`` (see ``nyang.nn.registry``). The model is
    not moved: tensors on another device are copied to the host for writing.
    ``metadata`` (anything :func:`save` stores, e.g. ``{"classes": [...]}``) is kept
    beside them for ``load_model(path, with_metadata=True)``. ``nyang.load`` of the
    file gives ``{"architecture": ..., "state_dict": ..., "metadata": ...}``."""
    save_model_record(model_record(model, metadata), path)


def save_model_record(record, path):
    """Write ``record`` (a :func:`model_record`, possibly with more top-level entries,
    as ``fit``'s ``best.npz`` has) as a model file that :func:`load_model` reads."""
    if not (isinstance(record, dict) and {"architecture", "state_dict"} <= set(record)):
        raise ValueError(f"save_model_record: record must be a dict with 'architecture' and 'state_dict' "
                         f"(from model_record), got {type(record).__name__} with keys "
                         f"{sorted(record) if isinstance(record, dict) else None}")
    _save_npz(record, path, "model")


def load_model(path, device=None, with_metadata=False):
    """Rebuild a model saved by :func:`save_model` on ``device`` (default: the default
    device), with its saved weights (in their saved dtypes) and train/eval modes;
    with ``with_metadata``, return ``(model, metadata)`` (``{}`` when none was saved).

    Only registered classes are built (an unknown class name is refused, never
    imported), and building does not consume random numbers: the default
    generator's state is the same before and after."""
    from nyang.random import default_generator

    obj, meta = _read(path, device, trusted=False)
    if meta is None or meta.get("content") != "model":
        raise NoArchitectureError(f"{path} holds no model architecture (it was not written by "
                                  f"nyang.save_model); build the model in code and call "
                                  f"model.load_state_dict(nyang.load(path))")
    dev = as_device(device) if device is not None else get_device()
    generator = default_generator()
    rng_state = generator.get_state()
    try:
        model = _build(path, obj["architecture"])
    finally:
        generator.set_state(rng_state)
    model.to(dev)
    _apply_modes(model, obj["architecture"])
    _assign_weights(path, model, obj["state_dict"], dev)
    if with_metadata:
        metadata = obj.get("metadata")
        return model, ({} if metadata is None else metadata)
    return model


def _build(path, spec):
    from nyang.nn.registry import CONTAINERS, resolve

    if spec is None:
        return None
    if not (isinstance(spec, dict) and isinstance(spec.get("class"), str) and isinstance(spec.get("config"), dict)
            and isinstance(spec.get("children", {}), dict)):
        raise CheckpointError(f"{path} is corrupted: an entry of its architecture is malformed: {str(spec)[:200]}")
    name = spec["class"]
    try:
        cls = resolve(name)
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    if name in CONTAINERS:
        children = OrderedDict((key, _build(path, child)) for key, child in spec.get("children", {}).items())
        return cls(list(children.values())) if name == "ModuleList" else cls(children)
    try:
        return cls(**spec["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild {name} from its saved arguments {spec['config']} "
                              f"({exc}); has its constructor changed since the file was written?") from exc


def _apply_modes(module, spec):
    """Set train/eval per module as saved (parents first, so a child's own mode wins)."""
    module.train(bool(spec.get("training", True)))
    for key, child in spec.get("children", {}).items():
        if child is not None:
            _apply_modes(module._modules[key], child)


def _assign_weights(path, model, state_dict, dev):
    from nyang.creation import as_tensor

    own = model.state_dict(keep_vars=True)
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    if missing or unexpected:
        raise CheckpointError(f"{path}: the rebuilt model does not match the saved weights (missing keys "
                              f"{missing}, unexpected keys {unexpected}); does a registered module's "
                              f"get_config() return every constructor argument?")
    for key, target in own.items():
        value = as_tensor(state_dict[key], device=dev)
        if value.shape != target.shape:
            raise CheckpointError(f"{path}: {key!r} has shape {value.shape} in the file but {target.shape} in "
                                  f"the rebuilt model")
        target.data = value.data
