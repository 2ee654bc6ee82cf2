"""state_dict / load_state_dict: PyTorch's layout, and a run resumed from a state dict
continues bit for bit like the uninterrupted run (optimizers and schedulers)."""
import json

import numpy as np
import pytest

import nyang
from nyang import optim
from nyang.optim import lr_scheduler
from tests.optim.optim_common import (gradients, host, initial_weights, make_pair, nyang_params,
                                      set_nyang_grads, set_torch_grads, torch_params)

SAVE_AT, STEPS = 20, 50

OPTIMIZERS = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adadelta", dict(weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
]


def through_checkpoint(state):
    """What a checkpoint gives back: arrays as NumPy arrays, everything else through JSON."""
    arrays = []

    def strip(obj):
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [strip(v) for v in obj]
        if hasattr(obj, "shape"):
            arrays.append(nyang.Tensor(obj).numpy())
            return {"__array__": len(arrays) - 1}
        return obj

    def restore(obj):
        if isinstance(obj, dict):
            return arrays[obj["__array__"]] if "__array__" in obj else {k: restore(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [restore(v) for v in obj]
        return obj

    return restore(json.loads(json.dumps(strip(state))))


def _train(backend, params, opt, steps, scheduler=None, metric=None):
    for step in steps:
        set_nyang_grads(backend, params, gradients(step))
        opt.step()
        if scheduler is not None:
            scheduler.step(*([] if metric is None else [metric(step)]))


@pytest.mark.parametrize("checkpoint", [False, True], ids=["direct", "checkpoint"])
@pytest.mark.parametrize("name, kwargs", OPTIMIZERS, ids=[n for n, _ in OPTIMIZERS])
def test_optimizer_resume_is_bit_for_bit(backend, name, kwargs, checkpoint):
    weights = initial_weights()
    straight = nyang_params(backend, weights)
    _train(backend, straight, getattr(optim, name)(straight, **kwargs), range(STEPS))

    first = nyang_params(backend, weights)
    opt = getattr(optim, name)(first, **kwargs)
    _train(backend, first, opt, range(SAVE_AT))
    saved_weights, saved = host(first), opt.state_dict()
    _train(backend, first, opt, range(SAVE_AT, SAVE_AT + 3))  # the saved state must not follow the optimizer
    if checkpoint:
        saved = through_checkpoint(saved)

    resumed = nyang_params(backend, saved_weights)
    opt = getattr(optim, name)(resumed, **kwargs)
    opt.load_state_dict(saved)
    _train(backend, resumed, opt, range(SAVE_AT, STEPS))
    for a, b in zip(host(resumed), host(straight)):
        np.testing.assert_array_equal(a, b)


def _groups(params):
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.003}]


SCHEDULED = {
    "OneCycleLR-Adam": ("Adam", dict(lr=0.01), lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=STEPS)),
    "SequentialLR": ("SGD", dict(lr=0.1, momentum=0.9), lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=10),
            lr_scheduler.CosineAnnealingLR(o, T_max=13, eta_min=1e-3)], milestones=[10])),
    "ReduceLROnPlateau": ("RMSprop", dict(lr=0.01),
                          lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=2, cooldown=1, factor=0.5)),
    "LambdaLR": ("Adagrad", dict(lr=0.1), lambda o: lr_scheduler.LambdaLR(o, lambda e: 1.0 / (1 + e))),
    "MultiStepLR": ("SGD", dict(lr=0.1), lambda o: lr_scheduler.MultiStepLR(o, [15, 25, 25, 40], gamma=0.5)),
    "StepLR": ("Adadelta", dict(), lambda o: lr_scheduler.StepLR(o, step_size=6, gamma=0.7)),
    "ExponentialLR": ("AdamW", dict(lr=0.01), lambda o: lr_scheduler.ExponentialLR(o, gamma=0.95)),
    "LinearLR": ("Adam", dict(lr=0.01), lambda o: lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=30)),
}


def _plateau_metric(step):
    return max(1.0 - 0.05 * step, 0.5) + 0.001 * (step % 3)


@pytest.mark.parametrize("checkpoint", [False, True], ids=["direct", "checkpoint"])
@pytest.mark.parametrize("case", list(SCHEDULED))
def test_scheduler_resume_is_bit_for_bit(backend, case, checkpoint):
    name, kwargs, make = SCHEDULED[case]
    metric = _plateau_metric if case == "ReduceLROnPlateau" else None

    def build(params):
        opt = getattr(optim, name)(_groups(params), **kwargs)
        return opt, make(opt)

    def train(params, opt, scheduler, steps):
        lrs = []
        for step in steps:
            _train(backend, params, opt, [step], scheduler, metric)
            lrs.append((scheduler.get_last_lr(), [g["betas"][0] if "betas" in g else g.get("momentum")
                                                  for g in opt.param_groups]))
        return lrs

    weights = initial_weights()
    straight = nyang_params(backend, weights)
    expected = train(straight, *build(straight), range(STEPS))

    first = nyang_params(backend, weights)
    opt, scheduler = build(first)
    lrs = train(first, opt, scheduler, range(SAVE_AT))
    saved_weights, saved = host(first), (opt.state_dict(), scheduler.state_dict())
    train(first, opt, scheduler, range(SAVE_AT, SAVE_AT + 3))
    if checkpoint:
        saved = through_checkpoint(saved)

    resumed = nyang_params(backend, saved_weights)
    opt, scheduler = build(resumed)  # build the scheduler first: it sets the lrs that the load then replaces
    opt.load_state_dict(saved[0])
    scheduler.load_state_dict(saved[1])
    lrs += train(resumed, opt, scheduler, range(SAVE_AT, STEPS))
    assert lrs == expected
    for a, b in zip(host(resumed), host(straight)):
        np.testing.assert_array_equal(a, b)


class Warmup:
    """A callable object: LambdaLR saves its attributes."""

    def __init__(self, steps):
        self.steps = steps

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.steps)


def test_lambda_lr_saves_callable_objects_not_functions():
    def opt():
        return optim.SGD([nyang.tensor([1.0], requires_grad=True)], lr=0.1)

    scheduler = lr_scheduler.LambdaLR(opt(), Warmup(10))
    state = scheduler.state_dict()
    assert state["lr_lambdas"] == [{"steps": 10}]
    other = lr_scheduler.LambdaLR(opt(), Warmup(3))
    other.load_state_dict(state)
    assert other.lr_lambdas[0].steps == 10
    assert lr_scheduler.LambdaLR(opt(), lambda e: 1.0).state_dict()["lr_lambdas"] == [None]


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS, ids=[n for n, _ in OPTIMIZERS])
def test_layout_matches_torch(backend, name, kwargs):
    pytest.importorskip("torch")
    weights = initial_weights()
    ours, theirs = nyang_params(backend, weights), torch_params(weights)
    opt, topt = make_pair(name, _groups(ours), _groups(theirs), kwargs)
    for step in range(5):
        set_nyang_grads(backend, ours, gradients(step))
        set_torch_grads(theirs, gradients(step))
        opt.step()
        topt.step()
    state, expected = opt.state_dict(), topt.state_dict()
    assert set(state) == set(expected) == {"state", "param_groups"}
    for group, their_group in zip(state["param_groups"], expected["param_groups"]):
        assert set(group) <= set(their_group)
        assert group == {k: their_group[k] for k in group}
    assert list(state["state"]) == sorted(expected["state"]) == [0, 1, 2]
    for i, their_state in expected["state"].items():
        assert set(state["state"][i]) == set(their_state)
        for key, value in their_state.items():
            if key == "step":
                assert state["state"][i][key] == value.item()
            else:
                np.testing.assert_allclose(nyang.Tensor(state["state"][i][key]).numpy(), value.numpy(),
                                           rtol=1e-5, atol=1e-6)


def test_load_rejects_a_state_dict_of_another_shape():
    a, b, c = (nyang.tensor([1.0], requires_grad=True) for _ in range(3))
    saved = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="param group 0 has 2 params in the state dict and 3 in the optimizer"):
        optim.SGD([a, b, c], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="the state dict has 1 param groups, the optimizer has 2"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(saved)
