"""Every example script runs (with fewer epochs) and reaches a sensible result."""
import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def run_example(name, *args, cwd):
    result = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *map(str, args)], capture_output=True,
                            text=True, cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_autograd_demo(tmp_path):
    out = run_example("autograd_demo.py", cwd=tmp_path)
    assert "dy/dw" in out and "max difference: 0.0" in out


def test_digits_mlp(tmp_path):
    out = run_example("digits_mlp.py", "--epochs", 3, cwd=tmp_path)
    assert float(out.split("test accuracy ")[1].split(",")[0]) > 0.8


def test_digits_cnn(tmp_path):
    out = run_example("digits_cnn.py", "--epochs", 3, "--out", tmp_path / "run", cwd=tmp_path)
    accuracy = float(out.split("test accuracy ")[1].split(",")[0])
    assert accuracy > 0.8
    assert (tmp_path / "run" / "best.npz").exists()
    # the `make demo` run folder works with the nyang command: best.npz holds the architecture too
    scored = subprocess.run([sys.executable, "-m", "nyang", "eval", "--checkpoint", tmp_path / "run" / "best.npz",
                             "--data", "digits"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert f"test accuracy {accuracy:.4f}" in scored.stdout


def test_image_folder(tmp_path):
    out = run_example("image_folder.py", "--epochs", 2, "--root", tmp_path / "png", cwd=tmp_path)
    assert "test accuracy" in out and (tmp_path / "png" / "7").is_dir()


def test_transfer(tmp_path):
    out = run_example("transfer.py", "--epochs", 2, cwd=tmp_path)
    assert "fine-tuned" in out


def test_custom_dataset(tmp_path):
    out = run_example("custom_dataset.py", "--epochs", 5, cwd=tmp_path)
    assert "valid accuracy" in out


def test_every_example_is_tested():
    tested = {"autograd_demo.py", "digits_mlp.py", "digits_cnn.py", "image_folder.py", "transfer.py",
              "custom_dataset.py", "export_digits.py"}
    assert set(os.listdir(EXAMPLES)) - {"__pycache__"} <= tested, "add a test for the new example"


@pytest.mark.parametrize("size", [8, 16])
def test_export_digits(tmp_path, size):
    run_example("export_digits.py", tmp_path, "--size", size, cwd=tmp_path)
    assert sorted(os.listdir(tmp_path)) == [str(d) for d in range(10)]
    assert sum(len(os.listdir(tmp_path / str(d))) for d in range(10)) == 1797
