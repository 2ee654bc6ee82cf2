"""Mixed precision: autocast dtypes, GradScaler against torch.amp.GradScaler, fit(amp=True)."""
import math

import numpy as np
import pytest

import nyang
from nyang import amp, nn, optim
from nyang.data import DataLoader, datasets
from tests.oracle import torch


def test_autocast_runs_linear_and_conv_in_float16_and_losses_in_float32():
    nyang.manual_seed(0)
    model = nyang.models.small_cnn()
    x, y = nyang.randn(4, 1, 8, 8), nyang.tensor([1, 2, 3, 4])
    reference = nn.CrossEntropyLoss()(model(x), y)
    with amp.autocast():
        assert model[0](x).dtype == nyang.float16 and model[-1](nyang.randn(2, 64)).dtype == nyang.float16
        out = model(x)
        loss = nn.CrossEntropyLoss()(out, y)
        assert out.dtype == nyang.float16 and loss.dtype == nyang.float32
        assert nn.LogSoftmax(dim=1)(out).dtype == nyang.float32
    assert model(x).dtype == nyang.float32  # back to full precision outside
    assert loss.item() == pytest.approx(reference.item(), rel=5e-3)
    loss.backward()
    assert all(p.grad.dtype == nyang.float32 and p.dtype == nyang.float32 for p in model.parameters())
    with pytest.raises(ValueError, match="float16"):
        amp.autocast("int8")


def test_autocast_as_decorator_and_disabled():
    @amp.autocast()
    def forward(layer, x):
        return layer(x)

    layer = nn.Linear(3, 2)
    assert forward(layer, nyang.ones(1, 3)).dtype == nyang.float16
    with amp.autocast(enabled=False):
        assert layer(nyang.ones(1, 3)).dtype == nyang.float32
    assert not amp.is_autocast_enabled()


def test_grad_scaler_follows_torch_step_for_step():
    # gradients scripted per step; inf/nan ones must be skipped and back off the scale
    script = [[1.0, 2.0], [math.inf, 1.0], [0.5, 0.5], [1.0, 1.0], [math.nan, 0.0], [2.0, 1.0], [1.0, 1.0],
              [1.0, 3.0], [1.0, 1.0], [0.1, 0.1]]
    ours_p = nyang.tensor([1.0, -1.0], requires_grad=True)
    theirs_p = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    ours_opt, theirs_opt = optim.SGD([ours_p], lr=0.1, momentum=0.9), torch.optim.SGD([theirs_p], lr=0.1,
                                                                                        momentum=0.9)
    ours = amp.GradScaler(init_scale=8.0, growth_interval=2)
    theirs = torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=2)
    for step, grad in enumerate(script):
        theirs.scale(torch.tensor(1.0))
        g = np.array(grad, dtype=np.float32) * ours.get_scale()
        ours_p.grad = nyang.tensor(g)
        theirs_p.grad = torch.tensor(g)
        if step == 3:  # clipping between unscale_ and step, as in fit
            ours.unscale_(ours_opt)
            theirs.unscale_(theirs_opt)
            np.testing.assert_array_equal(ours_p.grad.numpy(), theirs_p.grad.numpy())
        ours.step(ours_opt)
        theirs.step(theirs_opt)
        ours.update()
        theirs.update()
        assert ours.get_scale() == theirs.get_scale(), step
        np.testing.assert_allclose(ours_p.numpy(), theirs_p.detach().numpy(), rtol=1e-6, err_msg=str(step))


def test_grad_scaler_state_dict_and_errors():
    scaler = amp.GradScaler(init_scale=4.0, growth_interval=3)
    p = nyang.tensor([1.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = nyang.tensor([1.0])
    scaler.step(opt)
    scaler.update()
    restored = amp.GradScaler()
    restored.load_state_dict(scaler.state_dict())
    assert restored.state_dict() == scaler.state_dict() and restored.get_scale() == 4.0
    with pytest.raises(RuntimeError, match="no inf checks"):
        amp.GradScaler().update()
    with pytest.raises(ValueError, match="backoff_factor"):
        amp.GradScaler(backoff_factor=2.0)
    off = amp.GradScaler(enabled=False)
    loss = nyang.tensor(2.0)
    assert off.scale(loss) is loss and off.get_scale() == 1.0


def test_fit_with_amp_trains_and_resumes(tmp_path):
    digits = datasets.digits()
    nyang.manual_seed(0)
    model = nyang.models.mlp(64, 10, hidden=(32,))  # NumPy has no float16 BLAS: keep it small
    opt = optim.Adam(model.parameters(), lr=1e-2)
    train = DataLoader(digits.train, batch_size=64, shuffle=True)
    valid = DataLoader(digits.valid, batch_size=256)
    history = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=2, amp=True, grad_clip=5.0,
                        out_dir=tmp_path, verbose=False)
    assert history["valid_accuracy"][-1] > 0.8
    assert all(p.dtype == nyang.float32 for p in model.parameters())
    state = nyang.load(tmp_path / "last.npz")
    assert state["grad_scaler"]["scale"] > 0
    resumed = nyang.fit(model, opt, nn.CrossEntropyLoss(), train, valid, epochs=3, amp=True, grad_clip=5.0,
                        out_dir=tmp_path, resume=tmp_path, verbose=False)
    assert len(resumed) == 3
