"""PyTorch twins of nyang objects, for comparing the two frameworks.

``to_torch(model)`` rebuilds a nyang model layer by layer in ``torch.nn`` (each
layer's class name and constructor arguments come from ``nyang.nn.registry.config_of``)
and copies the weights and buffers through the state dict, so both compute the same
function. ``to_torch_optimizer`` and ``to_torch_scheduler`` do the same for a fresh
optimizer and its learning-rate scheduler. PyTorch is imported only when called.
"""
import inspect
from collections import OrderedDict

import numpy as np

from nyang.nn.registry import CONTAINERS, config_of, name_of

TORCH_MISSING = "nyang compare needs PyTorch: pip install nyang[compare] (or the test extra)"

_NYANG_ONLY_ARGS = ("init",)  # weights are copied, so how they were drawn does not matter


def import_torch():
    """The ``torch`` module, or ImportError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise ImportError(TORCH_MISSING) from None
    return torch


def _layer(module, torch):
    name = name_of(module)
    if name in CONTAINERS:
        children = [(child_name, _layer(child, torch)) for child_name, child in module.named_children()]
        if name == "ModuleList":
            return torch.nn.ModuleList([child for _, child in children])
        return getattr(torch.nn, name)(OrderedDict(children))
    cls = getattr(torch.nn, name, None)
    if cls is None:
        raise TypeError(f"to_torch: {name} has no torch.nn counterpart of the same name")
    accepted = inspect.signature(cls).parameters
    kwargs = {}
    for key, value in config_of(module).items():
        if key in accepted:
            kwargs[key] = value
        elif key not in _NYANG_ONLY_ARGS:
            raise TypeError(f"to_torch: torch.nn.{name} has no argument {key!r} (nyang's {name} has {key}={value!r})")
    return cls(**kwargs)


def to_torch(model):
    """A ``torch.nn`` model computing what the nyang ``model`` computes: the same
    layers (built-in nyang layers and ``Sequential``/``ModuleList``/``ModuleDict``),
    a copy of its weights and buffers, the same dtype and train/eval mode. On the CPU."""
    torch = import_torch()
    twin = _layer(model, torch)
    state = {k: np.array(v.numpy()) for k, v in model.state_dict().items()}
    floats = [a.dtype for a in state.values() if a.dtype.kind == "f"]
    if floats:
        twin.to(getattr(torch, str(floats[0])))
    twin.load_state_dict({k: torch.from_numpy(a) for k, a in state.items()}, strict=True)
    twin.train(model.training)
    return twin


def to_torch_optimizer(optimizer, model, twin):
    """The ``torch.optim`` optimizer of the same class and hyper-parameters as the fresh
    nyang ``optimizer`` of ``model``, over the matching parameters of ``twin``
    (``to_torch(model)``), group by group. Build it before any scheduler changes the groups."""
    torch = import_torch()
    if optimizer.state:
        raise ValueError("to_torch_optimizer: the optimizer has already taken steps; its state is not copied")
    cls = getattr(torch.optim, type(optimizer).__name__, None)
    if cls is None:
        raise TypeError(f"to_torch_optimizer: torch.optim has no {type(optimizer).__name__}")
    accepted = inspect.signature(cls).parameters
    unknown = [k for k in optimizer.defaults if k not in accepted]
    if unknown:
        raise TypeError(f"to_torch_optimizer: torch.optim.{cls.__name__} has no hyper-parameter {unknown}")
    names = {id(p): name for name, p in model.named_parameters()}
    twin_params = dict(twin.named_parameters())
    groups = []
    for group in optimizer.param_groups:
        settings = {k: group[k] for k in optimizer.defaults}
        groups.append({**settings, "params": [twin_params[names[id(p)]] for p in group["params"]]})
    return cls(groups)


def _one_cycle_args(s):
    group = s.optimizer.param_groups[0]
    args = dict(max_lr=[g["max_lr"] for g in s.optimizer.param_groups], total_steps=s.total_steps,
                pct_start=(s._phases[0][0] + 1) / s.total_steps, anneal_strategy=s.anneal_strategy,
                cycle_momentum=s.cycle_momentum, div_factor=group["max_lr"] / group["initial_lr"],
                final_div_factor=group["initial_lr"] / group["min_lr"], three_phase=len(s._phases) == 3)
    if s.cycle_momentum:
        args.update(base_momentum=[g["base_momentum"] for g in s.optimizer.param_groups],
                    max_momentum=[g["max_momentum"] for g in s.optimizer.param_groups])
    return args


_SCHEDULER_FIELDS = {
    "StepLR": ("step_size", "gamma"),
    "MultiStepLR": ("milestones", "gamma"),
    "ExponentialLR": ("gamma",),
    "LinearLR": ("start_factor", "end_factor", "total_iters"),
    "CosineAnnealingLR": ("T_max", "eta_min"),
    "ReduceLROnPlateau": ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "eps"),
}


def to_torch_scheduler(scheduler, torch_optimizer):
    """The ``torch.optim.lr_scheduler`` twin of a nyang ``scheduler`` that has not
    stepped yet, driving ``torch_optimizer`` (from :func:`to_torch_optimizer`).
    Supports StepLR, MultiStepLR, ExponentialLR, LinearLR, CosineAnnealingLR,
    LambdaLR, ReduceLROnPlateau and OneCycleLR."""
    torch = import_torch()
    name = type(scheduler).__name__
    if scheduler.last_epoch != 0:
        raise ValueError(f"to_torch_scheduler: the {name} has already stepped (last_epoch {scheduler.last_epoch})")
    if name == "OneCycleLR":
        args = _one_cycle_args(scheduler)
    elif name == "LambdaLR":
        args = {"lr_lambda": list(scheduler.lr_lambdas)}
    elif name in _SCHEDULER_FIELDS:
        args = {field: getattr(scheduler, field) for field in _SCHEDULER_FIELDS[name]}
        if name == "ReduceLROnPlateau":
            args["min_lr"] = list(scheduler.min_lrs)
    else:
        raise TypeError(f"to_torch_scheduler: no PyTorch twin for {name}")
    return getattr(torch.optim.lr_scheduler, name)(torch_optimizer, **args)
