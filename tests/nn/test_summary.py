"""``nyang.nn.summary``: counts and shapes agree with the model itself."""
import re

import numpy as np
import pytest

import nyang
import nyang.nn as nn
from nyang.nn.conv import Conv2d
from nyang.nn.pooling import AdaptiveAvgPool2d, MaxPool2d
from nyang.nn.summary import summary


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Conv2d(1, 6, 5, padding=2), nn.ReLU(), MaxPool2d(2),
                                      Conv2d(6, 16, 5), nn.ReLU(), MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Dropout(0.5),
                                        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def _rows(text):
    """{module name: (output shape text, param text)} from the table ('' for the model)."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^(\s*)(\S+)(?: \((\w+)\))?\s{2,}(\[.*?\]|--)\s{2,}(.+)$", line)
        if m and m.group(2) != "Layer":
            rows[m.group(2) if m.group(1) else ""] = (m.group(4), m.group(5).strip())
    return rows


def _total(text, what):
    return int(re.search(rf"^{what} params: ([\d,]+)$", text, re.M).group(1).replace(",", ""))


def _real_shapes(model, x):
    shapes = {}
    for name, m in model.named_modules():
        m.register_forward_hook(lambda mod, args, out, name=name: shapes.__setitem__(name, list(out.shape)))
    model(x)
    return shapes


def test_summary_of_lenet_matches_the_model(capsys):
    model = LeNet()
    text = summary(model, (1, 28, 28), batch_size=3, print=False)
    assert capsys.readouterr().out == ""
    rows = _rows(text)
    real = _real_shapes(LeNet(), nyang.randn(3, 1, 28, 28))
    assert set(rows) == set(real)
    for name, shape in real.items():
        assert rows[name][0] == str(shape), name
    for name, m in model.named_modules():
        own = sum(p.numel() for p in m._parameters.values() if p is not None)
        assert rows[name][1] == (f"{own:,}" if own else "--"), name
    total = sum(p.numel() for p in model.parameters())
    assert total == 61706
    assert _total(text, "Total") == _total(text, "Trainable") == total
    assert _total(text, "Non-trainable") == 0
    assert f"Params size (MB): {total * 4 / 1e6:.2f}" in text
    assert f"Input size (MB): {3 * 784 * 4 / 1e6:.2f}" in text
    leaves = sum(np.prod(s) for n, s in real.items() if not dict(model.named_modules())[n]._modules)
    assert f"Forward activations (MB): {leaves * 4 / 1e6:.2f}" in text


def test_summary_with_frozen_layers_restores_modes_and_hooks(capsys):
    model = nn.Sequential(Conv2d(3, 8, 3), nn.ReLU(), nn.Dropout(0.3), AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 4))
    model[0].requires_grad_(False)
    model[5].bias.requires_grad_(False)
    model[2].eval()  # a mixed state that summary must give back as it was
    text = summary(model, (3, 10, 9))
    assert capsys.readouterr().out.strip() == text.strip()
    rows = _rows(text)
    assert rows["0"] == ("[1, 8, 8, 7]", "224 (frozen)")
    assert rows["5"] == ("[1, 4]", "36 (4 frozen)")
    assert rows["3"][0] == "[1, 8, 1, 1]"
    frozen = 224 + 4
    assert _total(text, "Total") == sum(p.numel() for p in model.parameters()) == 260
    assert _total(text, "Non-trainable") == frozen and _total(text, "Trainable") == 260 - frozen
    assert model.training and model[0].training and not model[2].training
    assert all(not m._forward_hooks for m in model.modules())


def test_summary_float64_several_inputs_and_errors():
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 2), nn.Linear(3, 2)

        def forward(self, x, y):
            return self.a(x), self.b(y)

    model = Pair().double()
    text = summary(model, [(4,), (3,)], batch_size=2, print=False)
    assert _rows(text)[""][0] == "[2, 2], [2, 2]"
    assert f"Params size (MB): {18 * 8 / 1e6:.2f}" in text
    with pytest.raises(ValueError, match="input_size must be a tuple of positive ints"):
        summary(model, (0, 3), print=False)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        summary(LeNet(), (1, 28, 28), batch_size=0, print=False)
