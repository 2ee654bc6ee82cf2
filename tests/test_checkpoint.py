"""Checkpoints: round trips, whole models, refusing pickles, damaged files and atomic writes."""
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import nyang
import nyang.nn as nn
from nyang import checkpoint
from nyang.checkpoint import CheckpointError, load, load_model, save, save_model
from nyang.device import device_of_array
from nyang.nn import registry
from nyang.nn.parameter import Parameter
from nyang.nn.registry import register

DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64", "bool"]


def _device(backend):
    return device_of_array(backend.asarray(np.zeros(1, np.float32)))


def _values(shape, dtype, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 50).astype(dtype)


def _same(a, b):
    """Same type, dtype, shape and values (nan equal to nan)."""
    assert type(a) is type(b)
    if isinstance(a, nyang.Tensor):
        assert a.dtype == b.dtype and a.requires_grad == b.requires_grad
        a, b = a.numpy(), b.numpy()
    np.testing.assert_array_equal(a, b)
    assert a.dtype == b.dtype


# ================================================================ round trips
def test_nested_structures_round_trip_with_every_dtype(tmp_path):
    tensors = {name: nyang.tensor(_values((2, 3), name)) for name in DTYPES}
    arrays = {name: _values((3,), name) for name in DTYPES + ["complex64", "uint64"]}
    scalars = [np.float16(1.5), np.float32(-2.25), np.float64(np.pi), np.int64(-(2 ** 62)), np.uint64(2 ** 63),
               np.bool_(True), np.int8(-7), np.float32("nan"), np.float64("-inf"), np.complex128(1 - 2j)]
    obj = {
        "tensors": tensors, "arrays": arrays, "scalars": scalars,
        "python": [0, -3, 2 ** 100, 1.0, 1e-300, float("nan"), float("inf"), -float("inf"), True, False, None,
                   "냥냥 \"quoted\" \\ text", ""],
        "tuple": (1, (2.5, "x"), [None]), "empty": [{}, [], (), OrderedDict()],
        "int keys": {0: "zero", 7: {"nested": nyang.zeros(0, 4)}, -1: ()},
        "ordered": OrderedDict([("b", 1), ("a", 2)]),
        "0-d": nyang.tensor(3.5), "parameter": Parameter(nyang.ones(2)),
        "grad": nyang.ones(3, requires_grad=True), "empty array": np.zeros((0, 2), np.int32),
    }
    path = tmp_path / "nested.npz"
    save(obj, path)
    back = load(path)
    assert list(back) == list(obj) and type(back) is dict
    for name in DTYPES:
        _same(back["tensors"][name], tensors[name])
        assert back["tensors"][name].device == nyang.device("cpu")
    for name, a in arrays.items():
        _same(back["arrays"][name], a)
    for a, b in zip(back["scalars"], scalars):
        assert type(a) is type(b) and (a == b or (np.isnan(a) and np.isnan(b)))
    assert repr(back["python"]) == repr(obj["python"])
    assert back["tuple"] == (1, (2.5, "x"), [None])
    assert back["empty"] == [{}, [], (), OrderedDict()] and type(back["empty"][3]) is OrderedDict
    assert list(back["int keys"]) == [0, 7, -1] and back["int keys"][-1] == ()
    _same(back["int keys"][7]["nested"], obj["int keys"][7]["nested"])
    assert type(back["ordered"]) is OrderedDict and list(back["ordered"]) == ["b", "a"]
    _same(back["0-d"], obj["0-d"])
    _same(back["parameter"], obj["parameter"])
    _same(back["grad"], obj["grad"])
    _same(back["empty array"], obj["empty array"])


def test_an_object_saved_twice_is_stored_once_and_comes_back_shared(tmp_path):
    t = nyang.randn(100)
    save({"a": t, "b": [t]}, tmp_path / "shared.npz")
    with zipfile.ZipFile(tmp_path / "shared.npz") as zf:
        assert sorted(zf.namelist()) == ["__nyang_meta__.npy", "a0.npy"]
    back = load(tmp_path / "shared.npz")
    assert back["a"] is back["b"][0]


def test_unsupported_values_are_refused_naming_where_they_are(tmp_path):
    with pytest.raises(TypeError, match=r"obj\['opt'\]\['x'\] of type set.*format='pickle'"):
        save({"opt": {"x": {1, 2}}}, tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="key 1.5"):
        save({1.5: 0}, tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="dtype <U1"):
        save([np.array(["a"])], tmp_path / "bad.npz")
    assert not os.listdir(tmp_path)


def _mlp(device=None):
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    return model.to(device) if device is not None else model


def test_state_dict_round_trip_on_each_backend(backend, tmp_path):
    dev = _device(backend)
    model = _mlp(dev)
    save(model.state_dict(), tmp_path / "weights.npz")
    assert all(p.device == dev for p in model.parameters())  # saving moves nothing
    state = load(tmp_path / "weights.npz", device=dev)
    assert type(state) is OrderedDict and list(state) == list(model.state_dict())
    assert all(t.device == dev and t.dtype == nyang.float32 for t in state.values())
    other = _mlp(dev)
    other.load_state_dict(state)
    x = nyang.tensor(backend.asarray(_values((4, 5), "float32")))
    np.testing.assert_array_equal(other(x).numpy(), model(x).numpy())


def test_optimizer_layout_round_trips(backend, tmp_path):
    """PyTorch's optimizer layout: int keys, raw arrays of the parameters' library, tuples."""
    a = backend.asarray(_values((3,), "float32"))
    state = {"state": {0: {"step": 3, "exp_avg": a, "exp_avg_sq": a}, 1: {"momentum_buffer": None}},
             "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "amsgrad": False, "weight_decay": 0,
                               "nesterov": False, "params": [0, 1]}]}
    save(state, tmp_path / "opt.npz")
    back = load(tmp_path / "opt.npz")
    assert back["param_groups"] == state["param_groups"]
    assert list(back["state"]) == [0, 1] and back["state"][0]["step"] == 3
    assert isinstance(back["state"][0]["exp_avg"], np.ndarray)  # raw arrays come back as NumPy arrays
    np.testing.assert_array_equal(back["state"][0]["exp_avg"], np.asarray(_values((3,), "float32")))
    assert back["state"][1] == {"momentum_buffer": None}


def test_training_resumes_exactly_from_a_checkpoint(tmp_path):
    optim = pytest.importorskip("nyang.optim")
    nyang.manual_seed(0)
    x, y = nyang.randn(16, 5), nyang.randn(16, 3)

    def step(model, opt):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()

    model = _mlp()
    opt = optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)
    for _ in range(3):
        step(model, opt)
    save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, tmp_path / "last.npz")
    step(model, opt)

    state = load(tmp_path / "last.npz")
    resumed = _mlp()
    resumed.load_state_dict(state["model"])
    resumed_opt = optim.Adam(resumed.parameters(), lr=0.5)
    resumed_opt.load_state_dict(state["optimizer"])
    assert resumed_opt.param_groups[0]["lr"] == 1e-2 and state["epoch"] == 3
    step(resumed, resumed_opt)
    for a, b in zip(model.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_batch_norm_buffers_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model(nyang.randn(8, 3))
    model(nyang.randn(8, 3))
    save(model.state_dict(), tmp_path / "bn.npz")
    back = load(tmp_path / "bn.npz")
    assert back["1.num_batches_tracked"].dtype == nyang.int64 and back["1.num_batches_tracked"].item() == 2
    np.testing.assert_array_equal(back["1.running_var"].numpy(), model[1].running_var.numpy())


def test_checkpoints_work_with_numpy_before_2_2(tmp_path, monkeypatch):
    # NumPy 2.0/2.1 have no allow_pickle keyword in savez: every keyword is stored as an array
    def savez_2_1(file, *args, **kwds):
        assert not args
        with zipfile.ZipFile(file, "w") as zf:
            for name, value in kwds.items():
                with zf.open(name + ".npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=True)

    monkeypatch.setattr(np, "savez", savez_2_1)
    model = _mlp()
    save({"model": model.state_dict(), "epoch": 3}, tmp_path / "state.npz")
    save_model(model, tmp_path / "model.npz", metadata={"classes": ["a", "b"]})
    with zipfile.ZipFile(tmp_path / "state.npz") as zf:
        assert "allow_pickle.npy" not in zf.namelist()
    back = load(tmp_path / "state.npz")
    assert back["epoch"] == 3 and list(back["model"]) == list(model.state_dict())
    for name, value in model.state_dict().items():
        _same(back["model"][name], value)
    rebuilt, metadata = load_model(tmp_path / "model.npz", with_metadata=True)
    assert metadata == {"classes": ["a", "b"]} and list(rebuilt.state_dict()) == list(model.state_dict())
    for name, value in model.state_dict().items():
        _same(rebuilt.state_dict()[name], value)


def test_load_model_of_weights_only_raises_no_architecture_error(tmp_path):
    save({"model": _mlp().state_dict()}, tmp_path / "weights.npz")
    with pytest.raises(checkpoint.NoArchitectureError, match="holds no model architecture"):
        load_model(tmp_path / "weights.npz")
    assert issubclass(checkpoint.NoArchitectureError, CheckpointError)


def test_a_plain_numpy_npz_loads_as_a_dict_of_arrays(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.ones((2, 2), np.float32), b=np.arange(3))
    back = load(tmp_path / "plain.npz")
    assert sorted(back) == ["b", "w"] and back["w"].dtype == np.float32


# ================================================================ whole models
@register
class Residual(nn.Module):
    """A user module with containers inside and a get_config."""

    def __init__(self, width, hidden=8, scale=1.0):
        super().__init__()
        self.width, self.hidden, self.scale = width, hidden, scale
        self.blocks = nn.ModuleList([nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, width)])
        self.heads = nn.ModuleDict({"gate": nn.Linear(width, width), "act": nn.Sigmoid()})

    def get_config(self):
        return {"width": self.width, "hidden": self.hidden, "scale": self.scale}

    def forward(self, x):
        h = x
        for block in self.blocks:
            h = block(h)
        return x + self.scale * h * self.heads["act"](self.heads["gate"](x))


@register(name="tests.Doubler")
class Doubler(nn.Module):
    """A registered module without get_config: rebuilt as Doubler()."""

    def forward(self, x):
        return x * 2


def _full_model():
    return nn.Sequential(OrderedDict([
        ("flat", nn.Flatten()),
        ("fc1", nn.Linear(12, 16, init="kaiming")),
        ("act1", nn.LeakyReLU(0.2)),
        ("drop", nn.Dropout(0.3)),
        ("fc2", nn.Linear(16, 12, bias=False, init="xavier")),
        ("unflat", nn.Unflatten(1, (3, 2, 2))),
        ("drop2d", nn.Dropout2d(0.25)),
        ("flat2", nn.Flatten(1, -1)),
        ("acts", nn.Sequential(nn.ELU(0.5), nn.GELU("tanh"), nn.SELU(), nn.ReLU(), nn.Tanh(), nn.Identity())),
        ("res", Residual(12, hidden=5, scale=0.25)),
        ("double", Doubler()),
        ("head", nn.Linear(12, 4)),
        ("out", nn.LogSoftmax(dim=1)),
        ("soft", nn.Softmax(dim=-1)),
    ]))


def test_save_model_and_load_model_rebuild_the_same_network(tmp_path):
    model = _full_model().eval()
    model.res.train()  # modes are kept per module
    save_model(model, tmp_path / "model.npz", metadata={"classes": ["a", "b", "c", "d"], "input": (3, 4)})
    state_before = nyang.random.default_generator().get_state()
    loaded, metadata = load_model(tmp_path / "model.npz", with_metadata=True)
    assert nyang.random.default_generator().get_state() == state_before  # building drew no random numbers
    assert metadata == {"classes": ["a", "b", "c", "d"], "input": (3, 4)}
    assert repr(loaded) == repr(model)
    assert [m.training for m in loaded.modules()] == [m.training for m in model.modules()]
    assert loaded.fc1.init == "kaiming" and loaded.drop.p == 0.3 and loaded.fc2.bias is None
    assert (loaded.res.width, loaded.res.hidden, loaded.res.scale) == (12, 5, 0.25)
    x = nyang.randn(6, 3, 4)
    model.res.eval()
    loaded.res.eval()
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_load_model_maps_to_the_requested_device_and_keeps_dtypes(backend, tmp_path):
    dev = _device(backend)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)).to(dev).double()
    save_model(model, tmp_path / "model.npz")
    assert all(p.device == dev for p in model.parameters())
    loaded = load_model(tmp_path / "model.npz", device=dev)
    assert all(p.device == dev and p.dtype == nyang.float64 for p in loaded.parameters())
    x = nyang.tensor(backend.asarray(_values((3, 4), "float64")))
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    on_cpu = load_model(tmp_path / "model.npz", device="cpu")
    assert all(p.device == nyang.device("cpu") for p in on_cpu.parameters())


LAYERS = [  # (class name, args, kwargs, input shape)
    ("Conv2d", (3, 4, (3, 2)), dict(stride=(2, 1), padding=1, dilation=(1, 2), bias=False, init="kaiming"),
     (2, 3, 9, 9)),
    ("Conv2d", (4, 4, 3), dict(padding="same", groups=2), (2, 4, 6, 6)),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 7, 7)),
    ("AvgPool2d", (2,), dict(stride=1, padding=1, count_include_pad=False, divisor_override=3), (2, 3, 5, 5)),
    ("AdaptiveAvgPool2d", ((2, None),), {}, (2, 3, 5, 4)),
    ("BatchNorm1d", (3,), dict(eps=1e-3, momentum=None), (5, 3)),
    ("BatchNorm2d", (3,), dict(affine=False), (2, 3, 4, 4)),
    ("InstanceNorm2d", (3,), dict(affine=True, track_running_stats=True), (2, 3, 4, 4)),
    ("LayerNorm", ((4, 4),), dict(eps=1e-4, bias=False), (2, 3, 4, 4)),
    ("GroupNorm", (3, 6), dict(affine=False), (2, 6, 4)),
]


def _layer_class(name, monkeypatch):
    """``nyang.nn.<name>``; a layer written but not exported yet is put there for the test."""
    if hasattr(nn, name):
        return getattr(nn, name)
    for module in ("nyang.nn.conv", "nyang.nn.pooling", "nyang.nn.normalization"):
        try:
            cls = getattr(__import__(module, fromlist=[name]), name, None)
        except ImportError:
            continue
        if cls is not None:
            monkeypatch.setattr(nn, name, cls, raising=False)
            return cls
    pytest.skip(f"nyang.nn.{name} does not exist yet")


@pytest.mark.parametrize("name, args, kwargs, shape", LAYERS, ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYERS)])
def test_conv_pool_and_norm_layers_keep_their_arguments(name, args, kwargs, shape, tmp_path, monkeypatch):
    layer = _layer_class(name, monkeypatch)(*args, **kwargs)
    model = nn.Sequential(layer)
    x = nyang.randn(*shape)
    model(x)  # batch norm: running statistics move, num_batches_tracked counts
    model.eval()
    save_model(model, tmp_path / "layer.npz")
    loaded = load_model(tmp_path / "layer.npz")
    for arg in registry._BUILTIN_ARGS[name]:
        if arg != "bias" and hasattr(layer, arg):
            assert getattr(loaded[0], arg) == getattr(layer, arg), arg
    assert (getattr(loaded[0], "bias", None) is None) == (getattr(layer, "bias", None) is None)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_save_model_refuses_unregistered_modules_and_bad_configs(tmp_path):
    class Mine(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match=r"Mine is not a registered module.*@nyang.nn.register"):
        save_model(nn.Sequential(nn.Linear(2, 2), Mine()), tmp_path / "m.npz")

    @register(name="tests.BadConfig")
    class BadConfig(nn.Module):
        def get_config(self):
            return {"fn": print}

    with pytest.raises(TypeError, match="fn=<built-in function print> cannot be stored as JSON"):
        save_model(BadConfig(), tmp_path / "m.npz")
    with pytest.raises(ValueError, match="built-in"):
        register(name="Linear")(Mine)
    with pytest.raises(ValueError, match="already taken"):
        register(name="tests.Doubler")(Mine)
    assert not os.listdir(tmp_path)


def test_load_model_refuses_unknown_classes_without_importing_anything(tmp_path, monkeypatch):
    @register(name="os.system")
    class Sneaky(nn.Module):
        def forward(self, x):
            return x

    save_model(nn.Sequential(Sneaky()), tmp_path / "m.npz")
    monkeypatch.delitem(registry._registered, "os.system")
    with pytest.raises(CheckpointError, match=r"m\.npz.*'os\.system' that is not registered"):
        load_model(tmp_path / "m.npz")
    save(_mlp().state_dict(), tmp_path / "weights.npz")
    with pytest.raises(CheckpointError, match="holds no model architecture.*load_state_dict"):
        load_model(tmp_path / "weights.npz")


# ================================================================ untrusted files
class _Marker:
    """Unpickling this creates the file ``path``: proof that code from a file ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_pickles_and_object_arrays_are_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    pickled = tmp_path / "evil.pkl"
    pickled.write_bytes(pickle.dumps({"weights": _Marker(marker)}))
    with pytest.raises(CheckpointError, match=r"evil\.pkl contains a pickled object; nyang\.load refuses to "
                                              r"unpickle untrusted files; .*trusted=True"):
        load(pickled)
    np.savez(tmp_path / "evil.npz", w=np.ones(2), payload=np.array([_Marker(marker)], dtype=object))
    with pytest.raises(CheckpointError, match=r"evil\.npz contains a pickled object \(entry 'payload'"):
        load(tmp_path / "evil.npz")
    with pytest.raises(CheckpointError, match="pickled object"):
        load_model(tmp_path / "evil.npz")
    assert not marker.exists()


def test_pytorch_files_are_refused_without_unpickling(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.zeros(2)}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match=r"model\.pt contains a pickled object.*torch\.load"):
        load(tmp_path / "model.pt")


def test_the_pickle_format_needs_trusted_true(tmp_path):
    obj = {"weights": nyang.randn(3), "anything": {1, 2}, "nested": [Parameter(nyang.ones(2))],
           "ordered": OrderedDict(a=nyang.zeros(1, dtype=nyang.int64))}
    save(obj, tmp_path / "any.pkl", format="pickle")
    with pytest.raises(CheckpointError, match="trusted=True"):
        load(tmp_path / "any.pkl")
    back = load(tmp_path / "any.pkl", trusted=True)
    _same(back["weights"], obj["weights"])
    _same(back["nested"][0], obj["nested"][0])
    _same(back["ordered"]["a"], obj["ordered"]["a"])
    assert back["anything"] == {1, 2} and type(back["ordered"]) is OrderedDict
    # trusted really means trusted: any pickle is read, a foreign one as it is
    (tmp_path / "foreign.pkl").write_bytes(pickle.dumps([1, "two"]))
    assert load(tmp_path / "foreign.pkl", trusted=True) == [1, "two"]
    with pytest.raises(ValueError, match="format must be"):
        save(obj, tmp_path / "x", format="json")


# ================================================================ damaged files
def test_truncated_or_corrupted_files_give_errors_naming_the_file(tmp_path):
    path = tmp_path / "model.npz"
    save(_mlp().state_dict(), path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 30):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=rf"{path}.*truncated or corrupted"):
            load(path)
    damaged = bytearray(data)
    damaged[200] ^= 0xFF  # inside the first array's data: the zip checksum catches it
    path.write_bytes(bytes(damaged))
    with pytest.raises(CheckpointError, match=rf"{path}.*corrupted.*entry 'a0'"):
        load(path)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=rf"{path} is empty"):
        load(path)
    path.write_bytes(b"hello, not a checkpoint")
    with pytest.raises(CheckpointError, match="not a nyang checkpoint"):
        load(path)


def test_a_newer_format_version_is_refused_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "FORMAT_VERSION", checkpoint.FORMAT_VERSION + 1)
    save({"w": nyang.ones(2)}, tmp_path / "future.npz")
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match=r"future\.npz was written by a newer nyang .*format version 2.*"
                                              r"reads format versions up to 1; upgrade nyang"):
        load(tmp_path / "future.npz")


# ================================================================ atomic writes
def test_a_crash_during_a_write_leaves_the_old_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "last.npz"
    save({"epoch": 1, "w": nyang.zeros(1000)}, path)
    real_savez = np.savez

    def crash_midway(f, *args, **kwargs):
        real_savez(f, *args, **kwargs)
        f.truncate(f.tell() // 2)
        raise OSError("simulated crash: disk full")

    monkeypatch.setattr(np, "savez", crash_midway)
    with pytest.raises(OSError, match="simulated crash"):
        save({"epoch": 2, "w": nyang.ones(1000)}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["last.npz"]
    assert load(path)["epoch"] == 1
    save({"epoch": 3}, path)
    assert load(path) == {"epoch": 3} and os.listdir(tmp_path) == ["last.npz"]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # the usual permissions, not mkstemp's 0o600
