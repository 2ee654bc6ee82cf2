"""Every differentiable op against PyTorch (float32) and finite differences (float64),
on every backend. Each case is one function ``f(lib, *tensors)`` run with
``lib=nyang`` and ``lib=torch``, since nyang's API mirrors PyTorch's."""
import numpy as np
import pytest

import nyang
from tests.oracle import check_gradients, check_op, torch


def _r(*shape, low=-2.0, high=2.0, seed=0):
    return np.random.default_rng(seed + sum(shape)).uniform(low, high, shape).astype(np.float32)


def _pos(*shape, seed=0):
    return _r(*shape, low=0.5, high=2.0, seed=seed)


def _ties(*shape):
    return np.random.default_rng(3).integers(0, 3, shape).astype(np.float32)


# (id, f(lib, *tensors), inputs, which inputs need grad or None for all)
CASES = [
    ("add", lambda L, a, b: a + b, [_r(3, 4), _r(3, 4, seed=1)]),
    ("add_broadcast", lambda L, a, b: a + b, [_r(2, 3, 4), _r(3, 1, seed=1)]),
    ("add_scalar", lambda L, a: a + 2.5, [_r(3, 4)]),
    ("radd_scalar", lambda L, a: 2.5 + a, [_r(3, 4)]),
    ("sub_broadcast", lambda L, a, b: a - b, [_r(4, 1), _r(1, 5, seed=1)]),
    ("rsub_scalar", lambda L, a: 1.5 - a, [_r(3)]),
    ("mul_broadcast", lambda L, a, b: a * b, [_r(2, 3, 4), _r(4, seed=1)]),
    ("mul_scalar", lambda L, a: a * -3.0, [_r(3, 4)]),
    ("div", lambda L, a, b: a / b, [_r(3, 4), _pos(3, 4, seed=1)]),
    ("div_broadcast", lambda L, a, b: a / b, [_r(2, 3), _pos(2, 1, seed=1)]),
    ("rdiv_scalar", lambda L, a: 2.0 / a, [_pos(5)]),
    ("pow_scalar", lambda L, a: a ** 3, [_r(3, 4)]),
    ("pow_half", lambda L, a: a ** 0.5, [_pos(3, 4)]),
    ("pow_zero", lambda L, a: a ** 0, [_r(3)]),
    ("pow_tensor", lambda L, a, b: a ** b, [_pos(3, 4), _r(3, 4, seed=1)]),
    ("rpow_scalar", lambda L, a: 2.0 ** a, [_r(3, 4)]),
    ("neg", lambda L, a: -a, [_r(3, 4)]),
    ("abs", lambda L, a: L.abs(a), [_r(3, 4)]),
    ("exp", lambda L, a: L.exp(a), [_r(3, 4)]),
    ("log", lambda L, a: L.log(a), [_pos(3, 4)]),
    ("sqrt", lambda L, a: L.sqrt(a), [_pos(3, 4)]),
    ("sin", lambda L, a: L.sin(a), [_r(3, 4)]),
    ("cos", lambda L, a: L.cos(a), [_r(3, 4)]),
    ("tanh", lambda L, a: L.tanh(a), [_r(3, 4)]),
    ("sigmoid", lambda L, a: L.sigmoid(a), [_r(3, 4, low=-8, high=8)]),
    ("erf", lambda L, a: L.erf(a), [_r(3, 4)]),
    ("clamp", lambda L, a: L.clamp(a, -0.5, 0.7), [_r(4, 5)]),
    ("clamp_min", lambda L, a: a.clamp(min=0.0), [_r(4, 5)]),
    ("clamp_tensor", lambda L, a, lo: a.clamp(min=lo), [_r(4, 5), _r(5, seed=1)]),
    ("maximum", lambda L, a, b: L.maximum(a, b), [_r(3, 4), _r(3, 4, seed=1)]),
    ("maximum_ties", lambda L, a, b: L.maximum(a, b), [_ties(3, 4), _ties(4)]),
    ("minimum_broadcast", lambda L, a, b: L.minimum(a, b), [_r(3, 4), _r(1, 4, seed=1)]),
    ("where", lambda L, a, b: L.where(a > 0, a, b), [_r(3, 4), _r(3, 4, seed=1)]),
    ("where_scalar", lambda L, a: L.where(a > 0, a, 0.0), [_r(3, 4)]),
    ("matmul_2d", lambda L, a, b: a @ b, [_r(3, 4), _r(4, 5, seed=1)]),
    ("matmul_batched", lambda L, a, b: L.matmul(a, b), [_r(2, 3, 4), _r(2, 4, 5, seed=1)]),
    ("matmul_broadcast", lambda L, a, b: a @ b, [_r(2, 1, 3, 4), _r(5, 4, 2, seed=1)]),
    ("matmul_vec_mat", lambda L, a, b: a @ b, [_r(4), _r(2, 4, 5, seed=1)]),
    ("matmul_mat_vec", lambda L, a, b: a @ b, [_r(2, 3, 4), _r(4, seed=1)]),
    ("matmul_vec_vec", lambda L, a, b: a @ b, [_r(4), _r(4, seed=1)]),
    ("matmul_noncontiguous", lambda L, a, b: a.T @ b, [_r(4, 3), _r(4, 5, seed=1)]),
    ("sum_all", lambda L, a: a.sum(), [_r(3, 4)]),
    ("sum_dim", lambda L, a: a.sum(dim=1), [_r(3, 4, 5)]),
    ("sum_dims_keepdim", lambda L, a: L.sum(a, dim=(0, -1), keepdim=True), [_r(3, 4, 5)]),
    ("sum_negative_dim", lambda L, a: a.sum(-2), [_r(3, 4, 5)]),
    ("mean_all", lambda L, a: a.mean(), [_r(3, 4)]),
    ("mean_dim_keepdim", lambda L, a: a.mean(dim=(1, 2), keepdim=True), [_r(2, 3, 4)]),
    ("var_unbiased", lambda L, a: a.var(dim=1), [_r(3, 5)]),
    ("var_biased", lambda L, a: a.var(dim=(0, 1), unbiased=False, keepdim=True), [_r(3, 5, 2)]),
    ("var_correction0", lambda L, a: L.var(a, correction=0), [_r(6)]),
    ("std", lambda L, a: a.std(dim=0), [_r(5, 3)]),
    ("max_all", lambda L, a: a.max(), [_r(3, 4)]),
    ("max_all_ties", lambda L, a: a.max(), [_ties(3, 4)]),
    ("max_dim_values", lambda L, a: a.max(dim=1)[0], [_r(3, 4)]),
    ("max_dim_ties", lambda L, a: a.max(dim=0).values, [_ties(5, 4)]),
    ("max_dim_keepdim", lambda L, a: a.max(dim=-1, keepdim=True)[0], [_r(2, 3, 4)]),
    ("min_dim", lambda L, a: L.min(a, dim=1)[0], [_r(3, 4)]),
    ("min_all", lambda L, a: a.min(), [_r(3, 4)]),
    ("amax_ties", lambda L, a: L.amax(a, dim=1), [_ties(4, 6)]),
    ("amin_dims", lambda L, a: a.amin(dim=(0, 2), keepdim=True), [_r(2, 3, 4)]),
    ("logsumexp", lambda L, a: L.logsumexp(a, dim=1), [_r(3, 4, low=-30, high=30)]),
    ("logsumexp_keepdim", lambda L, a: a.logsumexp(dim=(0, 1), keepdim=True), [_r(3, 4, 2)]),
    ("reshape", lambda L, a: a.reshape(4, -1) * 2, [_r(2, 3, 4)]),
    ("view", lambda L, a: a.view(-1), [_r(2, 3)]),
    ("flatten", lambda L, a: L.flatten(a, 1), [_r(2, 3, 4)]),
    ("flatten_middle", lambda L, a: a.flatten(1, 2), [_r(2, 3, 4, 5)]),
    ("squeeze", lambda L, a: a.squeeze(), [_r(2, 1, 3, 1)]),
    ("squeeze_dim", lambda L, a: a.squeeze(1), [_r(2, 1, 3, 1)]),
    ("unsqueeze", lambda L, a: a.unsqueeze(-1), [_r(2, 3)]),
    ("transpose", lambda L, a: a.transpose(0, 2), [_r(2, 3, 4)]),
    ("permute", lambda L, a: a.permute(2, 0, 1), [_r(2, 3, 4)]),
    ("T", lambda L, a: a.T, [_r(2, 3)]),
    ("expand", lambda L, a: a.expand(2, 3, -1), [_r(3, 1)]),
    ("broadcast_to", lambda L, a: L.broadcast_to(a, (4, 2, 3)), [_r(2, 1)]),
    ("cat", lambda L, a, b: L.cat([a, b], dim=1), [_r(2, 3), _r(2, 5, seed=1)]),
    ("cat_negative_dim", lambda L, a, b: L.cat([a, b, a], dim=-1), [_r(2, 3), _r(2, 1, seed=1)]),
    ("stack", lambda L, a, b: L.stack([a, b], dim=1), [_r(2, 3), _r(2, 3, seed=1)]),
    ("split_sizes", lambda L, a: L.split(a, [1, 3], dim=1)[1] * 2, [_r(2, 4)]),
    ("split_even", lambda L, a: a.split(2)[2] + a.split(2)[0].sum(), [_r(5, 3)]),
    ("chunk", lambda L, a: L.chunk(a, 3, dim=1)[1], [_r(2, 7)]),
    ("index_int", lambda L, a: a[1], [_r(3, 4)]),
    ("index_slice", lambda L, a: a[1:, ::2], [_r(4, 5)]),
    ("index_negative_step", lambda L, a: a[-1, 1:3], [_r(3, 4)]),
    ("index_none_ellipsis", lambda L, a: a[None, ..., 1], [_r(2, 3, 4)]),
    ("index_int_array", lambda L, a: a[L.tensor([0, 2, 2, 1])], [_r(3, 4)]),
    ("index_pairs", lambda L, a: a[L.tensor([0, 1, 2]), L.tensor([3, 3, 0])], [_r(3, 4)]),
    ("index_list", lambda L, a: a[[1, 1, 0]], [_r(3, 2)]),
    ("index_bool_mask", lambda L, a: a[a > 0], [_r(3, 4)]),
    ("gather", lambda L, a: L.gather(a, 1, L.tensor([[0, 0], [1, 0], [3, 2]])), [_r(3, 4)]),
    ("pad", lambda L, a: L.nn.functional.pad(a, (1, 2, 0, 1)), [_r(2, 3, 4)]),
    ("pad_value", lambda L, a: L.nn.functional.pad(a, (2, 0), value=-1.5), [_r(3, 2)]),
    ("chain", lambda L, a, b: ((a @ b).tanh() * 3 - b.sum(0)).exp().mean(), [_r(3, 4) / 4, _r(4, 5, seed=1) / 4]),
    ("reuse", lambda L, a: a * a + a.exp() * a, [_r(3)]),
]

GRADCHECK_SKIP = {"max_all_ties", "max_dim_ties", "amax_ties", "maximum_ties", "index_bool_mask"}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(backend, case):
    name, f, inputs = case
    check_op(backend, lambda *t: f(nyang, *t), lambda *t: f(torch, *t), inputs)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] not in GRADCHECK_SKIP],
                         ids=[c[0] for c in CASES if c[0] not in GRADCHECK_SKIP])
def test_gradients_match_finite_differences(backend, case):
    name, f, inputs = case
    check_gradients(backend, lambda *t: f(nyang, *t), inputs)


def test_argmax_argmin_match_torch(backend):
    a = _ties(4, 5)
    for dim in (None, 0, 1, -1):
        for name in ("argmax", "argmin"):
            ours = getattr(nyang.tensor(backend.asarray(a)), name)(dim=dim).numpy()
            theirs = getattr(torch.tensor(a), name)(dim=dim).numpy()
            np.testing.assert_array_equal(ours, theirs)


def test_comparisons_are_bool_and_outside_the_graph(backend):
    a = nyang.tensor(backend.asarray(_r(3, 4)), requires_grad=True)
    for out in (a < 0, a <= 0, a > 0, a >= 0, a == a, a != 0, (a > 0) & (a < 1), (a > 0) | (a < -1), ~(a > 0)):
        assert out.dtype == nyang.bool and not out.requires_grad
    np.testing.assert_array_equal((a > 0).numpy(), _r(3, 4) > 0)
