"""Classification and regression metrics, computed on the host with NumPy.

Two flavours, named as the libraries people already know name them:

- functions with scikit-learn's names and semantics (``accuracy``, ``precision``,
  ``recall``, ``f1_score``, ``confusion_matrix``, ``classification_report``,
  ``top_k_accuracy``), which give the values ``sklearn.metrics`` gives;
- streaming objects with torchmetrics' names and defaults (``MulticlassAccuracy``,
  ``MulticlassF1Score``, ``MulticlassConfusionMatrix``, ``MeanSquaredError``,
  ``MeanMetric``): ``update(preds, target)`` once per batch, ``compute()`` at the
  end of an epoch, ``reset()`` to start again. Classification objects keep counts
  (a C x C confusion matrix), never the predictions themselves.

Inputs may be nyang Tensors on any device, arrays of any Array API library, NumPy
arrays or lists. Targets are class labels of shape (N,); predictions are labels
(N,) or scores / logits / probabilities (N, C), of which the argmax is taken.
Metrics are summaries, not the training hot path, so they run in NumPy on the host.
"""
import warnings

import array_api_compat
import numpy as np

from nyang.device import device_of_array
from nyang.tensor import Tensor

_AVERAGES = ("binary", "micro", "macro", "weighted", None)


# ================================================================ inputs
def _host(x):
    """``x`` (Tensor, any Array API array, NumPy array or Python data) as a NumPy array."""
    if isinstance(x, Tensor):
        return x.numpy()
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_array_api_obj(x) and not isinstance(x, np.generic):
        return device_of_array(x).kernels.to_numpy(x)
    return np.asarray(x)


def _labels(y, what):
    """``y`` as a 1-D array of labels; float labels must be whole numbers."""
    y = _host(y)
    if y.ndim != 1:
        raise ValueError(f"{what}: expected class labels of shape (N,), got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{what}: expected class labels, got non-integer values; threshold "
                             f"probabilities first, e.g. (p > 0.5)")
        y = y.astype(np.int64)
    return y


def _predicted_labels(y_pred, what):
    """Predicted labels from labels (N,) or scores (N, C) (argmax over C)."""
    y_pred = _host(y_pred)
    if y_pred.ndim == 2:
        if y_pred.shape[1] < 2:
            raise ValueError(f"{what}: scores of shape (N, C) need C >= 2 columns, got shape {y_pred.shape}; "
                             f"for one probability per sample pass labels, e.g. (p > 0.5)")
        return np.argmax(y_pred, axis=1)
    if y_pred.ndim != 1:
        raise ValueError(f"{what}: expected predicted labels (N,) or scores (N, C), got shape {y_pred.shape}")
    return _labels(y_pred, what)


def _pair(y_true, y_pred, what):
    """(true labels, predicted labels) of the same non-zero length."""
    t = _labels(y_true, what + " (y_true)")
    p = _predicted_labels(y_pred, what + " (y_pred)")
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"{what}: y_true has {t.shape[0]} samples but y_pred has {p.shape[0]}")
    if t.shape[0] == 0:
        raise ValueError(f"{what}: got no samples")
    return t, p


def _encode(y, labels):
    """(index of each value of ``y`` in ``labels``, mask of the values found there)."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    pos = np.clip(np.searchsorted(sorted_labels, y), 0, len(labels) - 1)
    return order[pos], sorted_labels[pos] == y


def _counts(t, p, labels):
    """The confusion matrix over ``labels`` (rows true, columns predicted); samples
    whose true or predicted label is not in ``labels`` are left out."""
    n = len(labels)
    ti, t_found = _encode(t, labels)
    pi, p_found = _encode(p, labels)
    keep = t_found & p_found
    return np.bincount(ti[keep] * n + pi[keep], minlength=n * n).reshape(n, n)


def _divide(num, den, zero_division):
    """num / den elementwise, ``zero_division`` where den is 0 (no warning)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast_shapes(num.shape, den.shape), zero_division, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _check_zero_division(zero_division):
    if not (zero_division in (0, 1) or (isinstance(zero_division, float) and np.isnan(zero_division))):
        raise ValueError(f"zero_division must be 0.0, 1.0 or nan, got {zero_division!r}")
    return float(zero_division)


# ================================================================ scikit-learn style functions
def accuracy(y_true, y_pred):
    """The fraction of samples whose predicted label equals the true label
    (``sklearn.metrics.accuracy_score``)."""
    t, p = _pair(y_true, y_pred, "accuracy")
    return float(np.mean(t == p))


def top_k_accuracy(y_true, scores, k=2):
    """The fraction of samples whose true class is among the ``k`` highest ``scores``
    (N, C); ``y_true`` holds class indices 0..C-1. Ties rank the higher class index
    first, as ``sklearn.metrics.top_k_accuracy_score`` (whose default k is also 2)."""
    t = _labels(y_true, "top_k_accuracy (y_true)")
    s = _host(scores)
    if s.ndim != 2:
        raise ValueError(f"top_k_accuracy: expected scores of shape (N, C), got shape {s.shape}")
    if s.shape[0] != t.shape[0] or t.shape[0] == 0:
        raise ValueError(f"top_k_accuracy: y_true has {t.shape[0]} samples and scores {s.shape[0]}; "
                         f"expected the same non-zero number")
    _check_class_indices(t, s.shape[1], "top_k_accuracy (y_true)")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"top_k_accuracy: k must be a positive int, got {k!r}")
    return float(np.mean(_top_k_hits(s, t, int(k))))


def _top_k(scores, k):
    """(N, k) column indices of the k highest scores, ties to the higher index."""
    return np.argsort(scores, axis=1, kind="stable")[:, ::-1][:, :k]


def _top_k_hits(scores, t, k):
    return np.any(_top_k(scores, k) == t[:, None], axis=1)


def _check_class_indices(t, num_classes, what):
    if t.dtype.kind not in "iub":
        raise ValueError(f"{what}: expected integer class indices, got dtype {t.dtype}")
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(f"{what}: class indices must be in [0, {num_classes}), "
                         f"got values from {t.min()} to {t.max()}")


def confusion_matrix(y_true, y_pred, labels=None, num_classes=None):
    """The confusion matrix C (int64): ``C[i, j]`` counts samples of true class i
    predicted as class j (``sklearn.metrics.confusion_matrix``).

    Classes are ``labels`` in that order (samples with other labels are left out),
    or ``range(num_classes)`` (every label must then be in it), or else the sorted
    labels present in either input."""
    t, p = _pair(y_true, y_pred, "confusion_matrix")
    if labels is not None and num_classes is not None:
        raise ValueError("confusion_matrix: give labels or num_classes, not both")
    if num_classes is not None:
        _check_class_indices(t, num_classes, "confusion_matrix (y_true)")
        _check_class_indices(p, num_classes, "confusion_matrix (y_pred)")
        labels = np.arange(num_classes)
    elif labels is not None:
        labels = np.asarray(labels)
        if labels.size == 0:
            raise ValueError("confusion_matrix: labels must contain at least one label")
        if not np.any(np.isin(t, labels)):
            raise ValueError("confusion_matrix: at least one of the labels must be in y_true")
    else:
        labels = np.unique(np.concatenate([t, p]))
    return _counts(t, p, labels)


def _support_counts(y_true, y_pred, average, labels, pos_label, what):
    """(tp, predicted, true) counts per selected label, following
    ``sklearn.metrics.precision_recall_fscore_support``."""
    if average not in _AVERAGES:
        raise ValueError(f"{what}: average must be one of {_AVERAGES}, got {average!r}")
    t, p = _pair(y_true, y_pred, what)
    present = np.unique(np.concatenate([t, p]))
    if average == "binary":
        if len(present) > 2:
            raise ValueError(f"{what}: the targets are multiclass ({len(present)} labels) but average='binary'; "
                             f"choose average='micro', 'macro', 'weighted' or None")
        if pos_label not in present and len(present) == 2:
            raise ValueError(f"{what}: pos_label={pos_label!r} is not a valid label; it should be one of "
                             f"{present.tolist()}")
        selected = np.asarray([pos_label])
    else:
        if pos_label not in (None, 1):
            warnings.warn(f"{what}: pos_label ({pos_label!r}) is ignored when average != 'binary' "
                          f"(got {average!r}); use labels=[pos_label] to score a single class", UserWarning,
                          stacklevel=4)
        selected = present if labels is None else np.asarray(labels)
    # every present label gets a row and column, so no sample is left out of the sums
    cm = _counts(t, p, np.concatenate([selected, np.setdiff1d(present, selected)]))
    n = len(selected)
    return np.diag(cm)[:n], cm.sum(axis=0)[:n], cm.sum(axis=1)[:n]


def _nanaverage(values, weights=None):
    """The (weighted) mean ignoring NaNs; equal weights when all weights are 0."""
    keep = ~np.isnan(values)
    if not np.any(keep):
        return float("nan")
    values = values[keep]
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)[keep]
        if weights.sum() > 0:
            return float(np.average(values, weights=weights))
    return float(np.mean(values))


def precision_recall_fscore_support(y_true, y_pred, average=None, pos_label=1, labels=None, zero_division=0.0):
    """(precision, recall, F1, support) as ``sklearn.metrics.precision_recall_fscore_support``
    with beta=1: per label (NumPy arrays) when ``average`` is None, else averaged
    floats with support None. See :func:`precision` for the arguments."""
    return _prfs(y_true, y_pred, average, pos_label, labels, zero_division, "precision_recall_fscore_support")


def _prfs(y_true, y_pred, average, pos_label, labels, zero_division, what):
    zero_division = _check_zero_division(zero_division)
    tp, predicted, true = _support_counts(y_true, y_pred, average, labels, pos_label, what)
    if average == "micro":
        tp, predicted, true = tp.sum(keepdims=True), predicted.sum(keepdims=True), true.sum(keepdims=True)
    prec = _divide(tp, predicted, zero_division)
    rec = _divide(tp, true, zero_division)
    f1 = _divide(2 * tp, true + predicted, zero_division)
    if average is None:
        return prec, rec, f1, true
    weights = true if average == "weighted" else None
    return _nanaverage(prec, weights), _nanaverage(rec, weights), _nanaverage(f1, weights), None


def precision(y_true, y_pred, average="binary", pos_label=1, labels=None, zero_division=0.0):
    """Precision tp / (tp + fp), as ``sklearn.metrics.precision_score``.

    ``average``: ``"binary"`` (the score of ``pos_label``; the data must have at most
    two labels), ``"micro"`` (from the total counts), ``"macro"`` (unweighted mean
    over labels), ``"weighted"`` (mean weighted by each label's support) or None
    (a NumPy array, one score per label). ``labels`` picks the labels and their order
    (default: the sorted labels present in either input). A score whose denominator
    is 0 is ``zero_division`` (0.0, 1.0 or nan), without a warning."""
    return _prfs(y_true, y_pred, average, pos_label, labels, zero_division, "precision")[0]


def recall(y_true, y_pred, average="binary", pos_label=1, labels=None, zero_division=0.0):
    """Recall tp / (tp + fn), as ``sklearn.metrics.recall_score``; the arguments are
    those of :func:`precision`."""
    return _prfs(y_true, y_pred, average, pos_label, labels, zero_division, "recall")[1]


def f1_score(y_true, y_pred, average="binary", pos_label=1, labels=None, zero_division=0.0):
    """F1 = 2 tp / (2 tp + fp + fn), as ``sklearn.metrics.f1_score``; the arguments
    are those of :func:`precision`."""
    return _prfs(y_true, y_pred, average, pos_label, labels, zero_division, "f1_score")[2]


def classification_report(y_true, y_pred, labels=None, target_names=None, digits=2, output_dict=False,
                          zero_division=0.0):
    """Precision, recall, F1 and support per class plus their averages, as the text
    table (or, with ``output_dict``, the dict) of ``sklearn.metrics.classification_report``."""
    t, p = _pair(y_true, y_pred, "classification_report")
    present = np.unique(np.concatenate([t, p]))
    labels_given = labels is not None
    labels = np.asarray(labels) if labels_given else present
    if target_names is not None and len(target_names) != len(labels):
        if not labels_given:
            raise ValueError(f"classification_report: there are {len(labels)} classes but {len(target_names)} "
                             f"target_names; give labels= to say which classes they name")
        warnings.warn(f"classification_report: labels size, {len(labels)}, does not match size of "
                      f"target_names, {len(target_names)}", UserWarning, stacklevel=2)
    names = [str(n) for n in target_names] if target_names is not None else [str(x) for x in labels]
    headers = ["precision", "recall", "f1-score", "support"]
    scores = _prfs(t, p, None, 1, labels, zero_division, "classification_report")
    rows = list(zip(names, *scores))
    micro_is_accuracy = not labels_given or set(labels.tolist()) >= set(present.tolist())
    total = int(np.sum(scores[3]))
    averages = []
    for average in ("micro", "macro", "weighted"):
        heading = "accuracy" if average == "micro" and micro_is_accuracy else average + " avg"
        values = _prfs(t, p, average, 1, labels, zero_division, "classification_report")[:3]
        averages.append((heading, *values, total))

    if output_dict:
        report = {name: dict(zip(headers, map(float, row))) for name, *row in rows}
        for heading, *row in averages:
            report[heading] = row[0] if heading == "accuracy" else dict(zip(headers, map(float, row)))
        return report
    width = max(max(len(n) for n in names), len("weighted avg"), digits)
    text = f"{'':>{width}s} " + "".join(f" {h:>9}" for h in headers) + "\n\n"
    row_format = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for name, prec, rec, f1, support in rows:
        text += row_format.format(name, prec, rec, f1, int(support), width=width, digits=digits)
    text += "\n"
    for heading, prec, rec, f1, support in averages:
        if heading == "accuracy":
            text += f"{heading:>{width}s} " + f" {'':>9}" * 2 + f" {f1:>9.{digits}f} {support:>9}\n"
        else:
            text += row_format.format(heading, prec, rec, f1, support, width=width, digits=digits)
    return text


# ================================================================ streaming metrics
class Metric:
    """Base of the streaming metrics: ``update`` per batch, ``compute`` at the end,
    ``reset`` to start over."""

    def __init__(self):
        self.reset()

    def reset(self):
        """Forget everything seen so far."""
        raise NotImplementedError

    def update(self, *args, **kwargs):
        """Add a batch."""
        raise NotImplementedError

    def compute(self):
        """The metric over every batch since the last ``reset``."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


def _check_average(average, what):
    if average not in ("micro", "macro", "weighted", "none", None):
        raise ValueError(f"{what}: average must be 'micro', 'macro', 'weighted', 'none' or None, got {average!r}")
    return "none" if average is None else average


class MulticlassConfusionMatrix(Metric):
    """Accumulates the (num_classes, num_classes) confusion matrix: ``compute()[i, j]``
    counts samples of class i predicted as j. Targets are class indices (N,),
    predictions indices (N,) or scores (N, C)."""

    def __init__(self, num_classes):
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"{type(self).__name__}: num_classes must be a positive int, got {num_classes!r}")
        self.num_classes = int(num_classes)
        super().__init__()

    def reset(self):
        """Zero the counts."""
        self.confmat = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def _batch(self, preds, target):
        """(target indices, predictions as given) after checking shapes and ranges."""
        name, c = type(self).__name__, self.num_classes
        t = _labels(target, f"{name} (target)")
        p = _host(preds)
        if p.ndim == 2 and p.shape[1] != c:
            raise ValueError(f"{name}: expected scores of shape (N, {c}), got {p.shape}")
        if p.shape[0] != t.shape[0]:
            raise ValueError(f"{name}: preds has {p.shape[0]} samples but target has {t.shape[0]}")
        _check_class_indices(t, c, f"{name} (target)")
        return t, p

    def update(self, preds, target):
        """Count a batch of predictions (N,) or scores (N, C) against targets (N,)."""
        t, p = self._batch(preds, target)
        p = _predicted_labels(p, f"{type(self).__name__} (preds)")
        _check_class_indices(p, self.num_classes, f"{type(self).__name__} (preds)")
        c = self.num_classes
        self.confmat += np.bincount(t * c + p, minlength=c * c).reshape(c, c)

    def compute(self):
        """A copy of the accumulated confusion matrix (int64)."""
        return self.confmat.copy()

    def __repr__(self):
        return f"{type(self).__name__}(num_classes={self.num_classes})"


class _MulticlassStatScores(MulticlassConfusionMatrix):
    """Per-class true positives, false positives and false negatives, as torchmetrics
    reduces them. With ``top_k`` > 1 a sample counts as a hit for each of its k best
    classes; a confusion matrix cannot say that, so per-class counts are kept instead."""

    def __init__(self, num_classes, average, top_k):
        super().__init__(num_classes)
        self.average = _check_average(average, type(self).__name__)
        if not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= self.num_classes:
            raise ValueError(f"{type(self).__name__}: top_k must be an int in [1, num_classes={num_classes}], "
                             f"got {top_k!r}")
        self.top_k = int(top_k)

    def reset(self):
        """Zero the counts."""
        super().reset()
        self._hits = np.zeros((3, self.num_classes), dtype=np.int64)  # tp, fp, fn for top_k > 1

    def update(self, preds, target):
        """Count a batch of predictions (N,) or scores (N, C) against targets (N,);
        ``top_k`` > 1 needs scores."""
        if self.top_k == 1:
            return super().update(preds, target)
        t, s = self._batch(preds, target)
        if s.ndim != 2:
            raise ValueError(f"{type(self).__name__}: top_k={self.top_k} needs scores of shape "
                             f"(N, {self.num_classes}), got shape {s.shape}")
        chosen = np.zeros(s.shape, dtype=bool)
        np.put_along_axis(chosen, _top_k(s, self.top_k), True, axis=1)
        truth = np.arange(self.num_classes) == t[:, None]
        self._hits += np.stack([(chosen & truth).sum(0), (chosen & ~truth).sum(0), (~chosen & truth).sum(0)])

    def _stats(self):
        if self.top_k > 1:
            return self._hits
        tp = np.diag(self.confmat)
        return tp, self.confmat.sum(0) - tp, self.confmat.sum(1) - tp

    def _reduce(self, score, tp, fp, fn):
        """torchmetrics' averaging: macro leaves out classes never seen (no tp, fp or
        fn; with top_k > 1: no support), weighted weighs by support."""
        if self.average == "none":
            return score
        if self.average == "weighted":
            weights = tp + fn
        else:
            weights = np.ones_like(score)
            weights[(tp + fp + fn == 0) if self.top_k == 1 else (tp + fn == 0)] = 0
        return float(_divide(np.sum(weights * score), np.sum(weights), 0.0))

    def __repr__(self):
        return (f"{type(self).__name__}(num_classes={self.num_classes}, average={self.average!r}, "
                f"top_k={self.top_k})")


class MulticlassAccuracy(_MulticlassStatScores):
    """Accuracy over batches, as ``torchmetrics.classification.MulticlassAccuracy``.

    ``average="macro"`` (torchmetrics' default) is the mean over classes of each
    class's recall, classes never seen in targets or predictions left out;
    ``"micro"`` is the plain fraction correct; ``"weighted"`` weighs classes by
    support; ``"none"``/None gives a NumPy array per class. ``top_k`` counts a sample
    as correct when its class is among its k highest scores. ``compute()`` returns a
    float (0.0 before any update)."""

    def __init__(self, num_classes, average="macro", top_k=1):
        super().__init__(num_classes, average, top_k)

    def compute(self):
        """The accuracy over every batch since the last reset."""
        tp, fp, fn = self._stats()
        if self.average == "micro":
            return float(_divide(tp.sum(), (tp + fn).sum(), 0.0))
        return self._reduce(_divide(tp, tp + fn, 0.0), tp, fp, fn)


class MulticlassF1Score(_MulticlassStatScores):
    """F1 over batches, as ``torchmetrics.classification.MulticlassF1Score``; the
    averages are those of :class:`MulticlassAccuracy` (``"macro"`` by default)."""

    def __init__(self, num_classes, average="macro", top_k=1):
        super().__init__(num_classes, average, top_k)

    def compute(self):
        """F1 = 2 tp / (2 tp + fp + fn) over every batch since the last reset."""
        tp, fp, fn = self._stats()
        if self.average == "micro":
            return float(_divide(2 * tp.sum(), 2 * tp.sum() + fp.sum() + fn.sum(), 0.0))
        return self._reduce(_divide(2 * tp, 2 * tp + fp + fn, 0.0), tp, fp, fn)


class MeanSquaredError(Metric):
    """Mean squared error over batches (``squared=False``: its square root), as
    ``torchmetrics.MeanSquaredError``; ``compute()`` is nan before any update."""

    def __init__(self, squared=True):
        self.squared = squared
        super().__init__()

    def reset(self):
        """Zero the running sums."""
        self.sum_squared_error, self.total = 0.0, 0

    def update(self, preds, target):
        """Add a batch of predictions and targets of the same shape."""
        p, t = _host(preds), _host(target)
        if p.shape != t.shape:
            raise ValueError(f"MeanSquaredError: preds has shape {p.shape} but target has shape {t.shape}")
        diff = p.astype(np.float64) - t.astype(np.float64)
        self.sum_squared_error += float(np.sum(diff * diff))
        self.total += diff.size

    def compute(self):
        """The mean squared error (or its root) over every batch since the last reset."""
        mse = self.sum_squared_error / self.total if self.total else float("nan")
        return mse if self.squared else float(np.sqrt(mse))

    def __repr__(self):
        return f"MeanSquaredError(squared={self.squared})"


class MeanMetric(Metric):
    """A running (weighted) mean, e.g. of the loss: ``update(loss)`` or
    ``update(loss, weight=batch_size)``; as ``torchmetrics.MeanMetric``, but NaN
    values are kept (a diverged loss shows as nan). ``compute()`` is nan before any
    update."""

    def reset(self):
        """Zero the running sums."""
        self.weighted_sum, self.total_weight = 0.0, 0.0

    def update(self, value, weight=1.0):
        """Add ``value`` (a number or an array of values) with ``weight`` (a number or
        an array broadcastable to ``value``)."""
        v = _host(value).astype(np.float64)
        w = np.broadcast_to(_host(weight).astype(np.float64), v.shape)
        self.weighted_sum += float(np.sum(v * w))
        self.total_weight += float(np.sum(w))

    def compute(self):
        """The weighted mean of every value since the last reset."""
        return self.weighted_sum / self.total_weight if self.total_weight else float("nan")
