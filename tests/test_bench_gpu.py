"""The GPU benchmark's code paths, run on the CPU (``--device cpu``; no timing is asserted),
and its refusal to run without CuPy."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, tmp_path, prelude=""):
    """``python -m benchmarks.bench_gpu ARGS`` in a subprocess on the CPU device; with ``prelude``,
    Python code run first in the same process (to hide a module)."""
    env = {**os.environ, "NYANG_DEVICE": "cpu"}
    command = ([sys.executable, "-c", prelude + "\nimport runpy, sys; sys.argv[0] = 'bench_gpu'; "
                "runpy.run_module('benchmarks.bench_gpu', run_name='__main__')"] if prelude
               else [sys.executable, "-m", "benchmarks.bench_gpu"])
    return subprocess.run(command + args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_cpu_dry_run_writes_fp32_and_amp_rows_for_both_frameworks(tmp_path):
    pytest.importorskip("torch")
    prefix = tmp_path / "gpu"
    result = run(["--device", "cpu", "--steps", "1", "--warmup", "1", "--workloads", "mlp", "lenet",
                  "--batch", "8", "--prefix", str(prefix)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "the figures mean nothing" in result.stdout
    report = json.loads((tmp_path / "gpu.json").read_text())
    rows = report["results"]["rows"]
    assert [(r["workload"], r["mode"]) for r in rows] == [
        ("mlp", "train"), ("mlp", "infer"), ("mlp amp", "train"), ("mlp amp", "infer"),
        ("lenet", "train"), ("lenet", "infer"), ("lenet amp", "train"), ("lenet amp", "infer")]
    for row in rows:
        assert row["batch"] == 8
        assert row["precision"] == ("amp" if row["workload"].endswith(" amp") else "fp32")
        for side in ("nyang", "torch"):
            assert row[f"{side} ms"] > 0, (row["workload"], row["mode"], side)
            assert row[f"{side} samples/s"] == pytest.approx(8 / (row[f"{side} ms"] / 1e3))
        assert row["ratio"] == pytest.approx(row["nyang ms"] / row["torch ms"])
        assert not any("peak" in key for key in row)  # no memory figures on the CPU
        scales = {key for key in row if key.endswith("loss scale")}  # amp train rows only
        if row["precision"] == "amp" and row["mode"] == "train":
            assert scales == {"nyang loss scale", "torch loss scale"}
            assert 0 < row["nyang loss scale"] <= 2 ** 16 and 0 < row["torch loss scale"] <= 2 ** 16
        else:
            assert not scales
    assert report["results"]["gpu"]["device"] == "cpu"
    assert report["results"]["steps"] == 1 and report["results"]["warmup"] == 1
    lines = (tmp_path / "gpu.md").read_text().splitlines()
    assert lines[0] == "| workload | batch | mode | nyang ms | torch ms | ratio | nyang samples/s | torch samples/s |"
    assert len(lines) == 2 + len(rows)
    assert [line.split(" | ")[:3] for line in lines[2:]] == [
        [f"| {r['workload']}", "8", r["mode"]] for r in rows]


@pytest.mark.parametrize("flag, precisions", [("--amp", {"amp"}), ("--no-amp", {"fp32"})])
def test_amp_flag_selects_the_precisions(flag, precisions, tmp_path):
    pytest.importorskip("torch")
    # a subprocess, as in-process the benchmark would reseed nyang's and torch's global generators
    result = run(["--device", "cpu", "--steps", "1", "--warmup", "0", "--workloads", "mlp", "--batch", "4",
                  "--prefix", str(tmp_path / "gpu"), flag], tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "gpu.json").read_text())["results"]["rows"]
    assert {r["precision"] for r in rows} == precisions and len(rows) == 2


def test_without_torch_it_times_nyang_alone(tmp_path):
    prefix = tmp_path / "alone"
    result = run(["--device", "cpu", "--steps", "1", "--warmup", "0", "--workloads", "mlp", "--batch", "4",
                  "--prefix", str(prefix)], tmp_path, prelude="import sys; sys.modules['torch'] = None")
    assert result.returncode == 0, result.stderr
    assert "timing nyang alone: PyTorch is not installed" in result.stdout
    rows = json.loads((tmp_path / "alone.json").read_text())["results"]["rows"]
    assert len(rows) == 4 and all(r["nyang ms"] > 0 and "torch ms" not in r and "ratio" not in r for r in rows)
    assert (tmp_path / "alone.md").read_text().startswith("| workload | batch | mode | nyang ms | nyang samples/s |\n")


def test_without_cupy_the_cuda_default_exits_1_naming_what_is_missing(tmp_path):
    # CuPy is hidden even where it is installed, so this checks the message on any machine
    result = run(["--steps", "1", "--prefix", str(tmp_path / "never")], tmp_path,
                 prelude="import sys; sys.modules['cupy'] = None")
    assert result.returncode == 1
    assert "CuPy is not installed" in result.stderr and "pip install nyang[cuda]" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "never.json").exists()


# ---------------------------------------------------------------- the CUDA-only helpers, on a stand-in CuPy
# (the stand-in follows cupy/cuda/memory_hook.pyx and memory.pyx: hooks registered by ``with``, called
# with keyword arguments; a failed malloc reports mem_ptr=0)


class _Hook:
    name = "MemoryHook"
    registered = {}

    def __enter__(self):
        assert self.name not in _Hook.registered
        _Hook.registered[self.name] = self
        return self

    def __exit__(self, *exc):
        del _Hook.registered[self.name]


class _Pool:
    def free_all_blocks(self):
        pass

    def used_bytes(self):
        return 1000


class _Device:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def synchronize(self):
        pass


def _fake_cupy(properties):
    import types

    def no_driver():
        raise RuntimeError("no driver here")

    runtime = types.SimpleNamespace(getDeviceProperties=lambda index: properties, runtimeGetVersion=lambda: 13000,
                                    driverGetVersion=no_driver)
    return types.SimpleNamespace(__version__="14.0.0", get_default_memory_pool=_Pool,
                                 cuda=types.SimpleNamespace(MemoryHook=_Hook, runtime=runtime))


def test_nyang_peak_bytes_adds_up_the_pool_hooks(monkeypatch):
    from benchmarks.bench_gpu import MEMORY_STEPS, NyangSide

    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy({}))
    side = object.__new__(NyangSide)
    side.cuda, side.device = True, type("D", (), {"native": _Device()})()
    calls = []

    def step():
        calls.append(1)
        (hook,) = _Hook.registered.values()
        hook.malloc_postprocess(device_id=0, size=500, mem_size=512, mem_ptr=1, pmem_id=1)
        hook.malloc_postprocess(device_id=0, size=1000, mem_size=1024, mem_ptr=2, pmem_id=2)
        hook.malloc_postprocess(device_id=0, size=4000, mem_size=4096, mem_ptr=0, pmem_id=0)  # failed
        hook.free_postprocess(device_id=0, mem_size=512, mem_ptr=1, pmem_id=1)
        hook.free_postprocess(device_id=0, mem_size=1024, mem_ptr=2, pmem_id=2)

    assert side.peak_bytes(step) == 1000 + 512 + 1024
    assert len(calls) == MEMORY_STEPS and not _Hook.registered


def test_gpu_environment_reads_what_cupy_gives_and_notes_what_fails(monkeypatch):
    from benchmarks.bench_gpu import gpu_environment

    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy({"name": b"NVIDIA H200", "major": 9, "minor": 0,
                                                         "multiProcessorCount": 132, "totalGlobalMem": 150 * 2 ** 30}))
    info = gpu_environment(type("D", (), {"index": 0})())
    assert info["gpu"] == "NVIDIA H200" and info["compute_capability"] == "9.0" and info["multiprocessors"] == 132
    assert info["memory_GiB"] == 150.0 and info["cuda_runtime"] == 13000 and "no driver" in info["cuda_driver_error"]
    assert info["cupy"] == "14.0.0"
