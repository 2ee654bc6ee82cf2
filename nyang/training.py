"""Training a classifier: ``fit`` and the :class:`Trainer` behind it.

``fit`` runs epochs of (forward, loss, backward, clip, step), validates, keeps a
:class:`History`, stops early, writes checkpoints and resumes from them exactly:
``last.npz`` holds the model, optimizer, scheduler, loader position, random-number
states, history and callback states, so a resumed run on the CPU ends with the same
weights, bit for bit, as one that was never interrupted. Ctrl-C or SIGTERM finish
the current step, write ``last.npz`` and return; a NaN or infinite loss stops with
an error naming the epoch and step before the weights are touched.
"""
import contextlib
import csv
import json
import math
import os
import platform
import signal
import threading
import time
import warnings

import numpy as np

from nyang import random as nyang_random
from nyang.amp import GradScaler, autocast
from nyang.callbacks import Callback, EarlyStopping, LearningRateMonitor, ModelCheckpoint, WandbLogger
from nyang.inference import evaluate, hard_labels, metric_function, predicted_classes, progress_bar, split_batch

CHECKPOINT_KIND = "nyang-training-state"


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class History:
    """One row per epoch: ``epoch``, ``train_loss``, ``train_<metric>``, ``valid_loss``,
    ``valid_<metric>``, ``lr``, ``seconds``. ``history["valid_loss"]`` lists a column."""

    def __init__(self, rows=None):
        self.rows = list(rows or [])
        self.stopped_early = False
        self.interrupted = False
        self.best_epoch = None
        self.best_value = None
        self.monitor = None
        self.out_dir = None

    def __getitem__(self, key):
        return [row.get(key) for row in self.rows]

    def __len__(self):
        return len(self.rows)

    def columns(self):
        names = []
        for row in self.rows:
            names += [k for k in row if k not in names]
        return names

    def write(self, out_dir):
        """Write ``history.csv`` and ``history.jsonl`` into ``out_dir``."""
        columns = self.columns()
        with open(os.path.join(out_dir, "history.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        with open(os.path.join(out_dir, "history.jsonl"), "w") as f:
            for row in self.rows:
                f.write(json.dumps(row) + "\n")

    def __repr__(self):
        return f"History({len(self.rows)} epochs, best {self.monitor}={self.best_value} at epoch {self.best_epoch})"


class _EpochAccumulator:
    """The running loss and the predictions of one training epoch.

    Losses are read back to the host every ``read_every`` steps (every step on the
    CPU, where reading is free; on a GPU only now and then, since each read waits
    for the device), checked for NaN/inf, and summed in float64 on the host.
    Predicted and true classes stay on the device until the epoch ends."""

    def __init__(self, partial, check_finite, read_every):
        partial = partial or {"loss_sum": 0.0, "count": 0, "preds": [], "targets": []}
        self.loss_sum, self.count = partial["loss_sum"], partial["count"]
        self.preds = [np.asarray(a) for a in partial["preds"]]
        self.targets = [np.asarray(a) for a in partial["targets"]]
        self.check_finite, self.read_every = check_finite, read_every
        self.pending, self.pending_count = [], 0

    def add(self, loss, out, y):
        n = out.shape[0]
        self.pending.append(loss.detach() * n if self.read_every > 1 else loss.detach())
        self.pending_count += n
        self.preds.append(predicted_classes(out.detach()))
        self.targets.append(hard_labels(y))
        if len(self.pending) >= self.read_every:
            self.read()

    def read(self):
        if not self.pending:
            return
        if self.read_every == 1:
            value = float(self.pending[0].item())
            self.check_finite(value)
            total = value * self.pending_count
        else:
            total = float(sum(self.pending[1:], self.pending[0]).item())
            self.check_finite(total)
        self.loss_sum, self.count = self.loss_sum + total, self.count + self.pending_count
        self.pending, self.pending_count = [], 0

    def mean_loss(self):
        self.read()
        return self.loss_sum / self.count

    def labels(self):
        """(y_true, y_pred) of the epoch so far, as host arrays."""
        self.read()
        host = [a if isinstance(a, np.ndarray) else a.numpy() for a in self.targets]
        pred = [a if isinstance(a, np.ndarray) else a.numpy() for a in self.preds]
        return np.concatenate(host), np.concatenate(pred)

    def state(self):
        """Plain data to continue this epoch after a resume."""
        self.read()
        self.preds = [a if isinstance(a, np.ndarray) else a.numpy() for a in self.preds]
        self.targets = [a if isinstance(a, np.ndarray) else a.numpy() for a in self.targets]
        return {"loss_sum": self.loss_sum, "count": self.count, "preds": self.preds, "targets": self.targets}


class _Interrupt:
    """Turns SIGINT/SIGTERM into a flag checked between steps (a second Ctrl-C
    interrupts at once)."""

    def __init__(self):
        self.signal = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Trainer:
    """The state of one training run; see :func:`fit` for the arguments."""

    def __init__(self, model, optimizer, loss_fn, train_loader, valid_loader=None, epochs=1, scheduler=None,
                 scheduler_interval="epoch", grad_clip=None, metrics=("accuracy",), monitor=None, patience=None,
                 min_delta=0.0, out_dir=None, callbacks=(), progress=True, logger=None, resume=None,
                 verbose=True, classes=None, amp=False, log_every=50):
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"fit: epochs must be a positive int, got {epochs!r}")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        if grad_clip is not None and not grad_clip > 0:
            raise ValueError(f"fit: grad_clip must be a positive max norm, got {grad_clip!r}")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.train_loader, self.valid_loader = train_loader, valid_loader
        self.epochs, self.scheduler, self.scheduler_interval = epochs, scheduler, scheduler_interval
        self.grad_clip, self.progress, self.verbose, self.classes = grad_clip, progress, verbose, classes
        self.amp, self.log_every = bool(amp), int(log_every)
        self.scaler = GradScaler(enabled=self.amp)
        self.metrics = [metric_function(m) for m in metrics]
        self.monitor = monitor or ("valid_loss" if valid_loader is not None else "train_loss")
        self.out_dir = None if out_dir is None else str(out_dir)
        self.callbacks = list(callbacks)
        if patience is not None:
            self.callbacks.append(EarlyStopping(self.monitor, patience, min_delta))
        if self.out_dir is not None:
            self.callbacks.append(ModelCheckpoint(self.out_dir, self.monitor))
        if logger == "wandb":
            self.callbacks.append(WandbLogger())
        elif logger is not None and not isinstance(logger, Callback):
            raise ValueError(f"fit: logger must be None, 'wandb' or a Callback, got {logger!r}")
        elif logger is not None:
            self.callbacks.append(logger)
        self.history = History()
        self.history.monitor, self.history.out_dir = self.monitor, self.out_dir
        self.epoch, self.batch, self.step = 0, 0, 0
        self.should_stop = False
        self._partial = None
        self._interrupt = None
        self._on_cpu = all(p.device.type != "cuda" for p in model.parameters())
        if resume is not None:
            self.load_last(resume)

    # ------------------------------------------------------------ checkpoints
    def _module_generators(self):
        return {name: m.generator for name, m in self.model.named_modules()
                if getattr(m, "generator", None) is not None}

    def state_dict(self):
        """Everything needed to continue this run exactly (see ``save_last``)."""
        return {
            "kind": CHECKPOINT_KIND,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "train_loader": self.train_loader.state_dict() if hasattr(self.train_loader, "state_dict") else None,
            "rng": nyang_random.get_all_rng_states(),
            "module_generators": {name: g.get_state() for name, g in self._module_generators().items()},
            "epoch": self.epoch, "batch": self.batch, "step": self.step,
            "history": self.history.rows,
            "partial": self._partial,
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "classes": self.classes,
            "grad_scaler": self.scaler.state_dict(),
        }

    def save_last(self, path):
        """Write the resumable state to ``path`` atomically."""
        from nyang.checkpoint import save

        save(self.state_dict(), path)

    def load_last(self, resume):
        """Continue from ``resume``: a run folder (its ``last.npz``) or a file."""
        from nyang.checkpoint import load

        path = os.path.join(str(resume), "last.npz") if os.path.isdir(str(resume)) else str(resume)
        if not os.path.exists(path):
            raise FileNotFoundError(f"fit: cannot resume, {path} does not exist")
        state = load(path, device="cpu")
        if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND:
            raise ValueError(f"fit: {path} is not a training checkpoint written by fit (last.npz)")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if state["train_loader"] is not None:
            self.train_loader.load_state_dict(state["train_loader"])
        nyang_random.set_all_rng_states(state["rng"])
        generators = self._module_generators()
        for name, g_state in state["module_generators"].items():
            if name in generators:
                generators[name].set_state(g_state)
        self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]
        self.history.rows = [dict(r) for r in state["history"]]
        self._partial = state["partial"]
        if len(state["callbacks"]) != len(self.callbacks):
            raise ValueError(f"fit: {path} was written with {len(state['callbacks'])} callbacks, this run has "
                             f"{len(self.callbacks)}; resume with the same callbacks, patience and out_dir")
        for cb, cb_state in zip(self.callbacks, state["callbacks"]):
            cb.load_state_dict(cb_state)
        self.classes = self.classes or state.get("classes")
        self.scaler.load_state_dict(state.get("grad_scaler") or {})

    # ------------------------------------------------------------ the loop
    def _call(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def _lr(self):
        return self.optimizer.param_groups[0]["lr"]

    def _check_finite(self, value):
        if not math.isfinite(value):
            where = (f"step {self.step + 1} (batch {self.batch + 1}); stopped before the update" if self._on_cpu
                     else f"one of the {self.log_every} steps up to step {self.step + 1}")
            raise NonFiniteLossError(f"fit: the training loss became {value} at epoch {self.epoch + 1}, {where}. "
                                     f"Try a smaller learning rate or gradient clipping (grad_clip=1.0).")

    def _train_epoch(self):
        from nyang.nn.utils import clip_grad_norm_

        self.model.train()
        acc = _EpochAccumulator(self._partial, self._check_finite, 1 if self._on_cpu else self.log_every)
        bar = progress_bar(self.train_loader, self.progress, desc=f"epoch {self.epoch + 1}/{self.epochs}",
                           leave=False, total=len(self.train_loader) - self.batch, unit="batch")
        for batch in bar:
            x, y = split_batch(batch)
            try:
                with autocast(enabled=self.amp):
                    out = self.model(x)
                    loss = self.loss_fn(out, y)
                acc.add(loss, out, y)  # on the CPU this reads the loss: the NaN guard runs before the update
                self.optimizer.zero_grad()
                # under amp, float16 overflow is expected: the scaler detects it and skips the step
                with np.errstate(over="ignore", invalid="ignore") if self.amp else contextlib.nullcontext():
                    self.scaler.scale(loss).backward()
                    if self.grad_clip is not None:
                        self.scaler.unscale_(self.optimizer)
                        clip_grad_norm_(self.model.parameters(), self.grad_clip)
                self.scaler.step(self.optimizer)
            except Exception as exc:
                if type(exc).__name__ == "OutOfMemoryError":  # CuPy's, without importing CuPy
                    size = x.shape[0]
                    raise MemoryError(f"fit: the GPU ran out of memory at epoch {self.epoch + 1}, step "
                                      f"{self.step + 1} with batch size {size}; try a smaller batch size such "
                                      f"as {max(1, size // 2)}. The last checkpoint was left as it was.") from exc
                raise
            self.scaler.update()
            if self.scheduler is not None and self.scheduler_interval == "step":
                self.scheduler.step()
            self.batch += 1
            self.step += 1
            self._call("on_batch_end", loss)
            if bar is not self.train_loader and self.step % 10 == 0:
                bar.set_postfix(loss=f"{acc.mean_loss():.4f}", lr=f"{self._lr():.2e}")
            if self._interrupt is not None and self._interrupt.signal is not None:
                self._partial = acc.state()
                return None
        self._partial = None
        y_true, y_pred = acc.labels()
        row = {"train_loss": acc.mean_loss()}
        for name, fn in self.metrics:
            row[f"train_{name}"] = float(fn(y_true, y_pred))
        return row

    def _end_epoch(self, row, started):
        if self.valid_loader is not None:
            result = evaluate(self.model, self.valid_loader, self.metrics, self.loss_fn,
                              progress=self.progress, desc="valid")
            for name, value in result.items():
                row[f"valid_{name}"] = value
        row["lr"] = self._lr()
        row["seconds"] = time.perf_counter() - started
        row = {"epoch": self.epoch + 1, **row}
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            if type(self.scheduler).__name__ == "ReduceLROnPlateau":
                if self.monitor not in row:
                    raise KeyError(f"fit: ReduceLROnPlateau needs monitor {self.monitor!r}, not in {sorted(row)}")
                self.scheduler.step(row[self.monitor])
            else:
                self.scheduler.step()
        self.history.rows.append(row)
        self.epoch, self.batch = self.epoch + 1, 0
        self._call("on_epoch_end", row)
        if self.out_dir is not None:
            self.history.write(self.out_dir)
        if self.verbose:
            print(_format_row(row, self.epochs), flush=True)

    def run(self):
        """Train to the end (or an early stop or interrupt); returns the History."""
        if self.out_dir is not None:
            os.makedirs(self.out_dir, exist_ok=True)
            self._write_run_json()
        self._call("on_fit_start")
        with _Interrupt() as interrupt:
            self._interrupt = interrupt
            while self.epoch < self.epochs and not self.should_stop:
                if interrupt.signal is not None:  # arrived during validation or checkpointing
                    self._stop_interrupted(interrupt.signal)
                    break
                started = time.perf_counter()
                self._call("on_epoch_start")
                row = self._train_epoch()
                if row is None:
                    self._stop_interrupted(interrupt.signal)
                    break
                self._end_epoch(row, started)
            self._interrupt = None
        self.history.stopped_early = self.should_stop
        for cb in self.callbacks:
            if isinstance(cb, ModelCheckpoint):
                self.history.best_value, self.history.best_epoch = cb.best, cb.best_epoch
        if self.history.best_epoch is None and self.history.rows:
            values = [r.get(self.monitor) for r in self.history.rows]
            pick = min if "loss" in self.monitor else max
            best = pick((v, i) for i, v in enumerate(values) if v is not None) if any(
                v is not None for v in values) else None
            if best is not None:
                self.history.best_value, self.history.best_epoch = best[0], best[1] + 1
        if self.out_dir is not None and self.history.rows:
            self._save_curves()
        self._call("on_fit_end")
        return self.history

    def _stop_interrupted(self, signum):
        self.history.interrupted = True
        name = signal.Signals(signum).name
        if self.out_dir is None:
            print(f"\n{name}: training stopped at epoch {self.epoch + 1}, step {self.step}; "
                  f"no out_dir was given, so nothing was saved.", flush=True)
            return
        path = os.path.join(self.out_dir, "last.npz")
        self.save_last(path)
        print(f"\n{name}: training stopped at epoch {self.epoch + 1}, step {self.step}; the state is in {path}.\n"
              f"Resume with fit(..., resume={self.out_dir!r}) or `nyang train ... --resume {self.out_dir}`.",
              flush=True)

    def _write_run_json(self):
        import array_api_compat

        import nyang

        info = {
            "nyang": nyang.__version__, "numpy": np.__version__, "array_api_compat": array_api_compat.__version__,
            "python": platform.python_version(), "device": str(nyang.get_device()),
            "model": repr(self.model), "optimizer": type(self.optimizer).__name__,
            "param_groups": [{k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups],
            "scheduler": None if self.scheduler is None else type(self.scheduler).__name__,
            "scheduler_interval": self.scheduler_interval, "loss": type(self.loss_fn).__name__,
            "epochs": self.epochs, "grad_clip": self.grad_clip, "metrics": [n for n, _ in self.metrics],
            "monitor": self.monitor, "batch_size": getattr(self.train_loader, "batch_size", None),
            "classes": self.classes, "environment": {k: os.environ.get(k) for k in
                                                     ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "NYANG_DEVICE")},
        }
        with open(os.path.join(self.out_dir, "run.json"), "w") as f:
            json.dump(info, f, indent=2, default=str)

    def _save_curves(self):
        try:
            from nyang.viz import save_training_curves
        except ImportError:
            return
        try:
            save_training_curves(self.history, os.path.join(self.out_dir, "curves.png"))
        except ImportError as exc:
            warnings.warn(f"fit: curves.png not written ({exc})", stacklevel=3)


def _format_row(row, epochs):
    parts = [f"epoch {row['epoch']}/{epochs}"]
    for key, value in row.items():
        if key in ("epoch",):
            continue
        if key == "lr":
            parts.append(f"lr {value:.2e}")
        elif key == "seconds":
            parts.append(f"{value:.1f}s")
        else:
            parts.append(f"{key} {value:.4f}")
    return "  ".join(parts)


def fit(model, optimizer, loss_fn, train_loader, valid_loader=None, epochs=1, scheduler=None,
        scheduler_interval="epoch", grad_clip=None, metrics=("accuracy",), monitor=None, patience=None,
        min_delta=0.0, out_dir=None, callbacks=(), progress=True, logger=None, resume=None, verbose=True,
        classes=None, amp=False, log_every=50):
    """Train ``model`` and return its :class:`History`.

    Each step: ``loss = loss_fn(model(x), y)``, backward, optional ``grad_clip``
    (max global L2 norm), ``optimizer.step()``. ``scheduler`` steps per epoch (per
    batch with ``scheduler_interval="step"``, as OneCycleLR wants; ReduceLROnPlateau
    receives the monitored value). ``metrics`` are names (``"accuracy"``, ``"f1"``,
    ``"precision"``, ``"recall"``) or ``fn(y_true, y_pred)`` callables, computed on
    train and valid data each epoch.

    ``monitor`` (default ``"valid_loss"``, or ``"train_loss"`` without a valid
    loader) drives early stopping (``patience`` epochs without an improvement of
    more than ``min_delta``) and ``best.npz``. With ``out_dir``, the run writes
    ``best.npz``, ``last.npz``, ``history.csv``, ``history.jsonl``, ``curves.png``
    and ``run.json`` there; ``resume=out_dir`` continues from ``last.npz``.

    ``progress`` shows tqdm bars on a terminal; ``verbose`` prints one line per
    epoch. ``logger="wandb"`` logs to Weights & Biases when it is installed.
    ``classes`` (class names) are stored in the checkpoints for ``nyang predict``.
    ``amp=True`` trains in mixed precision: forward and loss under
    ``nyang.amp.autocast`` and a ``GradScaler`` for the backward and step.
    On a GPU the loss is read back (and checked for NaN) every ``log_every`` steps
    and at the epoch's end, not every step, so the device never waits for the host.
    """
    trainer = Trainer(model, optimizer, loss_fn, train_loader, valid_loader, epochs, scheduler, scheduler_interval,
                      grad_clip, metrics, monitor, patience, min_delta, out_dir, callbacks, progress, logger,
                      resume, verbose, classes, amp, log_every)
    return trainer.run()


__all__ = ["fit", "Trainer", "History", "NonFiniteLossError", "Callback", "EarlyStopping", "ModelCheckpoint",
           "LearningRateMonitor", "WandbLogger"]
