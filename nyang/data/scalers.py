"""Feature scalers, fitted on the training split only, as scikit-learn's.

They take (N, F) NumPy arrays or Tensors (any device) and return the same kind,
dtype and device. Statistics are computed in float64 on the host and kept as NumPy
arrays, so ``state_dict()`` goes straight into a checkpoint.
"""
import numpy as np

from nyang.tensor import Tensor

_EPS = np.finfo(np.float64).eps


def _host64(x, name):
    a = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected an (N, F) array, got shape {a.shape}")
    return a.astype(np.float64)


def _affine(x, scale, offset):
    """``x * scale + offset`` per feature, in x's own array library, dtype and device."""
    if isinstance(x, Tensor):
        xp = x.device.xp
        s = xp.asarray(scale, dtype=x.data.dtype, device=x.device.native)
        o = xp.asarray(offset, dtype=x.data.dtype, device=x.device.native)
        return Tensor._wrap(x.data * s + o, x.device)
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    return (x * scale.astype(dtype) + offset.astype(dtype)).astype(dtype, copy=False)


class _Scaler:
    _fields = ()

    def _check_fitted(self, name):
        if getattr(self, self._fields[0], None) is None:
            raise RuntimeError(f"{type(self).__name__}.{name}: call fit() first")

    def fit_transform(self, x):
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def transform(self, x):
        """Scale ``x`` (N, F) with the fitted statistics."""
        self._check_fitted("transform")
        scale, offset = self._forward()
        return _affine(x, scale, offset)

    def inverse_transform(self, x):
        """Undo :meth:`transform`."""
        self._check_fitted("inverse_transform")
        scale, offset = self._forward()
        return _affine(x, 1.0 / scale, -offset / scale)

    def state_dict(self):
        """The fitted statistics as NumPy arrays (float64)."""
        self._check_fitted("state_dict")
        return {k: np.array(getattr(self, k)) for k in self._fields}

    def load_state_dict(self, state):
        """Restore the statistics from :meth:`state_dict`."""
        missing = [k for k in self._fields if k not in state]
        if missing:
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing {missing}")
        for k in self._fields:
            setattr(self, k, np.asarray(state[k], dtype=np.float64))
        return self


class StandardScaler(_Scaler):
    """``(x - mean_) / scale_`` with the training split's per-feature mean and
    standard deviation (ddof 0); constant features get scale 1."""

    _fields = ("mean_", "var_", "scale_")

    def __init__(self):
        self.mean_ = self.var_ = self.scale_ = None

    def fit(self, x):
        """Learn the per-feature mean and variance of ``x`` (N, F); returns self."""
        a = _host64(x, "StandardScaler.fit")
        n = a.shape[0]
        self.mean_ = a.mean(axis=0)
        self.var_ = a.var(axis=0)
        # scikit-learn's test for a constant feature: a variance within rounding error of 0
        constant = self.var_ <= n * _EPS * self.var_ + (n * self.mean_ * _EPS) ** 2
        scale = np.sqrt(self.var_)
        self.scale_ = np.where(constant | (scale < 10 * _EPS), 1.0, scale)
        return self

    def _forward(self):
        return 1.0 / self.scale_, -self.mean_ / self.scale_


class MinMaxScaler(_Scaler):
    """Map each feature's training range ``[data_min_, data_max_]`` onto
    ``feature_range`` (default (0, 1)); constant features get scale 1."""

    _fields = ("data_min_", "data_max_", "scale_", "min_")

    def __init__(self, feature_range=(0.0, 1.0)):
        low, high = (float(v) for v in feature_range)
        if not low < high:
            raise ValueError(f"MinMaxScaler: feature_range must be (low, high) with low < high, got {feature_range}")
        self.feature_range = (low, high)
        self.data_min_ = self.data_max_ = self.scale_ = self.min_ = None

    def fit(self, x):
        """Learn the per-feature minimum and maximum of ``x`` (N, F); returns self."""
        a = _host64(x, "MinMaxScaler.fit")
        low, high = self.feature_range
        self.data_min_, self.data_max_ = a.min(axis=0), a.max(axis=0)
        span = self.data_max_ - self.data_min_
        self.scale_ = (high - low) / np.where(span < 10 * _EPS, 1.0, span)
        self.min_ = low - self.data_min_ * self.scale_
        return self

    def _forward(self):
        return self.scale_, self.min_
