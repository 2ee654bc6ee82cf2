"""Gradient clipping against torch.nn.utils, and the L1 penalty."""
import math

import numpy as np
import pytest

import nyang
from nyang.nn.utils import clip_grad_norm_, clip_grad_value_, l1_penalty
from tests.optim.optim_common import (gradients, initial_weights, nyang_params, set_nyang_grads,
                                      set_torch_grads, torch_params)
from tests.oracle import assert_close, torch


def _pair(backend, scale=1.0):
    """Three parameters with gradients and a fourth without, in nyang and in torch."""
    weights = initial_weights() + [np.ones(2, np.float32)]
    ours, theirs = nyang_params(backend, weights), torch_params(weights)
    grads = [g * scale for g in gradients(1)]
    set_nyang_grads(backend, ours[:3], grads)
    set_torch_grads(theirs[:3], grads)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1, math.inf, 3.0, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3], ids=["clipped", "unclipped"])
def test_clip_grad_norm_matches_torch(backend, norm_type, max_norm):
    ours, theirs = _pair(backend)
    old = [p.grad for p in ours[:3]]
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type, foreach=False)
    assert isinstance(total, nyang.Tensor) and total.shape == () and total.dtype == nyang.float32
    assert_close(total, expected, 1e-5, 1e-6, "total norm")
    for p, tp in zip(ours, theirs):
        if tp.grad is None:
            assert p.grad is None
        else:
            assert_close(p.grad, tp.grad, 1e-5, 1e-6, "clipped gradient")
    for p, g, before in zip(ours, old, gradients(1)):
        assert p.grad is not g  # a new tensor; the old gradient array is left as it was
        np.testing.assert_array_equal(g.numpy(), before)
    if max_norm < 1:
        norm = torch.linalg.vector_norm(torch.cat([torch.tensor(p.grad.numpy()).flatten() for p in ours[:3]]),
                                        float(norm_type))
        assert norm.item() == pytest.approx(max_norm, rel=1e-4)


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf * 0, as in torch
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_clip_grad_norm_nonfinite(backend, bad):
    ours, theirs = _pair(backend)
    g = gradients(1)[0].copy()
    g[1, 2] = bad
    ours[0].grad = nyang.tensor(backend.asarray(g))
    theirs[0].grad = torch.tensor(g)
    with pytest.raises(RuntimeError, match="non-finite|nan|inf"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, error_if_nonfinite=True, foreach=False)
    total = clip_grad_norm_(ours, 1.0)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0, foreach=False)
    assert np.isnan(total.item()) == np.isnan(expected.item()) and np.isinf(total.item()) == np.isinf(expected.item())


def test_clip_grad_norm_edge_cases():
    w = nyang.tensor([3.0, 4.0], requires_grad=True)
    w.grad = nyang.tensor([3.0, 4.0])
    assert clip_grad_norm_(w, 1.0).item() == pytest.approx(5.0)  # a single tensor
    np.testing.assert_allclose(w.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    assert clip_grad_norm_([nyang.tensor([1.0], requires_grad=True)], 1.0).item() == 0.0  # no gradients
    with pytest.raises(ValueError, match="norm_type must be > 0 or inf, got 0.0"):
        clip_grad_norm_(w, 1.0, norm_type=0)


def test_clip_grad_value_matches_torch(backend):
    ours, theirs = _pair(backend, scale=2.0)
    assert clip_grad_value_(ours, 1.5) is None
    torch.nn.utils.clip_grad_value_(theirs, 1.5, foreach=False)
    for p, tp in zip(ours, theirs):
        if tp.grad is None:
            assert p.grad is None
        else:
            assert_close(p.grad, tp.grad, 0, 0, "clipped gradient")
    assert max(float(np.abs(p.grad.numpy()).max()) for p in ours[:3]) == 1.5


class TinyModel:
    """Anything with ``parameters()`` counts as a model for l1_penalty."""

    def __init__(self, params):
        self.params = params

    def parameters(self):
        return iter(self.params)


@pytest.mark.parametrize("as_model", [True, False], ids=["module", "list"])
def test_l1_penalty_value_and_gradient(backend, as_model):
    weights = initial_weights()
    weights[0][0, 0] = 0.0  # |w| at 0: gradient 0, as torch
    ours, theirs = nyang_params(backend, weights), torch_params(weights)
    x = np.random.default_rng(2).standard_normal(4).astype(np.float32)
    penalty = l1_penalty(TinyModel(ours) if as_model else ours)
    loss = (ours[0] @ nyang.tensor(backend.asarray(x))).sum() + 0.1 * penalty
    expected = (theirs[0] @ torch.tensor(x)).sum() + 0.1 * sum(p.abs().sum() for p in theirs)
    assert penalty.shape == () and penalty.requires_grad
    assert_close(loss, expected, 1e-5, 1e-6, "loss")
    loss.backward()
    expected.backward()
    for p, tp in zip(ours, theirs):
        assert_close(p.grad, tp.grad, 1e-5, 1e-6, "gradient")


def test_l1_penalty_needs_parameters():
    with pytest.raises(ValueError, match="no parameters"):
        l1_penalty([])
