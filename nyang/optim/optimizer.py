"""``Optimizer``: the base of every optimizer, with PyTorch's param groups, state and state dict.

An optimizer holds ``param_groups`` (a list of dicts: ``"params"`` plus every
hyper-parameter, so each group can have its own ``lr``) and ``state`` (a dict from
parameter to that parameter's buffers). A subclass says how to start a parameter's
state (:meth:`Optimizer._init_state`) and how to update one parameter in place
(:meth:`Optimizer._update`); the loop, the checks and the state dict live here.

``state_dict()`` has PyTorch's layout: ``{"state": {index: {...}}, "param_groups":
[{..., "params": [index, ...]}]}``, parameters numbered in the order the groups list
them. State values are arrays (copies, on the parameters' device) or Python numbers,
so a checkpoint can save them as ``.npz`` arrays plus JSON.
"""
from nyang.autograd import enable_grad
from nyang.creation import tensor
from nyang.tensor import Tensor


class Optimizer:
    """Base class of the optimizers.

    ``params`` is an iterable of tensors or of dicts (param groups) such as
    ``[{"params": body}, {"params": head, "lr": 1e-3}]``; a group's missing
    hyper-parameters come from ``defaults``. Subclasses implement ``_update`` (and
    ``_init_state`` when they keep buffers) and ``_validate`` for their options.
    """

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError(f"{self._name()}: params must be an iterable of tensors or dicts, got a single "
                            f"Tensor; wrap it in a list")
        self._check_ordered(params)
        self._validate(defaults)
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        groups = list(params)
        if not groups:
            raise ValueError(f"{self._name()}: params is an empty parameter list; nothing to optimize")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _name(self):
        return type(self).__name__

    def _check_ordered(self, params):
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name()}: params must be an ordered collection (a list), not a set, "
                            f"so that parameter indices are the same in every run")

    def _validate(self, group):
        """Raise ValueError for a bad hyper-parameter in ``group`` (subclasses check theirs)."""

    def add_param_group(self, param_group):
        """Add a group of parameters, with its own hyper-parameters, to ``param_groups``."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name()}: a param group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif params is None:
            raise ValueError(f"{self._name()}: a param group needs a 'params' entry")
        self._check_ordered(params)
        group["params"] = list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(group["params"]):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name()}: can only optimize Tensors, but param {i} of group "
                                f"{len(self.param_groups)} is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{self._name()}: can't optimize a non-leaf Tensor (param {i} of group "
                                 f"{len(self.param_groups)}, shape {p.shape}); use a leaf or detach() it")
            if id(p) in seen:
                raise ValueError(f"{self._name()}: params has a parameter given twice (param {i} of group "
                                 f"{len(self.param_groups)}, shape {p.shape}); each parameter may appear "
                                 f"once, in one group")
            seen.add(id(p))
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._validate(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients: set every ``p.grad`` to None, or to a new zero tensor."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = Tensor._wrap(p.device.xp.zeros_like(p.grad.data), p.device)

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()`` (the loss) if given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p) or self._init_state(p, group)
                self._update(p, p.grad.data, state, group)
                if state:
                    self.state[p] = state
        return loss

    def _init_state(self, p, group):
        """The state of parameter ``p`` before its first update (buffers are arrays like ``p.data``)."""
        return {}

    def _update(self, p, grad, state, group):
        """Update ``p.data`` in place from the gradient array ``grad`` (never modify ``grad``)."""
        raise NotImplementedError

    def state_dict(self):
        """The optimizer state in PyTorch's layout, with copies of the state arrays."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: _copy(v, p) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore a :meth:`state_dict` into an optimizer over the same parameters, in the same order.

        State arrays may come from any device or library (NumPy arrays from a checkpoint
        too); they are copied to each parameter's device, floating ones in its dtype."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{self._name()}.load_state_dict: the state dict has {len(saved_groups)} param "
                             f"groups, the optimizer has {len(self.param_groups)}")
        params = {}
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{self._name()}.load_state_dict: param group {g} has {len(saved['params'])} "
                                 f"params in the state dict and {len(group['params'])} in the optimizer")
            params.update(zip(saved["params"], group["params"]))
        self.state = {}
        for i, saved in state_dict["state"].items():
            p = params[int(i)]
            self.state[p] = {k: _restore(k, v, p) for k, v in saved.items()}
        self.param_groups = [dict(saved, params=group["params"])
                             for saved, group in zip(saved_groups, self.param_groups)]

    def __repr__(self):
        lines = [f"{self._name()} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def _copy(value, p):
    return p.device.xp.asarray(value, copy=True) if hasattr(value, "shape") else value


def _restore(key, value, p):
    if key == "step":
        return int(value)
    if not hasattr(value, "shape"):
        return value
    t = tensor(value, device=p.device)
    if t.is_floating_point() and t.dtype != p.dtype:
        t = tensor(t, dtype=p.dtype)
    return t.data


def check_nonnegative(optimizer, group, *names):
    """ValueError naming the first of ``names`` whose value in ``group`` is negative (or nan)."""
    for name in names:
        value = group[name]
        if not value >= 0:
            raise ValueError(f"{optimizer._name()}: {name} must be >= 0, got {value}")


def check_betas(optimizer, betas):
    """ValueError unless ``betas`` is a pair with both values in [0, 1)."""
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"{optimizer._name()}: betas must be a pair of values in [0, 1), got {betas}")
