"""Each optimizer, and each option that changes its formula, against torch.optim:
same initial weights, same gradients, same weights after every one of 50 steps."""
import numpy as np
import pytest

import nyang
from nyang import optim
from tests.optim.optim_common import (gradients, host, initial_weights, make_pair, nyang_params,
                                      set_nyang_grads, set_torch_grads, torch_params)
from tests.oracle import torch

STEPS = 50

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.05, initial_accumulator_value=0.1, eps=1e-8)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.9))),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
]
NAMES = ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW"]


def _case_id(case):
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_torch_every_step(backend, case):
    name, kwargs = case
    weights = initial_weights()
    ours, theirs = nyang_params(backend, weights), torch_params(weights)
    opt, topt = make_pair(name, ours, theirs, kwargs)
    arrays = [p.data for p in ours]
    for step in range(STEPS):
        grads = gradients(step)
        set_nyang_grads(backend, ours, grads)
        set_torch_grads(theirs, grads)
        opt.step()
        topt.step()
        for i, (a, b) in enumerate(zip(host(ours), host(theirs))):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{name} step {step + 1} param {i}")
    assert all(p.data is a for p, a in zip(ours, arrays)), "the update must happen in place"


def _tiny_model(lib, params, x):
    w1, b1, w2 = params
    return (lib.tanh(x @ w1 + b1) @ w2).sum()


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_tiny_model_with_autograd(backend, name):
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((5, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32),
               rng.standard_normal((4, 2)).astype(np.float32)]
    x = rng.standard_normal((8, 5)).astype(np.float32)
    ours, theirs = nyang_params(backend, weights), torch_params(weights)
    kwargs = dict(lr=0.01, momentum=0.9) if name == "SGD" else dict(lr=0.01)
    opt, topt = make_pair(name, ours, theirs, kwargs)
    nx, tx = nyang.tensor(backend.asarray(x)), torch.tensor(x)
    for step in range(20):
        opt.zero_grad()
        topt.zero_grad()
        _tiny_model(nyang, ours, nx).backward()
        _tiny_model(torch, theirs, tx).backward()
        opt.step()
        topt.step()
    for a, b in zip(host(ours), host(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_step_with_closure_returns_the_loss():
    w = nyang.tensor([1.0, -2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 5.0
    np.testing.assert_array_equal(w.numpy(), [0.0, 0.0])
    assert opt.step() is None


def test_param_groups_with_their_own_options(backend):
    weights = initial_weights()
    ours, theirs = nyang_params(backend, weights), torch_params(weights)

    def groups(p):
        return [{"params": [p[0]], "lr": 0.1}, {"params": [p[1]], "momentum": 0.9, "nesterov": True}]

    opt = optim.SGD(groups(ours), lr=0.01)
    topt = torch.optim.SGD(groups(theirs), lr=0.01, foreach=False)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert [g["momentum"] for g in opt.param_groups] == [0.0, 0.9]
    for step in range(30):
        if step == 10:  # a third group joins mid-run
            opt.add_param_group({"params": ours[2], "lr": 0.2, "weight_decay": 0.5})
            topt.add_param_group({"params": theirs[2], "lr": 0.2, "weight_decay": 0.5})
        grads = gradients(step)
        set_nyang_grads(backend, ours, grads)
        set_torch_grads(theirs, grads)
        opt.step()
        topt.step()
        for a, b in zip(host(ours), host(theirs)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_param_without_grad_is_skipped(backend, name):
    weights = initial_weights()
    ours, theirs = nyang_params(backend, weights), torch_params(weights)
    kwargs = dict(lr=0.1, momentum=0.9) if name in ("SGD", "RMSprop") else dict(lr=0.1)
    opt, topt = make_pair(name, ours, theirs, kwargs)
    for step in range(3):
        grads = gradients(step)
        set_nyang_grads(backend, ours[:2], grads[:2])
        set_torch_grads(theirs[:2], grads[:2])
        opt.step()
        topt.step()
    np.testing.assert_array_equal(ours[2].numpy(), weights[2])
    assert ours[2] not in opt.state
    assert ours[0] in opt.state
    for a, b in zip(host(ours), host(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_plain_sgd_keeps_no_state():
    w = nyang.tensor([1.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    w.grad = nyang.tensor([1.0])
    opt.step()
    assert opt.state == {} and opt.state_dict()["state"] == {}


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(backend, set_to_none):
    ours = nyang_params(backend, initial_weights())
    opt = optim.Adam(ours)
    grads = gradients(0)
    set_nyang_grads(backend, ours[:2], grads[:2])
    old = ours[0].grad
    opt.zero_grad(set_to_none=set_to_none)
    assert ours[2].grad is None
    for p in ours[:2]:
        if set_to_none:
            assert p.grad is None
        else:
            assert p.grad.shape == p.shape and p.grad.dtype == p.dtype
            np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape, np.float32))
    np.testing.assert_array_equal(old.numpy(), grads[0])  # the old gradient array is untouched


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("name", NAMES)
def test_gradients_are_never_modified(name, weight_decay):
    options = {"SGD": dict(momentum=0.9, nesterov=True), "RMSprop": dict(momentum=0.9, centered=True),
               "Adam": dict(amsgrad=True)}.get(name, {})
    w = nyang.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    g = np.broadcast_to(np.float32(0.5), (2, 3))  # a read-only broadcast view, as autograd may give
    opt = getattr(optim, name)([w], weight_decay=weight_decay, **options)
    for _ in range(3):
        w.grad = nyang.Tensor(g)
        opt.step()
    assert w.grad.data is g
    np.testing.assert_array_equal(g, 0.5)
    assert not np.array_equal(w.numpy(), np.ones((2, 3)))
