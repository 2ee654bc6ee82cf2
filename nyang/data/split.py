"""Seeded, stratified train/valid/test splits and the object that carries them."""
import math
import numbers

import numpy as np

from nyang.random import Generator

SPLIT_NAMES = ("train", "valid", "test")


def check_ratios(ratios, name="ratios"):
    """``ratios`` as a tuple of floats, after checking they are >= 0 and sum to 1."""
    try:
        values = tuple(float(r) for r in ratios)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a sequence of numbers, got {ratios!r}") from None
    if not values:
        raise ValueError(f"{name}: expected at least one ratio, got {ratios!r}")
    if any(not math.isfinite(r) or r < 0 for r in values):
        raise ValueError(f"{name}: ratios must be non-negative numbers, got {ratios!r}")
    if not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise ValueError(f"{name}: ratios must sum to 1, got {ratios!r} (sum {sum(values):g})")
    return values


def _class_counts(n, ratios, deficit):
    """How many of a class's ``n`` samples go to each split: ``floor(n * ratio)``,
    the remaining samples one each to the splits furthest below their share of all
    samples so far (``deficit``, updated), then one moved from the largest split to
    any empty split whose ratio is not 0."""
    exact = [n * r for r in ratios]
    counts = [int(math.floor(e)) for e in exact]
    for k in range(len(ratios)):
        deficit[k] += exact[k] - counts[k]
    for _ in range(n - sum(counts)):
        k = max(range(len(ratios)), key=lambda j: (deficit[j], -j))
        counts[k] += 1
        deficit[k] -= 1
    for k, r in enumerate(ratios):
        if r > 0 and counts[k] == 0:
            j = max(range(len(counts)), key=lambda i: (counts[i], -i))
            counts[j] -= 1
            deficit[j] += 1
            counts[k] = 1
            deficit[k] -= 1
    return counts


def stratified_split(labels, ratios=(0.7, 0.15, 0.15), seed=0):
    """Indices of a stratified split: a tuple with one sorted int64 array per ratio.

    Each class (distinct value of ``labels``, shape (N,)) is shuffled with a
    generator seeded by ``seed`` and cut by ``ratios``, so every split holds about
    the same share of every class; the arrays are disjoint, cover ``range(N)`` and
    are the same for the same labels, ratios and seed. A class needs at least one
    sample per split whose ratio is not 0 (ValueError otherwise)."""
    ratios = check_ratios(ratios)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"stratified_split: labels must be 1-D, got shape {labels.shape}")
    if not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"stratified_split: seed must be a non-negative int, got {seed!r}")
    needed = sum(r > 0 for r in ratios)
    gen = Generator("cpu").manual_seed(int(seed))
    parts, deficit = [[] for _ in ratios], [0.0] * len(ratios)
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        if len(members) < needed:
            raise ValueError(f"stratified_split: class {value.item()!r} has {len(members)} sample(s), too few for "
                             f"ratios {ratios}: every split with a non-zero ratio needs at least one")
        members = members[np.asarray(gen.permutation(len(members)))]
        bounds = np.cumsum([0] + _class_counts(len(members), ratios, deficit))
        for k in range(len(ratios)):
            parts[k].append(members[bounds[k]:bounds[k + 1]])
    return tuple(np.sort(np.concatenate(p)).astype(np.int64) if p else np.zeros(0, np.int64) for p in parts)


class Splits:
    """The train/valid/test datasets of one source, and what a model needs to know.

    ``train``, ``valid``, ``test``: datasets yielding ``(x, y)``; ``classes``: the
    class names (index = label); ``num_classes``; ``num_features`` (features per
    sample, e.g. 64 for 8x8 digits; None when images vary in size); ``indices``:
    the index arrays of each split into the source; ``scaler``: the scaler fitted on
    the training split, if any. ``train, valid, test = splits`` unpacks."""

    def __init__(self, train, valid, test, classes, num_features=None, indices=None, scaler=None):
        self.train, self.valid, self.test = train, valid, test
        self.classes = list(classes)
        self.num_features = num_features
        self.indices = indices
        self.scaler = scaler

    @property
    def num_classes(self):
        """The number of classes."""
        return len(self.classes)

    def __iter__(self):
        return iter((self.train, self.valid, self.test))

    def loaders(self, batch_size, **options):
        """``(train_loader, valid_loader, test_loader)``: the training one shuffles,
        the others keep the order; ``options`` go to every :class:`DataLoader`
        (``num_workers``, ``device``, ``generator``, ...)."""
        from nyang.data.dataloader import DataLoader

        return (DataLoader(self.train, batch_size, shuffle=True, **options),
                DataLoader(self.valid, batch_size, **options),
                DataLoader(self.test, batch_size, **options))

    def __repr__(self):
        return (f"Splits(train={len(self.train)}, valid={len(self.valid)}, test={len(self.test)}, "
                f"num_classes={self.num_classes}, num_features={self.num_features})")
