"""Evaluating and predicting: the model in eval mode, under no_grad."""
import math
import sys
from collections import namedtuple

import numpy as np

from nyang.autograd import no_grad
from nyang.creation import as_tensor
from nyang.functional.shape_ops import cat
from nyang.tensor import Tensor

Prediction = namedtuple("Prediction", ["probabilities", "classes"])

METRIC_NAMES = ("accuracy", "f1", "macro_f1", "precision", "recall", "micro_f1", "weighted_f1")


def metric_function(metric):
    """(name, fn(y_true, y_pred)) for a metric name, a callable or a (name, fn) pair."""
    from nyang import metrics as M

    if isinstance(metric, tuple):
        return metric
    if callable(metric):
        return getattr(metric, "__name__", "metric"), metric
    table = {
        "accuracy": M.accuracy,
        "f1": lambda t, p: M.f1_score(t, p, average="macro"),
        "macro_f1": lambda t, p: M.f1_score(t, p, average="macro"),
        "micro_f1": lambda t, p: M.f1_score(t, p, average="micro"),
        "weighted_f1": lambda t, p: M.f1_score(t, p, average="weighted"),
        "precision": lambda t, p: M.precision(t, p, average="macro"),
        "recall": lambda t, p: M.recall(t, p, average="macro"),
    }
    if metric not in table:
        raise ValueError(f"metrics: unknown metric {metric!r}; expected a callable or one of {sorted(table)}")
    return metric, table[metric]


def hard_labels(target):
    """Class indices from a target Tensor: itself, the argmax of soft labels (N, C),
    or the flattened 0/1 targets (N, 1) of a single-logit binary model."""
    if target.dtype.is_floating_point and target.ndim == 2:
        return target.argmax(dim=1) if target.shape[1] > 1 else target.reshape(-1)
    return target


def predicted_classes(output):
    """Class indices from model outputs: argmax of (N, C) logits, or logit > 0 for (N,) / (N, 1)."""
    if output.ndim == 2 and output.shape[1] > 1:
        return output.argmax(dim=1)
    return (output.reshape(-1) > 0).long()


def progress_bar(iterable, enabled, **kwargs):
    """A tqdm bar when ``enabled`` and stderr is a terminal; the iterable otherwise
    (``iterable=None`` gives a bar updated by hand, or None)."""
    if not enabled or not sys.stderr.isatty():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, file=sys.stderr, dynamic_ncols=True, **kwargs)


def split_batch(batch):
    """(inputs, targets or None) from a loader batch."""
    if isinstance(batch, (tuple, list)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    return batch, None


class _EpochAccumulator:
    """The running loss and the predictions of one epoch, of training or of evaluation.

    Losses are read back to the host every ``read_every`` steps (every step on the
    CPU, where reading is free; on a GPU only now and then, since each read waits
    for the device), checked for NaN/inf, and summed in float64 on the host.
    Predicted and true classes stay on the device until the epoch ends. With
    ``count_correct``, the number of right predictions is summed on the device and
    read at the same points, for the progress bar's running accuracy."""

    def __init__(self, partial, check_finite, read_every, count_correct=False):
        partial = partial or {"loss_sum": 0.0, "count": 0, "preds": [], "targets": []}
        self.loss_sum, self.count = partial["loss_sum"], partial["count"]
        self.preds = [np.asarray(a) for a in partial["preds"]]
        self.targets = [np.asarray(a) for a in partial["targets"]]
        self.check_finite, self.read_every, self.count_correct = check_finite, read_every, count_correct
        self.correct = sum(int((p == t).sum()) for p, t in zip(self.preds, self.targets))
        self.pending, self.pending_count, self.pending_correct = [], 0, []

    def add(self, loss, out, y):
        """Take one batch: its mean loss (a 0-d Tensor, or None when none is computed),
        outputs (N, ...) and targets."""
        n = out.shape[0]
        if loss is not None:
            self.pending.append(loss.detach() * n if self.read_every > 1 else loss.detach())
            self.pending_count += n
        pred, target = predicted_classes(out.detach()), hard_labels(y)
        self.preds.append(pred)
        self.targets.append(target)
        if self.count_correct:
            self.pending_correct.append((pred == target).sum())
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
        if self.pending_correct:
            self.correct += int(sum(self.pending_correct[1:], self.pending_correct[0]).item())
        self.loss_sum, self.count = self.loss_sum + total, self.count + self.pending_count
        self.pending, self.pending_count, self.pending_correct = [], 0, []

    def running(self):
        """(mean loss, accuracy or None) of the steps read so far, without reading
        more (no wait for the device); (None, None) before the first read."""
        if self.count == 0:
            return None, None
        return self.loss_sum / self.count, (self.correct / self.count if self.count_correct else None)

    def mean_loss(self):
        self.read()
        return self.loss_sum / self.count

    def _to_host(self):
        """Read the pending losses and bring the predicted and true classes to the host."""
        self.read()
        self.preds = [a if isinstance(a, np.ndarray) else a.numpy() for a in self.preds]
        self.targets = [a if isinstance(a, np.ndarray) else a.numpy() for a in self.targets]

    def labels(self):
        """(y_true, y_pred) of the epoch so far, as host arrays."""
        self._to_host()
        return np.concatenate(self.targets), np.concatenate(self.preds)

    def state(self):
        """Plain data to continue this epoch after a resume."""
        self._to_host()
        return {"loss_sum": self.loss_sum, "count": self.count, "preds": self.preds, "targets": self.targets}


def evaluate(model, loader, metrics=("accuracy",), loss_fn=None, progress=True, desc="eval"):
    """Loss (when ``loss_fn`` is given) and ``metrics`` of ``model`` over ``loader``,
    in eval mode under no_grad (the previous mode is restored). Returns a dict
    such as ``{"loss": 0.12, "accuracy": 0.97}``. ``progress`` shows a bar with the
    running loss when stderr is a terminal. On a GPU nothing is read back until the
    end (see :class:`_EpochAccumulator`); the bar then shows no running loss."""
    from nyang.device_checks import reading_synchronizes

    was_training = model.training
    model.eval()
    named = [metric_function(m) for m in metrics]
    acc = None
    bar = progress_bar(loader, progress, desc=desc, leave=False)
    try:
        with no_grad():
            for batch in bar:
                x, y = split_batch(batch)
                out = model(x)
                if acc is None:  # reads every batch where reading is free, else once at the end
                    acc = _EpochAccumulator(None, lambda value: None,
                                            math.inf if reading_synchronizes(out.device) else 1)
                acc.add(None if loss_fn is None else loss_fn(out, y), out, y)
                running = acc.running()[0]
                if bar is not loader and running is not None:
                    bar.set_postfix(loss=f"{running:.4f}", refresh=False)
    finally:
        model.train(was_training)
    if acc is None:
        raise ValueError("evaluate: the loader yielded no batches")
    y_true, y_pred = acc.labels()
    result = {} if loss_fn is None else {"loss": acc.mean_loss()}
    for name, fn in named:
        result[name] = float(fn(y_true, y_pred))
    return result


def predict(model, inputs, batch_size=256, progress=True):
    """Probabilities (N, C) and classes (N,) of ``model`` for ``inputs``: a Tensor or
    array of inputs (N, ...), a Dataset, or a DataLoader. Runs in eval mode under
    no_grad; softmax over (N, C) logits, sigmoid over one logit per sample.
    ``progress`` shows a bar when stderr is a terminal, as :func:`evaluate` does."""
    from nyang.data import DataLoader, Dataset

    if isinstance(inputs, DataLoader):
        loader, total = inputs, len(inputs)
    elif isinstance(inputs, Dataset):
        loader = DataLoader(inputs, batch_size=batch_size)
        total = len(loader)
    else:
        tensor = inputs if isinstance(inputs, Tensor) else as_tensor(np.asarray(inputs, dtype=np.float32))
        loader = (tensor[i:i + batch_size] for i in range(0, tensor.shape[0], batch_size))
        total = -(-tensor.shape[0] // batch_size)
    was_training = model.training
    model.eval()
    probabilities = []
    try:
        with no_grad():
            for batch in progress_bar(loader, progress, desc="predict", leave=False, total=total):
                x, _ = split_batch(batch)
                out = model(x)
                if out.ndim == 2 and out.shape[1] > 1:
                    p = out.softmax(dim=1)
                else:
                    p1 = out.reshape(-1, 1).sigmoid()
                    p = cat([1 - p1, p1], dim=1)
                probabilities.append(p.numpy())
    finally:
        model.train(was_training)
    probs = np.concatenate(probabilities)
    return Prediction(probs, probs.argmax(axis=1))
