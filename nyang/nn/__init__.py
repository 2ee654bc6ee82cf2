"""``nyang.nn``: modules, layers, losses and init, named as in ``torch.nn``."""
from nyang.nn import functional, init, utils  # noqa: F401
from nyang.nn.activation import ELU, GELU, SELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh  # noqa: F401
from nyang.nn.conv import Conv2d  # noqa: F401
from nyang.nn.container import Identity, ModuleDict, ModuleList, Sequential  # noqa: F401
from nyang.nn.dropout import Dropout, Dropout2d  # noqa: F401
from nyang.nn.flatten import Flatten, Unflatten  # noqa: F401
from nyang.nn.linear import Linear  # noqa: F401
from nyang.nn.loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss, FocalLoss,  # noqa: F401
                           HuberLoss, KLDivLoss, L1Loss, MSELoss, MultiMarginLoss, NLLLoss, SmoothL1Loss,
                           TripletMarginLoss)
from nyang.nn.module import Module  # noqa: F401
from nyang.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm  # noqa: F401
from nyang.nn.parameter import Parameter  # noqa: F401
from nyang.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d  # noqa: F401
from nyang.nn.registry import register  # noqa: F401
