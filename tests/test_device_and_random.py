"""The device switch (NYANG_DEVICE) and seeded random generators."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import nyang


def _run(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_default_device_is_cpu():
    assert str(nyang.get_device()) == "cpu"


def test_unknown_nyang_device_is_a_clear_error_at_import():
    result = _run("import nyang", NYANG_DEVICE="tpu")
    assert result.returncode != 0
    assert "NYANG_DEVICE='tpu'" in result.stderr and "'cpu', 'cuda' or 'cuda:N'" in result.stderr


@pytest.mark.skipif(nyang.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_says_what_is_missing():
    result = _run("import nyang", NYANG_DEVICE="cuda")
    assert result.returncode != 0
    assert "NYANG_DEVICE='cuda'" in result.stderr
    assert "CuPy is not installed" in result.stderr or "no CUDA GPU" in result.stderr
    with pytest.raises(RuntimeError, match="cuda"):
        nyang.set_device("cuda")
    assert not nyang.cuda.is_available() and nyang.cuda.device_count() == 0


def test_set_device_and_parsing():
    previous = nyang.get_device()
    try:
        assert nyang.set_device("cpu") is nyang.device("cpu")
        with pytest.raises(ValueError, match="unknown device 'gpu0'"):
            nyang.set_device("gpu0")
    finally:
        nyang.set_device(previous)


def test_manual_seed_makes_draws_repeatable():
    nyang.manual_seed(123)
    a = nyang.randn(5).numpy().copy()
    nyang.manual_seed(123)
    assert np.array_equal(a, nyang.randn(5).numpy())
    nyang.manual_seed(124)
    assert not np.array_equal(a, nyang.randn(5).numpy())


def test_manual_seed_does_not_touch_numpys_global_state():
    np.random.seed(0)
    expected = np.random.rand()
    np.random.seed(0)
    nyang.manual_seed(5)
    nyang.randn(3)
    assert np.random.rand() == expected


def test_generator_state_round_trips_through_json():
    g = nyang.Generator("cpu").manual_seed(7)
    g.normal((3,))
    state = json.loads(json.dumps(g.get_state()))
    first = nyang.rand(4, generator=g).numpy()
    g2 = nyang.Generator("cpu")
    g2.set_state(state)
    assert np.array_equal(first, nyang.rand(4, generator=g2).numpy())
    nyang.manual_seed(3)
    saved = nyang.random.get_rng_state()
    x = nyang.rand(2).numpy()
    nyang.random.set_rng_state(saved)
    assert np.array_equal(x, nyang.rand(2).numpy())


def test_same_seed_gives_same_numbers_on_every_backend(backend):
    dev = nyang.tensor(backend.asarray([0.0])).device
    a = nyang.randn(4, generator=nyang.Generator(dev).manual_seed(9)).numpy()
    b = nyang.randn(4, generator=nyang.Generator("cpu").manual_seed(9)).numpy()
    assert np.array_equal(a, b)


def test_generator_on_another_device_is_refused(backend):
    if backend.name == "numpy":
        pytest.skip("needs a second device")
    dev = nyang.tensor(backend.asarray([0.0])).device
    with pytest.raises(RuntimeError, match="generator"):
        nyang.rand(2, generator=nyang.Generator("cpu"), device=dev)


def test_version_and_cli():
    result = subprocess.run([sys.executable, "-m", "nyang", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"nyang {nyang.__version__}"
    info = subprocess.run([sys.executable, "-m", "nyang", "info"], capture_output=True, text=True)
    assert "default device: cpu" in info.stdout


def test_a_device_of_another_library_has_a_short_name():
    import array_api_strict

    t = nyang.tensor(array_api_strict.asarray([1.0, 2.0], device=array_api_strict.Device("device1")))
    assert str(t.device) == "array_api_strict:device1"
    assert "device='array_api_strict:device1'" in repr(t)
