"""Batch-level augmentation that mixes samples: Mixup and CutMix.

They run on the batch's device with Array API operations (``x.device.xp``) and
return ``(mixed_x, soft_targets)``: ``soft_targets`` is an (N, num_classes) float32
Tensor of class probabilities for a loss that takes them (CrossEntropyLoss with
probability targets). Labels ``y`` are (N,) ints in [0, num_classes) or already
(N, num_classes) probabilities. One mixing weight is drawn per batch and sample i
is mixed with sample ``perm[i]`` of a random permutation, all from ``generator``
(a :class:`nyang.Generator`, default: a CPU one seeded from ``nyang.manual_seed``).
"""
import math

from nyang.creation import as_tensor
from nyang.data.seeding import new_generator, uniform, uniforms
from nyang.tensor import Tensor


def _gamma(gen, shape):
    """One draw from Gamma(shape, 1) (Marsaglia and Tsang's method)."""
    if shape < 1.0:  # Gamma(a) = Gamma(a + 1) * U^(1/a)
        return _gamma(gen, shape + 1.0) * uniform(gen) ** (1.0 / shape)
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = float(gen.normal((), "float64"))
        v = (1.0 + c * x) ** 3
        if v <= 0:
            continue
        u = 1.0 - uniform(gen)
        if math.log(u) < 0.5 * x * x + d - d * v + d * math.log(v):
            return d * v


def beta(gen, alpha):
    """One draw from Beta(alpha, alpha)."""
    a, b = _gamma(gen, alpha), _gamma(gen, alpha)
    return a / (a + b) if a + b > 0 else 0.5


def soft_targets(y, num_classes):
    """(N, num_classes) float32 probabilities on y's device: one-hot rows for (N,)
    int labels; (N, num_classes) float targets pass through (as float32)."""
    xp, dev = y.device.xp, y.device
    if y.ndim == 2:
        if y.shape[1] != num_classes:
            raise ValueError(f"soft_targets: targets have {y.shape[1]} classes, expected num_classes={num_classes}")
        return xp.astype(y.data, xp.float32)
    if y.ndim != 1:
        raise ValueError(f"soft_targets: expected (N,) labels or (N, num_classes) targets, got shape {y.shape}")
    classes = xp.arange(num_classes, dtype=y.data.dtype, device=dev.native)
    return xp.astype(y.data[:, None] == classes[None, :], xp.float32)


class _Mixer:
    def __init__(self, alpha, num_classes, generator=None):
        if not alpha > 0:
            raise ValueError(f"{type(self).__name__}: alpha must be positive, got {alpha!r}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"{type(self).__name__}: num_classes must be a positive int, got {num_classes!r}")
        self.alpha = float(alpha)
        self.num_classes = num_classes
        self.generator = generator if generator is not None else new_generator()

    def _inputs(self, x, y):
        if not isinstance(x, Tensor) or not isinstance(y, Tensor):
            raise TypeError(f"{type(self).__name__}: expected Tensors (x, y), got "
                            f"({type(x).__name__}, {type(y).__name__})")
        if y.device is not x.device or y.shape[0] != x.shape[0]:
            raise ValueError(f"{type(self).__name__}: x {x.shape} on {x.device} and y {y.shape} on {y.device} "
                             "must hold the same number of samples on the same device")
        perm = as_tensor(self.generator.permutation(x.shape[0]), device=x.device).data
        return x.device.xp, perm, soft_targets(y, self.num_classes)

    def __repr__(self):
        return f"{type(self).__name__}(alpha={self.alpha}, num_classes={self.num_classes})"


class Mixup(_Mixer):
    """``x' = lam * x + (1 - lam) * x[perm]`` and the same mix of the one-hot targets,
    lam ~ Beta(alpha, alpha). x: (N, ...) Tensor, y: (N,) labels; returns
    (x' of x's shape, (N, num_classes) soft targets)."""

    def __call__(self, x, y):
        xp, perm, t = self._inputs(x, y)
        lam = beta(self.generator, self.alpha)
        mixed = lam * x.data + (1.0 - lam) * xp.take(x.data, perm, axis=0)
        targets = lam * t + (1.0 - lam) * xp.take(t, perm, axis=0)
        return Tensor._wrap(mixed, x.device), Tensor._wrap(targets, x.device)


class CutMix(_Mixer):
    """Paste a random box of ``x[perm]`` into ``x`` (N, C, H, W); the targets mix by the
    area each image keeps: lam = 1 - box area / (H * W), with the box side drawn
    from sqrt(1 - Beta(alpha, alpha)) of the image's and clipped at the border."""

    def __call__(self, x, y):
        if x.ndim != 4:
            raise ValueError(f"CutMix: expected images (N, C, H, W), got shape {x.shape}")
        xp, perm, t = self._inputs(x, y)
        height, width = x.shape[2:]
        half = 0.5 * math.sqrt(1.0 - beta(self.generator, self.alpha))
        u_y, u_x = uniforms(self.generator, 2)
        cy, cx = int(u_y * height), int(u_x * width)
        y0, y1 = max(cy - int(half * height), 0), min(cy + int(half * height), height)
        x0, x1 = max(cx - int(half * width), 0), min(cx + int(half * width), width)
        lam = 1.0 - (y1 - y0) * (x1 - x0) / (height * width)
        rows = xp.arange(height, device=x.device.native)
        cols = xp.arange(width, device=x.device.native)
        box = ((rows >= y0) & (rows < y1))[:, None] & ((cols >= x0) & (cols < x1))[None, :]
        mixed = xp.where(box, xp.take(x.data, perm, axis=0), x.data)
        targets = lam * t + (1.0 - lam) * xp.take(t, perm, axis=0)
        return Tensor._wrap(mixed, x.device), Tensor._wrap(targets, x.device)
