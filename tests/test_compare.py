"""``nyang compare`` on tiny runs: its files, its agreement, and its message without PyTorch."""
import json
import subprocess
import sys

import numpy as np
import pytest

from nyang import cli
from nyang.compare import format_report
from nyang.torch_bridge import TORCH_MISSING, import_torch

SIDE_KEYS = {"train_loss", "test_accuracy", "test_f1", "best_epoch", "epochs", "steps", "seconds_per_epoch",
             "samples_per_second", "peak_rss_mb", "rss_growth_mb"}


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("compare")
    result = subprocess.run([sys.executable, "-m", "nyang", "compare", "--data", "digits", "--model", "mlp",
                             "--epochs", "2", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_compare_writes_json_and_png(mlp_run):
    out, stdout = mlp_run
    report = json.loads((out / "compare.json").read_text())
    assert SIDE_KEYS <= set(report["nyang"]) and SIDE_KEYS <= set(report["torch"])
    assert {"train_loss", "test_accuracy", "seconds_per_epoch", "samples_per_second", "peak_rss_mb"} <= set(
        report["ratio"])
    assert {"max_rel_diff_first_100", "max_rel_diff", "loss_curves", "environment", "options"} <= set(report)
    assert report["nyang"]["epochs"] == report["torch"]["epochs"] == 2
    for key, ratio in report["ratio"].items():
        assert ratio == pytest.approx(report["nyang"][key] / report["torch"][key], rel=1e-12), key
    assert (out / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert format_report(report, str(out)) in stdout  # the printed table holds the numbers in compare.json
    for label in ("final train loss", "test accuracy", "test macro F1", "train samples / s", "peak RSS (MB)",
                  "over the first 100 steps"):
        assert label in stdout


def test_compare_curves_and_scores_agree(mlp_run):
    out, _ = mlp_run
    report = json.loads((out / "compare.json").read_text())
    ours, theirs = (np.array(report["loss_curves"][k]) for k in ("nyang", "torch"))
    assert len(ours) == len(theirs) == report["nyang"]["steps"] == 80  # 2 epochs of 40 batches
    rel = np.abs(ours - theirs) / np.abs(theirs)
    assert np.max(rel) < 1e-4
    assert report["max_rel_diff"] == report["max_rel_diff_first_100"] == pytest.approx(np.max(rel), rel=1e-12)
    # the final train loss is the last epoch's mean over its samples: 39 batches of 32, then 10 (1258 in all)
    sizes = [32] * 39 + [10]
    for side, curve in (("nyang", ours), ("torch", theirs)):
        assert report[side]["train_loss"] == pytest.approx(np.average(curve[40:], weights=sizes), rel=1e-12)
    assert report["nyang"]["test_accuracy"] == pytest.approx(report["torch"]["test_accuracy"], abs=0.005)


def test_compare_takes_a_train_config(tmp_path):
    pytest.importorskip("torch")
    config = tmp_path / "run.toml"
    config.write_text('epochs = 1\noptimizer = "momentum"\nlr = 0.05\nscheduler = "onecycle"\nbatch-size = 64\n'
                      '[model]\nlayers = [{type = "Flatten"}, {type = "Linear", args = [64, 32]}, {type = "Tanh"},\n'
                      '          {type = "Linear", args = [32, 10]}]\n')
    assert cli.main(["compare", "--config", str(config), "--no-memory", "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert report["options"]["optimizer"] == "momentum" and report["nyang"]["steps"] == 20
    assert report["max_rel_diff"] < 1e-4 and "peak_rss_mb" not in report["nyang"]


@pytest.mark.parametrize("model, scheduler", [("lenet", "plateau"), ("vgg-small", "cosine")])
def test_compare_convolutional_models_agree(tmp_path, model, scheduler):
    """LeNet and VGG-small (conv, batch norm, pooling) step for step, on a slice of an epoch."""
    pytest.importorskip("torch")
    config = tmp_path / "run.toml"
    config.write_text(f'model = "{model}"\nscheduler = "{scheduler}"\nepochs = 1\nbatch-size = 128\n'
                      'optimizer = "momentum"\nlr = 0.02\n')
    assert cli.main(["compare", "--config", str(config), "--no-memory", "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert report["nyang"]["steps"] == report["torch"]["steps"] == 10
    assert report["max_rel_diff"] < 1e-4
    assert report["nyang"]["test_accuracy"] == pytest.approx(report["torch"]["test_accuracy"], abs=0.01)


def test_without_torch_compare_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(ImportError, match=r"pip install nyang\[compare\]"):
        import_torch()
    assert cli.main(["compare", "--model", "mlp", "--epochs", "1"]) == 1
    assert TORCH_MISSING in capsys.readouterr().err
