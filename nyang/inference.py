"""Evaluating and predicting: the model in eval mode, under no_grad."""
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


def evaluate(model, loader, metrics=("accuracy",), loss_fn=None, progress=True, desc="eval"):
    """Loss (when ``loss_fn`` is given) and ``metrics`` of ``model`` over ``loader``,
    in eval mode under no_grad (the previous mode is restored). Returns a dict
    such as ``{"loss": 0.12, "accuracy": 0.97}``. ``progress`` shows a bar with the
    running loss when stderr is a terminal."""
    was_training = model.training
    model.eval()
    named = [metric_function(m) for m in metrics]
    loss_sum, count, preds, targets = 0.0, 0, [], []
    bar = progress_bar(loader, progress, desc=desc, leave=False)
    try:
        with no_grad():
            for batch in bar:
                x, y = split_batch(batch)
                out = model(x)
                n = out.shape[0]
                if loss_fn is not None:
                    loss_sum += float(loss_fn(out, y).item()) * n
                    if bar is not loader:
                        bar.set_postfix(loss=f"{loss_sum / (count + n):.4f}", refresh=False)
                count += n
                preds.append(predicted_classes(out).numpy())
                targets.append(hard_labels(y).numpy())
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: the loader yielded no batches")
    y_pred, y_true = np.concatenate(preds), np.concatenate(targets)
    result = {} if loss_fn is None else {"loss": loss_sum / count}
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
