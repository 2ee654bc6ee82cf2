"""The module registry: which classes ``nyang.save_model`` may write and
``nyang.load_model`` may rebuild, and how to get each one's constructor arguments.

A saved architecture is JSON: class names and constructor keyword arguments, never
code. Loading looks a name up here and calls that class; a name not registered is
refused, never imported.

- Built-in layers are known by name (resolved from ``nyang.nn`` when needed, so a
  layer that does not exist yet breaks nothing). Their arguments are read from the
  same-named attributes, PyTorch's names (``in_features``, ``kernel_size``, ...);
  ``bias`` is ``module.bias is not None``. An argument the layer does not keep as
  an attribute takes its constructor default. Generators and ``device``/``dtype``
  are not stored: weights come from the file, devices from ``load_model``.
- ``Sequential``, ``ModuleList`` and ``ModuleDict`` store their children.
- Your own modules: decorate the class with ``@nyang.nn.register`` and give it a
  ``get_config()`` returning the JSON-able keyword arguments of its constructor
  (numbers, strings, bools, None, and lists, tuples and str-keyed dicts of them); a
  class without ``get_config`` is rebuilt as ``cls()``. Its ``__init__`` builds
  its children, whose weights then come from the file.
"""
_BUILTIN_ARGS = {
    "Linear": ("in_features", "out_features", "bias", "init"),
    "ReLU": (),
    "LeakyReLU": ("negative_slope",),
    "ELU": ("alpha",),
    "SELU": (),
    "GELU": ("approximate",),
    "Sigmoid": (),
    "Tanh": (),
    "Softmax": ("dim",),
    "LogSoftmax": ("dim",),
    "Dropout": ("p",),
    "Dropout2d": ("p",),
    "Flatten": ("start_dim", "end_dim"),
    "Unflatten": ("dim", "unflattened_size"),
    "Identity": (),
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
               "padding_mode", "init"),
    "MaxPool2d": ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"),
    "AvgPool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "AdaptiveAvgPool2d": ("output_size",),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats", "bias"),
    "BatchNorm2d": ("num_features", "eps", "momentum", "affine", "track_running_stats", "bias"),
    "InstanceNorm2d": ("num_features", "eps", "momentum", "affine", "track_running_stats", "bias"),
    "LayerNorm": ("normalized_shape", "eps", "elementwise_affine", "bias"),
    "GroupNorm": ("num_groups", "num_channels", "eps", "affine", "bias"),
}
CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")
_registered = {}


def register(cls=None, *, name=None):
    """Class decorator letting ``save_model`` / ``load_model`` store and rebuild
    instances of a Module subclass: ``@nyang.nn.register`` or
    ``@nyang.nn.register(name="MyBlock")`` (default name: the class name).

    The class should define ``get_config()`` returning its constructor's keyword
    arguments as JSON-able data; without it the class is rebuilt with no arguments.
    Registering the same name again replaces the entry only for a class of the same
    module and qualified name (a re-run notebook cell); any other clash is an error."""
    def decorate(cls):
        from nyang.nn.module import Module

        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise TypeError(f"nyang.nn.register: expected a Module subclass, got {cls!r}")
        key = name or cls.__name__
        if key in _BUILTIN_ARGS or key in CONTAINERS:
            raise ValueError(f"nyang.nn.register: {key!r} is the name of a built-in nyang layer; "
                             f"register your class under another name, e.g. register(name='My{key}')")
        old = _registered.get(key)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"nyang.nn.register: the name {key!r} is already taken by "
                             f"{old.__module__}.{old.__qualname__}; pass register(name=...) to use another")
        _registered[key] = cls
        return cls

    return decorate if cls is None else decorate(cls)


def _builtin(name):
    """The class ``nyang.nn.<name>`` if ``name`` is a known built-in, else None."""
    if name not in _BUILTIN_ARGS and name not in CONTAINERS:
        return None
    import nyang.nn

    return getattr(nyang.nn, name, None)


def name_of(module):
    """The registry name of ``module``'s class; TypeError if it cannot be saved."""
    cls = type(module)
    for key, registered in _registered.items():
        if registered is cls:
            return key
    if _builtin(cls.__name__) is cls:
        return cls.__name__
    raise TypeError(f"save_model: {cls.__module__}.{cls.__qualname__} is not a registered module, so its "
                    f"architecture cannot be stored; decorate the class with @nyang.nn.register and give it "
                    f"get_config() returning its constructor arguments, or save only the weights with "
                    f"nyang.save(model.state_dict(), path)")


def config_of(module):
    """The constructor keyword arguments that rebuild ``module`` (children of
    containers excluded), checked to be JSON-able."""
    name = name_of(module)
    if name in CONTAINERS:
        return {}
    if name in _BUILTIN_ARGS:
        config = {arg: (module.bias is not None if arg == "bias" else getattr(module, arg))
                  for arg in _BUILTIN_ARGS[name] if arg == "bias" or hasattr(module, arg)}
    else:
        get_config = getattr(module, "get_config", None)
        config = get_config() if get_config is not None else {}
        if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
            raise TypeError(f"save_model: {name}.get_config() must return a dict of keyword arguments "
                            f"with str keys, got {config!r}")
    for key, value in config.items():
        if not _plain(value):
            raise TypeError(f"save_model: {name} argument {key}={value!r} cannot be stored as JSON; "
                            f"constructor arguments must be numbers, strings, bools, None, or lists, "
                            f"tuples and str-keyed dicts of them")
    return config


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def resolve(name):
    """The class registered (or built in) under ``name``; ValueError naming it if none
    is. Nothing is imported by name: only classes already registered or built in."""
    cls = _registered.get(name) or _builtin(name)
    if cls is None:
        raise ValueError(f"the architecture names a module class {name!r} that is not registered; "
                         f"import the code that defines it and decorate the class with "
                         f"@nyang.nn.register before calling load_model")
    return cls
