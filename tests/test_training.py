"""fit: history and files, early stopping, the best checkpoint, exact resume,
interrupts, the NaN guard, schedulers and callbacks; evaluate and predict."""
import functools
import io
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

import nyang
from nyang import nn, optim
from nyang.callbacks import Callback, EarlyStopping, LearningRateMonitor, ModelCheckpoint, WandbLogger
from nyang.data import DataLoader, datasets
from nyang.training import NonFiniteLossError


@pytest.fixture(scope="module")
def digits():
    return datasets.digits()


def make_run(digits, seed=0, scheduler=None, lr=1e-2, dropout=0.2, batch_size=64):
    """Model, optimizer, scheduler and loaders, all built from ``seed``."""
    nyang.manual_seed(seed)
    model = nyang.models.mlp(64, 10, hidden=(32,), dropout=dropout)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = None if scheduler is None else scheduler(opt)
    train = DataLoader(digits.train, batch_size=batch_size, shuffle=True,
                       generator=nyang.Generator().manual_seed(seed))
    valid = DataLoader(digits.valid, batch_size=256)
    return model, opt, sched, train, valid


def weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


class InterruptAt(Callback):
    """Raise the interrupt flag (as Ctrl-C would) after global step ``step``."""

    def __init__(self, step):
        self.step = step

    def on_batch_end(self, trainer, loss):
        if trainer.step == self.step:
            trainer._interrupt.signal = signal.SIGINT


def test_fit_writes_history_and_run_files(digits, tmp_path, capsys):
    model, opt, _, train, valid = make_run(digits)
    history = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=3, metrics=("accuracy", "f1"),
                        out_dir=tmp_path)
    assert len(history) == 3 and history["epoch"] == [1, 2, 3]
    assert set(history.rows[0]) == {"epoch", "train_loss", "train_accuracy", "train_f1", "valid_loss",
                                    "valid_accuracy", "valid_f1", "lr", "seconds"}
    assert history["train_loss"][-1] < history["train_loss"][0]
    for name in ("best.npz", "last.npz", "history.csv", "history.jsonl", "curves.png", "run.json"):
        assert (tmp_path / name).exists(), name
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch,train_loss")
    out = capsys.readouterr().out  # not a terminal: one line per epoch, no bars
    assert out.count("epoch ") == 3 and "valid_accuracy" in out


def test_best_npz_holds_the_best_epoch(digits, tmp_path):
    model, opt, _, train, valid = make_run(digits, lr=0.5)  # a noisy run: the best is not always the last
    history = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=5, out_dir=tmp_path)
    losses = history["valid_loss"]
    assert history.best_epoch == int(np.argmin(losses)) + 1 and history.best_value == min(losses)
    best = nyang.load(tmp_path / "best.npz")
    assert best["epoch"] == history.best_epoch
    model.load_state_dict(best["model"])
    again = nyang.evaluate(model, valid, loss_fn=nn.CrossEntropyLoss(), progress=False)
    assert again["loss"] == pytest.approx(min(losses), rel=1e-6)


def test_early_stopping_stops_after_patience_epochs_without_improvement(digits, tmp_path):
    model, opt, _, train, valid = make_run(digits, lr=0.0, dropout=0.0)  # nothing changes: no improvement
    history = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=20, patience=2, out_dir=tmp_path)
    assert len(history) == 3 and history.stopped_early and history.best_epoch == 1


def test_early_stopping_callback_on_a_scripted_sequence():
    class Stub:
        should_stop = False

    stopper = EarlyStopping("valid_loss", patience=2, min_delta=0.05)
    trainer = Stub()
    for epoch, value in enumerate([1.0, 0.9, 0.87, 0.86, 0.7, 0.69, 0.68], start=1):
        stopper.on_epoch_end(trainer, {"epoch": epoch, "valid_loss": value})
        if trainer.should_stop:
            break
    assert stopper.stopped_epoch == 4 and stopper.best == 0.9  # 0.87 and 0.86 are within min_delta
    rising = EarlyStopping("valid_accuracy", patience=1)
    assert rising.mode == "max"


@pytest.mark.parametrize("interrupt_step", [5, 40, 41, 59])
def test_resume_equals_an_uninterrupted_run_bit_for_bit(digits, tmp_path, interrupt_step):
    # 20 steps per epoch (1258 samples, batch 64); step 40 is an epoch boundary, 59 the last step
    def scheduler(o):
        return optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5)

    model, opt, sched, train, valid = make_run(digits, scheduler=scheduler)
    full = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=3, scheduler=sched,
                     out_dir=tmp_path / "full", patience=5, verbose=False)
    expected = weights(model)

    model, opt, sched, train, valid = make_run(digits, scheduler=scheduler)
    part = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=3, scheduler=sched,
                     out_dir=tmp_path / "run", patience=5, callbacks=[InterruptAt(interrupt_step)], verbose=False)
    assert part.interrupted
    nyang.manual_seed(1234)  # a fresh process would start from another random state
    model, opt, sched, train, valid = make_run(digits, seed=99, scheduler=scheduler)
    resumed = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=3, scheduler=sched,
                        out_dir=tmp_path / "run", patience=5, resume=tmp_path / "run",
                        callbacks=[InterruptAt(-1)], verbose=False)
    for key, value in expected.items():
        np.testing.assert_array_equal(weights(model)[key], value, err_msg=key)
    drop = {"seconds"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed.rows] == \
           [{k: v for k, v in r.items() if k not in drop} for r in full.rows]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_in_a_subprocess_leaves_a_loadable_last_npz(tmp_path, signum):
    script = textwrap.dedent(f"""
        import os, nyang
        from nyang import nn, optim
        from nyang.callbacks import Callback
        from nyang.data import DataLoader, datasets

        class Announce(Callback):
            def on_batch_end(self, trainer, loss):
                if trainer.step == 3:
                    open({str(tmp_path / 'started')!r}, 'w').close()
                import time; time.sleep(0.02)

        d = datasets.digits()
        model = nyang.models.mlp(64, 10)
        history = nyang.fit(model, optim.Adam(model.parameters()), nn.CrossEntropyLoss(),
                            DataLoader(d.train, batch_size=16, shuffle=True), epochs=50,
                            out_dir={str(tmp_path / 'run')!r}, callbacks=[Announce()], progress=False)
        print("interrupted:", history.interrupted)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    for _ in range(600):
        if (tmp_path / "started").exists():
            break
        if proc.poll() is not None:
            break
        import time
        time.sleep(0.05)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "interrupted: True" in out and "Resume with" in out and signal.Signals(signum).name in out
    state = nyang.load(tmp_path / "run" / "last.npz")
    assert state["step"] >= 3 and set(state["model"]) == {"1.weight", "1.bias", "3.weight", "3.bias", "5.weight",
                                                          "5.bias"}


def test_a_nan_loss_stops_with_the_epoch_and_step_and_keeps_best(digits, tmp_path):
    model, opt, _, train, valid = make_run(digits)
    calls = {"n": 0}
    ce = nn.CrossEntropyLoss()

    def loss_fn(out, y):
        calls["n"] += 1
        loss = ce(out, y)
        return loss * math.nan if calls["n"] == 23 else loss  # step 3 of epoch 2

    with pytest.raises(NonFiniteLossError, match=r"nan at epoch 2, step 23 \(batch 3\)"):
        nyang.fit(model, opt, loss_fn, train, None, epochs=3, out_dir=tmp_path, verbose=False)
    best = nyang.load(tmp_path / "best.npz")
    assert best["epoch"] == 1
    assert all(np.isfinite(v.numpy()).all() for v in model.state_dict().values())


def test_reduce_on_plateau_gets_the_monitored_value_and_onecycle_steps_per_batch(digits):
    model, opt, _, train, valid = make_run(digits, lr=0.0, dropout=0.0)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    opt.param_groups[0]["lr"] = 1e-12  # no learning: valid_loss stays flat, so the lr halves each epoch
    nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=3, scheduler=plateau, verbose=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-12 / 4)

    model, opt, _, train, valid = make_run(digits)
    one_cycle = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=2, steps_per_epoch=len(train))
    monitor = LearningRateMonitor("step")
    nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=2, scheduler=one_cycle,
              scheduler_interval="step", callbacks=[monitor], verbose=False)
    torch = pytest.importorskip("torch")
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-2, momentum=0.9)
    torch_cycle = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=0.1, epochs=2, steps_per_epoch=len(train))
    expected = []
    for _ in range(2 * len(train)):
        reference.step()
        torch_cycle.step()
        expected.append(torch_cycle.get_last_lr()[0])
    assert [row[0] for row in monitor.lrs] == expected


def test_callback_hooks_run_in_order(digits):
    seen = []

    class Recorder(Callback):
        def on_fit_start(self, trainer):
            seen.append("fit_start")

        def on_epoch_start(self, trainer):
            seen.append("epoch_start")

        def on_batch_end(self, trainer, loss):
            seen.append("batch")

        def on_epoch_end(self, trainer, row):
            seen.append(f"epoch_end {row['epoch']}")

        def on_fit_end(self, trainer):
            seen.append("fit_end")

    model, opt, _, train, _ = make_run(digits, batch_size=512)
    nyang.fit(model, opt, nn.CrossEntropyLoss(), train, epochs=2, callbacks=[Recorder()], verbose=False)
    assert seen == ["fit_start", "epoch_start", "batch", "batch", "batch", "epoch_end 1",
                    "epoch_start", "batch", "batch", "batch", "epoch_end 2", "fit_end"]


def test_bad_arguments_are_named(digits):
    model, opt, _, train, _ = make_run(digits)
    with pytest.raises(ValueError, match="epochs must be a positive int, got 0"):
        nyang.fit(model, opt, nn.CrossEntropyLoss(), train, epochs=0)
    with pytest.raises(ValueError, match="scheduler_interval"):
        nyang.fit(model, opt, nn.CrossEntropyLoss(), train, scheduler_interval="batch")
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        nyang.fit(model, opt, nn.CrossEntropyLoss(), train, resume="/nonexistent/run")
    try:
        import wandb  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install wandb"):
            nyang.fit(model, opt, nn.CrossEntropyLoss(), train, logger="wandb")


def test_evaluate_and_predict_on_every_input_kind(digits):
    model, opt, _, train, valid = make_run(digits)
    nyang.fit(model, opt, nn.CrossEntropyLoss(), train, epochs=2, verbose=False)
    model.train()
    scores = nyang.evaluate(model, valid, metrics=("accuracy", "f1", "precision", "recall"),
                            loss_fn=nn.CrossEntropyLoss(), progress=False)
    assert set(scores) == {"loss", "accuracy", "f1", "precision", "recall"} and model.training
    x = np.stack([digits.valid[i][0] for i in range(len(digits.valid))])
    y = np.array([int(digits.valid[i][1]) for i in range(len(digits.valid))])
    for inputs in (x, nyang.tensor(x), digits.valid, valid):
        probs, classes = nyang.predict(model, inputs, batch_size=100)
        assert probs.shape == (len(y), 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
        assert np.array_equal(classes, probs.argmax(axis=1))
        assert np.mean(classes == y) == pytest.approx(scores["accuracy"])
    binary = nn.Sequential(nn.Linear(64, 1))
    p, c = nyang.predict(binary, x.reshape(len(x), -1))
    assert p.shape == (len(x), 2) and np.array_equal(c, (p[:, 1] > 0.5).astype(int))


def test_losses_are_read_in_blocks_off_the_cpu_with_the_same_history(digits):
    model, opt, _, train, valid = make_run(digits, dropout=0.0)
    every_step = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, epochs=2, verbose=False)
    model, opt, _, train, valid = make_run(digits, dropout=0.0)
    trainer = nyang.training.Trainer(model, opt, nn.CrossEntropyLoss(), train, epochs=2, verbose=False,
                                     log_every=7)
    trainer._on_cpu = False  # as on a GPU: read the loss every 7 steps, predictions at the epoch end
    blocks = trainer.run()
    for a, b in zip(every_step.rows, blocks.rows):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["train_accuracy"] == b["train_accuracy"]


def test_out_of_memory_names_the_batch_size(digits, tmp_path):
    class OutOfMemoryError(Exception):  # stands in for cupy.cuda.memory.OutOfMemoryError
        pass

    model, opt, _, train, _ = make_run(digits)
    calls = {"n": 0}
    ce = nn.CrossEntropyLoss()

    def loss_fn(out, y):
        calls["n"] += 1
        if calls["n"] == 25:
            raise OutOfMemoryError("out of memory allocating 1 GiB")
        return ce(out, y)

    with pytest.raises(MemoryError, match="batch size 64; try a smaller batch size such as 32"):
        nyang.fit(model, opt, loss_fn, train, epochs=2, out_dir=tmp_path, verbose=False)
    assert nyang.load(tmp_path / "last.npz")["epoch"] == 1  # the epoch-1 checkpoint is intact


# ================================================================ best.npz, callbacks, run.json
def test_best_npz_is_a_model_file_that_old_readers_still_read(digits, tmp_path):
    model, opt, _, train, valid = make_run(digits)
    history = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=2, out_dir=tmp_path,
                        classes=digits.classes, verbose=False)
    best = nyang.load(tmp_path / "best.npz")
    assert best["epoch"] == history.best_epoch and best["classes"] == list(digits.classes)
    assert best["input_shape"] == [1, 8, 8] and best["monitor"] == "valid_loss"
    assert all(best["model"][k] is best["state_dict"][k] for k in best["model"])  # the weights are stored once
    rebuilt, metadata = nyang.load_model(tmp_path / "best.npz", with_metadata=True)
    assert metadata["epoch"] == history.best_epoch and metadata["input_shape"] == [1, 8, 8]
    model.load_state_dict(best["model"])
    x = nyang.tensor(np.stack([digits.valid[i][0] for i in range(50)]))
    np.testing.assert_array_equal(nyang.predict(rebuilt, x).probabilities, nyang.predict(model, x).probabilities)


def test_best_npz_of_an_unregistered_module_keeps_the_weights_and_says_why(digits, tmp_path):
    class Custom(nn.Module):  # not registered: its architecture cannot be stored
        def __init__(self):
            super().__init__()
            self.body = nyang.models.mlp(64, 10, hidden=(16,))

        def forward(self, x):
            return self.body(x)

    nyang.manual_seed(0)
    model = Custom()
    train = DataLoader(digits.train, batch_size=128, shuffle=True)
    nyang.fit(model, optim.Adam(model.parameters()), nn.CrossEntropyLoss(), train, epochs=1, out_dir=tmp_path,
              verbose=False)
    best = nyang.load(tmp_path / "best.npz")
    assert list(best["model"]) == list(model.state_dict()) and "not a registered module" in best["architecture_error"]
    assert best["epoch"] == 1  # the only epoch: the weights are the model's own
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(best["model"][name].numpy(), value.numpy(), err_msg=name)
    with pytest.raises(nyang.checkpoint.NoArchitectureError):
        nyang.load_model(tmp_path / "best.npz")


def test_model_checkpoint_on_its_own(digits, tmp_path):
    model, opt, _, train, valid = make_run(digits, lr=0.5)
    checkpoint = ModelCheckpoint(tmp_path / "ckpt", monitor="valid_accuracy")
    assert checkpoint.mode == "max" and checkpoint.best_path == str(tmp_path / "ckpt" / "best.npz")
    history = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=4, callbacks=[checkpoint],
                        verbose=False)
    accuracies = history["valid_accuracy"]
    best_epoch = int(np.argmax(accuracies)) + 1  # the first of equal maxima
    assert checkpoint.best == max(accuracies) and checkpoint.best_epoch == best_epoch
    assert history.best_epoch == best_epoch  # fit reports what its checkpoint kept
    best = nyang.load(tmp_path / "ckpt" / "best.npz")
    assert best["epoch"] == best_epoch and best["monitor"] == "valid_accuracy"
    rebuilt = nyang.load_model(tmp_path / "ckpt" / "best.npz")
    scores = nyang.evaluate(rebuilt, valid, progress=False)
    assert scores["accuracy"] == pytest.approx(max(accuracies))
    last = nyang.load(tmp_path / "ckpt" / "last.npz")
    assert last["epoch"] == 4 and last["callbacks"][0] == {"best": max(accuracies), "best_epoch": best_epoch}
    assert not os.path.exists(tmp_path / "run.json")  # no out_dir: only the callback's folder is written


def test_min_delta_counts_small_improvements_as_none(digits):
    model, opt, _, train, valid = make_run(digits, dropout=0.0)
    plain = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=4, patience=1, verbose=False)
    assert len(plain) == 4 and not plain.stopped_early  # the valid loss falls every epoch
    assert all(b < a for a, b in zip(plain["valid_loss"], plain["valid_loss"][1:]))
    model, opt, _, train, valid = make_run(digits, dropout=0.0)
    strict = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=4, patience=1, min_delta=10.0,
                       verbose=False)
    assert len(strict) == 2 and strict.stopped_early  # epoch 2 improves, but by less than 10
    assert strict["valid_loss"] == plain["valid_loss"][:2]  # the same training, stopped sooner
    assert strict.best_epoch == 2  # min_delta is for stopping: best.npz keeps the lowest loss (as in Keras)


def test_grad_clip_clips_the_global_norm_as_torch_does(digits):
    torch = pytest.importorskip("torch")

    class FirstGradients(Callback):
        def __init__(self):
            self.grads = None

        def on_batch_end(self, trainer, loss):  # after the step, before the next zero_grad
            if self.grads is None:
                self.grads = [p.grad.numpy().copy() for p in trainer.model.parameters()]

    runs = {}
    for clip in (None, 0.05):
        model, _, _, train, _ = make_run(digits, dropout=0.0)
        recorder = FirstGradients()
        nyang.fit(model, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), train, epochs=1,
                  grad_clip=clip, callbacks=[recorder], verbose=False)
        runs[clip] = recorder.grads
    params = [torch.zeros(g.shape, requires_grad=True) for g in runs[None]]
    for p, g in zip(params, runs[None]):
        p.grad = torch.tensor(g)
    norm = float(torch.nn.utils.clip_grad_norm_(params, 0.05))
    assert norm > 0.05  # the clip did something
    for clipped, expected in zip(runs[0.05], params):
        np.testing.assert_allclose(clipped, expected.grad.numpy(), rtol=1e-5, atol=1e-8)
    total = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in runs[0.05]))
    assert total == pytest.approx(0.05, rel=1e-5)


def test_run_json_records_the_arguments_that_define_the_run(digits, tmp_path):
    model, opt, sched, train, valid = make_run(
        digits, scheduler=lambda o: optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5))
    nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=1, scheduler=sched, grad_clip=2.0,
              metrics=("accuracy", "f1"), monitor="valid_accuracy", patience=3, min_delta=0.01, out_dir=tmp_path,
              callbacks=[LearningRateMonitor("epoch")], verbose=False, config={"data": "digits", "seed": 0})
    info = json.loads((tmp_path / "run.json").read_text())
    assert {k: info[k] for k in ("epochs", "patience", "min_delta", "monitor", "grad_clip", "scheduler_interval",
                                 "amp", "resume", "out_dir", "metrics", "optimizer", "scheduler", "batch_size")} == {
        "epochs": 1, "patience": 3, "min_delta": 0.01, "monitor": "valid_accuracy", "grad_clip": 2.0,
        "scheduler_interval": "epoch", "amp": False, "resume": None, "out_dir": str(tmp_path),
        "metrics": ["accuracy", "f1"], "optimizer": "SGD", "scheduler": "StepLR", "batch_size": 64}
    assert info["callbacks"] == ["LearningRateMonitor", "EarlyStopping", "ModelCheckpoint"]
    assert info["optimizer_defaults"]["momentum"] == 0.9 and info["param_groups"][0]["lr"] == 1e-2
    assert info["scheduler_hyper_parameters"]["step_size"] == 2
    assert info["scheduler_hyper_parameters"]["gamma"] == 0.5
    assert info["config"] == {"data": "digits", "seed": 0} and info["nyang"] == nyang.__version__
    assert info["numpy"] == np.__version__ and info["loss"].startswith("CrossEntropyLoss")
    # resuming records where from
    model, opt, sched, train, valid = make_run(
        digits, scheduler=lambda o: optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5))
    nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=2, scheduler=sched, grad_clip=2.0,
              metrics=("accuracy", "f1"), monitor="valid_accuracy", patience=3, min_delta=0.01, out_dir=tmp_path,
              callbacks=[LearningRateMonitor("epoch")], verbose=False, resume=tmp_path)
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["resume"] == str(tmp_path) and info["epochs"] == 2


def test_wandb_logger_sends_the_config_each_epoch_and_finishes(digits, monkeypatch):
    calls = []

    class FakeRun:
        def log(self, row, step=None):
            calls.append(("log", dict(row), step))

        def finish(self):
            calls.append(("finish",))

    def init(**kwargs):
        calls.append(("init", kwargs))
        return FakeRun()

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    monkeypatch.setenv("WANDB_MODE", "offline")
    model, opt, _, train, valid = make_run(digits)
    history = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=2, logger="wandb", verbose=False,
                        config={"note": "fake"})
    assert [c[0] for c in calls] == ["init", "log", "log", "finish"]
    kwargs = calls[0][1]
    assert kwargs["project"] == "nyang" and kwargs["mode"] == "offline"
    config = kwargs["config"]
    assert config["epochs"] == 2 and config["optimizer"] == "SGD" and config["metrics"] == ["accuracy"]
    assert config["config"] == {"note": "fake"} and config["nyang"] == nyang.__version__
    assert [c[2] for c in calls[1:3]] == [1, 2] and [c[1] for c in calls[1:3]] == history.rows  # each epoch's row

    calls.clear()  # the logger's own config wins; no WANDB_MODE, no mode
    monkeypatch.delenv("WANDB_MODE")
    model, opt, _, train, valid = make_run(digits)
    logger = WandbLogger(project="p", config={"epochs": "mine"}, entity="me")
    nyang.fit(model, opt, nn.CrossEntropyLoss(), train, epochs=1, logger=logger, verbose=False)
    assert [c[0] for c in calls] == ["init", "log", "finish"]
    kwargs = calls[0][1]
    assert kwargs["project"] == "p" and kwargs["entity"] == "me" and "mode" not in kwargs
    assert kwargs["config"]["epochs"] == "mine" and kwargs["config"]["optimizer"] == "SGD"


# ================================================================ progress bars
class FakeTerminal(io.StringIO):
    """stderr that says it is a terminal, so tqdm bars are drawn into it."""

    def isatty(self):
        return True


def test_the_progress_bars_show_loss_accuracy_and_lr_on_a_terminal(digits, monkeypatch):
    import tqdm.auto

    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(tqdm.auto, "tqdm", functools.partial(tqdm.auto.tqdm, mininterval=0))  # draw every update
    model, opt, _, train, valid = make_run(digits)
    history = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=2, verbose=False)
    text = terminal.getvalue()
    bars = [part for part in text.split("\r") if part.startswith("epoch 2/2")]
    assert any("loss=" in b and "accuracy=" in b and "lr=1.00e-02" in b for b in bars), bars[-3:]
    final = f"loss={history['train_loss'][-1]:.4f}, accuracy={history['train_accuracy'][-1]:.4f}"
    assert any(final in b for b in bars)  # the epoch's own numbers, while validation runs
    assert any(part.startswith("valid") and "loss=" in part for part in text.split("\r"))
    terminal.seek(0)
    terminal.truncate()
    nyang.predict(model, digits.valid)
    assert "predict" in terminal.getvalue()
    terminal.seek(0)
    terminal.truncate()
    nyang.predict(model, digits.valid, progress=False)
    nyang.fit(model, opt, nn.CrossEntropyLoss(), train, epochs=1, progress=False, verbose=False)
    assert terminal.getvalue() == ""


def count_reads(monkeypatch):
    """A list that gets, at each read of the epoch accumulator (fit's and evaluate's),
    how many batch losses it read at once."""
    reads = []
    original = nyang.inference._EpochAccumulator.read

    def counting_read(self):
        if self.pending:
            reads.append(len(self.pending))
        original(self)

    monkeypatch.setattr(nyang.inference._EpochAccumulator, "read", counting_read)
    return reads


def test_a_bar_off_the_cpu_reads_the_loss_only_every_log_every_steps(digits, monkeypatch):
    reads = count_reads(monkeypatch)
    monkeypatch.setattr(sys, "stderr", FakeTerminal())
    model, opt, _, train, _ = make_run(digits)
    trainer = nyang.training.Trainer(model, opt, nn.CrossEntropyLoss(), train, epochs=1, verbose=False,
                                     log_every=7)
    trainer._on_cpu = False  # as on a GPU
    trainer.run()
    assert reads == [7, 7, 6]  # 20 steps: two blocks of 7, the rest at the epoch's end


def test_the_postfix_shows_the_epochs_metric_when_it_is_not_accuracy(digits, monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    model, opt, _, train, _ = make_run(digits)
    history = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, epochs=1, metrics=("f1",), verbose=False)
    assert f"f1={history['train_f1'][0]:.4f}" in terminal.getvalue()


def test_a_single_logit_binary_model_is_scored_against_its_0_1_targets():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32).reshape(-1, 1)  # (N, 1) targets, as BCEWithLogitsLoss takes them
    data = nyang.data.TensorDataset(nyang.tensor(x), nyang.tensor(y))
    nyang.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 1))
    history = nyang.fit(model, optim.Adam(model.parameters(), lr=0.05), nn.BCEWithLogitsLoss(),
                        DataLoader(data, batch_size=32), DataLoader(data, batch_size=64), epochs=3, verbose=False)
    logit = x @ model[0].weight.numpy().T + model[0].bias.numpy()  # by hand: class 1 where the logit is > 0
    expected = float(np.mean((logit > 0) == (y > 0.5)))
    assert history["valid_accuracy"][-1] == pytest.approx(expected) and expected > 0.8
    assert np.array_equal(nyang.predict(model, x).classes, (logit > 0).ravel())


def test_evaluate_off_the_cpu_reads_the_losses_once(digits, monkeypatch):
    """Where reading waits for the device, evaluate keeps losses and predictions there and
    reads them at the end; the result is the per-batch reading's, to float32 rounding."""
    model, _, _, _, valid = make_run(digits)
    valid = DataLoader(digits.valid, batch_size=64)  # 5 batches
    at_once = nyang.evaluate(model, valid, ("accuracy",), nn.CrossEntropyLoss(), progress=False)
    reads = count_reads(monkeypatch)
    monkeypatch.setattr("nyang.device_checks.reading_synchronizes", lambda device: True)
    queued = nyang.evaluate(model, valid, ("accuracy",), nn.CrossEntropyLoss(), progress=False)
    assert reads == [len(valid)]
    assert queued["accuracy"] == at_once["accuracy"]
    assert queued["loss"] == pytest.approx(at_once["loss"], rel=1e-6)
