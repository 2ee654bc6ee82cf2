"""``nyang.functional``: every differentiable op, as functions on Tensors.

Ops are grouped by kind (``math``, ``reduction``, ``shape``, and the layer ops:
activations, convolution, pooling, normalization, dropout, losses); each op is a
``Function`` with its forward and backward side by side.
"""
from nyang.functional.ops import *  # noqa: F401,F403
from nyang.functional.ops import __all__ as _ops_all
from nyang.functional.shape_ops import cat, chunk, concat, pad, split, stack  # noqa: F401

__all__ = _ops_all + ["cat", "concat", "stack", "split", "chunk", "pad"]
