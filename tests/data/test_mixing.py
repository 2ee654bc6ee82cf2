"""Mixup and CutMix: soft targets sum to 1 and weigh the images as they were mixed."""
import numpy as np
import pytest

import nyang
from nyang.data import CutMix, Mixup
from nyang.data.transforms import RandomChoice

N, K = 6, 6


def _batch(backend):
    x = np.random.default_rng(0).random((N, 3, 8, 10), dtype=np.float32)
    y = np.arange(N)  # one sample per class, so a target row says how much of each image is in it
    return (nyang.as_tensor(backend.asarray(x)), nyang.as_tensor(backend.asarray(y, np.int64)), x)


def test_mixup_targets_sum_to_one_and_weigh_the_images(backend):
    x, y, host = _batch(backend)
    for seed in range(3):
        mixed, targets = Mixup(0.4, K, generator=nyang.Generator("cpu").manual_seed(seed))(x, y)
        assert mixed.device == x.device and targets.shape == (N, K) and targets.dtype == nyang.float32
        t = targets.numpy()
        np.testing.assert_allclose(t.sum(axis=1), 1.0, rtol=1e-6)
        np.testing.assert_allclose(mixed.numpy().reshape(N, -1), t @ host.reshape(N, -1), rtol=1e-5, atol=1e-6)


def test_cutmix_lambda_is_the_kept_area(backend):
    x, y, host = _batch(backend)
    for seed in range(5):
        mixed, targets = CutMix(1.0, K, generator=nyang.Generator("cpu").manual_seed(seed))(x, y)
        t, m = targets.numpy(), mixed.numpy()
        np.testing.assert_allclose(t.sum(axis=1), 1.0, rtol=1e-6)
        for i in range(N):
            kept = np.all(m[i] == host[i], axis=0).mean()  # share of pixels still from image i
            assert t[i, i] == pytest.approx(kept, abs=1e-6)
            source = int(np.argmax(np.where(np.arange(K) == i, -1, t[i])))
            if t[i, i] < 1:
                assert np.all((m[i] == host[i]) | (m[i] == host[source]))


def test_random_choice_of_the_two_and_soft_labels_in():
    x = nyang.rand(4, 1, 5, 5)
    soft = nyang.tensor(np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    choose = RandomChoice([Mixup(1.0, 3), CutMix(1.0, 3)], generator=nyang.Generator("cpu").manual_seed(0))
    for _ in range(4):
        mixed, targets = choose(x, soft)
        assert mixed.shape == x.shape and np.allclose(targets.numpy().sum(axis=1), 1.0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="alpha"):
        Mixup(0.0, 3)
    with pytest.raises(ValueError, match="num_classes"):
        CutMix(1.0, 0)
    with pytest.raises(ValueError, match="classes"):
        Mixup(1.0, 3)(nyang.rand(2, 4), nyang.rand(2, 5))
    with pytest.raises(TypeError, match="Tensors"):
        Mixup(1.0, 3)(np.zeros((2, 4)), np.zeros(2))
