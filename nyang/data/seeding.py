"""Per-sample random streams: augmentation that does not depend on which worker ran a sample.

The mechanism. At the start of each epoch the DataLoader draws a base seed from its
own generator. It loads the sample at position ``k`` of the epoch inside
``sample_seed(derive_seed(base, k))``, in whichever worker (or the main process)
runs it. A random transform asks :func:`generator_for` for its generator: inside a
``sample_seed`` block that is a CPU :class:`nyang.Generator` seeded with the
sample's seed, shared by every transform of the sample in call order; outside one
(calling a transform by hand) it is the transform's own ``generator``. So a
sample's augmentation depends only on the loader's seed, the epoch and the
sample's position: the same with 0, 1 or 8 workers, and the same after a resume.

A custom dataset or transform that draws random numbers gets reproducible
results the same way: draw from ``generator_for(self)`` (or
:func:`sample_generator`), never from a global random state. To replay one
sample's augmentation by hand, wrap the call in ``with sample_seed(seed):``.
"""
import contextlib
import contextvars
import threading

from nyang.random import Generator, default_generator

_SEED_LIMIT = 2 ** 63 - 1
_current = contextvars.ContextVar("nyang_sample_seed", default=None)
_thread = threading.local()


class _Sample:
    __slots__ = ("seed", "generator", "reuse")

    def __init__(self, seed, reuse):
        self.seed, self.generator, self.reuse = seed, None, reuse


def derive_seed(base_seed, position):
    """The seed of the sample at ``position`` of an epoch whose base seed is ``base_seed``
    (distinct non-negative ints for distinct pairs)."""
    return (int(base_seed) << 64) | int(position)


def new_generator():
    """A CPU :class:`nyang.Generator` seeded by a draw from the CPU default generator,
    so ``nyang.manual_seed`` fixes it."""
    seed = int(default_generator("cpu").integers(0, _SEED_LIMIT, ()))
    return Generator("cpu").manual_seed(seed)


@contextlib.contextmanager
def sample_seed(seed):
    """Within the block, random transforms draw from a generator seeded with ``seed``."""
    token = _current.set(_Sample(int(seed), reuse=_current.get() is None))
    try:
        yield
    finally:
        _current.reset(token)


def sample_generator():
    """The generator of the sample being loaded, or None outside :func:`sample_seed`.

    Seeded lazily on first use; one Generator per thread is reseeded for each
    sample (seeding is cheaper than making a generator)."""
    sample = _current.get()
    if sample is None:
        return None
    if sample.generator is None:
        if sample.reuse:
            gen = getattr(_thread, "generator", None)
            if gen is None:
                gen = _thread.generator = Generator("cpu")
            sample.generator = gen.manual_seed(sample.seed)
        else:
            sample.generator = Generator("cpu").manual_seed(sample.seed)
    return sample.generator


def generator_for(owner):
    """The generator a random transform draws from: the sample's inside a
    :func:`sample_seed` block, else ``owner.generator``."""
    gen = sample_generator()
    return gen if gen is not None else owner.generator


def uniform(gen, low=0.0, high=1.0):
    """One float from U[low, high)."""
    return float(gen.uniform((), "float64", low, high))


def uniforms(gen, n):
    """``n`` floats from U[0, 1) in one draw (a list)."""
    return gen.uniform((n,), "float64").tolist()


def lerp(bounds, u):
    """The point ``u`` in [0, 1) of the way through ``bounds`` = (low, high)."""
    return bounds[0] + u * (bounds[1] - bounds[0])
