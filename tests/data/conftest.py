"""Fixtures of the data-pipeline tests: the digits written as PNG files by
``examples/export_digits.py``, once per session."""
import importlib.util
from pathlib import Path

import pytest


def _export_module():
    pytest.importorskip("PIL")
    path = Path(__file__).resolve().parents[2] / "examples" / "export_digits.py"
    spec = importlib.util.spec_from_file_location("export_digits", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory):
    """A folder with class folders 0..9 of 8x8 grayscale digit PNGs (1797 files)."""
    root = tmp_path_factory.mktemp("digits_png")
    _export_module().main([str(root)])
    return root


@pytest.fixture(scope="session")
def digits_rgb_dir(tmp_path_factory):
    """The same digits as 16x16 RGB PNGs."""
    root = tmp_path_factory.mktemp("digits_rgb_png")
    _export_module().export_digits(root, size=16, rgb=True)
    return root
