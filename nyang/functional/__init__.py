"""``nyang.functional``: every differentiable op, as functions on Tensors.

Ops are grouped by kind (``math``, ``reduction``, ``shape``, ``activation``,
``linear``, ``dropout``, and the convolution, pooling, normalization and loss
files); each op is a ``Function`` with its forward and backward side by side.
"""
from nyang.functional.activation import (elu, gelu, leaky_relu, log_softmax, relu, selu,  # noqa: F401
                                         softmax)
from nyang.functional.dropout import dropout, dropout2d  # noqa: F401
from nyang.functional.linear import linear  # noqa: F401
from nyang.functional.normalization import batch_norm, group_norm, instance_norm, layer_norm  # noqa: F401
from nyang.functional.ops import *  # noqa: F401,F403
from nyang.functional.ops import __all__ as _ops_all
from nyang.functional.shape_ops import cat, chunk, concat, pad, split, stack  # noqa: F401

__all__ = _ops_all + ["cat", "concat", "stack", "split", "chunk", "pad", "relu", "leaky_relu", "elu",
                      "selu", "gelu", "softmax", "log_softmax", "linear", "dropout", "dropout2d",
                      "batch_norm", "group_norm", "instance_norm", "layer_norm"]
