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
from nyang.device_checks import reading_synchronizes
from nyang.inference import _EpochAccumulator, evaluate, metric_function, progress_bar, split_batch

CHECKPOINT_KIND = "nyang-training-state"


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite. ``where`` says when (epoch and
    step), without the advice that follows it in the message."""

    def __init__(self, message, where=None):
        super().__init__(message)
        self.where = where if where is not None else message


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
                 verbose=True, classes=None, amp=False, log_every=50, config=None):
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
        self.patience, self.min_delta, self.config = patience, min_delta, dict(config or {})
        self.resume = None if resume is None else str(resume)
        self.logger = logger if logger is None or isinstance(logger, str) else type(logger).__name__
        self.input_shape = None  # of one sample, from the first training batch (stored in best.npz)
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
        # where reading a value is free, the loss is read (and checked) every step
        self._on_cpu = not any(reading_synchronizes(p.device) for p in model.parameters())
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
            "input_shape": None if self.input_shape is None else list(self.input_shape),
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
        if state.get("input_shape") is not None:
            self.input_shape = tuple(state["input_shape"])
        self.scaler.load_state_dict(state.get("grad_scaler") or {})

    # ------------------------------------------------------------ the loop
    def _call(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def _lr(self):
        return self.optimizer.param_groups[0]["lr"]

    def _check_finite(self, value):
        if not math.isfinite(value):
            step = (f"step {self.step + 1} (batch {self.batch + 1}); stopped before the update" if self._on_cpu
                    else f"one of the {self.log_every} steps up to step {self.step + 1}")
            where = f"the training loss became {value} at epoch {self.epoch + 1}, {step}"
            raise NonFiniteLossError(f"fit: {where}. Try a smaller learning rate or gradient clipping "
                                     f"(grad_clip=1.0).", where=where)

    def _open_bar(self):
        """The epoch's training bar (updated by hand, so it stays open through
        validation with the epoch's final numbers), or None when quiet."""
        return progress_bar(None, self.progress, desc=f"epoch {self.epoch + 1}/{self.epochs}", leave=False,
                            total=len(self.train_loader) - self.batch, unit="batch")

    def _postfix(self, bar, loss, metric, lr):
        """Show loss, the first metric (when known) and lr on ``bar``."""
        items = {} if loss is None else {"loss": f"{loss:.4f}"}
        if metric is not None and self.metrics:
            items[self.metrics[0][0]] = f"{metric:.4f}"
        items["lr"] = f"{lr:.2e}"
        bar.set_postfix(items)

    def _train_epoch(self, bar=None):
        from nyang.metrics import accuracy
        from nyang.nn.utils import clip_grad_norm_

        self.model.train()
        # the running accuracy costs one small sum per step, read with the loss: only for a bar that shows it
        count_correct = bar is not None and bool(self.metrics) and self.metrics[0][1] is accuracy
        acc = _EpochAccumulator(self._partial, self._check_finite, 1 if self._on_cpu else self.log_every,
                                count_correct)
        for batch in self.train_loader:
            x, y = split_batch(batch)
            if self.input_shape is None and getattr(x, "shape", None) is not None:
                self.input_shape = tuple(x.shape[1:])
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
            if bar is not None:
                bar.update(1)
                if self.step % 10 == 0:  # what was read so far: never waits for a GPU
                    self._postfix(bar, *acc.running(), self._lr())
            if self._interrupt is not None and self._interrupt.signal is not None:
                self._partial = acc.state()
                return None
        self._partial = None
        y_true, y_pred = acc.labels()
        row = {"train_loss": acc.mean_loss()}
        for name, fn in self.metrics:
            row[f"train_{name}"] = float(fn(y_true, y_pred))
        if bar is not None:  # the epoch's own numbers, shown while validation runs
            first = f"train_{self.metrics[0][0]}" if self.metrics else None
            self._postfix(bar, row["train_loss"], row.get(first), self._lr())
        return row

    def _end_epoch(self, row, started, bar=None):
        if self.valid_loader is not None:
            result = evaluate(self.model, self.valid_loader, self.metrics, self.loss_fn,
                              progress=self.progress, desc="valid")
            for name, value in result.items():
                row[f"valid_{name}"] = value
        if bar is not None:
            bar.close()
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
                bar = self._open_bar()
                try:
                    row = self._train_epoch(bar)
                    if row is None:
                        if bar is not None:
                            bar.close()
                        self._stop_interrupted(interrupt.signal)
                        break
                    self._end_epoch(row, started, bar)
                finally:
                    if bar is not None:
                        bar.close()
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

    def run_config(self):
        """The run's description, as written to ``run.json`` and sent to wandb: fit's
        arguments, the model, loss, optimizer and scheduler with their
        hyper-parameters, callbacks by class name, versions, the device, and
        ``config`` (what the caller passed, e.g. the ``nyang`` command's options)."""
        import array_api_compat

        import nyang
        from nyang.nn import Module

        scheduler = None
        if self.scheduler is not None:
            state = self.scheduler.state_dict() if hasattr(self.scheduler, "state_dict") else {}
            scheduler = {"class": type(self.scheduler).__name__,
                         "hyper_parameters": {k: v for k, v in state.items()
                                              if not k.startswith("_") and _plain(v)}}
        return {
            "nyang": nyang.__version__, "numpy": np.__version__, "array_api_compat": array_api_compat.__version__,
            "python": platform.python_version(), "device": str(nyang.get_device()),
            "model": repr(self.model),
            "loss": repr(self.loss_fn) if isinstance(self.loss_fn, Module) else
            getattr(self.loss_fn, "__name__", type(self.loss_fn).__name__),
            "optimizer": type(self.optimizer).__name__,
            "optimizer_defaults": {k: v for k, v in getattr(self.optimizer, "defaults", {}).items() if _plain(v)},
            "param_groups": [{k: v for k, v in g.items() if k != "params" and _plain(v)}
                             for g in self.optimizer.param_groups],
            "scheduler": None if scheduler is None else scheduler["class"],
            "scheduler_hyper_parameters": None if scheduler is None else scheduler["hyper_parameters"],
            "scheduler_interval": self.scheduler_interval,
            "epochs": self.epochs, "patience": self.patience, "min_delta": self.min_delta,
            "monitor": self.monitor, "grad_clip": self.grad_clip, "amp": self.amp, "log_every": self.log_every,
            "metrics": [n for n, _ in self.metrics],
            "callbacks": [type(cb).__name__ for cb in self.callbacks], "logger": self.logger,
            "resume": self.resume, "out_dir": self.out_dir,
            "batch_size": getattr(self.train_loader, "batch_size", None),
            "train_batches": len(self.train_loader) if hasattr(self.train_loader, "__len__") else None,
            "classes": self.classes, "config": self.config,
            "environment": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "NYANG_DEVICE")},
        }

    def _write_run_json(self):
        with open(os.path.join(self.out_dir, "run.json"), "w") as f:
            json.dump(self.run_config(), f, indent=2, default=str)

    def _save_curves(self):
        try:
            from nyang.viz import save_training_curves
        except ImportError:
            return
        try:
            save_training_curves(self.history, os.path.join(self.out_dir, "curves.png"))
        except ImportError as exc:
            warnings.warn(f"fit: curves.png not written ({exc})", stacklevel=3)


def _plain(value):
    """True for JSON data (None, bools, numbers, strings, lists/tuples and str-keyed dicts of them)."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


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
        classes=None, amp=False, log_every=50, config=None):
    """Train ``model`` and return its :class:`History`.

    Each step: ``loss = loss_fn(model(x), y)``, backward, optional ``grad_clip``
    (max global L2 norm), ``optimizer.step()``. ``scheduler`` steps per epoch (per
    batch with ``scheduler_interval="step"``, as OneCycleLR wants; ReduceLROnPlateau
    receives the monitored value). ``metrics`` are names (``"accuracy"``, ``"f1"``,
    ``"precision"``, ``"recall"``) or ``fn(y_true, y_pred)`` callables, computed on
    train and valid data each epoch.

    ``monitor`` (default ``"valid_loss"``, or ``"train_loss"`` without a valid
    loader) drives early stopping (``patience`` epochs without an improvement of
    more than ``min_delta``) and ``best.npz`` (the best value, however small the
    improvement, as in Keras). With ``out_dir``, the run writes
    ``best.npz``, ``last.npz``, ``history.csv``, ``history.jsonl``, ``curves.png``
    and ``run.json`` there; ``resume=out_dir`` continues from ``last.npz``.
    ``best.npz`` is a model file (architecture and weights, as ``nyang.save_model``
    writes) when every module class is built in or registered, so
    ``nyang.load_model``, ``nyang eval`` and ``nyang predict`` read it;
    ``nyang.load(path)["model"]`` is its state dict either way (see
    :class:`~nyang.callbacks.ModelCheckpoint`). ``run.json`` records fit's arguments,
    the optimizer and scheduler with their hyper-parameters, versions and
    ``config`` (a dict of JSON data describing the run beyond fit's arguments; the
    ``nyang`` command passes its options), which ``logger="wandb"`` sends too.

    ``progress`` shows tqdm bars on a terminal (loss, the first metric and lr on
    the training bar, the running loss on the validation bar); ``verbose`` prints
    one line per epoch. ``logger="wandb"`` logs to Weights & Biases when it is
    installed. ``classes`` (class names) are stored in the checkpoints for
    ``nyang predict``.
    ``amp=True`` trains in mixed precision: forward and loss under
    ``nyang.amp.autocast`` and a ``GradScaler`` for the backward and step.
    On a GPU the loss is read back (and checked for NaN) every ``log_every`` steps
    and at the epoch's end, not every step, so the device never waits for the host.
    """
    trainer = Trainer(model, optimizer, loss_fn, train_loader, valid_loader, epochs, scheduler, scheduler_interval,
                      grad_clip, metrics, monitor, patience, min_delta, out_dir, callbacks, progress, logger,
                      resume, verbose, classes, amp, log_every, config)
    return trainer.run()


__all__ = ["fit", "Trainer", "History", "NonFiniteLossError", "Callback", "EarlyStopping", "ModelCheckpoint",
           "LearningRateMonitor", "WandbLogger"]
