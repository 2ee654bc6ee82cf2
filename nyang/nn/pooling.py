"""Pooling layers: ``MaxPool2d``, ``AvgPool2d`` and ``AdaptiveAvgPool2d``."""
from nyang.functional.pooling import _adaptive_avg_pool2d, _avg_pool2d, _max_pool2d
from nyang.nn.module import Module


class MaxPool2d(Module):
    """Max over kernel_size windows: (N, C, H, W) -> (N, C, OH, OW), as
    ``torch.nn.MaxPool2d`` (``stride`` defaults to ``kernel_size``; padding counts as
    -inf). With ``return_indices`` the output is ``(values, indices)``, the flat
    index h*W + w of each maximum. Input must be batched (4-D)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return _max_pool2d(repr(self), x, self.kernel_size, self.stride, self.padding, self.dilation,
                           self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over kernel_size windows: (N, C, H, W) -> (N, C, OH, OW), as
    ``torch.nn.AvgPool2d`` (``stride`` defaults to ``kernel_size``; the divisor follows
    ``count_include_pad`` and ``divisor_override``). Input must be batched (4-D)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return _avg_pool2d(repr(self), x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                           self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed ``output_size`` (an int, a pair, None in a pair keeps
    that input size): (N, C, H, W) -> (N, C, OH, OW), windows as in PyTorch.
    ``AdaptiveAvgPool2d(1)`` is global average pooling. Input must be batched (4-D)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return _adaptive_avg_pool2d(repr(self), x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
