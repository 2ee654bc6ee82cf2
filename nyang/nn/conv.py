"""``Conv2d``: 2-D convolution over (N, C, H, W) input."""
from nyang.amp import low_precision
from nyang.creation import empty
from nyang.functional.conv import _conv2d, _resolve_padding, pair
from nyang.nn.init import named_weight_init_
from nyang.nn.module import Module
from nyang.nn.parameter import Parameter


class Conv2d(Module):
    """2-D convolution (cross-correlation), as ``torch.nn.Conv2d``: input (N, C_in, H, W)
    -> output (N, C_out, OH, OW), OH = (H + 2*ph - dh*(kh-1) - 1)//sh + 1, likewise OW.

    weight: (out_channels, in_channels / groups, kh, kw); bias: (out_channels,).
    ``padding`` is an int, a pair, ``"valid"`` or ``"same"`` (stride 1 only); only
    ``padding_mode="zeros"`` is supported. ``groups`` splits the channels into that many
    independent convolutions (``groups == in_channels``: depthwise). ``init`` picks the
    weight initialisation: None (PyTorch's default), ``"kaiming"`` (ReLU nets) or
    ``"xavier"`` (see ``nyang.nn.init.named_weight_init_``); ``generator`` seeds it.
    Input must be batched (4-D); the output is a channels-last view (N, C, H, W).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None, init=None, generator=None):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Conv2d: {name} must be a positive int, got {value!r}")
        if in_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"Conv2d: out_channels ({out_channels}) must be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise ValueError(f"Conv2d: padding_mode {padding_mode!r} is not supported; only 'zeros' is")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        self.dilation = pair(dilation, "dilation", "Conv2d")
        if min(self.kernel_size + self.stride + self.dilation) <= 0:
            raise ValueError(f"Conv2d: kernel_size, stride and dilation must be positive, got "
                             f"kernel_size={self.kernel_size}, stride={self.stride}, dilation={self.dilation}")
        if isinstance(padding, str):  # "valid" or "same" (stride 1), kept as the string
            _resolve_padding(padding, self.kernel_size, self.stride, self.dilation, "Conv2d")
            self.padding = padding
        else:
            self.padding = pair(padding, "padding", "Conv2d")
            if min(self.padding) < 0:
                raise ValueError(f"Conv2d: padding must be non-negative, got padding={self.padding}")
        self.groups, self.padding_mode, self.init = groups, padding_mode, init
        self.weight = Parameter(empty(out_channels, in_channels // groups, *self.kernel_size,
                                      dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        named_weight_init_(init, self.weight, self.bias, generator)

    def forward(self, x):
        x, weight, bias = low_precision(x, self.weight, self.bias)
        return _conv2d(repr(self), x, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
