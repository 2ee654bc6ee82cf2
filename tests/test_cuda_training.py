"""Training on the GPU: the same run as on the CPU, checkpoints across devices, amp,
the nyang command with NYANG_DEVICE=cuda, and checks that wait for the next read.
All marked ``cuda``: skipped without an NVIDIA GPU and CuPy."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import nyang
from nyang import nn, optim
from nyang.callbacks import Callback
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


class FirstBatch(Callback):
    """The loss of the first training batch and the dtype of the logits it came from."""

    def __init__(self):
        self.loss, self.logits_dtype = None, None

    def on_fit_start(self, trainer):
        def hook(module, args, out):
            if self.logits_dtype is None:
                self.logits_dtype = out.dtype

        trainer.model[-1].register_forward_hook(hook)

    def on_batch_end(self, trainer, loss):
        if self.loss is None:
            self.loss = float(loss.item())


def run(digits, device, epochs=2, amp=False, callbacks=()):
    """Train ``small_cnn(0)`` on ``device`` with SGD momentum on the same batches as on
    any other device; returns (history, final weights on the host)."""
    model = small_cnn(0).to(device)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    train = DataLoader(digits.train, batch_size=64, shuffle=True, generator=nyang.Generator().manual_seed(0),
                       device=device, pin_memory=device != "cpu")
    valid = DataLoader(digits.valid, batch_size=256, device=device)
    history = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=epochs, progress=False,
                        verbose=False, amp=amp, log_every=5, callbacks=list(callbacks))
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
    full, half = FirstBatch(), FirstBatch()
    run(digits, "cuda", epochs=1, callbacks=[full])
    history, weights = run(digits, "cuda", epochs=2, amp=True, callbacks=[half])
    # the same weights and first batch: the float16 forward gives the float32 loss to float16 precision
    # (the tolerance of tests/test_amp.py)
    assert full.logits_dtype == nyang.float32 and half.logits_dtype == nyang.float16
    assert half.loss == pytest.approx(full.loss, rel=5e-3)
    assert all(w.dtype == np.float32 for k, w in weights.items() if not k.endswith("num_batches_tracked"))
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
    assert list(on_gpu.state_dict()) == list(on_cpu.state_dict()) == list(model.state_dict())
    for name, ours in model.state_dict().items():
        np.testing.assert_array_equal(on_cpu.state_dict()[name].numpy(), ours.numpy(), err_msg=name)
        np.testing.assert_array_equal(on_gpu.state_dict()[name].numpy(), ours.numpy(), err_msg=name)
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
    assert json.loads((tmp_path / "run" / "run.json").read_text())["config"]["device"] == "cuda"
    # model.npz (saved from the GPU) holds the best epoch's weights, and loads to either device
    best = nyang.load(tmp_path / "run" / "best.npz", device="cpu")
    model = nyang.load_model(tmp_path / "run" / "model.npz", device="cpu")
    assert list(model.state_dict()) == list(best["model"])
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), best["model"][name].numpy(), err_msg=name)
    # the printed test accuracy is nyang.evaluate's for those weights, on the GPU as the command ran
    on_gpu = nyang.load_model(tmp_path / "run" / "best.npz", device="cuda")
    test = DataLoader(datasets.digits().test, batch_size=256, device="cuda")
    accuracy = nyang.evaluate(on_gpu, test, progress=False)["accuracy"]
    assert f"test accuracy {accuracy:.4f}" in result.stdout
