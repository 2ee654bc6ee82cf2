"""The model benchmark's code paths on tiny settings (no timing is asserted)."""
import json
import os
import subprocess
import sys

import pytest

from benchmarks.bench_models import WORKLOADS, build, forward_macs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("name, gflop", [("mlp", 0.18028), ("lenet", 0.15995), ("vgg-small", 9.8031)])
def test_flop_counter_gives_the_analytic_counts(name, gflop):
    _, _, shape, batch = WORKLOADS[name]
    assert 6 * forward_macs(build(name), shape) * batch / 1e9 == pytest.approx(gflop, rel=1e-4)


def test_bench_models_runs_and_writes_its_tables(tmp_path):
    pytest.importorskip("torch")
    prefix = tmp_path / "bench"
    result = subprocess.run([sys.executable, "-m", "benchmarks.bench_models", "--steps", "2", "--warmup", "1",
                             "--batch", "2", "--pause", "0", "--workloads", "vgg-small", "--prefix", str(prefix)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "OPENBLAS_CORETYPE=" in result.stdout and "torch threads=" in result.stdout
    report = json.loads((tmp_path / "bench.json").read_text())
    (row,) = report["models"]
    for key in ("nyang train ms", "torch infer ms", "nyang GFLOP/s", "nyang infer samples/s", "alone infer ratio", "nyang peak RSS MB", "torch peak RSS MB",
                "RSS ratio", "alone train ratio"):
        assert row[key] > 0, key
    assert len(report["layers"]) == 19 and report["layers"][0]["layer"] == "0: Conv2d"
    assert (tmp_path / "bench.md").read_text().count("| workload |") == 3  # train, inference, memory


def test_bench_layers_runs_and_writes_its_table(tmp_path):
    pytest.importorskip("torch")
    prefix = tmp_path / "layers"
    result = subprocess.run([sys.executable, "-m", "benchmarks.bench_layers", "--steps", "1", "--prefix", str(prefix)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "layers.json").read_text())["results"]
    assert [r["layer"] for r in rows][:2] == ["Conv2d 3->32 3x3 @32", "Conv2d 32->32 3x3 @32"] and len(rows) == 9
    assert all(r["nyang ms"] > 0 and r["torch ms"] > 0 for r in rows)
    assert (tmp_path / "layers.md").read_text().startswith("| layer | nyang ms | torch ms | ratio |")
