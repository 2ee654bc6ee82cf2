"""Pictures of data and training, written to files (matplotlib: ``pip install nyang[viz]``).

Figures are drawn off-screen with matplotlib's Agg canvas; pyplot and its global
state are never touched, so these functions work on headless machines and in workers.
"""
import math

import numpy as np

from nyang.tensor import Tensor


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("nyang.viz needs matplotlib: pip install nyang[viz]") from None
    return Figure, FigureCanvasAgg


def _host(data):
    return data.numpy() if isinstance(data, Tensor) else np.asarray(data)


def _displayable(images):
    """(N, H, W) or (N, H, W, 3) values in [0, 1] for imshow, from (N, C, H, W) or (N, H, W)."""
    a = _host(images)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise ValueError(f"save_image_grid: expected images (N, C, H, W) with C = 1 or 3, or (N, H, W), "
                         f"got shape {a.shape}")
    a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
    low, high = float(a.min()), float(a.max())
    if low < 0.0 or high > 1.0:  # normalized data: stretch the batch's range onto [0, 1]
        a = (a - low) / (high - low) if high > low else np.zeros_like(a)
    return a[:, 0] if a.shape[1] == 1 else a.transpose(0, 2, 3, 1)


def _label_text(labels, count, class_names):
    if labels is None:
        return [""] * count
    a = _host(labels)
    if a.ndim == 2:  # soft targets or scores: the most likely class
        a = a.argmax(axis=1)
    if a.shape != (count,):
        raise ValueError(f"save_image_grid: expected {count} labels, got shape {a.shape}")
    return [class_names[int(k)] if class_names is not None else str(int(k)) for k in a]


def save_image_grid(images, labels, path, class_names=None, nrow=8):
    """Write a PNG of ``images`` in a grid, ``nrow`` per row, each titled by its label.

    ``images``: (N, C, H, W) with C = 1 or 3, or (N, H, W), Tensor or array; float
    values in [0, 1] are drawn as they are, other ranges (normalized data) are
    stretched from the batch's min..max, uint8 is divided by 255. ``labels``: (N,)
    class indices, (N, K) scores (their argmax), or None; ``class_names`` maps an
    index to its title. Returns ``path``."""
    figure_class, canvas_class = _matplotlib()
    pictures = _displayable(images)
    count = len(pictures)
    if count == 0:
        raise ValueError("save_image_grid: no images to draw")
    if not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"save_image_grid: nrow must be a positive int, got {nrow!r}")
    titles = _label_text(labels, count, class_names)
    cols = min(nrow, count)
    rows = math.ceil(count / cols)
    figure = figure_class(figsize=(1.25 * cols, 1.45 * rows), dpi=100)
    canvas_class(figure)
    for k, (picture, title) in enumerate(zip(pictures, titles)):
        axes = figure.add_subplot(rows, cols, k + 1)
        axes.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0.0, vmax=1.0,
                    interpolation="nearest")
        axes.set_title(title, fontsize=8)
        axes.axis("off")
    figure.tight_layout()
    figure.savefig(path, format="png", facecolor="white")
    return path


def save_confusion_matrix(cm, path, class_names=None, normalize=None):
    """Write a PNG of the (K, K) confusion matrix ``cm`` (rows: true class, columns:
    predicted), each cell annotated. ``normalize``: None (counts), ``"true"`` (rows
    sum to 1), ``"pred"`` (columns sum to 1) or ``"all"``, as scikit-learn's.
    Returns ``path``."""
    figure_class, canvas_class = _matplotlib()
    counts = _host(cm).astype(np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"save_confusion_matrix: expected a square (K, K) matrix, got shape {counts.shape}")
    axis = {"true": 1, "pred": 0, "all": None}
    if normalize is not None and normalize not in axis:
        raise ValueError(f"save_confusion_matrix: normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")
    values = counts
    if normalize is not None:
        total = counts.sum(axis=axis[normalize], keepdims=normalize != "all")
        values = np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)
    k = counts.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    side = max(3.0, 0.45 * k + 1.5)
    figure = figure_class(figsize=(side + 1.0, side), dpi=100)
    canvas_class(figure)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(values, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true",
             title="confusion matrix" + ("" if normalize is None else f" (normalized over {normalize})"))
    axes.set_xticklabels(names, rotation=45, ha="right")
    axes.set_yticklabels(names)
    if k <= 30:
        threshold = values.max() / 2 if values.size else 0
        for i in range(k):
            for j in range(k):
                text = f"{values[i, j]:.2f}" if normalize is not None else f"{int(counts[i, j])}"
                axes.text(j, i, text, ha="center", va="center", fontsize=7,
                          color="white" if values[i, j] > threshold else "black")
    figure.tight_layout()
    figure.savefig(path, format="png", facecolor="white")
    return path


def save_training_curves(history, path):
    """Write a PNG of the per-epoch curves of ``history`` (a ``nyang.training.History``
    or a list of row dicts): one panel for the losses, one per other metric, train and
    valid together. Returns ``path``."""
    figure_class, canvas_class = _matplotlib()
    rows = list(getattr(history, "rows", history))
    if not rows:
        raise ValueError("save_training_curves: the history has no epochs")
    columns = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    metrics = []
    for column in columns:
        for prefix in ("train_", "valid_"):
            if column.startswith(prefix) and column[len(prefix):] not in metrics:
                metrics.append(column[len(prefix):])
    if not metrics:
        raise ValueError(f"save_training_curves: no train_*/valid_* columns in {columns}")
    epochs = [row.get("epoch", k + 1) for k, row in enumerate(rows)]
    figure = figure_class(figsize=(4.0 * len(metrics), 3.2), dpi=100)
    canvas_class(figure)
    for k, metric in enumerate(metrics):
        axes = figure.add_subplot(1, len(metrics), k + 1)
        for prefix in ("train_", "valid_"):
            values = [row.get(prefix + metric) for row in rows]
            points = [(e, float(v)) for e, v in zip(epochs, values) if v is not None]
            if points:
                axes.plot(*zip(*points), marker="o", markersize=3, label=prefix.rstrip("_"))
        axes.set(title=metric, xlabel="epoch")
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png", facecolor="white")
    return path
