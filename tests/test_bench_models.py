"""The model benchmark's code paths on tiny settings (no timing is asserted)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.bench_models import (FLOOR_COLUMNS, INFER_COLUMNS, LAYER_COLUMNS, MEMORY_COLUMNS, TIME_COLUMNS,
                                     WORKLOADS, _cases, build, forward_macs)
from benchmarks.harness import in_turns, steps_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# multiply-adds of one sample's forward pass through the Conv2d and Linear layers, by hand:
# a convolution's output elements times (input channels x kernel area), a Linear's outputs times its inputs
MACS = {
    "mlp": 784 * 256 + 256 * 128 + 128 * 10,
    "lenet": 6 * 28 * 28 * (1 * 5 * 5) + 16 * 10 * 10 * (6 * 5 * 5) + 400 * 120 + 120 * 84 + 84 * 10,
    "vgg-small": (32 * 32 * 32 * (3 * 9) + 32 * 32 * 32 * (32 * 9) + 64 * 16 * 16 * (32 * 9)
                  + 64 * 16 * 16 * (64 * 9) + 64 * 8 * 8 * 256 + 256 * 10),
}
VGG_LAYERS = ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] * 2 + [
    "Flatten", "Linear", "ReLU", "Dropout", "Linear"]


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_flop_counter_gives_the_counts_worked_out_by_hand(name):
    _, _, shape, _ = WORKLOADS[name]
    assert forward_macs(build(name), shape) == MACS[name]


def test_in_turns_runs_warmup_one_untimed_step_per_turn_and_exactly_steps_timed():
    calls = {"a": 0, "b": 0}

    def case(name, seconds):
        def step():
            calls[name] += 1
            return {"phase": seconds}
        return step

    medians = in_turns({"a": case("a", 1.0), "b": case("b", 2.0)}, steps=25, warmup=2, block=10, pause=0)
    assert medians == {"a": {"phase": 1.0}, "b": {"phase": 2.0}}
    assert calls == {"a": 2 + 3 + 25, "b": 2 + 3 + 25}  # 3 turns (10, 10, 5 steps), each after an untimed step


def test_steps_for_gives_the_fastest_case_its_seconds():
    calls = {"fast": 0, "slow": 0}

    def case(name, seconds):
        def step():
            calls[name] += 1
            return {"forward": seconds / 2, "backward": seconds / 2}
        return step

    cases = {"fast": case("fast", 0.002), "slow": case("slow", 0.05)}
    assert steps_for(cases, 20, 0.5) == 250  # 0.5 s of the 2 ms steps
    assert calls == {"fast": 2, "slow": 2}  # one untimed step and one timed, each
    assert steps_for(cases, 20, 0.01) == 20 and steps_for(cases, 300, 0.5) == 300
    assert steps_for(cases, 20, 0) == 20


def test_nyang_and_torch_train_steps_agree_on_twin_models():
    torch = pytest.importorskip("torch")
    import nyang
    from nyang.torch_bridge import to_torch

    model = build("mlp")
    twin = to_torch(model)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 784)).astype(np.float32), rng.integers(0, 10, 4)
    ours, theirs = _cases(nyang, model, x, y), _cases(torch, twin, x, y)
    for _ in range(2):  # the second step uses the momentum
        ours["train"](), theirs["train"]()
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def test_plain_numpy_mlp_steps_as_nyang_does():
    """The floor is the same computation: after three steps (the later ones with momentum)
    the plain NumPy weights and loss are nyang's, and so is its inference."""
    import nyang
    from benchmarks.numpy_mlp import NumpyMLP

    model = build("mlp")
    linears = [m for m in model.modules() if isinstance(m, nyang.nn.Linear)]
    plain = NumpyMLP(linears)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 784)).astype(np.float32), rng.integers(0, 10, 16)
    optimizer = nyang.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for _ in range(3):
        optimizer.zero_grad()
        loss = nyang.nn.functional.cross_entropy(model(nyang.from_numpy(x)), nyang.from_numpy(y))
        loss.backward()
        optimizer.step()
        assert plain.train_step(x, y) == pytest.approx(loss.item(), rel=1e-5)
    for w, b, layer in zip(plain.weights, plain.biases, linears):
        np.testing.assert_allclose(w, layer.weight.numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(b, layer.bias.numpy(), rtol=1e-5, atol=1e-7)
    with nyang.no_grad():
        np.testing.assert_allclose(plain.forward(x), model(nyang.from_numpy(x)).numpy(), rtol=1e-5, atol=1e-6)


def _table(text, start):
    """The header cells and the number of body rows of the markdown table whose header starts ``| start``."""
    lines = text[text.index(f"| {start}"):].split("\n\n")[0].splitlines()
    return [c.strip() for c in lines[0].strip("|").split("|")], len(lines) - 2


def test_bench_models_runs_and_writes_its_tables(tmp_path):
    pytest.importorskip("torch")
    prefix = tmp_path / "bench"
    result = subprocess.run([sys.executable, "-m", "benchmarks.bench_models", "--steps", "2", "--warmup", "1",
                             "--batch", "2", "--pause", "0", "--min-seconds", "0", "--workloads", "mlp", "vgg-small",
                             "--prefix", str(prefix)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "OPENBLAS_CORETYPE=" in result.stdout and "torch threads=" in result.stdout
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["steps"] == 2 and report["warmup"] == 1 and "blas_threads" in report["environment"]
    mlp, row = report["models"]
    assert [mlp["workload"], row["workload"]] == [WORKLOADS["mlp"][0], WORKLOADS["vgg-small"][0]]
    assert row["batch"] == 2 and "numpy train ms" not in row  # the plain NumPy floor is the MLP's alone
    assert row["train steps"] == row["infer steps"] == 2  # --min-seconds 0 adds none
    for mode in ("train", "infer"):
        floor = mlp[f"numpy {mode} ms"]
        assert floor > 0
        assert mlp[f"numpy / torch {mode}"] == pytest.approx(floor / mlp[f"torch {mode} ms"])
        assert mlp[f"nyang / numpy {mode}"] == pytest.approx(mlp[f"nyang {mode} ms"] / floor)
    assert row["GFLOP/step"] == pytest.approx(6 * MACS["vgg-small"] * 2 / 1e9)
    for mode in ("train", "infer"):
        prefix_ = "" if mode == "train" else "infer "
        ours, theirs = row[f"nyang {mode} ms"], row[f"torch {mode} ms"]
        assert ours > 0 and theirs > 0
        assert row[f"{mode} ratio"] == pytest.approx(ours / theirs)
        flop = row["GFLOP/step"] / (1 if mode == "train" else 3)
        for side, ms in (("nyang", ours), ("torch", theirs)):
            assert row[f"{side} {prefix_}samples/s"] == pytest.approx(2 / (ms / 1e3))
            assert row[f"{side} {prefix_}GFLOP/s"] == pytest.approx(flop / (ms / 1e3))
    for key in ("nyang peak RSS MB", "torch peak RSS MB", "nyang loaded RSS MB", "torch loaded RSS MB",
                "nyang alone train ms", "torch alone train ms", "alone infer ratio"):
        assert row[key] > 0, key
    assert row["RSS ratio"] == pytest.approx(row["nyang peak RSS MB"] / row["torch peak RSS MB"])
    assert row["alone train ratio"] == pytest.approx(row["nyang alone train ms"] / row["torch alone train ms"])
    layers = report["layers"]
    assert [r["layer"] for r in layers] == [f"{i}: {kind}" for i, kind in enumerate(VGG_LAYERS)]
    assert layers[0]["shape in"] == "3x32x32" and layers[-1]["shape in"] == "256"
    for r in layers:
        assert r["fwd ratio"] == pytest.approx(r["nyang fwd ms"] / r["torch fwd ms"])
        assert r["bwd ratio"] == pytest.approx(r["nyang bwd ms"] / r["torch bwd ms"])
    text = (tmp_path / "bench.md").read_text()
    assert text.count("| workload |") == 4  # train, inference, memory, plain NumPy
    tables = [_table(text, f"workload | {second}") for second in ("batch | GFLOP/step", "batch | infer steps",
                                                                   "nyang peak RSS MB")]
    assert tables == [(TIME_COLUMNS, 2), (INFER_COLUMNS, 2), (MEMORY_COLUMNS, 2)]
    assert _table(text, "workload | numpy train ms") == (FLOOR_COLUMNS, 1)
    assert "plain NumPy" in result.stdout
    assert _table(text, "layer |") == (LAYER_COLUMNS, len(VGG_LAYERS))


def test_bench_layers_runs_and_writes_its_table(tmp_path):
    pytest.importorskip("torch")
    prefix = tmp_path / "layers"
    result = subprocess.run([sys.executable, "-m", "benchmarks.bench_layers", "--steps", "1", "--prefix", str(prefix)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "layers.json").read_text())["results"]
    assert [r["layer"] for r in rows][:2] == ["Conv2d 3->32 3x3 @32", "Conv2d 32->32 3x3 @32"] and len(rows) == 9
    assert all(r["nyang ms"] > 0 and r["torch ms"] > 0 for r in rows)
    assert all(r["ratio"] == pytest.approx(r["nyang ms"] / r["torch ms"]) for r in rows)
    assert _table((tmp_path / "layers.md").read_text(), "layer |") == (["layer", "nyang ms", "torch ms", "ratio"], 9)
