"""Checks of device values queued until the next read on a GPU (``nyang.device_checks``),
tried on the CPU by making it a device whose reads would synchronise."""
import numpy as np
import pytest

import nyang
import nyang.functional as F
from nyang import device_checks


@pytest.fixture
def gpu_like(monkeypatch):
    """The CPU treated as a device where reading a value waits for queued work."""
    monkeypatch.setattr(device_checks, "reading_synchronizes", lambda device: True)
    yield
    device_checks._queue.clear()


def _logits():
    return nyang.tensor(np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32), requires_grad=True)


def test_a_bad_class_index_raises_at_the_next_read_not_at_the_call(gpu_like):
    # -1 (not 4): NumPy's gather takes it where it would refuse 4 (CuPy's gathers refuse neither)
    loss = F.cross_entropy(_logits(), nyang.tensor([0, 1, -1, 2, 3, 1]))  # queued, no read
    assert len(device_checks._queue) == 1
    loss.backward()  # the step goes on, as after a CUDA device-side assert
    with pytest.raises(ValueError, match=r"cross_entropy: target class indices must lie in \[0, 4\).*-1 to 3"):
        loss.item()
    assert not device_checks._queue
    assert np.isfinite(loss.item())  # reported once


def test_good_targets_read_once_and_give_the_cpu_result(gpu_like):
    """A queued check of good targets (one ignored, as -100 is the default ignore_index)
    passes at the read; the loss and gradient are the CPU's and torch's."""
    torch = pytest.importorskip("torch")
    targets = [0, 1, -100, 2, 3, 1]
    queued_x = _logits()
    queued = F.cross_entropy(queued_x, nyang.tensor(targets))
    queued.backward()
    assert len(device_checks._queue) == 1
    queued_loss = queued.item()  # reads (and passes) the check
    assert not device_checks._queue
    x = _logits()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(device_checks, "reading_synchronizes", lambda device: False)
        at_once = F.cross_entropy(x, nyang.tensor(targets))
        at_once.backward()
    assert queued_loss == at_once.item()
    np.testing.assert_array_equal(queued_x.grad.numpy(), x.grad.numpy())
    xt = torch.tensor(x.detach().numpy(), requires_grad=True)
    expected = torch.nn.functional.cross_entropy(xt, torch.tensor(targets))
    expected.backward()
    np.testing.assert_allclose(queued_loss, expected.item(), rtol=1e-6)
    np.testing.assert_allclose(queued_x.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_a_bad_probability_raises_at_the_next_read(gpu_like):
    p = nyang.full((3,), 0.5)
    loss = F.binary_cross_entropy(p, nyang.tensor([0.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="target must be between 0 and 1"):
        float(loss)


def test_checks_are_read_anyway_when_many_are_queued(gpu_like):
    good, bad = nyang.tensor([0, 1, 2, 3, 0, 1]), nyang.tensor([0, 1, 2, 3, 0, -2])
    F.cross_entropy(_logits(), bad)
    with pytest.raises(ValueError, match="got values from -2 to 3"):
        for _ in range(device_checks._QUEUE_LIMIT):
            F.cross_entropy(_logits(), good)
    assert not device_checks._queue


def test_on_the_cpu_a_check_runs_at_the_call():
    with pytest.raises(ValueError, match="got values from 0 to 4"):
        F.cross_entropy(_logits(), nyang.tensor([0, 1, 4, 2, 3, 1]))
    assert not device_checks._queue
