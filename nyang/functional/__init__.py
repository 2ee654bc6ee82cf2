"""``nyang.functional``: every differentiable op, as functions on Tensors.

Ops are grouped by kind (``math``, ``reduction``, ``shape``, ``activation``,
``linear``, ``dropout``, and the convolution, pooling, normalization and loss
files); each op is a ``Function`` with its forward and backward side by side.
"""
from nyang.functional.activation import (elu, gelu, leaky_relu, log_softmax, relu, selu,  # noqa: F401
                                         softmax)
from nyang.functional.conv import conv2d  # noqa: F401
from nyang.functional.dropout import dropout, dropout2d  # noqa: F401
from nyang.functional.linear import linear  # noqa: F401
from nyang.functional.loss import (binary_cross_entropy, binary_cross_entropy_with_logits,  # noqa: F401
                                   cosine_embedding_loss, cross_entropy, focal_loss, huber_loss, kl_div, l1_loss,
                                   mse_loss, multi_margin_loss, nll_loss, sigmoid_focal_loss, smooth_l1_loss,
                                   softmax_focal_loss, triplet_margin_loss)
from nyang.functional.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d  # noqa: F401
from nyang.functional.normalization import batch_norm, group_norm, instance_norm, layer_norm  # noqa: F401
from nyang.functional.ops import *  # noqa: F401,F403
from nyang.functional.ops import __all__ as _ops_all
from nyang.functional.shape_ops import cat, chunk, concat, pad, split, stack  # noqa: F401

__all__ = _ops_all + ["cat", "concat", "stack", "split", "chunk", "pad", "relu", "leaky_relu", "elu",
                      "selu", "gelu", "softmax", "log_softmax", "linear", "dropout", "dropout2d",
                      "batch_norm", "group_norm", "instance_norm", "layer_norm",
                      "binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_embedding_loss",
                      "cross_entropy", "focal_loss", "huber_loss", "kl_div", "l1_loss", "mse_loss",
                      "multi_margin_loss", "nll_loss", "sigmoid_focal_loss", "smooth_l1_loss", "softmax_focal_loss",
                      "triplet_margin_loss", "conv2d", "adaptive_avg_pool2d", "avg_pool2d", "max_pool2d"]
