"""PyTorch twins of nyang models, optimizers and schedulers compute the same numbers."""
import numpy as np
import pytest

import nyang
from nyang import models, nn, optim
from nyang.cli import build_model
from nyang.torch_bridge import to_torch, to_torch_optimizer, to_torch_scheduler

torch = pytest.importorskip("torch")

INPUTS = {"mlp": (64,), "cnn": (1, 8, 8), "lenet": (1, 28, 28), "vgg-small": (3, 32, 32)}
CONFIG_LAYERS = [
    {"type": "Conv2d", "args": [3, 8, 3], "kwargs": {"stride": 2, "padding": 1, "bias": False}},
    {"type": "GroupNorm", "args": [2, 8]},
    {"type": "LeakyReLU", "kwargs": {"negative_slope": 0.1}},
    {"type": "AvgPool2d", "args": [2]},
    {"type": "Conv2d", "args": [8, 8, 3], "kwargs": {"padding": "same", "dilation": 2}},
    {"type": "BatchNorm2d", "args": [8]},
    {"type": "GELU"},
    {"type": "AdaptiveAvgPool2d", "args": [2]},
    {"type": "Flatten"},
    {"type": "LayerNorm", "args": [32]},
    {"type": "Linear", "args": [32, 16]},
    {"type": "Tanh"},
    {"type": "Linear", "args": [16, 5]},
]


def assert_same(ours, theirs, what):
    theirs = theirs.detach().numpy()
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(theirs).max()),
                               err_msg=what)


def check_twin(model, input_shape, num_classes):
    """Same logits, loss, parameter and input gradients (train mode), and same eval logits."""
    twin = to_torch(model)
    x = np.random.default_rng(0).standard_normal((6, *input_shape)).astype(np.float32)
    y = np.arange(6) % num_classes
    xn, xt = nyang.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_n, out_t = model(xn), twin(xt)
    assert_same(out_n, out_t, "logits")
    nn.CrossEntropyLoss()(out_n, nyang.tensor(y)).backward()
    torch.nn.CrossEntropyLoss()(out_t, torch.tensor(y)).backward()
    assert_same(xn.grad, xt.grad, "input gradient")
    named = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        assert_same(p.grad, named[name].grad, f"gradient of {name}")
    for name, value in twin.state_dict().items():  # running statistics moved the same way
        assert_same(model.state_dict()[name], value, name)
    model.eval(), twin.eval()
    with nyang.no_grad(), torch.no_grad():
        assert_same(model(nyang.tensor(x)), twin(torch.tensor(x)), "eval logits")


@pytest.mark.parametrize("name", sorted(models.BUILDERS))
def test_every_builtin_model_has_an_identical_twin(name):
    nyang.manual_seed(0)
    model = models.build(name, INPUTS[name], 10)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0  # each framework would draw its own masks
    check_twin(model, INPUTS[name], 10)


def test_config_built_model_has_an_identical_twin():
    nyang.manual_seed(1)
    check_twin(build_model(None, CONFIG_LAYERS, (3, 16, 16), 5), (3, 16, 16), 5)


def test_twin_keeps_mode_dtype_and_dropout_rate():
    nyang.manual_seed(3)
    model = models.vgg_small(dropout=0.3).double().eval()
    twin = to_torch(model)
    assert not twin.training and twin[15].weight.dtype == torch.float64 and twin[17].p == 0.3
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32))  # float64 through both, dropout off in eval
    with nyang.no_grad(), torch.no_grad():
        np.testing.assert_allclose(model(nyang.tensor(x)).numpy(), twin(torch.tensor(x)).numpy(), rtol=1e-12,
                                   atol=1e-12)


def test_optimizer_and_scheduler_twins_train_the_same():
    nyang.manual_seed(2)
    model = models.mlp(8, 3, hidden=(16,))
    twin = to_torch(model)
    groups = [{"params": list(model[1].parameters())}, {"params": list(model[3].parameters()), "lr": 0.05}]
    opt = optim.SGD(groups, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    topt = to_torch_optimizer(opt, model, twin)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=[0.2, 0.1], total_steps=6, pct_start=0.4)
    tsched = to_torch_scheduler(sched, topt)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, y = rng.standard_normal((4, 8)).astype(np.float32), rng.integers(0, 3, 4)
        for m, o, s, t, loss_fn in ((model, opt, sched, nyang.tensor, nn.CrossEntropyLoss()),
                                    (twin, topt, tsched, torch.tensor, torch.nn.CrossEntropyLoss())):
            o.zero_grad()
            loss_fn(m(t(x)), t(y)).backward()
            o.step()
            s.step()
        assert [g["lr"] for g in opt.param_groups] == pytest.approx([g["lr"] for g in topt.param_groups])
        assert [g["momentum"] for g in opt.param_groups] == pytest.approx([g["momentum"] for g in topt.param_groups])
    named = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        assert_same(p, named[name], name)


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")  # no optimizer steps here
@pytest.mark.parametrize("make", [
    lambda o: optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
    lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=1e-3),
    lambda o: optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=3),
    lambda o: optim.lr_scheduler.LambdaLR(o, lambda step: 0.9 ** step),
])
def test_scheduler_twins_give_the_same_learning_rates(make):
    model = models.mlp(4, 2, hidden=())
    opt = optim.Adam(model.parameters(), lr=0.01)
    topt = to_torch_optimizer(opt, model, to_torch(model))
    sched = make(opt)
    tsched = to_torch_scheduler(sched, topt)
    for _ in range(6):
        sched.step(), tsched.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)


def test_plateau_twin_reduces_at_the_same_time():
    model = models.mlp(4, 2, hidden=())
    opt = optim.SGD(model.parameters(), lr=0.1)
    topt = to_torch_optimizer(opt, model, to_torch(model))
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1, min_lr=0.02)
    tsched = to_torch_scheduler(sched, topt)
    for value in (1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95):
        sched.step(value), tsched.step(value)
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.02)


def test_what_cannot_be_twinned_is_refused():
    @nn.register(name="BridgeTestBlock")
    class Block(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="BridgeTestBlock has no torch.nn counterpart"):
        to_torch(nn.Sequential(nn.Linear(2, 2), Block()))
    model = models.mlp(4, 2, hidden=())
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    nn.CrossEntropyLoss()(model(nyang.randn(3, 4)), nyang.tensor([0, 1, 1])).backward()
    opt.step()
    with pytest.raises(ValueError, match="already taken steps"):
        to_torch_optimizer(opt, model, to_torch(model))
