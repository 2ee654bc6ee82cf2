"""``DataLoader``: batches of a dataset as Tensors, shuffled, in background workers.

How an epoch runs. At its first batch the loader draws a base seed from its own
generator, then the batch sampler draws the epoch's order (``shuffle``: a fresh
permutation from the same generator). Batch b holds samples ``position ..
position + len - 1`` of the epoch; sample k is loaded under the seed
``derive_seed(base, k)`` (``nyang.data.seeding``), so random transforms give the
same result whichever worker loads it. Batches are collated on the host (NumPy)
and turned into Tensors on ``device`` in the main process, in order.
"""
import warnings
import weakref

from nyang.data._staging import device_batches
from nyang.data._workers import ProcessWorkers, WorkerError, fetch
from nyang.data.collate import default_collate
from nyang.data.sampler import BatchSampler, RandomSampler, SequentialSampler
from nyang.data.seeding import new_generator
from nyang.device import device as as_device

_SEED_LIMIT = 2 ** 62


class _Progress:
    """Where the live epoch is: the generator state at its start and batches yielded."""

    __slots__ = ("start_state", "batches", "done")

    def __init__(self, start_state, batches):
        self.start_state, self.batches, self.done = start_state, batches, False


def _positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return value


class DataLoader:
    """Iterate over ``dataset`` in batches of Tensors.

    ``batch_size`` samples per batch (the last, shorter one kept unless
    ``drop_last``), visited in order or, with ``shuffle``, in a new random order
    every epoch; ``sampler`` (an iterable of indices) or ``batch_sampler`` (of index
    lists) replace that. ``collate_fn(samples)`` makes a batch of host arrays
    (default: :func:`~nyang.data.collate.default_collate`); the loader turns every
    array of it into a Tensor on ``device`` (default: ``nyang.get_device()`` at
    construction). Every sample appears exactly once per epoch; ``len(loader)`` is
    the number of batches.

    Randomness: shuffling and the per-sample seeds of random transforms come from
    ``generator`` (a CPU :class:`nyang.Generator`), by default the loader's own,
    seeded by a draw from the CPU default generator, so ``nyang.manual_seed`` fixes
    it. The order and the augmentation are the same with and without workers.
    ``state_dict()`` / ``load_state_dict()`` save and restore the position (mid-epoch
    too) and the generator, so a resumed run sees the same remaining batches.

    Workers: ``num_workers > 0`` loads batches in that many background processes,
    ``prefetch_factor`` batches per worker in flight; ``persistent_workers`` keeps
    them from one epoch to the next (else each epoch starts and stops its own). An
    exception in a worker is raised again here, with the worker's traceback. No
    worker outlives the loader: they stop when an epoch ends or is abandoned
    (``break``, garbage collection), and at :meth:`close` or collection of the loader.

    Why processes and not threads: measured on the 2-core reference machine with
    ``benchmarks/bench_data.py`` (32x32 PNGs decoded by Pillow, then ToTensor,
    RandomResizedCrop, flip, ColorJitter, RandomRotation, Normalize, RandomErasing),
    no workers gave about 1600 images/s, 2 worker processes about 3000 (1.85x) and 2
    worker threads about 1100 (0.7x: slower than none). Small-image augmentation is
    many short NumPy calls, each holding the GIL, so threads take turns and pay for
    the hand-offs; processes run in parallel, and a batch costs one pickle through a
    pipe. Workers are forked where the OS allows: the dataset is not pickled, and
    it must not touch the GPU in a worker (it produces host data).

    ``device="cuda"`` moves each batch to the GPU; ``pin_memory=True`` copies it
    through page-locked memory on a side stream, overlapping the copy of the next
    batch with compute on this one. When the batches land on the CPU, or CUDA
    cannot be used, both are no-ops with a warning (``device="cpu"``, the default,
    gives none).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, drop_last=False,
                 collate_fn=None, num_workers=0, prefetch_factor=2, persistent_workers=False, pin_memory=False,
                 generator=None, device=None):
        self.dataset = dataset
        self.num_workers = _positive_int(num_workers, "num_workers", minimum=0)
        self.prefetch_factor = _positive_int(prefetch_factor, "prefetch_factor")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers: needs num_workers > 0")
        self.persistent_workers = bool(persistent_workers)
        self.generator = generator if generator is not None else new_generator()
        if self.generator.device.type != "cpu":
            raise ValueError(f"generator: expected a CPU generator, got one on {self.generator.device}")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler: cannot be combined with batch_size, shuffle, sampler or drop_last")
        else:
            _positive_int(batch_size, "batch_size")
            if sampler is not None and shuffle:
                raise ValueError("shuffle: cannot be combined with sampler (the sampler decides the order)")
            if sampler is None:
                sampler = RandomSampler(dataset, self.generator) if shuffle else SequentialSampler(dataset)
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.batch_size = None if sampler is None else batch_size
        self.drop_last = drop_last
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self.device = self._target(device)
        self.pin_memory = bool(pin_memory)
        if self.pin_memory and self.device.type != "cuda":
            warnings.warn(f"DataLoader: pin_memory=True has no effect, the batches stay on {self.device}",
                          stacklevel=2)
        self._workers = None
        self._finalizer = None
        self._progress = None
        self._resume = None
        self._epoch_ref = None
        self._epochs_started = 0

    @staticmethod
    def _target(device):
        try:
            return as_device(device)
        except RuntimeError as exc:
            warnings.warn(f"DataLoader: {exc}; the batches stay on the CPU", stacklevel=3)
            return as_device("cpu")

    def __len__(self):
        return len(self.batch_sampler)

    def __iter__(self):
        epoch = self._epoch()
        self._epoch_ref = weakref.ref(epoch)
        return epoch

    # ------------------------------------------------------------ one epoch
    def _epoch(self):
        if self._resume is not None:
            state, skip = self._resume
            self._resume = None
            self.generator.set_state(state)
        else:
            skip = 0
        progress = self._progress = _Progress(self.generator.get_state(), skip)
        host = self._host_batches(skip)
        batches = device_batches(host, self.device, self.pin_memory)
        try:
            for batch in batches:
                progress.batches += 1
                yield batch
            progress.done = True
        finally:
            batches.close()
            host.close()

    def _jobs(self, skip):
        """(indices, position) of each batch of the epoch, after skipping ``skip`` batches."""
        position = 0
        for number, indices in enumerate(self.batch_sampler):
            if number >= skip:
                yield list(indices), position
            position += len(indices)

    def _host_batches(self, skip):
        base_seed = int(self.generator.integers(0, _SEED_LIMIT, ()))
        jobs = self._jobs(skip)
        if self.num_workers == 0:
            for indices, position in jobs:
                yield fetch(self.dataset, self.collate_fn, indices, base_seed, position)
            return
        workers = self._start_workers()
        self._epochs_started += 1
        tag = self._epochs_started  # persistent workers may still return an abandoned epoch's batches
        in_flight, ready, sent, wanted = self.prefetch_factor * self.num_workers, {}, 0, 0
        try:
            for indices, position in jobs:
                workers.submit(sent % self.num_workers, (tag, sent, indices, base_seed, position))
                sent += 1
                if sent - wanted < in_flight:
                    continue
                yield self._next_result(workers, tag, wanted, ready)
                wanted += 1
            while wanted < sent:
                yield self._next_result(workers, tag, wanted, ready)
                wanted += 1
        finally:
            if not self.persistent_workers:
                workers.shutdown()

    @staticmethod
    def _next_result(workers, tag, number, ready):
        while number not in ready:
            result_tag, result_number, payload = workers.get()
            if result_tag == tag:
                ready[result_number] = payload
        payload = ready.pop(number)
        if isinstance(payload, WorkerError):
            payload.reraise()
        return payload

    def _start_workers(self):
        if self._workers is not None:
            return self._workers
        workers = ProcessWorkers(self.dataset, self.collate_fn, self.num_workers)
        if self.persistent_workers:
            self._workers = workers
            self._finalizer = weakref.finalize(self, workers.shutdown)
        return workers

    def close(self):
        """Stop the workers now: those of an epoch in progress and persistent ones."""
        epoch = self._epoch_ref() if self._epoch_ref is not None else None
        if epoch is not None:
            epoch.close()
        if self._finalizer is not None:
            self._finalizer()
        self._workers = self._finalizer = None

    # ------------------------------------------------------------ resuming
    def state_dict(self):
        """The position and generator state as plain data: ``{"generator": state at
        the start of the current epoch, "batches_done": batches already yielded}``."""
        if self._resume is not None:
            state, done = self._resume
        elif self._progress is not None and not self._progress.done:
            state, done = self._progress.start_state, self._progress.batches
        else:
            state, done = self.generator.get_state(), 0
        return {"generator": state, "batches_done": done}

    def load_state_dict(self, state):
        """Resume from :meth:`state_dict`: the next epoch replays the saved epoch's
        order and seeds and starts after its ``batches_done`` batches."""
        try:
            generator_state, done = state["generator"], int(state["batches_done"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"DataLoader.load_state_dict: expected {{'generator': ..., 'batches_done': int}}, "
                             f"got {state!r}") from None
        if done < 0:
            raise ValueError(f"DataLoader.load_state_dict: batches_done must be >= 0, got {done}")
        self._resume = (generator_state, done)
        self._progress = None

