"""Callbacks: code that runs at fixed points of ``fit``.

A callback overrides any of ``on_fit_start``, ``on_epoch_start``, ``on_batch_end``,
``on_epoch_end`` and ``on_fit_end``; each receives the running
:class:`nyang.training.Trainer` (model, optimizer, epoch, step, history, ...).
Early stopping, checkpointing and learning-rate logging are callbacks too, and
their state is saved in ``last.npz`` so a resumed run continues them.
"""
import math
import os


class Callback:
    """Base class: every hook does nothing."""

    def on_fit_start(self, trainer):
        pass

    def on_epoch_start(self, trainer):
        pass

    def on_batch_end(self, trainer, loss):
        """``loss`` is the batch loss Tensor (reading it with ``float`` syncs a GPU)."""

    def on_epoch_end(self, trainer, row):
        """``row`` is the epoch's history row (losses, metrics, lr, seconds)."""

    def on_fit_end(self, trainer):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def resolve_mode(monitor, mode="auto"):
    """``"min"`` for losses and errors, ``"max"`` for everything else, unless given."""
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    return "min" if ("loss" in monitor or "error" in monitor) else "max"


def improved(value, best, mode, min_delta=0.0):
    """True when ``value`` beats ``best`` by more than ``min_delta`` in direction ``mode``."""
    if value is None or math.isnan(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` epochs in a row."""

    def __init__(self, monitor="valid_loss", patience=5, min_delta=0.0, mode="auto"):
        if patience is None or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative int, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"EarlyStopping: min_delta must be non-negative, got {min_delta!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = resolve_mode(monitor, mode)
        self.best, self.wait, self.stopped_epoch = None, 0, None

    def on_epoch_end(self, trainer, row):
        value = row.get(self.monitor)
        if value is None:
            raise KeyError(f"EarlyStopping: monitor {self.monitor!r} is not in the history row; "
                           f"available: {sorted(row)}")
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = value, 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = row["epoch"]
                trainer.should_stop = True

    def state_dict(self):
        return {"best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state):
        self.best, self.wait, self.stopped_epoch = state["best"], state["wait"], state["stopped_epoch"]


class ModelCheckpoint(Callback):
    """Write ``best.npz`` (the model when ``monitor`` improves) and ``last.npz``
    (everything needed to resume) into ``dirpath`` after each epoch.

    ``best.npz`` is a model file: ``nyang.load_model(path)``, ``nyang eval`` and
    ``nyang predict`` rebuild the model from it, with metadata ``classes``,
    ``input_shape`` (of one sample, from the first training batch), ``epoch``,
    ``monitor`` and ``value``. ``nyang.load(path)`` also gives those as top-level
    entries, and the weights as ``["model"]`` (the same arrays as ``["state_dict"]``,
    stored once). When a module's class is not registered (``@nyang.nn.register``),
    the architecture cannot be stored: the file then holds the weights and entries
    only, and ``architecture_error`` says why."""

    def __init__(self, dirpath, monitor="valid_loss", mode="auto", save_last=True):
        self.dirpath, self.monitor, self.save_last = str(dirpath), monitor, save_last
        self.mode = resolve_mode(monitor, mode)
        self.best, self.best_epoch = None, None

    @property
    def best_path(self):
        return os.path.join(self.dirpath, "best.npz")

    def on_fit_start(self, trainer):
        os.makedirs(self.dirpath, exist_ok=True)

    def on_epoch_end(self, trainer, row):
        value = row.get(self.monitor)
        if improved(value, self.best, self.mode):
            self.best, self.best_epoch = value, row["epoch"]
            self.save_best(trainer.model, {"epoch": row["epoch"], "monitor": self.monitor, "value": value,
                                           "classes": getattr(trainer, "classes", None),
                                           "input_shape": getattr(trainer, "input_shape", None)})
        if self.save_last:
            trainer.save_last(os.path.join(self.dirpath, "last.npz"))

    def save_best(self, model, info):
        """Write ``model`` and ``info`` (epoch, monitor, value, classes, input_shape) to ``best_path``."""
        from nyang.checkpoint import model_record, save, save_model_record

        info = {k: (list(v) if isinstance(v, tuple) else v) for k, v in info.items()}
        try:
            record = model_record(model, metadata=info)
        except TypeError as exc:  # a module class that is not registered: keep the weights only
            save({"model": model.state_dict(), **info, "architecture_error": str(exc)}, self.best_path)
            return
        save_model_record({**record, "model": record["state_dict"], **info}, self.best_path)

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state):
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class LearningRateMonitor(Callback):
    """Record the learning rate of every param group each step (``"step"``) or epoch."""

    def __init__(self, logging_interval="step"):
        if logging_interval not in ("step", "epoch"):
            raise ValueError(f"LearningRateMonitor: logging_interval must be 'step' or 'epoch', "
                             f"got {logging_interval!r}")
        self.logging_interval, self.lrs = logging_interval, []

    def _record(self, trainer):
        self.lrs.append([group["lr"] for group in trainer.optimizer.param_groups])

    def on_batch_end(self, trainer, loss):
        if self.logging_interval == "step":
            self._record(trainer)

    def on_epoch_end(self, trainer, row):
        if self.logging_interval == "epoch":
            self._record(trainer)

    def state_dict(self):
        return {"lrs": self.lrs}

    def load_state_dict(self, state):
        self.lrs = [list(v) for v in state["lrs"]]


class WandbLogger(Callback):
    """Send each epoch's row to Weights & Biases (``pip install wandb``).

    ``wandb.init`` gets ``project``, the run's configuration (what ``fit`` writes to
    ``run.json``: its arguments, the optimizer and scheduler with their
    hyper-parameters, versions, and the ``nyang`` command's options) updated with
    ``config``, ``mode`` from ``WANDB_MODE`` when set (``offline`` logs locally),
    and ``init_kwargs``. Each epoch's row is logged with ``step=epoch``; the run is
    finished when fit ends."""

    def __init__(self, project="nyang", config=None, **init_kwargs):
        try:
            import wandb
        except ImportError:
            raise ImportError("logger='wandb' needs the wandb package: pip install wandb") from None
        self.wandb = wandb
        self.project, self.config, self.init_kwargs, self.run = project, dict(config or {}), init_kwargs, None

    def on_fit_start(self, trainer):
        run_config = trainer.run_config() if hasattr(trainer, "run_config") else {}
        kwargs = dict(self.init_kwargs)
        if os.environ.get("WANDB_MODE") and "mode" not in kwargs:
            kwargs["mode"] = os.environ["WANDB_MODE"]
        self.run = self.wandb.init(project=self.project, config={**run_config, **self.config}, **kwargs)

    def on_epoch_end(self, trainer, row):
        self.run.log(dict(row), step=row["epoch"])

    def on_fit_end(self, trainer):
        if self.run is not None:
            self.run.finish()
            self.run = None
