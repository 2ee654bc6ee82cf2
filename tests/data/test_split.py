"""Seeded stratified splits, random_split and the dataset combinators."""
import numpy as np
import pytest

import nyang
from nyang.data import ConcatDataset, Subset, TensorDataset, random_split, stratified_split

LABELS = np.repeat(np.arange(4), [50, 30, 17, 3])  # imbalanced, one tiny class


def test_split_sizes_disjoint_covering_and_stratified():
    parts = stratified_split(LABELS, (0.7, 0.15, 0.15), seed=0)
    assert len(parts) == 3
    joined = np.concatenate(parts)
    assert len(joined) == len(LABELS) and set(joined.tolist()) == set(range(len(LABELS)))
    assert all(p.dtype == np.int64 and np.all(np.diff(p) > 0) for p in parts)
    for c, n in enumerate([50, 30, 17, 3]):
        counts = [int(np.sum(LABELS[p] == c)) for p in parts]
        assert sum(counts) == n and min(counts) >= 1
        assert abs(counts[0] - 0.7 * n) <= 1 + (n < 10)
    assert [len(p) for p in parts] == [69, 16, 15]


def test_split_is_deterministic_and_depends_on_seed():
    a = stratified_split(LABELS, (0.6, 0.2, 0.2), seed=3)
    b = stratified_split(LABELS, (0.6, 0.2, 0.2), seed=3)
    c = stratified_split(LABELS, (0.6, 0.2, 0.2), seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_zero_ratio_gives_an_empty_split():
    train, valid, test = stratified_split(LABELS, (0.8, 0.2, 0.0), seed=0)
    assert len(test) == 0 and len(train) + len(valid) == len(LABELS)


@pytest.mark.parametrize("ratios", [(0.7, 0.2, 0.2), (0.5, 0.6, -0.1), (), ("a", 1)])
def test_bad_ratios_name_the_argument_and_value(ratios):
    with pytest.raises(ValueError, match="ratios"):
        stratified_split(LABELS, ratios, seed=0)


def test_a_class_too_small_for_the_split_is_named():
    with pytest.raises(ValueError, match="class 3 has 2 sample"):
        stratified_split(np.array([0] * 10 + [3] * 2), (0.6, 0.2, 0.2), seed=0)


def test_random_split_lengths_and_fractions():
    data = TensorDataset(np.arange(10))
    gen = nyang.Generator("cpu").manual_seed(0)
    parts = random_split(data, [3, 7], generator=gen)
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(int(p[i][0]) for p in parts for i in range(len(p))) == list(range(10))
    parts = random_split(data, [0.5, 0.25, 0.25], generator=gen)
    assert [len(p) for p in parts] == [6, 2, 2]  # the leftover sample goes to the first
    again = random_split(data, [3, 7], generator=nyang.Generator("cpu").manual_seed(0))
    assert again[0].indices == random_split(data, [3, 7], generator=nyang.Generator("cpu").manual_seed(0))[0].indices
    with pytest.raises(ValueError, match="sum"):
        random_split(data, [3, 3])
    with pytest.raises(ValueError, match="non-negative"):
        random_split(data, [11, -1])


def test_subset_concat_and_tensor_dataset():
    x, y = np.arange(12).reshape(6, 2), np.arange(6)
    data = TensorDataset(x, nyang.tensor(y))
    assert len(data) == 6 and np.array_equal(data[2][0], [4, 5]) and data[2][1] == 2
    sub = Subset(data, [5, 0])
    assert len(sub) == 2 and sub[0][1] == 5 and sub[-1][1] == 0
    both = data + sub
    assert isinstance(both, ConcatDataset) and len(both) == 8
    assert both[6][1] == 5 and both[-1][1] == 0
    with pytest.raises(IndexError):
        both[8]
    with pytest.raises(ValueError, match="same first dimension"):
        TensorDataset(x, np.arange(5))
