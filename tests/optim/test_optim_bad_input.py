"""Bad arguments to the optimizers and schedulers raise errors that name the argument and the value."""
import pytest

import nyang
from nyang import optim
from nyang.optim import lr_scheduler


def _params(n=2):
    return [nyang.tensor([1.0, 2.0], requires_grad=True) for _ in range(n)]


NAMES = ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW"]


@pytest.mark.parametrize("name, arg", [(name, arg) for name in NAMES for arg in ["lr", "weight_decay", "eps"]
                                       if (name, arg) != ("SGD", "eps")])
def test_negative_hyperparameter(name, arg):
    with pytest.raises(ValueError, match=rf"{name}: {arg} must be >= 0, got -0\.5"):
        getattr(optim, name)(_params(), **{arg: -0.5})


@pytest.mark.parametrize("name", ["SGD", "RMSprop"])
def test_negative_momentum(name):
    with pytest.raises(ValueError, match=r"momentum must be >= 0, got -0\.9"):
        getattr(optim, name)(_params(), momentum=-0.9)


@pytest.mark.parametrize("arg, value", [("lr_decay", -0.1), ("initial_accumulator_value", -1.0)])
def test_adagrad_negative_option(arg, value):
    with pytest.raises(ValueError, match=rf"{arg} must be >= 0, got {value}"):
        optim.Adagrad(_params(), **{arg: value})


def test_adadelta_rho_outside_0_1():
    with pytest.raises(ValueError, match=r"rho must be in \[0, 1\], got 1\.5"):
        optim.Adadelta(_params(), rho=1.5)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("betas", [(1.0, 0.999), (0.9, -0.1), (-0.5, 0.9), (0.9, 1.2)])
def test_betas_outside_0_1(name, betas):
    pattern = rf"betas must be a pair of values in \[0, 1\), got \({betas[0]}, {betas[1]}\)"
    with pytest.raises(ValueError, match=pattern):
        getattr(optim, name)(_params(), betas=betas)


@pytest.mark.parametrize("kwargs", [dict(nesterov=True), dict(nesterov=True, momentum=0.9, dampening=0.1)])
def test_nesterov_needs_momentum_and_no_dampening(kwargs):
    with pytest.raises(ValueError, match=r"nesterov=True needs momentum > 0 and dampening = 0, got momentum=.*"):
        optim.SGD(_params(), **kwargs)


def test_bad_value_in_a_param_group():
    with pytest.raises(ValueError, match=r"lr must be >= 0, got -1"):
        optim.SGD([{"params": _params(1)}, {"params": _params(1), "lr": -1}], lr=0.1)
    opt = optim.Adam(_params(1))
    with pytest.raises(ValueError, match=r"betas .* got \(0\.9, 1\.0\)"):
        opt.add_param_group({"params": _params(1), "betas": (0.9, 1.0)})


@pytest.mark.parametrize("params", [[], (p for p in [])], ids=["list", "generator"])
def test_empty_parameter_list(params):
    with pytest.raises(ValueError, match="params is an empty parameter list"):
        optim.SGD(params, lr=0.1)


def test_parameter_given_twice():
    a, b = _params()
    with pytest.raises(ValueError, match=r"parameter given twice \(param 2 of group 0, shape \(2,\)\)"):
        optim.SGD([a, b, a], lr=0.1)
    with pytest.raises(ValueError, match=r"parameter given twice \(param 1 of group 1"):
        optim.Adam([{"params": [a]}, {"params": [b, a]}])
    opt = optim.Adam([a])
    with pytest.raises(ValueError, match=r"parameter given twice \(param 1 of group 1"):
        opt.add_param_group({"params": [b, a]})
    assert len(opt.param_groups) == 1


def test_params_that_are_not_leaf_tensors():
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(_params(1)[0], lr=0.1)
    with pytest.raises(TypeError, match="param 1 of group 0 is a list"):
        optim.SGD([_params(1)[0], [1.0]], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([_params(1)[0] * 2], lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD({_params(1)[0]}, lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD([{"params": {_params(1)[0]}}], lr=0.1)


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.LambdaLR(o, lambda e: 1.0),
    lambda o: lr_scheduler.StepLR(o, step_size=3),
    lambda o: lr_scheduler.MultiStepLR(o, milestones=[3]),
    lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9),
    lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10),
    lambda o: lr_scheduler.LinearLR(o),
    lambda o: lr_scheduler.SequentialLR(o, [], []),
    lambda o: lr_scheduler.ReduceLROnPlateau(o),
    lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10),
], ids=["LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "SequentialLR",
        "ReduceLROnPlateau", "OneCycleLR"])
def test_scheduler_on_something_that_is_not_an_optimizer(make):
    torch = pytest.importorskip("torch")
    not_ours = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="optimizer must be a nyang.optim.Optimizer, got SGD") as info:
        make(not_ours)
    assert isinstance(info.value, TypeError)  # what PyTorch raises: code catching either catches it
    with pytest.raises(TypeError, match="got list") as info:
        make(_params())
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("make, message", [
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0.0), r"start_factor must be in \(0, 1\], got 0\.0"),
    (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), r"end_factor must be in \[0, 1\], got 1\.5"),
    (lambda o: lr_scheduler.StepLR(o, step_size=0), r"step_size must be positive, got 0"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=-1), r"T_max must be positive, got -1"),
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0] * 3), r"lr_lambda has 3 values .* 1 param groups"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), r"factor must be < 1\.0, got 1\.0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="low"), r"mode must be 'min' or 'max', got 'low'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="x"), r"threshold_mode must be .* got 'x'"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1), r"give total_steps, or epochs and steps_per_epoch"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=0), r"total_steps must be .* got 0"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=9, pct_start=1.5), r"pct_start .* got 1\.5"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=9, anneal_strategy="exp"),
     r"anneal_strategy must be 'cos' or 'linear', got 'exp'"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[0.1, 0.2], total_steps=9), r"max_lr has 2 values"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)], [3]), r"milestones must have one entry"),
])
def test_bad_scheduler_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make(optim.SGD(_params(1), lr=0.1))


def test_one_cycle_needs_momentum_to_cycle():
    with pytest.raises(ValueError, match="cycle_momentum=True needs an optimizer with momentum or betas, got Adagrad"):
        lr_scheduler.OneCycleLR(optim.Adagrad(_params()), max_lr=0.1, total_steps=10)


def test_resuming_without_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(optim.SGD(_params(), lr=0.1), step_size=2, last_epoch=4)
