"""Test fixtures shared by the whole suite.

``xp`` runs a test once per array library: numpy, array_api_strict (pinned to the
2024.12 standard, data placed on ``Device("device1")`` so that any silent trip
through the host shows up) and cupy (marked ``cuda``; skipped without a GPU).
"""
import os

import numpy as np
import pytest

import array_api_compat


def _cupy_available():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs an NVIDIA GPU and CuPy")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def pytest_collection_modifyitems(config, items):
    if _cupy_available():
        return
    skip = pytest.mark.skip(reason="no CUDA GPU with CuPy on this machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


class Backend:
    """An array library under test: its namespace and where its arrays live.

    ``asarray(numpy_array)`` puts host data on the backend's test device, so tests
    write their inputs once in NumPy and run them on every backend.
    """

    def __init__(self, name, xp, device):
        self.name = name
        self.xp = xp
        self.device = device

    def asarray(self, a, dtype=None):
        a = np.asarray(a)
        if dtype is not None:
            a = a.astype(dtype)
        return self.xp.asarray(a, device=self.device)

    def __repr__(self):
        return self.name


def _make_backend(name):
    if name == "numpy":
        return Backend("numpy", array_api_compat.numpy, "cpu")
    if name == "array_api_strict":
        import array_api_strict

        array_api_strict.set_array_api_strict_flags(api_version="2024.12")
        return Backend("array_api_strict", array_api_strict, array_api_strict.Device("device1"))
    if name == "cupy":
        import array_api_compat.cupy as cxp
        import cupy

        return Backend("cupy", cxp, cupy.cuda.Device(0))
    raise ValueError(name)


BACKENDS = [
    pytest.param("numpy", id="numpy"),
    pytest.param("array_api_strict", id="strict"),
    pytest.param("cupy", id="cupy", marks=pytest.mark.cuda),
]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """A :class:`Backend` for each array library (numpy, array_api_strict, cupy)."""
    return _make_backend(request.param)


@pytest.fixture
def xp(backend):
    """The array namespace of each backend under test."""
    return backend.xp


@pytest.fixture
def rng():
    """A seeded NumPy generator for test inputs."""
    return np.random.default_rng(0)


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch

        torch.set_num_threads(int(os.environ.get("NYANG_TEST_TORCH_THREADS", "1")))
    except ImportError:
        pass
