"""Training on the GPU: the same run as on the CPU, checkpoints across devices, amp,
the nyang command with NYANG_DEVICE=cuda, and checks that wait for the next read.
All marked ``cuda``: skipped without an NVIDIA GPU and CuPy."""
import os
import subprocess
import sys

import numpy as np
import pytest

import nyang
from nyang import nn, optim
from nyang.data import DataLoader, datasets

pytestmark = pytest.mark.cuda
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def digits():
    return datasets.digits()


def small_cnn(seed):
    """Conv, BatchNorm, ReLU, max-pool and Linear: every CUDA kernel family in one model."""
    nyang.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 10))


def run(digits, device, epochs=2, amp=False):
    """Train ``small_cnn(0)`` on ``device`` with SGD momentum on the same batches as on
    any other device; returns (history, final weights on the host)."""
    model = small_cnn(0).to(device)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    train = DataLoader(digits.train, batch_size=64, shuffle=True, generator=nyang.Generator().manual_seed(0),
                       device=device, pin_memory=device != "cpu")
    valid = DataLoader(digits.valid, batch_size=256, device=device)
    history = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=epochs, progress=False,
                        verbose=False, amp=amp, log_every=5)
    return history, {k: v.numpy() for k, v in model.state_dict().items()}


def test_a_training_run_on_the_gpu_follows_the_cpu_run(digits):
    cpu_history, cpu_weights = run(digits, "cpu")
    gpu_history, gpu_weights = run(digits, "cuda")
    # float32 on both; the GPU's sums run in another order, so agreement is to about 1e-5
    np.testing.assert_allclose(gpu_history["train_loss"], cpu_history["train_loss"], rtol=1e-4)
    np.testing.assert_allclose(gpu_history["valid_loss"], cpu_history["valid_loss"], rtol=1e-4)
    for name, value in cpu_weights.items():
        np.testing.assert_allclose(gpu_weights[name], value, rtol=1e-3, atol=1e-4, err_msg=name)


def test_mixed_precision_trains_on_the_gpu(digits):
    history, _ = run(digits, "cuda", epochs=2, amp=True)
    assert all(np.isfinite(history["train_loss"])) and history["train_loss"][-1] < history["train_loss"][0]
    assert history["valid_accuracy"][-1] > 0.8


def test_checkpoints_save_from_the_gpu_and_load_to_any_device(tmp_path):
    model = small_cnn(1).to("cuda")
    path = tmp_path / "model.npz"
    nyang.save_model(model, path)
    assert all(p.device == "cuda" for p in model.parameters())  # saving does not move the model
    on_gpu = nyang.load_model(path, device="cuda")
    on_cpu = nyang.load_model(path, device="cpu")
    assert all(p.device == "cuda" for p in on_gpu.parameters())
    assert all(p.device == "cpu" for p in on_cpu.parameters())
    for (name, ours), theirs in zip(model.state_dict().items(), on_cpu.state_dict().values()):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=name)
    state = nyang.load(path, device="cuda")
    assert state["state_dict"]["0.weight"].device == "cuda"


def test_a_bad_class_index_on_the_gpu_raises_at_the_next_read():
    logits = nyang.randn(4, 3, device="cuda", requires_grad=True)
    loss = nn.functional.cross_entropy(logits, nyang.tensor([0, 1, 2, 7], device="cuda"))  # no read, no error yet
    with pytest.raises(ValueError, match=r"target class indices must lie in \[0, 3\)"):
        loss.item()


def test_the_nyang_command_trains_on_the_gpu(tmp_path):
    env = {**os.environ, "NYANG_DEVICE": "cuda"}
    result = subprocess.run([sys.executable, "-m", "nyang", "train", "--data", "digits", "--model", "cnn",
                             "--epochs", "2", "--no-progress", "--out", tmp_path / "run"],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
    assert nyang.load_model(tmp_path / "run" / "best.npz", device="cpu") is not None
