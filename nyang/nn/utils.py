"""Gradient clipping and an L1 penalty.

Regularization: when to use which
---------------------------------
**L2 (weight decay).** Pass ``weight_decay=λ`` to the optimizer; it adds ``λ·w`` to each
gradient, which is the gradient of ``λ/2·‖w‖²``. It pulls every weight towards 0 in
proportion to its size, so no weight grows large: the usual first choice against
overfitting with SGD (typical λ: 1e-4 to 5e-4).

**Decoupled weight decay (AdamW).** With Adam, L2 in the gradient is divided by Adam's
per-weight scale ``√v``, so weights with large gradients are barely decayed. ``AdamW``
instead shrinks the weights directly, ``w ← w − lr·λ·w``, at the same rate for all of them.
With adaptive optimizers prefer ``AdamW(weight_decay=1e-2 …)`` to ``Adam(weight_decay=…)``.

**L1 penalty.** ``loss = loss + λ * l1_penalty(model)`` adds ``λ·Σ|w|``, whose gradient
``λ·sign(w)`` pushes every weight towards 0 by the same amount however small it is, so
many weights end at (nearly) exactly 0: use it when you want a sparse model or a
feature selection, not just small weights.

**Gradient clipping.** ``clip_grad_norm_(model.parameters(), max_norm)`` between
``backward()`` and ``step()`` rescales all the gradients together when their norm exceeds
``max_norm``, keeping the direction. It does not regularize; it guards against exploding
gradients: recurrent networks (RNN/LSTM over long sequences), very deep nets, the first
steps with a high learning rate. Start with ``max_norm=1.0`` and watch the returned norm.
``clip_grad_value_`` clips each element to ``[-c, c]`` (changes the direction; rarely better).

Clipping replaces each ``p.grad`` with a new tensor; gradient arrays are never changed in place.
"""
import math

from nyang.creation import tensor
from nyang.tensor import Tensor


def _with_grad(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def _norm(xp, x, norm_type):
    """The ``norm_type``-norm of all the elements of array ``x``, as a 0-d array."""
    if norm_type == math.inf:
        return xp.max(xp.abs(x))
    if norm_type == 1:
        return xp.sum(xp.abs(x))
    if norm_type == 2:
        return xp.sqrt(xp.sum(x * x))
    return xp.sum(xp.abs(x) ** norm_type) ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Rescale the gradients of ``parameters`` so that their total norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm (2, 1, any p > 0, or ``math.inf``) of all the
    gradients taken together, as if concatenated into one vector; when it exceeds
    ``max_norm`` every gradient is multiplied by ``max_norm / (total_norm + 1e-6)``.
    Parameters without a gradient are ignored. Returns the total norm before clipping,
    as a 0-d tensor. With ``error_if_nonfinite=True`` a nan or infinite total norm raises
    RuntimeError instead of clipping.
    """
    params = _with_grad(parameters)
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    if not params:
        return tensor(0.0)
    device = params[0].grad.device
    xp = device.xp
    norms = [_norm(xp, p.grad.data, norm_type) for p in params]
    total = xp.asarray(_norm(xp, xp.stack(norms), norm_type))
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
                           f"{float(total)}, so they cannot be clipped; pass error_if_nonfinite=False to "
                           f"scale them by it anyway")
    scale = xp.clip(float(max_norm) / (total + 1e-6), max=1.0)
    for p in params:
        p.grad = Tensor._wrap(p.grad.data * scale, p.grad.device)
    return Tensor._wrap(total, device)


def clip_grad_value_(parameters, clip_value):
    """Clip every gradient element of ``parameters`` to ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    for p in _with_grad(parameters):
        p.grad = Tensor._wrap(p.grad.device.xp.clip(p.grad.data, min=-clip_value, max=clip_value), p.grad.device)


def l1_penalty(model_or_params):
    """``Σ |w|`` over the parameters of a Module (or an iterable of tensors), as a differentiable
    0-d tensor: ``loss = loss + 1e-5 * l1_penalty(model)``."""
    params = model_or_params.parameters() if hasattr(model_or_params, "parameters") else model_or_params
    if isinstance(params, Tensor):
        params = [params]
    total = None
    for p in params:
        term = p.abs().sum()
        total = term if total is None else total + term
    if total is None:
        raise ValueError("l1_penalty: got no parameters")
    return total
