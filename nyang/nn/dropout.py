"""Dropout modules: active in training mode, identity in eval mode."""
from nyang.functional.dropout import _check, dropout, dropout2d
from nyang.nn.module import Module


class Dropout(Module):
    """Zero each element with probability ``p`` in training, scaling the rest by 1/(1-p).
    ``generator`` (a nyang.Generator) makes the masks reproducible per module."""

    def __init__(self, p=0.5, inplace=False, generator=None):
        super().__init__()
        _check(p, type(self).__name__)
        self.p, self.generator = p, generator

    def forward(self, x):
        return dropout(x, self.p, self.training, self.generator)

    def extra_repr(self):
        return f"p={self.p}, inplace=False"


class Dropout2d(Dropout):
    """Zero whole channels of (N, C, H, W) input with probability ``p`` in training."""

    def forward(self, x):
        return dropout2d(x, self.p, self.training, self.generator)
