"""Seeded random-number generators, one default per device.

Randomness belongs to objects: factories (``rand``, ``randn``, ``randint``), init,
dropout and data shuffling take ``generator=``; without it they draw from the
default generator of the device. ``manual_seed`` reseeds every default generator;
NumPy's global random state is never touched. Generator states are plain data, so
checkpoints can save and restore them.
"""
from nyang import device as _device

DEFAULT_SEED = 67280421310721  # PyTorch's default initial seed
_defaults = {}
_seed = DEFAULT_SEED


class Generator:
    """A random-number generator for one device (``nyang.Generator("cpu")``)."""

    def __init__(self, device=None):
        self.device = _device.device(device)
        self._seed = DEFAULT_SEED
        self._rng = self.device.kernels.new_rng(self._seed)

    def manual_seed(self, seed):
        """Reseed; returns the generator."""
        seed = int(seed)
        if seed < 0:
            raise ValueError(f"manual_seed: seed must be non-negative, got {seed}")
        self._seed = seed
        self._rng = self.device.kernels.new_rng(seed)
        return self

    def initial_seed(self):
        """The seed this generator was last seeded with."""
        return self._seed

    def get_state(self):
        """The generator state as JSON-serialisable data."""
        return {"seed": self._seed, "state": self.device.kernels.rng_get_state(self._rng)}

    def set_state(self, state):
        """Restore a state from :meth:`get_state`."""
        self._seed = int(state["seed"])
        self.device.kernels.rng_set_state(self._rng, state["state"])

    # Draws: arrays of the generator's device. Callers wrap them in Tensors.
    def uniform(self, shape, dtype_name="float32", low=0.0, high=1.0):
        """An array of U[low, high) samples."""
        d = self.device
        return d.kernels.uniform(self._rng, d.xp, tuple(shape), dtype_name, d.native, low, high)

    def normal(self, shape, dtype_name="float32", mean=0.0, std=1.0):
        """An array of N(mean, std^2) samples."""
        d = self.device
        return d.kernels.normal(self._rng, d.xp, tuple(shape), dtype_name, d.native, mean, std)

    def integers(self, low, high, shape, dtype_name="int64"):
        """An array of integers uniform on [low, high)."""
        d = self.device
        return d.kernels.integers(self._rng, d.xp, low, high, tuple(shape), dtype_name, d.native)

    def permutation(self, n):
        """A random permutation of ``range(n)`` (int64 array)."""
        d = self.device
        return d.kernels.permutation(self._rng, d.xp, int(n), d.native)

    def __repr__(self):
        return f"nyang.Generator(device='{self.device}', seed={self._seed})"


def default_generator(device=None):
    """The default :class:`Generator` of ``device`` (the default device when None)."""
    dev = _device.device(device)
    gen = _defaults.get(dev)
    if gen is None:
        gen = _defaults[dev] = Generator(dev).manual_seed(_seed)
    return gen


def manual_seed(seed):
    """Seed the default generator of every device (those made later too)."""
    global _seed
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be non-negative, got {seed}")
    _seed = seed
    for gen in _defaults.values():
        gen.manual_seed(seed)


def initial_seed():
    """The seed last given to :func:`manual_seed`."""
    return _seed


def get_rng_state(device=None):
    """The state of ``device``'s default generator (plain data)."""
    return default_generator(device).get_state()


def set_rng_state(state, device=None):
    """Restore ``device``'s default generator from :func:`get_rng_state`."""
    default_generator(device).set_state(state)


def get_all_rng_states():
    """The state of every default generator made so far, keyed by device name, plus
    the global seed: everything a checkpoint needs to continue the same streams."""
    return {"seed": _seed, "generators": {str(dev): gen.get_state() for dev, gen in _defaults.items()}}


def set_all_rng_states(states):
    """Restore :func:`get_all_rng_states`; devices named there get their generator back."""
    global _seed
    _seed = int(states["seed"])
    for name, state in states["generators"].items():
        try:
            default_generator(name).set_state(state)
        except (ValueError, RuntimeError):  # a device this process cannot use (e.g. no GPU)
            continue
