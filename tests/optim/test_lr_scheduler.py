"""Each scheduler gives PyTorch's learning-rate sequence, exactly, for every param group."""
import math

import numpy as np
import pytest

import nyang
from nyang import optim
from nyang.optim import lr_scheduler
from tests.oracle import torch

STEPS = 100
LRS = (0.1, 0.02)


def _optimizers(name="SGD", **kwargs):
    """A nyang and a torch optimizer, each with two param groups of different lrs."""
    ours = getattr(optim, name)([{"params": [nyang.tensor([1.0], requires_grad=True)], "lr": lr} for lr in LRS],
                                **kwargs)
    theirs = getattr(torch.optim, name)([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in LRS],
                                        **kwargs)
    return ours, theirs


def _momenta(opt):
    return [g["betas"][0] if "betas" in g else g.get("momentum") for g in opt.param_groups]


def _run(opt, scheduler, steps=STEPS, metrics=None):
    """The lrs (and momenta) after construction and after each step."""
    seen = [(scheduler.get_last_lr(), [g["lr"] for g in opt.param_groups], _momenta(opt))]
    for i in range(steps):
        opt.step()
        scheduler.step(*([] if metrics is None else [metrics[i]]))
        seen.append((scheduler.get_last_lr(), [g["lr"] for g in opt.param_groups], _momenta(opt)))
    return seen


def _both(make, name="SGD", opt_kwargs=None, **run_kwargs):
    ours, theirs = _optimizers(name, **(opt_kwargs or {}))
    expected = _run(theirs, make(torch.optim.lr_scheduler, theirs), **run_kwargs)
    return _run(ours, make(lr_scheduler, ours), **run_kwargs), expected


CASES = {
    "LambdaLR": lambda L, o: L.LambdaLR(o, lambda e: 0.95 ** e),
    "LambdaLR-per-group": lambda L, o: L.LambdaLR(o, [lambda e: 1.0 / (e + 1), lambda e: min(1.0, (e + 1) / 10)]),
    "StepLR": lambda L, o: L.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda L, o: L.MultiStepLR(o, milestones=[10, 30, 30, 75], gamma=0.3),
    "ExponentialLR": lambda L, o: L.ExponentialLR(o, gamma=0.97),
    "CosineAnnealingLR": lambda L, o: L.CosineAnnealingLR(o, T_max=100),
    "CosineAnnealingLR-cycles": lambda L, o: L.CosineAnnealingLR(o, T_max=17, eta_min=1e-3),
    "LinearLR": lambda L, o: L.LinearLR(o, start_factor=0.1, total_iters=20),
    "LinearLR-decay": lambda L, o: L.LinearLR(o, start_factor=0.5, end_factor=0.1, total_iters=40),
    "SequentialLR-warmup-cosine": lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, start_factor=0.01, total_iters=10), L.CosineAnnealingLR(o, T_max=90, eta_min=1e-4)],
        milestones=[10]),
    "SequentialLR-three": lambda L, o: L.SequentialLR(
        o, [L.ExponentialLR(o, gamma=0.9), L.StepLR(o, step_size=5, gamma=0.5), L.MultiStepLR(o, [10, 20])],
        milestones=[20, 60]),
    "OneCycleLR-SGD": lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=STEPS),
    "OneCycleLR-linear-three-phase": lambda L, o: L.OneCycleLR(
        o, max_lr=[1.0, 0.3], epochs=10, steps_per_epoch=10, anneal_strategy="linear", three_phase=True,
        base_momentum=[0.8, 0.7], max_momentum=0.9, div_factor=10.0, final_div_factor=100.0, pct_start=0.25),
    "OneCycleLR-no-momentum": lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=STEPS, cycle_momentum=False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_sequence_matches_torch(case):
    ours, theirs = _both(CASES[case], opt_kwargs=dict(momentum=0.9))
    assert ours == theirs


def test_one_cycle_cycles_adams_beta1():
    ours, theirs = _both(lambda L, o: L.OneCycleLR(o, max_lr=0.01, total_steps=STEPS), name="Adam")
    assert ours == theirs
    assert min(m[0] for _, _, m in ours) == pytest.approx(0.85) and ours[0][2][0] == 0.95


def test_one_cycle_past_the_last_step():
    opt, _ = _optimizers(momentum=0.9)
    scheduler = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        scheduler.step()
    with pytest.raises(ValueError, match="stepped 4 times, but total_steps is 3"):
        scheduler.step()


def _metrics():
    """A loss that falls, stalls, falls a little, stalls, rises: exercises patience and cooldown."""
    rng = np.random.default_rng(3)
    base = np.concatenate([np.linspace(1.0, 0.5, 20), np.full(25, 0.5), np.linspace(0.5, 0.45, 15),
                           np.full(20, 0.45), np.linspace(0.45, 0.6, 20)])
    return list(base + rng.normal(0, 0.002, base.shape))


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
def test_reduce_on_plateau(mode, threshold_mode):
    metrics = _metrics() if mode == "min" else [-m for m in _metrics()]
    kwargs = dict(mode=mode, factor=0.5, patience=4, threshold=0.01 if threshold_mode == "rel" else 0.004,
                  threshold_mode=threshold_mode, cooldown=3, min_lr=[1e-3, 5e-3])
    ours, theirs = _both(lambda L, o: L.ReduceLROnPlateau(o, **kwargs), metrics=metrics)
    assert ours == theirs
    assert len({tuple(lrs) for lrs, _, _ in ours}) > 2  # the lr did drop, more than once


def test_reduce_on_plateau_takes_a_tensor_metric():
    opt, _ = _optimizers()
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    scheduler.step(nyang.tensor(1.0))
    scheduler.step(nyang.tensor(2.0))
    assert scheduler.get_last_lr() == pytest.approx([0.01, 0.002])


@pytest.mark.parametrize("make", [
    lambda L, o, e: L.StepLR(o, step_size=4, gamma=0.5, last_epoch=e),
    lambda L, o, e: L.ExponentialLR(o, gamma=0.9, last_epoch=e),
    lambda L, o, e: L.CosineAnnealingLR(o, T_max=20, last_epoch=e),
    lambda L, o, e: L.LinearLR(o, start_factor=0.2, total_iters=15, last_epoch=e),
    lambda L, o, e: L.OneCycleLR(o, max_lr=1.0, total_steps=40, last_epoch=e),
], ids=["StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "OneCycleLR"])
def test_resume_with_last_epoch(make):
    """Run 10 steps, then build a second scheduler with last_epoch=9 and go on, as PyTorch does."""
    def run(L, opt):
        first = _run(opt, make(L, opt, -1), steps=10)
        return first + _run(opt, make(L, opt, 9), steps=20)

    ours, theirs = _optimizers(momentum=0.9)
    assert run(lr_scheduler, ours) == run(torch.optim.lr_scheduler, theirs)


def test_schedulers_set_initial_lr():
    opt, _ = _optimizers()
    lr_scheduler.StepLR(opt, step_size=3)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS)
    assert all(math.isclose(g["lr"], lr) for g, lr in zip(opt.param_groups, LRS))
