"""Inverted dropout: in training, zero elements with probability p and scale the
rest by 1 / (1 - p), so evaluation needs no change."""
from nyang.autograd import Function
from nyang.random import default_generator


class MaskedScale(Function):
    """y = x * mask, for a fixed (already scaled) mask that broadcasts over x."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.mask = mask
        return x * mask

    @staticmethod
    def backward(ctx, g):
        return g * ctx.mask, None


def _check(p, name):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability p must be in [0, 1], got {p}")


def _dropout(input, p, mask_shape, generator):
    gen = generator or default_generator(input.device)
    xp = input.device.xp
    if p == 1.0:
        mask = xp.zeros(mask_shape, dtype=input.data.dtype, device=input.device.native)
    else:
        keep = gen.uniform(mask_shape, input.dtype.name) >= p
        mask = xp.astype(keep, input.data.dtype) * (1.0 / (1.0 - p))
    return MaskedScale.apply(input, mask)


def dropout(input, p=0.5, training=True, generator=None):
    """Zero each element with probability ``p`` and scale by 1/(1-p) when ``training``."""
    _check(p, "dropout")
    if not training or p == 0.0:
        return input
    return _dropout(input, p, input.shape, generator)


def dropout2d(input, p=0.5, training=True, generator=None):
    """Zero whole channels of (N, C, H, W) (or (C, H, W)) input with probability ``p``."""
    _check(p, "dropout2d")
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected input of shape (N, C, H, W) or (C, H, W), got {input.shape}")
    if not training or p == 0.0:
        return input
    return _dropout(input, p, input.shape[:-2] + (1, 1), generator)
