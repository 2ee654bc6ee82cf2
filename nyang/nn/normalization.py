"""Normalization layers: BatchNorm1d/2d, LayerNorm, GroupNorm and InstanceNorm2d.

Parameters and buffers are named as in PyTorch (``weight``, ``bias``,
``running_mean``, ``running_var``, ``num_batches_tracked``) so that state dicts
move between the two unchanged.
"""
import math
import warnings

from nyang import dtypes
from nyang.creation import ones, zeros
from nyang.functional.normalization import batch_norm, group_norm, instance_norm, layer_norm
from nyang.nn.init import ones_, zeros_
from nyang.nn.module import Module
from nyang.nn.parameter import Parameter


def _affine_parameters(module, shape, affine, bias, device, dtype):
    """Register ``weight`` (ones) and ``bias`` (zeros) of ``shape``, or None in their place."""
    module.register_parameter("weight", Parameter(ones(shape, dtype=dtype, device=device)) if affine else None)
    module.register_parameter("bias",
                              Parameter(zeros(shape, dtype=dtype, device=device)) if affine and bias else None)


def _reset_affine(module):
    if module.weight is not None:
        ones_(module.weight)
    if module.bias is not None:
        zeros_(module.bias)


class _NormBase(Module):
    """What batch and instance norm share: per-channel weight and bias (C,) when
    ``affine``, and running statistics when ``track_running_stats``."""

    def __init__(self, num_features, eps, momentum, affine, track_running_stats, device, dtype, bias):
        super().__init__()
        if not isinstance(num_features, int) or num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive int, got {num_features!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _affine_parameters(self, (num_features,), affine, bias, device, dtype)
        tracked = track_running_stats
        self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device) if tracked else None)
        self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device) if tracked else None)
        self.register_buffer("num_batches_tracked",
                             zeros((), dtype=dtypes.int64, device=device) if tracked else None)

    def reset_running_stats(self):
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            zeros_(self.running_mean)
            ones_(self.running_var)
            zeros_(self.num_batches_tracked)

    def reset_parameters(self):
        """Reset the running statistics, weight to 1 and bias to 0."""
        self.reset_running_stats()
        _reset_affine(self)

    def _name(self):
        return f"{type(self).__name__}({self.num_features})"

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias)

    def _check_input(self, x):
        raise NotImplementedError

    def forward(self, x):
        self._check_input(x)
        if self.training and x.shape[0] * math.prod(x.shape[2:]) == 1:
            raise ValueError(f"{self._name()}: expected more than 1 value per channel when training, "
                             f"got input of shape {x.shape}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            tracked = self.num_batches_tracked
            tracked.data = tracked.data + 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / tracked.item()
        # batch statistics in training, and in eval when no running statistics are kept
        use_batch_stats = self.training or self.running_mean is None
        keep = not self.training or self.track_running_stats
        return batch_norm(x, self.running_mean if keep else None, self.running_var if keep else None,
                          self.weight, self.bias, use_batch_stats, momentum, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalization of input (N, C) or (N, C, L), per channel over N (and L):
    ``y = (x - mean) / sqrt(var + eps) * weight + bias``.

    Training uses the batch mean and biased variance and updates ``running_mean`` and
    ``running_var`` (unbiased) with ``momentum``, or with a cumulative average over
    ``num_batches_tracked`` batches when ``momentum`` is None; eval uses the running
    statistics. ``track_running_stats=False`` keeps none and always uses the batch's.
    """

    def _check_input(self, x):
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            c = self.num_features
            raise ValueError(f"{self._name()}: expected input of shape (N, {c}) or (N, {c}, L), got {x.shape}")


class BatchNorm2d(_BatchNorm):
    """Batch normalization of input (N, C, H, W), per channel over N, H and W; see
    :class:`BatchNorm1d` for the statistics and ``momentum``."""

    def _check_input(self, x):
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"{self._name()}: expected input of shape (N, {self.num_features}, H, W), "
                             f"got {x.shape}")


class InstanceNorm2d(_NormBase):
    """Instance normalization of input (N, C, H, W) or (C, H, W): each channel of each
    sample by its own mean and biased variance over H and W.

    ``affine`` adds weight and bias (C,). ``track_running_stats`` keeps running
    statistics (batch averages of the per-instance ones, blended with ``momentum``;
    momentum None means 0, i.e. no update, as in PyTorch) and uses them in eval mode.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
                 device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias)

    def forward(self, x):
        if x.ndim not in (3, 4):
            raise ValueError(f"{self._name()}: expected input of shape (N, {self.num_features}, H, W) or "
                             f"({self.num_features}, H, W), got {x.shape}")
        channels = x.shape[-3]
        if channels != self.num_features:
            message = (f"{self._name()}: expected input of shape (N, {self.num_features}, H, W) or "
                       f"({self.num_features}, H, W), got {x.shape}")
            if self.affine or self.track_running_stats:
                raise ValueError(message)
            warnings.warn(message + "; num_features is unused with affine=False", stacklevel=2)
        batched = x if x.ndim == 4 else x.reshape((1,) + x.shape)
        out = instance_norm(batched, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            0.0 if self.momentum is None else self.momentum, self.eps)
        return out if x.ndim == 4 else out.reshape(x.shape)


class LayerNorm(Module):
    """Layer normalization of input (*, *normalized_shape) over its trailing
    ``normalized_shape`` dims: ``y = (x - mean) / sqrt(var + eps) * weight + bias``,
    with weight and bias of shape ``normalized_shape`` when ``elementwise_affine``."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape or not all(isinstance(s, int) and s > 0 for s in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be positive ints, got {normalized_shape!r}")
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        _affine_parameters(self, shape, elementwise_affine, bias, device, dtype)

    def reset_parameters(self):
        """Weight 1, bias 0."""
        _reset_affine(self)

    def forward(self, x):
        shape = self.normalized_shape
        if x.ndim < len(shape) or x.shape[x.ndim - len(shape):] != shape:
            raise ValueError(f"LayerNorm({shape}): expected input of shape (*, {', '.join(map(str, shape))}), "
                             f"got {x.shape}")
        return layer_norm(x, shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Group normalization of input (N, C, *): the C = ``num_channels`` channels are
    split into ``num_groups`` groups, each group of each sample normalized by its own
    mean and biased variance; weight and bias (C,) when ``affine``."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        _affine_parameters(self, (num_channels,), affine, bias, device, dtype)

    def reset_parameters(self):
        """Weight 1, bias 0."""
        _reset_affine(self)

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected input of shape "
                             f"(N, {self.num_channels}, *), got {x.shape}")
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")
