"""Loss functions, named and computed as in ``torch.nn.functional``.

Every loss takes ``reduction``: ``"mean"`` (the default), ``"sum"`` or ``"none"``
(one loss per element, or per sample for the losses that sum over classes or
features). Shapes follow PyTorch: N is the batch, C the classes, ``*`` any further
dims (``(N, C, H, W)`` logits with ``(N, H, W)`` targets for segmentation).

Cross-entropy, NLL, binary cross-entropy (on probabilities and on logits) and the
multi-class margin loss are Functions with their own backward: cross-entropy fuses
log-softmax and NLL (forward through log-sum-exp, backward "softmax minus target"
in one expression), BCE-with-logits uses the stable form that never overflows. The
other losses are short compositions of differentiable ops, exact as written.

Inputs are checked where PyTorch checks them (shapes, dtypes, class indices in
range, probabilities in [0, 1]); the range checks read one small array back from
the device.
"""
import math

from nyang import device_checks
from nyang.autograd import Function
from nyang.functional.ops import minimum, where
from nyang.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------- checks


def _check_reduction(reduction, name, allowed=_REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{name}: reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")


def _check_float(t, what, name):
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(t).__name__}")
    if not t.dtype.is_floating_point:
        raise TypeError(f"{name}: {what} must have a floating-point dtype, got {t.dtype}")


def _check_pair(input, target, reduction, name, names=("input", "target"), reductions=_REDUCTIONS):
    """Two float tensors of one shape (called ``names`` in errors), and a known reduction."""
    _check_float(input, names[0], name)
    _check_float(target, names[1], name)
    if input.shape != target.shape:
        raise ValueError(f"{name}: {names[1]} shape {target.shape} must equal {names[0]} shape {input.shape}")
    _check_reduction(reduction, name, reductions)


def _check_broadcasts_to(t, shape, what, name):
    if t is None:
        return
    if t.ndim > len(shape) or any(s not in (1, n) for s, n in zip(reversed(t.shape), reversed(shape))):
        raise ValueError(f"{name}: {what} of shape {t.shape} must broadcast to the input's shape {shape}")


def _check_class_weight(weight, num_classes, name):
    if weight is not None and weight.shape != (num_classes,):
        raise ValueError(f"{name}: weight must have shape (C,) = ({num_classes},), one per class; "
                         f"got {weight.shape}")


def _class_indices(target, shape, num_classes, ignore_index, name):
    """``target`` as int64 class indices of ``shape``, each in [0, num_classes) unless it
    equals ``ignore_index`` (None: none is ignored)."""
    return _class_indices_and_ignored(target, shape, num_classes, ignore_index, name)[0]


def _class_indices_and_ignored(target, shape, num_classes, ignore_index, name):
    """(:func:`_class_indices`, whether some target may equal ``ignore_index``: False
    when ``ignore_index`` lies outside the targets' range, so none is ignored).

    The range is checked through ``device_checks``: at once on the CPU; on a GPU at the
    next read from it, and then any target may be ``ignore_index`` (the range is not
    read here)."""
    if not isinstance(target, Tensor):
        raise TypeError(f"{name}: target must be a Tensor of class indices, got {type(target).__name__}")
    if target.dtype.is_floating_point or target.dtype.name == "bool":
        raise TypeError(f"{name}: target must hold integer class indices (int64) of shape {shape}, "
                        f"got dtype {target.dtype}")
    if target.shape != shape:
        raise ValueError(f"{name}: target of class indices must have shape {shape} (the input's shape "
                         f"without the class dim), got {target.shape}")
    device, xp = target.device, target.device.xp
    t = target.data if target.data.dtype == xp.int64 else xp.astype(target.data, xp.int64)
    if math.prod(shape) == 0:
        return Tensor._wrap(t, device), False
    kept = "" if ignore_index is None else f" (or ignore_index={ignore_index})"

    def report(low_high):
        low, high = (int(v) for v in low_high)
        if low < 0 or high >= num_classes:
            raise ValueError(f"{name}: target class indices must lie in [0, {num_classes}){kept}; "
                             f"got values from {low} to {high}")

    if device_checks.reading_synchronizes(device):
        counted = t if ignore_index is None else xp.where(t != ignore_index, t, 0)
        device_checks.check(device, xp.stack([xp.min(counted), xp.max(counted)]), report)
        return Tensor._wrap(t, device), ignore_index is not None
    low, high = (int(v) for v in device.kernels.to_numpy(xp.stack([xp.min(t), xp.max(t)])))
    ignored = ignore_index is not None and low <= ignore_index <= high
    if ignored:  # the range without the ignored targets (all of them may be)
        counted = xp.where(t != ignore_index, t, 0)
        low, high = device.kernels.to_numpy(xp.stack([xp.min(counted), xp.max(counted)]))
    report((low, high))
    return Tensor._wrap(t, device), ignored


def _check_probabilities(t, what, name):
    def report(all_inside):
        if not bool(all_inside):
            raise ValueError(f"{name}: all elements of {what} must be between 0 and 1")

    xp = t.device.xp
    device_checks.check(t.device, xp.all((t.data >= 0) & (t.data <= 1)), report)


# ---------------------------------------------------------------- reduction


def _reduce(loss, reduction):
    """Reduce a loss Tensor built from differentiable ops."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _reduce_array(xp, loss, reduction, count):
    """Reduce inside a Function's forward; "mean" divides the sum by ``count``."""
    if reduction == "none":
        return loss
    total = xp.sum(loss)
    return total / count if reduction == "mean" else total


def _upstream(g, reduction, count):
    """The gradient reaching each unreduced loss element from the output's gradient ``g``
    (a 0-d array after "mean"/"sum", which broadcasts)."""
    return g / count if reduction == "mean" else g


# ---------------------------------------------------------------- class-index helpers


def _per_class(xp, values, ndim):
    """Per-class values (C,) shaped to broadcast along dim 1 of an (N, C, *) array."""
    return xp.reshape(values, (1, -1) + (1,) * (ndim - 2))


def _one_hot(xp, t, num_classes, device):
    """Boolean (N, C, *) with True at class t[n, *], from indices t (N, *)."""
    classes = xp.arange(num_classes, dtype=t.dtype, device=device)
    return xp.expand_dims(t, axis=1) == xp.reshape(classes, (1, -1) + (1,) * (t.ndim - 1))


def _softmax_parts(xp, x):
    """For logits x (N, C, *): s = x - max_c x, exp(s) and its sum over C (N, *), from
    which log softmax = s - log sum and softmax = exp(s) / sum."""
    shifted = x - xp.max(x, axis=1, keepdims=True)
    exp = xp.exp(shifted)
    return shifted, exp, xp.sum(exp, axis=1)


def _pick(xp, x, t):
    """x[n, t[n, *], *] for x (N, C, *) and indices t (N, *)."""
    return xp.squeeze(xp.take_along_axis(x, xp.expand_dims(t, axis=1), axis=1), axis=1)


def _target_weights(xp, target, weight, ignore_index, dtype):
    """(kept, t, w_t) for class indices (N, *): where the target counts, the indices with
    ignored ones replaced by class 0, and each target's class weight (0 where ignored)."""
    kept = target != ignore_index
    t = xp.where(kept, target, 0)
    if weight is None:
        return kept, t, xp.astype(kept, dtype)
    w_t = xp.reshape(xp.take(weight, xp.reshape(t, (-1,)), axis=0), t.shape)
    return kept, t, xp.where(kept, w_t, 0.0)


def _log_softmax(xp, x):
    shifted, _, total = _softmax_parts(xp, x)
    return shifted - xp.expand_dims(xp.log(total), axis=1)


# ---------------------------------------------------------------- Functions


class CrossEntropy(Function):
    """Cross-entropy of logits x (N, C, *) with class indices t (N, *), class weights w,
    ``ignore_index`` and label smoothing eps, exactly as PyTorch:

        loss_n = -sum_c q_nc log softmax(x_n)_c,   q_n = (1 - eps) w_t onehot(t_n) + (eps / C) w

    and 0 where t_n is ignored; "mean" divides by the sum of w_t over the kept targets.
    With s = x - max(x) and lse = log sum_c exp(s_c), log softmax(x)_c = s_c - lse, so the
    forward needs only s, exp(s) and its sum; the backward is softmax * sum_c q_c - q,
    where softmax = exp(s) / sum exp(s) comes from the saved exp(s).
    """

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, label_smoothing, reduction):
        xp, eps = ctx.xp, label_smoothing
        num_classes = x.shape[1]
        shifted, exp, total = _softmax_parts(xp, x)
        lse = xp.log(total)
        kept, t, w_t = _target_weights(xp, target, weight, ignore_index, x.dtype)
        loss = w_t * (lse - _pick(xp, shifted, t))
        if eps:
            # -sum_c w_c log softmax_c = (sum_c w_c) lse - sum_c w_c s_c
            if weight is None:
                smooth = num_classes * lse - xp.sum(shifted, axis=1)
            else:
                smooth = xp.sum(weight) * lse - xp.sum(shifted * _per_class(xp, weight, x.ndim), axis=1)
            loss = (1.0 - eps) * loss + (eps / num_classes) * xp.where(kept, smooth, 0.0)
        ctx.exp, ctx.total, ctx.kept, ctx.t, ctx.w_t, ctx.weight = exp, total, kept, t, w_t, weight
        ctx.eps, ctx.reduction, ctx.count = eps, reduction, xp.sum(w_t)
        return _reduce_array(xp, loss, reduction, ctx.count)

    @staticmethod
    def backward(ctx, g):
        xp, eps, exp = ctx.xp, ctx.eps, ctx.exp
        num_classes = exp.shape[1]
        # Ignored targets get no gradient, even when all are ignored and the mean is 0/0.
        g = xp.where(ctx.kept, _upstream(g, ctx.reduction, ctx.count), 0.0)
        q_total = (1.0 - eps) * ctx.w_t
        if eps:
            q_total = q_total + (eps if ctx.weight is None else (eps / num_classes) * xp.sum(ctx.weight))
        # The per-sample factors (N, 1, *) go in before the (N, C, *) arrays are touched.
        out = exp * xp.expand_dims(g * q_total / ctx.total, axis=1)
        hot = _one_hot(xp, ctx.t, num_classes, ctx.device.native)
        out = xp.where(hot, out - xp.expand_dims(g * (1.0 - eps) * ctx.w_t, axis=1), out)
        if eps:
            w = 1.0 if ctx.weight is None else _per_class(xp, ctx.weight, exp.ndim)
            out = out - xp.expand_dims(g * (eps / num_classes), axis=1) * w
        return out, None, None


class PlainCrossEntropy(Function):
    """:class:`CrossEntropy` without class weights, label smoothing or ignored targets
    (the common case), in fewer array ops: the loss is lse - s_t, the gradient
    softmax - onehot(t), both times the upstream gradient (over N * d1 * ... for "mean")."""

    @staticmethod
    def forward(ctx, x, target, reduction):
        xp = ctx.xp
        shifted, exp, total = _softmax_parts(xp, x)
        hot = _one_hot(xp, target, x.shape[1], ctx.device.native)  # backward needs it too
        picked = xp.sum(xp.where(hot, shifted, 0.0), axis=1)  # s_t (cheaper than take_along_axis)
        loss = xp.log(total) - picked
        ctx.exp, ctx.total, ctx.hot, ctx.reduction, ctx.count = exp, total, hot, reduction, math.prod(loss.shape)
        return _reduce_array(xp, loss, reduction, ctx.count)

    @staticmethod
    def backward(ctx, g):
        xp, exp = ctx.xp, ctx.exp
        g = _upstream(g, ctx.reduction, ctx.count)  # 0-d after "mean" / "sum", (N, *) for "none"
        per_sample = g if g.ndim == 0 else xp.expand_dims(g, axis=1)
        out = exp * (per_sample / xp.expand_dims(ctx.total, axis=1))
        return xp.where(ctx.hot, out - per_sample, out), None


class SoftCrossEntropy(Function):
    """Cross-entropy of logits x (N, C, *) with class probabilities y of the same shape
    (soft labels, e.g. from mixup), as PyTorch:

        loss_n = -sum_c w_c ((1 - eps) y_nc + eps / C) log softmax(x_n)_c

    "mean" divides by the number of samples N * d1 * ... (the weights do not enter it).
    Gradients: softmax(x_n) * sum_c q_nc - q_n for x, -(1 - eps) w_c log softmax(x_n)_c for y.
    """

    @staticmethod
    def forward(ctx, x, y, weight, label_smoothing, reduction):
        xp = ctx.xp
        logp = _log_softmax(xp, x)
        w = 1.0 if weight is None else _per_class(xp, weight, x.ndim)
        q = (y if not label_smoothing else (1.0 - label_smoothing) * y + label_smoothing / x.shape[1]) * w
        loss = -xp.sum(q * logp, axis=1)
        ctx.logp, ctx.q, ctx.w, ctx.eps = logp, q, w, label_smoothing
        ctx.reduction, ctx.count = reduction, math.prod(loss.shape)
        return _reduce_array(xp, loss, reduction, ctx.count)

    @staticmethod
    def backward(ctx, g):
        xp, logp, q = ctx.xp, ctx.logp, ctx.q
        g = _upstream(g, ctx.reduction, ctx.count)
        if ctx.reduction == "none":
            g = xp.expand_dims(g, axis=1)
        gx = g * (xp.exp(logp) * xp.sum(q, axis=1, keepdims=True) - q) if ctx.needs_input_grad[0] else None
        gy = -(1.0 - ctx.eps) * g * ctx.w * logp if ctx.needs_input_grad[1] else None
        return gx, gy, None


class NLL(Function):
    """Negative log-likelihood -w_t x[t] of log-probabilities x (N, C, *) at class indices
    t (N, *), 0 where t is ignored; "mean" divides by the sum of w_t over kept targets."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction):
        xp = ctx.xp
        kept, t, w_t = _target_weights(xp, target, weight, ignore_index, x.dtype)
        ctx.shape, ctx.kept, ctx.t, ctx.w_t = x.shape, kept, t, w_t
        ctx.reduction, ctx.count = reduction, xp.sum(w_t)
        return _reduce_array(xp, -w_t * _pick(xp, x, t), reduction, ctx.count)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        g = xp.where(ctx.kept, _upstream(g, ctx.reduction, ctx.count), 0.0)
        hot = _one_hot(xp, ctx.t, ctx.shape[1], ctx.device.native)
        return xp.where(hot, xp.expand_dims(-g * ctx.w_t, axis=1), 0.0), None, None


class BinaryCrossEntropy(Function):
    """-w (y log x + (1 - y) log(1 - x)) for probabilities x, each log clamped at -100
    (as PyTorch, so x = 0 or 1 gives a finite loss). Gradients, as PyTorch:
    w (x - y) / max(x (1 - x), 1e-12) for x and w (log(1 - x) - log x) for y."""

    @staticmethod
    def forward(ctx, x, y, weight, reduction):
        xp = ctx.xp
        log_x, log_1mx = _clamped_log(xp, x, False), _clamped_log(xp, x, True)
        loss = -(y * log_x + (1.0 - y) * log_1mx)
        if weight is not None:
            loss = loss * weight
        ctx.x, ctx.y, ctx.weight, ctx.logs = x, y, weight, (log_x, log_1mx)
        ctx.reduction, ctx.count = reduction, math.prod(loss.shape)
        return _reduce_array(xp, loss, reduction, ctx.count)

    @staticmethod
    def backward(ctx, g):
        xp, x = ctx.xp, ctx.x
        g = _upstream(g, ctx.reduction, ctx.count)
        if ctx.weight is not None:
            g = g * ctx.weight
        gx = g * (x - ctx.y) / xp.maximum(x * (1.0 - x), 1e-12) if ctx.needs_input_grad[0] else None
        gy = g * (ctx.logs[1] - ctx.logs[0]) if ctx.needs_input_grad[1] else None
        return gx, gy, None


def _clamped_log(xp, x, complement):
    """max(log x, -100), or with ``complement`` max(log(1 - x), -100) (through log1p),
    never evaluating the log at 0 (where NumPy would warn)."""
    defined = (x < 1.0) if complement else (x > 0.0)
    safe = xp.where(defined, x, 0.5)
    value = xp.log1p(-safe) if complement else xp.log(safe)
    return xp.where(defined, xp.clip(value, min=-100.0), -100.0)


class BinaryCrossEntropyWithLogits(Function):
    """BCE of logits x with targets y, weight w and positive-class weight p, stable:

        loss = w ((1 - y) x + l softplus(-x)),   l = 1 + (p - 1) y,
        softplus(-x) = max(-x, 0) + log(1 + exp(-|x|))

    (with p = 1: max(x, 0) - x y + log(1 + exp(-|x|))). exp only ever sees -|x| <= 0.
    Gradients: w ((1 - y) - l sigmoid(-x)) for x, w ((p - 1) softplus(-x) - x) for y.
    """

    @staticmethod
    def forward(ctx, x, y, weight, pos_weight, reduction):
        xp = ctx.xp
        e = xp.exp(-xp.abs(x))
        softplus_neg = xp.maximum(-x, 0.0) + xp.log1p(e)
        scale = 1.0 if pos_weight is None else 1.0 + (pos_weight - 1.0) * y
        loss = (1.0 - y) * x + scale * softplus_neg
        if weight is not None:
            loss = loss * weight
        ctx.x, ctx.y, ctx.e, ctx.softplus_neg, ctx.scale = x, y, e, softplus_neg, scale
        ctx.weight, ctx.pos_weight = weight, pos_weight
        ctx.reduction, ctx.count = reduction, math.prod(loss.shape)
        return _reduce_array(xp, loss, reduction, ctx.count)

    @staticmethod
    def backward(ctx, g):
        xp, x, e = ctx.xp, ctx.x, ctx.e
        g = _upstream(g, ctx.reduction, ctx.count)
        if ctx.weight is not None:
            g = g * ctx.weight
        gx = gy = None
        if ctx.needs_input_grad[0]:
            sigmoid_neg = xp.where(x >= 0, e, 1.0) / (1.0 + e)  # sigmoid(-x) from exp(-|x|)
            gx = g * ((1.0 - ctx.y) - ctx.scale * sigmoid_neg)
        if ctx.needs_input_grad[1]:
            gy = -g * x if ctx.pos_weight is None else g * ((ctx.pos_weight - 1.0) * ctx.softplus_neg - x)
        return gx, gy, None, None


class MultiMargin(Function):
    """Multi-class hinge loss of scores x (N, C) at class indices t (N,), as PyTorch:
    loss_n = sum_{j != t} w_t max(0, margin - x[t] + x[j])^p / C, for p = 1 or 2."""

    @staticmethod
    def forward(ctx, x, target, weight, p, margin, reduction):
        xp = ctx.xp
        num_classes = x.shape[1]
        hot = _one_hot(xp, target, num_classes, ctx.device.native)
        z = margin - xp.expand_dims(_pick(xp, x, target), axis=1) + x
        active = (z > 0) & ~hot
        z = xp.where(active, z, 0.0)
        scale = 1.0 / num_classes
        if weight is not None:
            scale = xp.expand_dims(xp.take(weight, target, axis=0), axis=1) / num_classes
        loss = xp.sum(z if p == 1 else z * z, axis=1, keepdims=True) * scale
        ctx.hot, ctx.active, ctx.z, ctx.p, ctx.scale = hot, active, z, p, scale
        ctx.reduction, ctx.count = reduction, x.shape[0]
        return _reduce_array(xp, xp.squeeze(loss, axis=1), reduction, ctx.count)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        g = _upstream(g, ctx.reduction, ctx.count)
        if ctx.reduction == "none":
            g = xp.expand_dims(g, axis=1)
        slope = xp.astype(ctx.active, ctx.z.dtype) if ctx.p == 1 else 2.0 * ctx.z
        d = g * ctx.scale * slope  # d loss / d x[j] for j != t; x[t] gets minus their sum
        return xp.where(ctx.hot, -xp.sum(d, axis=1, keepdims=True), d), None, None


# ---------------------------------------------------------------- regression


def mse_loss(input, target, reduction="mean"):
    """Squared error (x - y)^2, elementwise; input and target of one shape (*)."""
    _check_pair(input, target, reduction, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction="mean"):
    """Absolute error |x - y|, elementwise; input and target of one shape (*)."""
    _check_pair(input, target, reduction, "l1_loss")
    return _reduce((input - target).abs(), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 (x - y)^2 / beta where |x - y| < beta, |x - y| - 0.5 beta elsewhere (plain L1
    for beta = 0); input and target of one shape (*)."""
    _check_pair(input, target, reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    d = input - target
    a = d.abs()
    return _reduce(a if beta == 0 else where(a < beta, d * d * (0.5 / beta), a - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 (x - y)^2 where |x - y| < delta, delta (|x - y| - 0.5 delta) elsewhere;
    input and target of one shape (*). Equals delta * smooth_l1_loss with beta = delta."""
    _check_pair(input, target, reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    d = input - target
    a = d.abs()
    return _reduce(where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta)), reduction)


# ---------------------------------------------------------------- binary classification


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-w (y log x + (1 - y) log(1 - x)) for probabilities x and targets y in [0, 1] of one
    shape (*), logs clamped at -100 as in PyTorch; ``weight`` broadcasts to (*).
    Prefer :func:`binary_cross_entropy_with_logits` on raw scores: it is stable."""
    name = "binary_cross_entropy"
    _check_pair(input, target, reduction, name)
    _check_broadcasts_to(weight, input.shape, "weight", name)
    _check_probabilities(input, "input", name)
    _check_probabilities(target, "target", name)
    return BinaryCrossEntropy.apply(input, target, weight, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Binary cross-entropy of logits x (*) with targets y (*) in [0, 1], in the stable form
    max(x, 0) - x y + log(1 + exp(-|x|)). ``weight`` broadcasts to (*); ``pos_weight``
    (e.g. (C,) for input (N, C)) multiplies the positive term y log sigmoid(x)."""
    name = "binary_cross_entropy_with_logits"
    _check_pair(input, target, reduction, name)
    _check_broadcasts_to(weight, input.shape, "weight", name)
    _check_broadcasts_to(pos_weight, input.shape, "pos_weight", name)
    return BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight, reduction=reduction)


# ---------------------------------------------------------------- multi-class classification


def _class_input(input, name):
    """(input as (N, C, *), number of classes, whether it was one unbatched (C,) sample)."""
    _check_float(input, "input", name)
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have shape (N, C, *) or (C,), got a 0-d tensor")
    unbatched = input.ndim == 1
    x = input.unsqueeze(0) if unbatched else input
    return x, x.shape[1], unbatched


def _batched_target(target, unbatched):
    return target.unsqueeze(0) if unbatched else target


def _unbatched_result(out, unbatched, reduction):
    return out.reshape(()) if unbatched and reduction == "none" else out


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy of logits (N, C, *) (or (C,)) through log-sum-exp, with either

    - class indices (N, *) (int64, in [0, C) or ``ignore_index``): ``weight`` (C,) scales
      each sample by its class's weight and "mean" divides by the sum of those weights
      over the non-ignored targets; or
    - class probabilities of the input's shape (float, e.g. mixup's soft labels):
      ``weight`` scales each class and "mean" divides by the number of samples.

    ``label_smoothing`` eps mixes the target with the uniform distribution:
    (1 - eps) target + eps / C, as PyTorch does. "none" gives one loss per sample (N, *).
    """
    name = "cross_entropy"
    x, num_classes, unbatched = _class_input(input, name)
    _check_reduction(reduction, name)
    _check_class_weight(weight, num_classes, name)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if isinstance(target, Tensor) and target.dtype.is_floating_point:
        if target.shape != input.shape:
            raise ValueError(f"{name}: a float target holds class probabilities and must have the "
                             f"input's shape {input.shape}, got {target.shape}; class indices must be "
                             f"int64 of shape {input.shape[:1] + input.shape[2:]}")
        if ignore_index >= 0:
            raise ValueError(f"{name}: ignore_index={ignore_index} is not supported with class-probability "
                             f"targets")
        y = _batched_target(target, unbatched)
        out = SoftCrossEntropy.apply(x, y, weight, label_smoothing=label_smoothing, reduction=reduction)
    else:
        t, ignored = _class_indices_and_ignored(target, input.shape[:1] + input.shape[2:] if not unbatched else (),
                                                num_classes, ignore_index, name)
        if weight is None and not label_smoothing and not ignored:
            out = PlainCrossEntropy.apply(x, _batched_target(t, unbatched), reduction=reduction)
        else:
            out = CrossEntropy.apply(x, _batched_target(t, unbatched), weight, ignore_index=ignore_index,
                                     label_smoothing=label_smoothing, reduction=reduction)
    return _unbatched_result(out, unbatched, reduction)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C, *) (or (C,)) at class indices
    (N, *) (int64, in [0, C) or ``ignore_index``); ``weight`` (C,) scales each sample by
    its class's weight and "mean" divides by the sum of those weights over the
    non-ignored targets. ``nll_loss(log_softmax(x, 1), t)`` is ``cross_entropy(x, t)``."""
    name = "nll_loss"
    x, num_classes, unbatched = _class_input(input, name)
    _check_reduction(reduction, name)
    _check_class_weight(weight, num_classes, name)
    t = _class_indices(target, input.shape[:1] + input.shape[2:] if not unbatched else (),
                       num_classes, ignore_index, name)
    out = NLL.apply(x, _batched_target(t, unbatched), weight, ignore_index=ignore_index, reduction=reduction)
    return _unbatched_result(out, unbatched, reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    """Multi-class hinge loss of scores (N, C) (or (C,)) at class indices (N,):
    sum over j != t of weight[t] * max(0, margin - x[t] + x[j])^p / C, with p = 1 or 2."""
    name = "multi_margin_loss"
    x, num_classes, unbatched = _class_input(input, name)
    if x.ndim != 2:
        raise ValueError(f"{name}: input must have shape (N, C) or (C,), got {input.shape}")
    if p not in (1, 2):
        raise ValueError(f"{name}: p must be 1 or 2, got {p}")
    _check_reduction(reduction, name)
    _check_class_weight(weight, num_classes, name)
    t = _class_indices(target, input.shape[:1] if not unbatched else (), num_classes, None, name)
    out = MultiMargin.apply(x, _batched_target(t, unbatched), weight, p=p, margin=margin, reduction=reduction)
    return _unbatched_result(out, unbatched, reduction)


# ---------------------------------------------------------------- focal losses


def sigmoid_focal_loss(input, target, alpha=0.25, gamma=2.0, reduction="none"):
    """Binary focal loss (Lin et al. 2017) of logits (*) with targets (*) in [0, 1], as
    ``torchvision.ops.sigmoid_focal_loss`` (same defaults, reduction "none" included):

        FL = alpha_t (1 - p_t)^gamma BCE(x, y),  p_t = p y + (1 - p)(1 - y),  p = sigmoid(x),
        alpha_t = alpha y + (1 - alpha)(1 - y)

    ``alpha`` None (or negative, torchvision's spelling) leaves out the alpha_t factor."""
    name = "sigmoid_focal_loss"
    _check_pair(input, target, reduction, name)
    p = input.sigmoid()
    bce = binary_cross_entropy_with_logits(input, target, reduction="none")
    p_t = p * target + (1.0 - p) * (1.0 - target)
    loss = bce * (1.0 - p_t) ** gamma
    if alpha is not None and alpha >= 0:
        loss = (alpha * target + (1.0 - alpha) * (1.0 - target)) * loss
    return _reduce(loss, reduction)


def softmax_focal_loss(input, target, alpha=None, gamma=2.0, reduction="mean"):
    """Multi-class focal loss of logits (N, C, *) (or (C,)) at class indices (N, *):

        FL = -alpha_t (1 - p_t)^gamma log p_t,   p_t = softmax(x)[t]

    ``alpha``: None (no factor), a float (the same factor for every class) or a sequence /
    Tensor (C,) of per-class factors. gamma = 0 and alpha None give cross-entropy. "mean"
    averages over the samples (N * d1 * ...)."""
    name = "softmax_focal_loss"
    _check_reduction(reduction, name)
    if isinstance(target, Tensor) and target.dtype.is_floating_point:
        raise TypeError(f"{name}: target must hold integer class indices (int64), got dtype {target.dtype}")
    ce = cross_entropy(input, target, reduction="none")  # -log p_t, computed through log-sum-exp
    loss = (1.0 - (-ce).exp()) ** gamma * ce
    if alpha is not None and not isinstance(alpha, (int, float)):
        xp = input.device.xp
        table = alpha.data if isinstance(alpha, Tensor) else xp.asarray(alpha, dtype=input.data.dtype,
                                                                         device=input.device.native)
        num_classes = input.shape[0 if input.ndim == 1 else 1]
        if tuple(table.shape) != (num_classes,):
            raise ValueError(f"{name}: alpha must be a float or hold one factor per class, shape "
                             f"({num_classes},); got shape {tuple(table.shape)}")
        t = target.data
        alpha = Tensor._wrap(xp.reshape(xp.take(table, xp.reshape(t, (-1,)), axis=0), t.shape), input.device)
    return _reduce(loss if alpha is None else alpha * loss, reduction)


def focal_loss(input, target, alpha=None, gamma=2.0, reduction="mean", mode="multiclass"):
    """Focal loss (Lin et al. 2017), the function behind ``nn.FocalLoss``:
    ``mode="multiclass"`` is :func:`softmax_focal_loss` (logits (N, C, *), class indices
    (N, *)); ``mode="binary"`` is :func:`sigmoid_focal_loss` (logits and targets of one
    shape (*); ``alpha`` None or a float)."""
    if mode == "multiclass":
        return softmax_focal_loss(input, target, alpha, gamma, reduction)
    if mode == "binary":
        if alpha is not None and not isinstance(alpha, (int, float)):
            raise ValueError(f"focal_loss: in binary mode alpha must be None or a float, got {type(alpha).__name__}")
        return sigmoid_focal_loss(input, target, alpha, gamma, reduction)
    raise ValueError(f"focal_loss: mode must be 'multiclass' or 'binary', got {mode!r}")


# ---------------------------------------------------------------- distributions and embeddings


def kl_div(input, target, reduction="mean", log_target=False):
    """Kullback-Leibler divergence sum y (log y - x) of log-probabilities x (*) from
    target probabilities y (*) (log-probabilities with ``log_target``), elementwise with
    0 log 0 = 0. "batchmean" divides the sum by N = input.shape[0], the true KL per
    sample; "mean" divides by the number of elements (as PyTorch)."""
    name = "kl_div"
    _check_pair(input, target, reduction, name, reductions=_REDUCTIONS + ("batchmean",))
    if log_target:
        loss = target.exp() * (target - input)
    else:
        zero = target == 0
        loss = where(zero, 0.0, target * where(zero, 1.0, target).log()) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1,
    for inputs (N, D) (or (D,)) and targets (N,) (or ()); cos as PyTorch computes it,
    with 1e-12 added to each squared norm."""
    name = "cosine_embedding_loss"
    _check_pair(input1, input2, reduction, name, names=("input1", "input2"))
    if input1.ndim not in (1, 2):
        raise ValueError(f"{name}: inputs must have shape (N, D) or (D,), got {input1.shape}")
    if not isinstance(target, Tensor) or target.shape != input1.shape[:-1]:
        got = target.shape if isinstance(target, Tensor) else type(target).__name__
        raise ValueError(f"{name}: target must be a Tensor of shape {input1.shape[:-1]} (N,) holding 1 or -1, "
                         f"got {got}")
    dim = input1.ndim - 1
    squared_norms = ((input1 * input1).sum(dim) + 1e-12) * ((input2 * input2).sum(dim) + 1e-12)
    cos = (input1 * input2).sum(dim) / squared_norms.sqrt()
    loss = where(target == 1, 1.0 - cos, 0.0) + where(target == -1, (cos - margin).clamp(min=0.0), 0.0)
    return _reduce(loss, reduction)


def _pairwise_distance(a, b, p, eps):
    """||a - b + eps||_p over the last dim, as ``torch.pairwise_distance``."""
    d = a - b + eps
    if p == 1:
        return d.abs().sum(-1)
    if p == 2:
        return (d * d).sum(-1).sqrt()
    return (d.abs() ** p).sum(-1) ** (1.0 / p)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean"):
    """max(0, margin + d(a, p) - d(a, n)) for anchors, positives and negatives (N, D) (or
    (D,)), with d(u, v) = ||u - v + eps||_p over D (as ``torch.pairwise_distance``); with
    ``swap``, d(a, n) is replaced by min(d(a, n), d(p, n)) (Balntas et al. 2016)."""
    name = "triplet_margin_loss"
    _check_pair(anchor, positive, reduction, name, names=("anchor", "positive"))
    _check_pair(anchor, negative, reduction, name, names=("anchor", "negative"))
    if anchor.ndim not in (1, 2):
        raise ValueError(f"{name}: inputs must have shape (N, D) or (D,), got {anchor.shape}")
    if p <= 0:
        raise ValueError(f"{name}: p must be > 0, got {p}")
    d_pos = _pairwise_distance(anchor, positive, p, eps)
    d_neg = _pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = minimum(d_neg, _pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_pos - d_neg).clamp(min=0.0), reduction)
