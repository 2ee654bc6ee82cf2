"""Helpers shared by the optimizer and scheduler tests: the same parameters and the same
gradients for nyang (on a test backend) and for PyTorch (imported only where used, so
that the tests that need no oracle run without it)."""
import numpy as np

import nyang
from nyang import optim

SHAPES = [(3, 4), (4,), ()]


def initial_weights(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]


def gradients(step, seed=0):
    """The gradients of step ``step``: random, with a size that changes from step to step
    (so that AMSGrad's running maximum and the adaptive scales have work to do)."""
    rng = np.random.default_rng([seed, step])
    scale = 1.0 + 0.9 * np.sin(step)
    return [(rng.standard_normal(shape) * scale).astype(np.float32) for shape in SHAPES]


def nyang_params(backend, weights):
    return [nyang.tensor(backend.asarray(w), requires_grad=True) for w in weights]


def torch_params(weights):
    import torch

    return [torch.tensor(w, requires_grad=True) for w in weights]


def set_nyang_grads(backend, params, grads):
    for p, g in zip(params, grads):
        p.grad = nyang.tensor(backend.asarray(g))
        if isinstance(p.grad.data, np.ndarray):
            p.grad.data.flags.writeable = False  # an in-place write into a gradient would raise


def set_torch_grads(params, grads):
    import torch

    for p, g in zip(params, grads):
        p.grad = torch.tensor(g)


def make_pair(name, nyang_args, torch_args, kwargs):
    """The nyang optimizer ``name`` and PyTorch's (single-tensor, for-loop implementation)."""
    import torch

    ours = getattr(optim, name)(nyang_args, **kwargs)
    theirs = getattr(torch.optim, name)(torch_args, **kwargs, foreach=False)
    return ours, theirs


def host(params):
    """Host copies (never views) of the parameters' values."""
    return [np.array(p.numpy() if isinstance(p, nyang.Tensor) else p.detach().numpy()) for p in params]
