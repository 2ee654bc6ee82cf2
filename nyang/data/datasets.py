"""Built-in datasets that need no download (files bundled from scikit-learn).

Each function returns :class:`~nyang.data.split.Splits`: ``.train``, ``.valid`` and
``.test`` :class:`TensorDataset` s of ``(x float32, y int64)`` cut by the same seeded
stratified split (:func:`~nyang.data.split.stratified_split`, default 70/15/15,
seed 0), plus ``.classes``, ``.num_classes``, ``.num_features`` and ``.indices``
(each split's rows in the file's order).

>>> train, valid, test = nyang.data.datasets.digits()
>>> x, y = train[0]          # x: (1, 8, 8) float32 in [0, 1], y: int64 label
"""
import csv
import gzip
from importlib import resources

import numpy as np

from nyang.data.dataset import TensorDataset
from nyang.data.scalers import MinMaxScaler, StandardScaler
from nyang.data.split import Splits, stratified_split

_TABLES = {"iris": "iris.csv", "wine": "wine_data.csv", "breast_cancer": "breast_cancer.csv"}
_SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler}


def _file(name):
    return resources.files("nyang.data").joinpath("_files", name)


def load_raw(name):
    """``(features, labels, class_names)`` of a bundled dataset, in file order.

    ``name``: ``"digits"``, ``"iris"``, ``"wine"`` or ``"breast_cancer"``. Features
    are float64 of shape (N, F) (digits: pixels 0..16, F = 64), labels int64 (N,),
    exactly as scikit-learn's ``load_*`` returns them."""
    if name == "digits":
        with _file("digits.csv.gz").open("rb") as raw, gzip.open(raw, "rt") as text:
            table = np.loadtxt(text, delimiter=",")
        return table[:, :-1], table[:, -1].astype(np.int64), [str(d) for d in range(10)]
    if name not in _TABLES:
        raise ValueError(f"load_raw: unknown dataset name {name!r}; expected 'digits' or one of {sorted(_TABLES)}")
    with _file(_TABLES[name]).open("r", encoding="utf-8") as f:
        rows = csv.reader(f)
        header = next(rows)
        table = np.array(list(rows), dtype=np.float64)
    n_samples, n_features = int(header[0]), int(header[1])
    if table.shape != (n_samples, n_features + 1):
        raise ValueError(f"load_raw: {_TABLES[name]} holds {table.shape} values, its header says "
                         f"{n_samples} samples of {n_features} features")
    return table[:, :-1], table[:, -1].astype(np.int64), header[2:]


def _splits(x, y, classes, ratios, seed, scaler=None):
    indices = stratified_split(y, ratios, seed)
    parts = [x[i] for i in indices]
    fitted = None
    if scaler is not None:
        if scaler not in _SCALERS:
            raise ValueError(f"scaler: unknown scaler {scaler!r}; expected None, 'standard' or 'minmax'")
        fitted = _SCALERS[scaler]().fit(parts[0])
        parts = [fitted.transform(p) for p in parts]
    sets = [TensorDataset(p, y[i]) for p, i in zip(parts, indices)]
    return Splits(*sets, classes=classes, num_features=int(np.prod(x.shape[1:])),
                  indices=dict(zip(("train", "valid", "test"), indices)), scaler=fitted)


def digits(ratios=(0.7, 0.15, 0.15), seed=0):
    """The 1797 8x8 handwritten digits: x (1, 8, 8) float32 = pixel / 16, y in 0..9."""
    x, y, classes = load_raw("digits")
    images = (x.reshape(-1, 1, 8, 8) / 16.0).astype(np.float32)
    return _splits(images, y, classes, ratios, seed)


def _table(name, ratios, seed, scaler):
    x, y, classes = load_raw(name)
    return _splits(x.astype(np.float32), y, classes, ratios, seed, scaler)


def iris(ratios=(0.7, 0.15, 0.15), seed=0, scaler=None):
    """150 irises: x (4,) float32 measurements, 3 classes. ``scaler``: None,
    ``"standard"`` or ``"minmax"``, fitted on the training split only (``.scaler``)."""
    return _table("iris", ratios, seed, scaler)


def wine(ratios=(0.7, 0.15, 0.15), seed=0, scaler=None):
    """178 wines: x (13,) float32 chemical measurements, 3 classes; ``scaler`` as :func:`iris`."""
    return _table("wine", ratios, seed, scaler)


def breast_cancer(ratios=(0.7, 0.15, 0.15), seed=0, scaler=None):
    """569 tumours: x (30,) float32 features, 2 classes (malignant, benign); ``scaler`` as :func:`iris`."""
    return _table("breast_cancer", ratios, seed, scaler)
