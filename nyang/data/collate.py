"""Collating samples into a batch (on the host), and host batches into Tensors."""
import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from nyang.creation import as_tensor
from nyang.tensor import Tensor


def default_collate(samples):
    """Stack a list of samples into one batch of NumPy arrays.

    Arrays (and Tensors) of shape S become one array of shape (B, *S) keeping
    their dtype; NumPy scalars keep theirs; Python ints become int64, floats
    float32 and bools bool; tuples, lists and dicts are collated field by field
    (namedtuples stay namedtuples); strings are gathered in a list."""
    first = samples[0]
    if isinstance(first, Tensor):
        return np.stack([s.numpy() for s in samples])
    if isinstance(first, (str, bytes)):
        return list(samples)
    if isinstance(first, (np.ndarray, np.generic)):
        return np.stack(samples) if isinstance(first, np.ndarray) else np.array(samples)
    if isinstance(first, bool):
        return np.array(samples, dtype=np.bool_)
    if isinstance(first, numbers.Integral):
        return np.array(samples, dtype=np.int64)
    if isinstance(first, numbers.Real):
        return np.array(samples, dtype=np.float32)
    if isinstance(first, Mapping):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(default_collate(list(field)) for field in zip(*samples)))
    if isinstance(first, Sequence):
        lengths = {len(s) for s in samples}
        if len(lengths) != 1:
            raise ValueError(f"default_collate: samples have different lengths {sorted(lengths)}")
        fields = [default_collate(list(field)) for field in zip(*samples)]
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}; "
                    f"expected arrays, numbers, strings, tuples, lists or dicts (or pass collate_fn=)")


def map_arrays(batch, fn):
    """``batch`` with ``fn`` applied to every NumPy array or Tensor in it (through
    tuples, lists and dicts)."""
    if isinstance(batch, (np.ndarray, Tensor)):
        return fn(batch)
    if isinstance(batch, Mapping):
        return {key: map_arrays(value, fn) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(map_arrays(v, fn) for v in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(map_arrays(v, fn) for v in batch)
    return batch


def to_host(batch):
    """``batch`` with Tensors replaced by NumPy arrays (what crosses a process boundary)."""
    return map_arrays(batch, lambda a: a.numpy() if isinstance(a, Tensor) else a)


def to_tensors(batch, device):
    """``batch`` with every array as a Tensor on ``device`` (no copy on the CPU)."""
    return map_arrays(batch, lambda a: as_tensor(a, device=device))
