"""Every loss against PyTorch (float32: forward and input gradients) and against
finite differences (float64), on every backend; then the bad inputs each loss rejects.

Each case is one function ``f(L, *tensors)`` run with ``L`` = nyang's losses and ``L`` =
torch's (``L.F``: the functions, ``L.nn``: the modules), since nyang's API mirrors
PyTorch's. The focal losses, which PyTorch lacks, are checked against their formulas
(torchvision's for the binary one) written out in torch ops.
"""
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import nyang
import nyang.functional.loss as nyang_functional
import nyang.nn.loss as nyang_modules
from nyang.functional.activation import log_softmax
from tests.oracle import check_gradients, check_op, torch

F = nyang_functional
NY = SimpleNamespace(F=nyang_functional, nn=nyang_modules, log_softmax=log_softmax)
TO = SimpleNamespace(F=torch.nn.functional, nn=torch.nn, log_softmax=torch.log_softmax)
REDUCTIONS = ("mean", "sum", "none")


def _rng(seed, shape):
    return np.random.default_rng(seed + 7 * len(shape) + sum(shape))


def _r(*shape, low=-2.0, high=2.0, seed=0):
    return _rng(seed, shape).uniform(low, high, shape).astype(np.float32)


def _prob(*shape, seed=0):
    return _r(*shape, low=0.05, high=0.95, seed=seed)


def _soft(*shape, seed=0):
    """Class probabilities along dim 1 (soft labels)."""
    e = np.exp(2 * _r(*shape, seed=seed))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _labels(shape, num_classes, seed=0, ignore=None):
    """Class indices of ``shape``; with ``ignore``, every third one is ``ignore``."""
    t = _rng(seed + 11, shape).integers(0, num_classes, shape)
    if ignore is not None:
        t.reshape(-1)[::3] = ignore
    return t.astype(np.int64)


def _hard(*shape, seed=0):
    return _rng(seed + 5, shape).integers(0, 2, shape).astype(np.float32)


def _signs(n, seed=0):
    return np.where(_rng(seed + 3, (n,)).integers(0, 2, n) == 1, 1, -1).astype(np.int64)


def _w(*shape, seed=0):
    return _r(*shape, low=0.5, high=2.0, seed=seed + 100)


def _log_probs(*shape, seed=0):
    return np.log(_soft(*shape, seed=seed))


def case(name, f, inputs, grad=None, torch_f=None, marks=()):
    """``f(L, *tensors)`` on both libraries (``torch_f`` for the torch side when given);
    ``grad`` says which inputs need a gradient (None: every float input)."""
    return pytest.param(f, torch_f or f, inputs, grad, id=name, marks=marks)


# ---------------------------------------------------------------- focal reference formulas (torch ops)


def _torch_reduce(loss, reduction):
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def torch_softmax_focal(x, t, alpha=None, gamma=2.0, reduction="mean"):
    """-alpha_t (1 - p_t)^gamma log p_t, p = softmax over dim 1."""
    logpt = torch.log_softmax(x, 1).gather(1, t.unsqueeze(1)).squeeze(1)
    loss = -((1 - logpt.exp()) ** gamma) * logpt
    if isinstance(alpha, float):
        loss = alpha * loss
    elif alpha is not None:
        loss = torch.tensor(alpha, dtype=x.dtype)[t] * loss
    return _torch_reduce(loss, reduction)


def torch_sigmoid_focal(x, y, alpha=0.25, gamma=2.0, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss, line for line."""
    p = torch.sigmoid(x)
    ce_loss = torch.nn.functional.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha is not None and alpha >= 0:
        alpha_t = alpha * y + (1 - alpha) * (1 - y)
        loss = alpha_t * loss
    return _torch_reduce(loss, reduction)


def focal_case(name, formula, inputs, grad=None, **options):
    """nyang's focal_loss with ``options`` (mode from the formula) against ``formula``."""
    mode = "binary" if formula is torch_sigmoid_focal else "multiclass"
    return case(name, lambda L, x, t: L.F.focal_loss(x, t, mode=mode, **options), inputs, grad,
                torch_f=lambda L, x, t: formula(x, t, **options))


# ---------------------------------------------------------------- the cases

X, T = _r(4, 5), _r(4, 5, seed=1)  # regression input and target
Z, C = _r(6, 4, low=-3, high=3), 4  # logits of 6 samples over 4 classes
LABELS, IGNORED = _labels((6,), C), _labels((6,), C, ignore=-100)
ZI, LI = _r(2, 3, 4, 5), _labels((2, 4, 5), 3, ignore=-100)  # (N, C, H, W) logits, (N, H, W) labels
A, P, N_ = _r(5, 3), _r(5, 3, seed=1), _r(5, 3, seed=2)  # triplets
WEIGHTED = [True, False, False]  # input, target, weight: PyTorch gives class weights no gradient

CASES = [
    # regression
    *[case(f"mse_{r}", lambda L, x, y, r=r: L.F.mse_loss(x, y, reduction=r), [X, T]) for r in REDUCTIONS],
    *[case(f"l1_{r}", lambda L, x, y, r=r: L.F.l1_loss(x, y, reduction=r), [X, T]) for r in REDUCTIONS],
    *[case(f"smooth_l1_{r}", lambda L, x, y, r=r: L.F.smooth_l1_loss(x, y, reduction=r), [X, T])
      for r in REDUCTIONS],
    case("smooth_l1_beta_0.5", lambda L, x, y: L.F.smooth_l1_loss(x, y, beta=0.5), [X, T]),
    case("smooth_l1_beta_0", lambda L, x, y: L.F.smooth_l1_loss(x, y, reduction="sum", beta=0.0), [X, T]),
    *[case(f"huber_{r}", lambda L, x, y, r=r: L.F.huber_loss(x, y, reduction=r), [X, T]) for r in REDUCTIONS],
    case("huber_delta_0.4", lambda L, x, y: L.F.huber_loss(x, y, delta=0.4), [X, T]),
    case("module_MSELoss", lambda L, x, y: L.nn.MSELoss(reduction="sum")(x, y), [X, T]),
    case("module_L1Loss", lambda L, x, y: L.nn.L1Loss()(x, y), [X, T]),
    case("module_SmoothL1Loss", lambda L, x, y: L.nn.SmoothL1Loss(beta=0.3)(x, y), [X, T]),
    case("module_HuberLoss", lambda L, x, y: L.nn.HuberLoss(reduction="none", delta=2.0)(x, y), [X, T]),
    # binary cross-entropy on probabilities
    *[case(f"bce_{r}", lambda L, x, y, r=r: L.F.binary_cross_entropy(x, y, reduction=r),
           [_prob(4, 3), _prob(4, 3, seed=1)]) for r in REDUCTIONS],
    case("bce_hard_targets", lambda L, x, y: L.F.binary_cross_entropy(x, y), [_prob(4, 3), _hard(4, 3)],
         [True, False]),
    *[case(f"bce_weight_{r}", lambda L, x, y, w, r=r: L.F.binary_cross_entropy(x, y, weight=w, reduction=r),
           [_prob(4, 3), _prob(4, 3, seed=1), _w(3)], [True, True, False]) for r in REDUCTIONS],
    case("bce_weight_full", lambda L, x, y, w: L.F.binary_cross_entropy(x, y, w),
         [_prob(4, 3), _prob(4, 3, seed=1), _w(4, 3)], [True, True, False]),
    # x at exactly 0 and 1: logs clamped at -100, PyTorch's 1e-12 floor in the gradient
    case("bce_saturated", lambda L, x, y: L.F.binary_cross_entropy(x, y, reduction="none"),
         [np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], np.float32), np.array([0, 1, 1, 0, 1, 0.5], np.float32)],
         [True, False]),
    case("module_BCELoss", lambda L, x, y, w: L.nn.BCELoss(weight=w, reduction="sum")(x, y),
         [_prob(4, 3), _hard(4, 3), _w(3)], [True, False, False]),
    # binary cross-entropy on logits
    *[case(f"bce_logits_{r}", lambda L, x, y, r=r: L.F.binary_cross_entropy_with_logits(x, y, reduction=r),
           [_r(4, 3, low=-4, high=4), _prob(4, 3)]) for r in REDUCTIONS],
    case("bce_logits_weight", lambda L, x, y, w: L.F.binary_cross_entropy_with_logits(x, y, w),
         [_r(4, 3), _hard(4, 3), _w(3)], [True, True, False]),
    *[case(f"bce_logits_pos_weight_{r}",
           lambda L, x, y, pw, r=r: L.F.binary_cross_entropy_with_logits(x, y, reduction=r, pos_weight=pw),
           [_r(4, 3), _prob(4, 3), _w(3)], [True, True, False]) for r in REDUCTIONS],
    case("bce_logits_weight_pos_weight",
         lambda L, x, y, w, pw: L.F.binary_cross_entropy_with_logits(x, y, w, pos_weight=pw, reduction="sum"),
         [_r(2, 4, 3), _prob(2, 4, 3), _w(4, 1), _w(3, seed=1)], [True, True, False, False]),
    case("bce_logits_huge", lambda L, x, y: L.F.binary_cross_entropy_with_logits(x, y, reduction="none"),
         [np.array([-1e4, -100.0, -30.0, 30.0, 100.0, 1e4], np.float32), np.array([0, 1, 1, 0, 1, 0], np.float32)]),
    case("module_BCEWithLogitsLoss", lambda L, x, y, w, pw: L.nn.BCEWithLogitsLoss(weight=w, pos_weight=pw)(x, y),
         [_r(4, 3), _hard(4, 3), _w(3), _w(3, seed=1)], [True, False, False, False]),
    # cross-entropy over class indices
    *[case(f"ce_{r}", lambda L, x, t, r=r: L.F.cross_entropy(x, t, reduction=r), [Z, LABELS]) for r in REDUCTIONS],
    *[case(f"ce_weight_{r}", lambda L, x, t, w, r=r: L.F.cross_entropy(x, t, w, reduction=r), [Z, LABELS, _w(C)],
           WEIGHTED)
      for r in REDUCTIONS],
    *[case(f"ce_ignore_{r}", lambda L, x, t, r=r: L.F.cross_entropy(x, t, reduction=r), [Z, IGNORED])
      for r in REDUCTIONS],
    case("ce_ignore_class_1", lambda L, x, t: L.F.cross_entropy(x, t, ignore_index=1), [Z, LABELS]),
    case("ce_weight_ignore", lambda L, x, t, w: L.F.cross_entropy(x, t, w), [Z, IGNORED, _w(C)], WEIGHTED),
    *[case(f"ce_smoothing_{r}", lambda L, x, t, r=r: L.F.cross_entropy(x, t, reduction=r, label_smoothing=0.2),
           [Z, LABELS]) for r in REDUCTIONS],
    *[case(f"ce_smoothing_weight_ignore_{r}",
           lambda L, x, t, w, r=r: L.F.cross_entropy(x, t, w, reduction=r, label_smoothing=0.3),
           [Z, IGNORED, _w(C)], WEIGHTED) for r in REDUCTIONS],
    case("ce_smoothing_1", lambda L, x, t: L.F.cross_entropy(x, t, label_smoothing=1.0), [Z, IGNORED]),
    *[case(f"ce_nchw_{r}", lambda L, x, t, r=r: L.F.cross_entropy(x, t, reduction=r), [ZI, LI]) for r in REDUCTIONS],
    case("ce_nchw_weight_smoothing",
         lambda L, x, t, w: L.F.cross_entropy(x, t, w, label_smoothing=0.1), [ZI, LI, _w(3)], WEIGHTED),
    case("ce_nc_d", lambda L, x, t: L.F.cross_entropy(x, t, reduction="none"), [_r(3, 4, 2), _labels((3, 2), 4)]),
    case("ce_unbatched", lambda L, x, t: L.F.cross_entropy(x, t, label_smoothing=0.1), [_r(5), np.array(3)]),
    case("ce_unbatched_none", lambda L, x, t: L.F.cross_entropy(x, t, reduction="none"), [_r(5), np.array(1)]),
    case("ce_huge_logits", lambda L, x, t: L.F.cross_entropy(x, t, reduction="none"),
         [np.array([[1e4, -1e4, 0.0], [-3e4, 2e4, 2e4], [50.0, 0.0, -50.0]], np.float32), np.array([1, 2, 0])]),
    # cross-entropy over class probabilities (soft labels)
    *[case(f"ce_soft_{r}", lambda L, x, y, r=r: L.F.cross_entropy(x, y, reduction=r), [Z, _soft(6, 4)])
      for r in REDUCTIONS],
    *[case(f"ce_soft_weight_{r}", lambda L, x, y, w, r=r: L.F.cross_entropy(x, y, w, reduction=r),
           [Z, _soft(6, 4), _w(C)], [True, True, False]) for r in REDUCTIONS],
    case("ce_soft_smoothing", lambda L, x, y: L.F.cross_entropy(x, y, label_smoothing=0.2), [Z, _soft(6, 4)]),
    case("ce_soft_weight_smoothing", lambda L, x, y, w: L.F.cross_entropy(x, y, w, reduction="sum",
                                                                          label_smoothing=0.2),
         [Z, _soft(6, 4), _w(C)], [True, True, False]),
    case("ce_soft_nchw", lambda L, x, y: L.F.cross_entropy(x, y), [ZI, _soft(2, 3, 4, 5)]),
    case("ce_soft_unbatched", lambda L, x, y: L.F.cross_entropy(x, y, reduction="none"),
         [_r(5), _soft(1, 5)[0]]),
    case("module_CrossEntropyLoss",
         lambda L, x, t, w: L.nn.CrossEntropyLoss(weight=w, ignore_index=2, label_smoothing=0.1)(x, t),
         [Z, LABELS, _w(C)], [True, False, False]),
    case("module_CrossEntropyLoss_soft", lambda L, x, y: L.nn.CrossEntropyLoss(reduction="sum")(x, y),
         [ZI, _soft(2, 3, 4, 5)]),
    # negative log-likelihood
    *[case(f"nll_{r}", lambda L, x, t, r=r: L.F.nll_loss(x, t, reduction=r), [_log_probs(6, 4), LABELS])
      for r in REDUCTIONS],
    *[case(f"nll_weight_ignore_{r}", lambda L, x, t, w, r=r: L.F.nll_loss(x, t, w, reduction=r),
           [_log_probs(6, 4), IGNORED, _w(C)], WEIGHTED) for r in REDUCTIONS],
    case("nll_of_log_softmax", lambda L, x, t: L.F.nll_loss(L.log_softmax(x, 1), t), [Z, IGNORED]),
    case("nll_nchw_weight", lambda L, x, t, w: L.F.nll_loss(x, t, w), [ZI, LI, _w(3)], WEIGHTED),
    case("nll_unbatched", lambda L, x, t: L.F.nll_loss(x, t), [_r(5), np.array(4)]),
    case("module_NLLLoss", lambda L, x, t, w: L.nn.NLLLoss(weight=w, ignore_index=0, reduction="sum")(x, t),
         [_log_probs(6, 4), LABELS, _w(C)], [True, False, False]),
    # focal losses
    *[focal_case(f"focal_multiclass_{r}", torch_softmax_focal, [Z, LABELS], reduction=r) for r in REDUCTIONS],
    focal_case("focal_multiclass_alpha_float", torch_softmax_focal, [Z, LABELS], alpha=0.25, gamma=1.5),
    focal_case("focal_multiclass_alpha_per_class", torch_softmax_focal, [Z, LABELS], alpha=[0.1, 0.2, 0.3, 0.4]),
    case("focal_multiclass_gamma_0_is_ce", lambda L, x, t: L.F.softmax_focal_loss(x, t, gamma=0.0), [Z, LABELS],
         torch_f=lambda L, x, t: L.F.cross_entropy(x, t)),
    case("focal_multiclass_nchw", lambda L, x, t: L.F.softmax_focal_loss(x, t, alpha=[1.0, 2.0, 0.5]),
         [ZI, _labels((2, 4, 5), 3)],
         torch_f=lambda L, x, t: torch_softmax_focal(x, t, alpha=[1.0, 2.0, 0.5])),
    *[focal_case(f"focal_binary_{r}", torch_sigmoid_focal, [_r(4, 3, low=-4, high=4), _hard(4, 3)], [True, False],
                 alpha=0.25, reduction=r) for r in REDUCTIONS],
    focal_case("focal_binary_no_alpha_soft_targets", torch_sigmoid_focal, [_r(4, 3), _prob(4, 3)],
               alpha=None, gamma=0.5, reduction="sum"),
    case("sigmoid_focal_loss_defaults", lambda L, x, y: L.F.sigmoid_focal_loss(x, y), [_r(4, 3), _hard(4, 3)],
         [True, False], torch_f=lambda L, x, y: torch_sigmoid_focal(x, y)),
    case("module_FocalLoss_multiclass", lambda L, x, t: L.nn.FocalLoss(alpha=[1.0, 2.0, 3.0, 4.0])(x, t),
         [Z, LABELS], torch_f=lambda L, x, t: torch_softmax_focal(x, t, alpha=[1.0, 2.0, 3.0, 4.0])),
    case("module_FocalLoss_binary", lambda L, x, y: L.nn.FocalLoss(0.75, 3.0, "sum", mode="binary")(x, y),
         [_r(4, 3), _hard(4, 3)], [True, False],
         torch_f=lambda L, x, y: torch_sigmoid_focal(x, y, 0.75, 3.0, "sum")),
    # KL divergence
    *[case(f"kl_div_{r}", lambda L, x, y, r=r: L.F.kl_div(x, y, reduction=r), [_log_probs(4, 5), _soft(4, 5)],
           marks=pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning"))
      for r in REDUCTIONS + ("batchmean",)],
    case("kl_div_zero_targets", lambda L, x, y: L.F.kl_div(x, y, reduction="batchmean"),
         [_log_probs(3, 4), np.array([[0, 0.5, 0.5, 0], [1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]], np.float32)],
         [True, False]),
    *[case(f"kl_div_log_target_{r}", lambda L, x, y, r=r: L.F.kl_div(x, y, reduction=r, log_target=True),
           [_log_probs(4, 5), _log_probs(4, 5, seed=1)]) for r in ("batchmean", "none")],
    case("module_KLDivLoss", lambda L, x, y: L.nn.KLDivLoss(reduction="batchmean", log_target=True)(x, y),
         [_log_probs(4, 5), _log_probs(4, 5, seed=1)]),
    # multi-class hinge
    *[case(f"multi_margin_{r}", lambda L, x, t, r=r: L.F.multi_margin_loss(x, t, reduction=r), [Z, LABELS])
      for r in REDUCTIONS],
    *[case(f"multi_margin_p2_weight_{r}",
           lambda L, x, t, w, r=r: L.F.multi_margin_loss(x, t, p=2, margin=0.7, weight=w, reduction=r),
           [Z, LABELS, _w(C)], WEIGHTED) for r in REDUCTIONS],
    case("multi_margin_unbatched", lambda L, x, t: L.F.multi_margin_loss(x, t, reduction="none"),
         [_r(5), np.array(2)]),
    case("module_MultiMarginLoss", lambda L, x, t, w: L.nn.MultiMarginLoss(p=2, margin=2.0, weight=w)(x, t),
         [Z, LABELS, _w(C)], WEIGHTED),
    # cosine embedding
    *[case(f"cosine_embedding_{r}", lambda L, a, b, y, r=r: L.F.cosine_embedding_loss(a, b, y, reduction=r),
           [A, P, _signs(5)]) for r in REDUCTIONS],
    case("cosine_embedding_margin_float_target",
         lambda L, a, b, y: L.F.cosine_embedding_loss(a, b, y, margin=-0.2, reduction="none"),
         [A, P, _signs(5, seed=1).astype(np.float32)], [True, True, False]),
    case("cosine_embedding_unbatched", lambda L, a, b, y: L.F.cosine_embedding_loss(a, b, y, margin=0.1),
         [A[0], P[0], np.array(-1)]),
    case("module_CosineEmbeddingLoss", lambda L, a, b, y: L.nn.CosineEmbeddingLoss(margin=0.2)(a, b, y),
         [A, P, _signs(5)]),
    # triplet margin
    *[case(f"triplet_{r}", lambda L, a, p, n, r=r: L.F.triplet_margin_loss(a, p, n, reduction=r), [A, P, N_])
      for r in REDUCTIONS],
    case("triplet_p1", lambda L, a, p, n: L.F.triplet_margin_loss(a, p, n, margin=0.5, p=1), [A, P, N_]),
    case("triplet_p3", lambda L, a, p, n: L.F.triplet_margin_loss(a, p, n, p=3, reduction="sum"), [A, P, N_]),
    case("triplet_swap", lambda L, a, p, n: L.F.triplet_margin_loss(a, p, n, margin=2.0, swap=True,
                                                                       reduction="none"), [A, P, N_]),
    case("triplet_unbatched", lambda L, a, p, n: L.F.triplet_margin_loss(a, p, n, eps=1e-3), [A[1], P[1], N_[1]]),
    case("module_TripletMarginLoss",
         lambda L, a, p, n: L.nn.TripletMarginLoss(margin=1.5, p=1.0, swap=True)(a, p, n), [A, P, N_]),
]

# Where finite differences cannot be taken: x at the very ends of [0, 1].
GRADCHECK_SKIP = {"bce_saturated"}


@pytest.mark.parametrize("f, torch_f, inputs, grad", CASES)
def test_matches_torch(backend, f, torch_f, inputs, grad):
    check_op(backend, lambda *t: f(NY, *t), lambda *t: torch_f(TO, *t), inputs, grad)


@pytest.mark.parametrize("f, torch_f, inputs, grad", [c for c in CASES if c.id not in GRADCHECK_SKIP])
def test_gradients_match_finite_differences(backend, f, torch_f, inputs, grad):
    check_gradients(backend, lambda *t: f(NY, *t), inputs, grad)


# ---------------------------------------------------------------- behaviour beyond the table


def _tensor(backend, a, requires_grad=False):
    return nyang.tensor(backend.asarray(np.asarray(a)), requires_grad=requires_grad)


def test_cross_entropy_all_ignored_is_nan_with_zero_gradient_as_torch(backend):
    t = np.full(6, -100)
    for smoothing in (0.0, 0.1):
        x = _tensor(backend, Z, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # 0 / 0
            loss = nyang_functional.cross_entropy(x, _tensor(backend, t), label_smoothing=smoothing)
            loss.backward()
        expected = torch.nn.functional.cross_entropy(torch.tensor(Z), torch.tensor(t), label_smoothing=smoothing)
        assert np.isnan(loss.item()) and np.isnan(expected.item())
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros_like(Z))


def test_cross_entropy_accepts_any_integer_index_dtype(backend):
    x = _tensor(backend, Z)
    expected = nyang_functional.cross_entropy(x, _tensor(backend, LABELS)).item()
    for dtype in (np.int32, np.uint8):
        assert nyang_functional.cross_entropy(x, _tensor(backend, LABELS.astype(dtype))).item() == expected


def test_weights_are_buffers_as_in_torch():
    w = nyang.tensor(_w(C))
    assert list(nyang_modules.CrossEntropyLoss(weight=w).state_dict()) == ["weight"]
    assert list(nyang_modules.BCEWithLogitsLoss(pos_weight=w).state_dict()) == ["pos_weight"]
    assert list(nyang_modules.MSELoss().state_dict()) == []


# ---------------------------------------------------------------- bad inputs


def _bad(backend):
    """A few tensors on the backend for the error cases."""
    return SimpleNamespace(x=_tensor(backend, Z), t=_tensor(backend, LABELS), y=_tensor(backend, _soft(6, 4)),
                           p=_tensor(backend, _prob(6, 4)), x2=_tensor(backend, _r(6, 3)),
                           ints=_tensor(backend, LABELS.reshape(3, 2)),
                           big=_tensor(backend, [0, 1, 4, 2, -100, 3]), negative=_tensor(backend, [0, -1, 2, 3, 1, 0]))


ERRORS = [
    # shape mismatch between prediction and target
    *[(f"{name}_shape", lambda b, f=f: f(b.x, b.x2), ValueError,
       r"target shape \(6, 3\) must equal input shape \(6, 4\)")
      for name, f in [("mse", F.mse_loss), ("l1", F.l1_loss), ("smooth_l1", F.smooth_l1_loss),
                      ("huber", F.huber_loss), ("bce_logits", F.binary_cross_entropy_with_logits),
                      ("kl_div", F.kl_div), ("sigmoid_focal", F.sigmoid_focal_loss)]],
    ("bce_shape", lambda b: F.binary_cross_entropy(b.p, b.y[:, :3]), ValueError, "must equal input shape"),
    ("triplet_shape", lambda b: F.triplet_margin_loss(b.x, b.x, b.x2), ValueError, "negative shape"),
    ("triplet_3d", lambda b: F.triplet_margin_loss(b.y[None], b.y[None], b.y[None]), ValueError, r"\(N, D\)"),
    ("cosine_shape", lambda b: F.cosine_embedding_loss(b.x, b.x2, b.t), ValueError, "input2 shape"),
    ("cosine_target_shape", lambda b: F.cosine_embedding_loss(b.x, b.x, b.ints), ValueError, r"shape \(6,\)"),
    # unknown reductions
    *[(f"{name}_reduction", f, ValueError, "reduction must be one of 'mean', 'sum', 'none', got 'avg'")
      for name, f in [("mse", lambda b: F.mse_loss(b.x, b.x, reduction="avg")),
                      ("ce", lambda b: F.cross_entropy(b.x, b.t, reduction="avg")),
                      ("nll", lambda b: F.nll_loss(b.x, b.t, reduction="avg")),
                      ("bce", lambda b: F.binary_cross_entropy(b.p, b.p, reduction="avg")),
                      ("focal", lambda b: F.focal_loss(b.x, b.t, reduction="avg")),
                      ("module", lambda b: nyang_modules.L1Loss(reduction="avg")(b.x, b.x))]],
    ("kl_reduction", lambda b: F.kl_div(b.x, b.y, reduction="batch"), ValueError, "'batchmean', got 'batch'"),
    ("mse_batchmean", lambda b: F.mse_loss(b.x, b.x, reduction="batchmean"), ValueError, "got 'batchmean'"),
    # class indices: range, dtype, shape
    ("ce_target_too_big", lambda b: F.cross_entropy(b.x, b.big), ValueError,
     r"cross_entropy: target class indices must lie in \[0, 4\) \(or ignore_index=-100\); got values from 0 to 4"),
    ("ce_target_negative", lambda b: F.cross_entropy(b.x, b.negative), ValueError, "got values from -1 to 3"),
    ("ce_target_is_other_ignore", lambda b: F.cross_entropy(b.x, b.big, ignore_index=4), ValueError,
     r"\(or ignore_index=4\); got values from -100 to 3"),
    ("nll_target_too_big", lambda b: F.nll_loss(b.x, b.big), ValueError, r"nll_loss: .* \[0, 4\)"),
    ("margin_target_negative", lambda b: F.multi_margin_loss(b.x, b.negative), ValueError, r"\[0, 4\); got"),
    ("ce_float_target_shape", lambda b: F.cross_entropy(b.x, b.x2), ValueError,
     r"float target holds class probabilities and must have the input's shape \(6, 4\), got \(6, 3\)"),
    ("ce_float_target_as_indices", lambda b: F.cross_entropy(b.x, b.y[:, 0]), ValueError, "class probabilities"),
    ("ce_int_target_shape", lambda b: F.cross_entropy(b.x, b.ints), ValueError,
     r"class indices must have shape \(6,\) .* got \(3, 2\)"),
    ("ce_bool_target", lambda b: F.cross_entropy(b.x, b.t > 1), TypeError, "integer class indices .* got dtype"),
    ("nll_float_target", lambda b: F.nll_loss(b.x, b.y[:, 0]), TypeError, "integer class indices"),
    ("focal_float_target", lambda b: F.focal_loss(b.x, b.y), TypeError, "integer class indices"),
    ("ce_int_input", lambda b: F.cross_entropy(b.t, b.t), TypeError, "input must have a floating-point dtype"),
    ("mse_int_target", lambda b: F.mse_loss(b.x[:, 0], b.t), TypeError, "target must have a floating-point dtype"),
    ("ce_weight_shape", lambda b: F.cross_entropy(b.x, b.t, weight=b.t), ValueError, r"weight must have shape \(C,\)"),
    ("ce_soft_ignore_index", lambda b: F.cross_entropy(b.x, b.y, ignore_index=0), ValueError, "ignore_index=0"),
    ("ce_label_smoothing", lambda b: F.cross_entropy(b.x, b.t, label_smoothing=1.5), ValueError, r"\[0, 1\]"),
    ("focal_alpha_shape", lambda b: F.focal_loss(b.x, b.t, alpha=[1.0, 2.0]), ValueError, r"shape \(4,\)"),
    # probabilities outside [0, 1]
    ("bce_input_range", lambda b: F.binary_cross_entropy(b.x, b.p), ValueError, "input must be between 0 and 1"),
    ("bce_target_range", lambda b: F.binary_cross_entropy(b.p, b.p * 2), ValueError, "target must be between"),
    ("bce_weight_shape", lambda b: F.binary_cross_entropy(b.p, b.p, weight=b.x2), ValueError, "broadcast"),
    ("bce_logits_pos_weight", lambda b: F.binary_cross_entropy_with_logits(b.x, b.p, pos_weight=b.t),
     ValueError, "pos_weight of shape"),
    # options
    ("margin_p", lambda b: F.multi_margin_loss(b.x, b.t, p=3), ValueError, "p must be 1 or 2"),
    ("smooth_l1_beta", lambda b: F.smooth_l1_loss(b.x, b.x, beta=-1.0), ValueError, "beta"),
    ("huber_delta", lambda b: F.huber_loss(b.x, b.x, delta=0.0), ValueError, "delta"),
    ("focal_mode", lambda b: F.focal_loss(b.x, b.t, mode="sigmoid"), ValueError, "mode"),
    ("focal_binary_alpha", lambda b: F.focal_loss(b.x, b.x, alpha=[0.5], mode="binary"), ValueError, "alpha"),
    ("focal_module_mode", lambda b: nyang_modules.FocalLoss(mode="sigmoid"), ValueError, "mode"),
    ("triplet_p", lambda b: F.triplet_margin_loss(b.x, b.x, b.x, p=0), ValueError, "p must be > 0"),
]


@pytest.mark.parametrize("make, error, match", [pytest.param(*e[1:], id=e[0]) for e in ERRORS])
def test_bad_inputs_raise_clear_errors(backend, make, error, match):
    with pytest.raises(error, match=match):
        out = make(_bad(backend))
        out.numpy()  # on a GPU a check of the values raises at the next read (nyang.device_checks)
