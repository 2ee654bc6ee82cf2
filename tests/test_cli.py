"""The nyang command end to end on tiny runs."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def nyang_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "nyang", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = nyang_cli("train", "--data", "digits", "--model", "mlp", "--epochs", 3, "--batch-size", 64,
                       "--out", out, "--patience", 2, "--no-progress")
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_train_prints_progress_test_metrics_and_files(trained):
    out, stdout = trained
    assert stdout.count("epoch ") >= 3 and "test accuracy" in stdout and "macro F1" in stdout
    assert "precision    recall  f1-score   support" in stdout and f"run files in {out}" in stdout
    for name in ("best.npz", "last.npz", "model.npz", "history.csv", "run.json", "confusion_matrix.png"):
        assert (out / name).exists(), name


def test_eval_scores_the_checkpoint(trained, tmp_path):
    out, stdout = trained
    result = nyang_cli("eval", "--checkpoint", out / "best.npz", "--data", "digits", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    test_line = [line for line in stdout.splitlines() if line.startswith("test accuracy")][0]
    assert test_line in result.stdout  # the same model scores the same
    assert (tmp_path / "confusion_matrix_test.png").exists()


def test_predict_classifies_image_files(trained, tmp_path):
    out, _ = trained
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", "export_digits.py"), tmp_path / "png"],
                   check=True, capture_output=True)
    images = [tmp_path / "png" / str(d) / sorted(os.listdir(tmp_path / "png" / str(d)))[0] for d in (0, 4)]
    result = nyang_cli("predict", "--checkpoint", out / "model.npz", *images, "--top", 2)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.count(",") == 1 for line in lines)


def test_tabular_dataset_with_a_config_file(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('data = "wine"\nepochs = 2\nbatch-size = 16\noptimizer = "sgd"\nlr = 0.05\n'
                      '[model]\nlayers = [{type = "Linear", args = [13, 16]}, {type = "ReLU"}, '
                      '{type = "Linear", args = [16, 3]}]\n')
    result = nyang_cli("train", "--config", config, "--out", tmp_path / "run", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "epoch 2/2" in result.stdout and "SGD" in (tmp_path / "run" / "run.json").read_text()


def test_wrong_arguments_give_usage_and_a_reason(tmp_path):
    result = nyang_cli("train", "--epochs", "many")
    assert result.returncode == 2 and "usage: nyang train" in result.stderr and "invalid int value" in result.stderr
    result = nyang_cli("train", "--data", tmp_path / "missing")
    assert result.returncode == 2 and str(tmp_path / "missing") in result.stderr
    result = nyang_cli("eval", "--checkpoint", tmp_path / "none.npz")
    assert result.returncode == 2 and "none.npz does not exist" in result.stderr
    result = nyang_cli("train", "--optimizer", "lbfgs")
    assert result.returncode == 2 and "invalid choice" in result.stderr
