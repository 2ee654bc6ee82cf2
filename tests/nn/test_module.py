"""Module: registration, traversal, modes, freezing, devices, state dicts, repr."""
from collections import OrderedDict

import numpy as np
import pytest

import nyang
import nyang.nn as nn
from tests.oracle import torch


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.act = nn.ReLU()
        self.register_buffer("scale", nyang.ones(4))
        self.register_buffer("cache", nyang.zeros(1), persistent=False)

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Block(), nn.Linear(4, 4))
        self.head = nn.Linear(4, 2)
        self.shared = self.head  # the same module twice: parameters listed once

    def forward(self, x):
        return self.head(self.features(x))


def test_parameters_buffers_and_names_follow_torch_naming():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["features.0.fc.weight", "features.0.fc.bias", "features.1.weight", "features.1.bias",
                     "head.weight", "head.bias"]
    assert len(list(net.parameters())) == 6
    assert [n for n, _ in net.named_buffers()] == ["features.0.scale", "features.0.cache"]
    # a module's own parameters and buffers come before its children's, as in torch
    assert list(net.state_dict()) == ["features.0.scale"] + names
    assert [n for n, _ in net.named_modules()] == ["", "features", "features.0", "features.0.fc",
                                                   "features.0.act", "features.1", "head"]
    assert [type(c).__name__ for c in net.children()] == ["Sequential", "Linear"]


def test_train_eval_propagate():
    net = Net()
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_freezing_and_zero_grad():
    net = Net()
    net.features.requires_grad_(False)
    out = net(nyang.randn(5, 3)).sum()
    out.backward()
    assert all(p.grad is None for p in net.features.parameters())
    assert net.head.weight.grad is not None
    net.zero_grad(set_to_none=False)
    assert float(net.head.weight.grad.abs().sum()) == 0.0
    net.zero_grad()
    assert net.head.weight.grad is None


def test_state_dict_round_trip_with_torch_both_directions():
    ours = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(nyang.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    ours2 = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours2.state_dict().items()})
    np.testing.assert_allclose(ours2(nyang.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    ours.load_state_dict(theirs.state_dict())  # torch tensors are accepted directly
    np.testing.assert_allclose(ours[0].weight.numpy(), ours2[0].weight.numpy())


def test_load_state_dict_strictness_and_shape_errors():
    net = nn.Sequential(nn.Linear(2, 3))
    sd = net.state_dict()
    with pytest.raises(RuntimeError, match=r"missing keys \['0.bias'\].*unexpected keys \['extra'\]"):
        net.load_state_dict({"0.weight": sd["0.weight"], "extra": np.zeros(1)})
    result = net.load_state_dict({"0.weight": sd["0.weight"], "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["0.bias"] and result.unexpected_keys == ["extra"]
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(3, 3\).*expected \(3, 2\)"):
        net.load_state_dict({"0.weight": np.zeros((3, 3)), "0.bias": np.zeros(3)})


def test_load_state_dict_copies_and_keeps_dtype():
    net = nn.Linear(2, 2)
    w = np.ones((2, 2))  # float64 in, float32 kept
    net.load_state_dict({"weight": w, "bias": np.zeros(2)})
    w[0, 0] = 5
    assert net.weight.dtype == nyang.float32 and net.weight.numpy()[0, 0] == 1


def test_to_moves_parameters_in_place(backend):
    net = Net()
    params = list(net.parameters())
    dev = nyang.tensor(backend.asarray([0.0])).device
    net.to(dev)
    assert all(p.device is dev for p in net.parameters()) and list(net.parameters()) == params
    assert net.features[0].scale.device is dev
    out = net(nyang.tensor(backend.asarray(np.ones((2, 3), np.float32))))
    assert out.device is dev
    net.double()
    assert net.head.weight.dtype == nyang.float64


def test_repr_like_torch():
    ours = nn.Sequential(nn.Linear(784, 10), nn.ReLU(), nn.Dropout(0.2), nn.Flatten(), nn.LeakyReLU(0.1))
    theirs = torch.nn.Sequential(torch.nn.Linear(784, 10), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                 torch.nn.Flatten(), torch.nn.LeakyReLU(0.1))
    assert repr(ours) == repr(theirs)
    assert repr(nn.Sequential(OrderedDict(a=nn.Tanh()))) == repr(torch.nn.Sequential(OrderedDict(a=torch.nn.Tanh())))


def test_sequential_list_dict_containers():
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    seq.append(nn.Linear(2, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1:], nn.Sequential)
    assert len(seq[1:]) == 2
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    ml.append(nn.Identity())
    assert len(ml) == 4 and len(list(nn.Sequential(*ml).parameters())) == 6
    md = nn.ModuleDict({"a": nn.Linear(1, 2)})
    md["b"] = nn.ReLU()
    assert list(md.keys()) == ["a", "b"] and "a" in md and len(list(md.parameters())) == 2
    with pytest.raises(IndexError, match="out of range"):
        seq[5]


def test_forward_hooks_and_removal():
    lin = nn.Linear(2, 3)
    seen = []
    handle = lin.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    lin(nyang.ones(4, 2))
    handle.remove()
    lin(nyang.ones(4, 2))
    assert seen == [(4, 3)]


def test_assigning_before_super_init_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super"):
        Broken()
