"""Loss modules, named as in ``torch.nn`` (thin wrappers of ``nyang.functional.loss``).

Every loss takes ``reduction``: ``"mean"`` (the default), ``"sum"`` or ``"none"``.
Weight tensors (``weight``, ``pos_weight``, a focal ``alpha`` given as a Tensor) are
buffers, so ``Module.to`` moves them and ``state_dict`` saves them, as in PyTorch.
"""
from nyang.amp import full_precision
from nyang.functional import loss as F
from nyang.nn.module import Module
from nyang.tensor import Tensor


class _Loss(Module):
    """Base of the losses: holds ``reduction``; under ``nyang.amp.autocast`` float16
    inputs are taken back to float32 before the loss reduces them."""

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def __call__(self, *inputs, **kwargs):
        return super().__call__(*full_precision(*inputs), **kwargs)


class _WeightedLoss(_Loss):
    """Base of the losses with a ``weight`` tensor, kept as a buffer."""

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    """Mean squared error (x - y)^2; input and target of one shape (*)."""

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error |x - y|; input and target of one shape (*)."""

    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """Quadratic for |x - y| < beta, linear beyond (0.5 d^2 / beta, |d| - 0.5 beta); shape (*)."""

    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    """Quadratic for |x - y| < delta, linear beyond (0.5 d^2, delta (|d| - 0.5 delta)); shape (*)."""

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, self.reduction, self.delta)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities (*) with targets (*) in [0, 1]; ``weight``
    broadcasts to (*). Logs are clamped at -100 as in PyTorch."""

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy of logits (*) with targets (*), sigmoid included, in the
    stable form; ``weight`` broadcasts to (*), ``pos_weight`` (e.g. (C,) for (N, C))
    weighs the positive term of each class."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(weight, reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits (N, C, *) with class indices (N, *) or class probabilities
    (N, C, *); ``weight`` (C,), ``ignore_index`` and ``label_smoothing`` as in PyTorch
    (see :func:`nyang.functional.loss.cross_entropy`)."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (N, C, *) at class indices (N, *);
    ``weight`` (C,) and ``ignore_index`` as in PyTorch."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class FocalLoss(_Loss):
    """Focal loss (Lin et al. 2017), -alpha_t (1 - p_t)^gamma log p_t.

    ``mode="multiclass"``: logits (N, C, *), class indices (N, *), p = softmax; ``alpha``
    None, a float, or one factor per class (C,). ``mode="binary"``: logits and targets of
    one shape (*), p = sigmoid, as ``torchvision.ops.sigmoid_focal_loss``; ``alpha``
    None or a float (the weight of positives; torchvision's default is 0.25).
    """

    def __init__(self, alpha=None, gamma=2.0, reduction="mean", mode="multiclass"):
        super().__init__(reduction)
        if mode not in ("multiclass", "binary"):
            raise ValueError(f"FocalLoss: mode must be 'multiclass' or 'binary', got {mode!r}")
        if isinstance(alpha, Tensor):
            self.register_buffer("alpha", alpha)
        else:
            self.alpha = alpha if alpha is None or isinstance(alpha, (int, float)) else tuple(alpha)
        self.gamma = gamma
        self.mode = mode

    def forward(self, input, target):
        return F.focal_loss(input, target, self.alpha, self.gamma, self.reduction, self.mode)


class KLDivLoss(_Loss):
    """KL divergence of log-probabilities (*) from target probabilities (*) (log-probabilities
    with ``log_target``); use ``reduction="batchmean"`` for the true KL per sample."""

    def __init__(self, reduction="mean", log_target=False):
        super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, self.reduction, self.log_target)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss of scores (N, C) at class indices (N,); ``p`` 1 or 2,
    ``margin``, ``weight`` (C,)."""

    def __init__(self, p=1, margin=1.0, weight=None, reduction="mean"):
        super().__init__(weight, reduction)
        self.p = p
        self.margin = margin

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight, self.reduction)


class CosineEmbeddingLoss(_Loss):
    """1 - cos(x1, x2) for target 1, max(0, cos(x1, x2) - margin) for target -1;
    inputs (N, D), target (N,)."""

    def __init__(self, margin=0.0, reduction="mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)


class TripletMarginLoss(_Loss):
    """max(0, margin + d(anchor, positive) - d(anchor, negative)) with the p-norm distance;
    inputs (N, D); ``swap`` uses min(d(a, n), d(p, n)) for the negative distance."""

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean"):
        super().__init__(reduction)
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps, self.swap,
                                     self.reduction)
