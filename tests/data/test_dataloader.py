"""DataLoader: batching, shuffling, workers, errors, clean shutdown and resuming."""
import gc
import json
import multiprocessing
import os
import threading
import time
import warnings

import numpy as np
import pytest

import nyang
from nyang.data import DataLoader, Dataset, TensorDataset
from nyang.data import transforms as T

IMAGES = np.random.default_rng(0).random((23, 3, 12, 12), dtype=np.float32)


class Augmented(Dataset):
    """(augmented image, index): random transforms make workers and seeds matter."""

    def __init__(self):
        self.transform = T.Compose([T.RandomResizedCrop(10, scale=(0.5, 1.0)), T.RandomHorizontalFlip(),
                                    T.ColorJitter(0.3, 0.3, 0.3, 0.1), T.RandomErasing(p=0.5)])

    def __len__(self):
        return len(IMAGES)

    def __getitem__(self, i):
        return self.transform(IMAGES[i]), i


class Failing(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 7:
            return explode(i)
        return np.float32(i)


def explode(i):
    return i / 0


class Dying(Failing):
    def __getitem__(self, i):
        os._exit(3)


def _epoch(loader):
    return [tuple(t.numpy().copy() for t in batch) for batch in loader]


def _same(a, b):
    return len(a) == len(b) and all(all(np.array_equal(u, v) for u, v in zip(p, q)) for p, q in zip(a, b))


def _no_workers_left():
    deadline = time.time() + 5
    while (multiprocessing.active_children() or threading.active_count() > 1) and time.time() < deadline:
        time.sleep(0.02)
    return not multiprocessing.active_children() and threading.active_count() == 1


def test_batches_cover_every_sample_once_and_keep_the_last_partial_batch():
    data = TensorDataset(np.arange(10), np.arange(10) * 1.5)
    loader = DataLoader(data, batch_size=4, shuffle=True)
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4,), (4,), (2,)]
    seen = np.concatenate([b[0].numpy() for b in batches])
    assert sorted(seen.tolist()) == list(range(10))
    assert batches[0][0].dtype == nyang.int64 and batches[0][1].dtype == nyang.float64
    assert isinstance(batches[0][0], nyang.Tensor) and batches[0][0].device == "cpu"
    dropped = DataLoader(data, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [b[0].numpy().tolist() for b in dropped] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_each_epoch_reshuffles_and_the_seed_fixes_the_order():
    data = TensorDataset(np.arange(50))
    nyang.manual_seed(1)
    loader = DataLoader(data, batch_size=50, shuffle=True)
    first, second = (next(iter(loader))[0].numpy().tolist() for _ in range(2))
    assert first != second and sorted(first) == sorted(second) == list(range(50))
    nyang.manual_seed(1)
    assert next(iter(DataLoader(data, batch_size=50, shuffle=True)))[0].numpy().tolist() == first
    gen = nyang.Generator("cpu").manual_seed(9)
    a = next(iter(DataLoader(data, 50, shuffle=True, generator=gen)))[0].numpy().tolist()
    b = next(iter(DataLoader(data, 50, shuffle=True, generator=nyang.Generator("cpu").manual_seed(9))))
    assert a == b[0].numpy().tolist()


def test_default_collate_types_and_structures():
    class Mixed(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {"x": np.full((2,), i, np.float64), "n": i, "f": i / 2, "ok": True,
                    "pair": (np.int32(i), "name")}

    batch = next(iter(DataLoader(Mixed(), batch_size=3)))
    assert batch["x"].dtype == nyang.float64 and batch["x"].shape == (3, 2)
    assert batch["n"].dtype == nyang.int64 and batch["f"].dtype == nyang.float32
    assert batch["ok"].dtype == nyang.bool and batch["pair"][0].dtype == nyang.int32
    assert batch["pair"][1] == ["name"] * 3


def test_samplers_and_custom_collate():
    data = TensorDataset(np.arange(6))
    loader = DataLoader(data, batch_size=2, sampler=[5, 4, 3, 2, 1, 0])
    assert [b[0].numpy().tolist() for b in loader] == [[5, 4], [3, 2], [1, 0]]
    loader = DataLoader(data, batch_sampler=[[0], [1, 2, 3], [4, 5]])
    assert [b[0].shape[0] for b in loader] == [1, 3, 2] and len(loader) == 3
    loader = DataLoader(data, batch_size=3, collate_fn=lambda samples: np.stack([s[0] for s in samples]) * 10)
    assert next(iter(loader)).numpy().tolist() == [0, 10, 20]


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size: expected an int >= 1, got 0"),
    ({"batch_size": 2.5}, "batch_size: expected an int >= 1, got 2.5"),
    ({"num_workers": -1}, "num_workers: expected an int >= 0, got -1"),
    ({"prefetch_factor": 0, "num_workers": 1}, "prefetch_factor"),
    ({"persistent_workers": True}, "persistent_workers"),
    ({"shuffle": True, "sampler": [0]}, "shuffle"),
    ({"batch_sampler": [[0]], "batch_size": 2}, "batch_sampler"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataLoader(TensorDataset(np.arange(4)), **kwargs)


def test_workers_give_the_same_batches_as_the_main_process():
    nyang.manual_seed(4)
    plain = DataLoader(Augmented(), 5, shuffle=True)
    reference, reference2 = _epoch(plain), _epoch(plain)
    assert not _same(reference, reference2)  # new order and new augmentation each epoch
    for workers, prefetch, persistent in ((1, 1, False), (2, 2, True), (3, 1, False)):
        nyang.manual_seed(4)
        loader = DataLoader(Augmented(), 5, shuffle=True, num_workers=workers, prefetch_factor=prefetch,
                            persistent_workers=persistent)
        assert _same(_epoch(loader), reference) and _same(_epoch(loader), reference2)
        loader.close()
    assert _no_workers_left()


def test_a_worker_exception_is_raised_with_the_worker_traceback():
    loader = DataLoader(Failing(), batch_size=2, num_workers=2)
    with pytest.raises(ZeroDivisionError) as info:
        list(loader)
    message = str(info.value)
    assert "DataLoader worker" in message and "in explode" in message and "division by zero" in message
    assert _no_workers_left()
    with pytest.raises(ZeroDivisionError):
        list(DataLoader(Failing(), batch_size=2))


def test_a_dying_worker_is_reported():
    with pytest.raises(RuntimeError, match="exited unexpectedly with exit code 3"):
        list(DataLoader(Dying(), batch_size=2, num_workers=1))
    assert _no_workers_left()


def test_no_worker_outlives_its_loader():
    data = TensorDataset(np.arange(40))
    loader = DataLoader(data, batch_size=2, num_workers=2)
    for k, _ in enumerate(loader):
        if k == 3:
            break
    assert _no_workers_left()  # an abandoned epoch stops its workers
    list(loader)
    assert _no_workers_left()
    persistent = DataLoader(data, batch_size=2, num_workers=2, persistent_workers=True)
    list(persistent)
    assert len(multiprocessing.active_children()) == 2
    it = iter(persistent)
    next(it)
    persistent.close()
    assert _no_workers_left()
    persistent = DataLoader(data, batch_size=2, num_workers=2, persistent_workers=True)
    list(persistent)
    del persistent
    gc.collect()
    assert _no_workers_left()


@pytest.mark.parametrize("workers", [0, 2])
def test_state_dict_resumes_mid_epoch_with_the_same_remaining_batches(workers):
    def make():
        return DataLoader(Augmented(), 4, shuffle=True, num_workers=workers, generator=nyang.Generator("cpu"))

    loader = make()
    _epoch(loader)  # the saved position is in the second epoch
    expected = []
    for k, batch in enumerate(loader):
        if k == 2:
            state = json.loads(json.dumps(loader.state_dict()))
        if k >= 2:
            expected.append(tuple(t.numpy().copy() for t in batch))
    expected, following = expected[1:], _epoch(loader)
    assert state["batches_done"] == 3
    resumed = make()
    resumed.load_state_dict(state)
    assert resumed.state_dict() == state
    assert _same(_epoch(resumed), expected)
    assert _same(_epoch(resumed), following)
    resumed.close()
    loader.close()


def test_pin_memory_on_the_cpu_warns_and_cpu_device_does_not():
    data = TensorDataset(np.arange(4))
    with pytest.warns(UserWarning, match="pin_memory"):
        DataLoader(data, pin_memory=True, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DataLoader(data, device="cpu")


def test_cuda_without_a_gpu_warns_and_stays_on_the_cpu():
    try:
        nyang.device("cuda")
        pytest.skip("this machine has a GPU")
    except RuntimeError:
        pass
    with pytest.warns(UserWarning, match="cuda"):
        loader = DataLoader(TensorDataset(np.arange(4)), batch_size=2, device="cuda")
    assert next(iter(loader))[0].device == "cpu"


@pytest.mark.cuda
@pytest.mark.parametrize("pin", [False, True])
def test_batches_on_the_gpu(pin):
    data = TensorDataset(IMAGES, np.arange(len(IMAGES)))
    loader = DataLoader(data, batch_size=5, device="cuda", pin_memory=pin)
    batches = list(loader)
    assert all(x.device == "cuda" and y.device == "cuda" for x, y in batches)
    np.testing.assert_array_equal(np.concatenate([x.numpy() for x, _ in batches]), IMAGES)
