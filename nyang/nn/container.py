"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict`` and ``Identity``."""
from collections import OrderedDict

from nyang.nn.module import Module


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. to drop a head)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class _ModuleSequence(Module):
    """Modules numbered "0", "1", ...: the list behaviour Sequential and ModuleList share."""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def _key(self, index):
        return list(self._modules)[_index(index, len(self), type(self).__name__)]

    def __setitem__(self, index, module):
        self.add_module(self._key(index), module)

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        """Insert ``module`` before position ``index``, renumbering the ones after it."""
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules.clear()
        return self.extend(mods)


class Sequential(_ModuleSequence):
    """Modules applied in order: ``Sequential(Linear(4, 8), ReLU(), Linear(8, 2))``,
    or from an ``OrderedDict`` of named modules. Indexing gives a module, slicing
    a new Sequential."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            self.extend(modules)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[_index(index, len(items), "Sequential")][1]

    def __delitem__(self, index):
        keys = list(self._modules)
        for key in (keys[index] if isinstance(index, slice) else [self._key(index)]):
            del self._modules[key]


def _index(index, length, what):
    if not -length <= index < length:
        raise IndexError(f"{what}: index {index} is out of range for {length} modules")
    return index % length


class ModuleList(_ModuleSequence):
    """A list of modules, registered so their parameters are found."""

    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[self._key(index)]


class ModuleDict(Module):
    """A dict of named modules, registered so their parameters are found."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        for key, m in (modules.items() if hasattr(modules, "items") else modules):
            self.add_module(key, m)

    def pop(self, key):
        return self._modules.pop(key)
