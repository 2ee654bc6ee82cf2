"""``Linear``: y = x W^T + b."""
from nyang.amp import low_precision
from nyang.creation import empty
from nyang.functional.linear import linear
from nyang.nn.init import named_weight_init_
from nyang.nn.module import Module
from nyang.nn.parameter import Parameter


class Linear(Module):
    """Fully connected layer: input (*, in_features) -> output (*, out_features).

    ``init`` picks the weight initialisation for the activation that follows:
    None (PyTorch's default, kaiming_uniform with a=sqrt(5)), ``"kaiming"`` for
    ReLU-family activations, ``"xavier"`` for tanh/sigmoid/none (see
    ``nyang.nn.init.named_weight_init_``). ``generator`` seeds it.
    """

    def __init__(self, in_features, out_features, bias=True, init=None, device=None, dtype=None, generator=None):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Linear: {name} must be a positive int, got {value!r}")
        self.in_features, self.out_features, self.init = in_features, out_features, init
        self.weight = Parameter(empty(out_features, in_features, dtype=dtype, device=device))
        self.bias = Parameter(empty(out_features, dtype=dtype, device=device)) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        named_weight_init_(init, self.weight, self.bias, generator)

    def forward(self, x):
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): expected input of shape "
                             f"(*, {self.in_features}), got {x.shape}")
        return linear(*low_precision(x, self.weight, self.bias))

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
