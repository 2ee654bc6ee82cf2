"""Datasets: indexable collections of samples, and ways to combine and split them.

A dataset maps an index ``0 <= i < len(dataset)`` to one sample, usually a tuple
``(x, y)`` of host (NumPy) data; the :class:`~nyang.data.DataLoader` batches samples
and turns them into Tensors.
"""
import bisect
import math
import numbers

import numpy as np

from nyang.random import default_generator
from nyang.tensor import Tensor


class Dataset:
    """The interface of a map-style dataset: ``__len__`` and ``__getitem__``.

    Subclasses return one sample per index; ``dataset + other`` concatenates."""

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


def _host_array(data, name):
    if isinstance(data, Tensor):
        return data.numpy()
    array = np.asarray(data)
    if array.ndim == 0:
        raise ValueError(f"{name}: expected arrays with a first (sample) dimension, got a scalar")
    return array


class TensorDataset(Dataset):
    """Samples made of rows of equal-length arrays: ``dataset[i] == (a[i], b[i], ...)``.

    ``TensorDataset(x, y)`` with x of shape (N, ...) and y of shape (N, ...): NumPy
    arrays or Tensors (kept on the host as NumPy arrays, in ``tensors``)."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one array")
        arrays = tuple(_host_array(t, "TensorDataset") for t in tensors)
        lengths = [a.shape[0] for a in arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: all arrays must have the same first dimension, got {lengths}")
        self.tensors = arrays

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getitem__(self, index):
        return tuple(a[index] for a in self.tensors)

    def get_batch(self, indices):
        """The collated batch for ``indices`` in one indexing per array (the loader's
        fast path; equal to ``default_collate([self[i] for i in indices])``)."""
        indices = np.asarray(indices, dtype=np.int64)
        return tuple(a[indices] for a in self.tensors)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]


class ConcatDataset(Dataset):
    """The samples of several datasets one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"ConcatDataset: index {index} is out of range for {len(self)} samples")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def _split_lengths(lengths, n):
    lengths = [float(x) if not isinstance(x, numbers.Integral) else int(x) for x in lengths]
    if any(x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative, got {lengths}")
    if all(isinstance(x, int) for x in lengths):
        if sum(lengths) != n:
            raise ValueError(f"random_split: lengths {lengths} sum to {sum(lengths)}, but the dataset has {n} samples")
        return lengths
    if not math.isclose(sum(lengths), 1.0, abs_tol=1e-6):
        raise ValueError(f"random_split: fractions {lengths} must sum to 1")
    counts = [int(math.floor(n * f)) for f in lengths]
    for k in range(n - sum(counts)):  # the remainder goes round-robin, as in PyTorch
        counts[k % len(counts)] += 1
    return counts


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping random :class:`Subset` s.

    ``lengths`` are sample counts summing to ``len(dataset)``, or fractions summing
    to 1 (the samples left over by flooring go one each to the first subsets).
    The permutation comes from ``generator`` (default: the CPU default generator)."""
    counts = _split_lengths(lengths, len(dataset))
    gen = generator if generator is not None else default_generator("cpu")
    order = np.asarray(gen.permutation(len(dataset))).tolist()
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
