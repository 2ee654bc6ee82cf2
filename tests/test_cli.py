"""The nyang command end to end on tiny runs."""
import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import nyang

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
    result = nyang_cli("eval", "--checkpoint", out / "last.npz", "--data", "digits", "--split", "valid",
                       "--out", tmp_path)  # weights only: the architecture comes from model.npz beside it
    assert result.returncode == 0, result.stderr
    with open(out / "history.csv") as f:
        last_epoch = list(csv.DictReader(f))[-1]  # last.npz holds the last epoch, scored on valid by fit
    assert f"valid accuracy {float(last_epoch['valid_accuracy']):.4f}" in result.stdout
    assert (tmp_path / "confusion_matrix_valid.png").exists()
    # weights that differ from model.npz's are the ones scored
    folder = tmp_path / "other"
    folder.mkdir()
    shutil.copy(out / "model.npz", folder / "model.npz")
    model = nyang.load_model(out / "model.npz")
    model.load_state_dict({k: -v if k.endswith("weight") else v for k, v in model.state_dict().items()})
    nyang.save({"model": model.state_dict()}, folder / "last.npz")
    valid = nyang.data.DataLoader(nyang.data.datasets.digits().valid, batch_size=256)
    accuracy = nyang.evaluate(model, valid, progress=False)["accuracy"]
    assert f"{accuracy:.4f}" != f"{float(last_epoch['valid_accuracy']):.4f}"
    result = nyang_cli("eval", "--checkpoint", folder / "last.npz", "--data", "digits", "--split", "valid")
    assert result.returncode == 0, result.stderr
    assert f"valid accuracy {accuracy:.4f}" in result.stdout


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


def one_line_error(result, command):
    """The run failed as argparse fails: status 2, the usage, then one line saying why."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and f"usage: nyang {command}" in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"nyang {command}: error: ")
    assert sum(line.startswith("nyang ") for line in lines) == 1
    return lines[-1]


def test_summary_prints_layers_shapes_and_parameters():
    result = nyang_cli("summary", "--model", "lenet", "--input-size", 1, 28, 28)
    assert result.returncode == 0, result.stderr
    model = nyang.models.build("lenet", (1, 28, 28), 10)
    # the table of nyang.summary (checked against the model in tests/nn/test_summary.py)
    assert result.stdout.strip() == nyang.summary(model, (1, 28, 28), batch_size=1, print=False).strip()
    # LeNet-5: 156 + 2,416 + 48,120 + 10,164 + 850 parameters
    assert sum(p.numel() for p in model.parameters()) == 61706 and "Total params: 61,706" in result.stdout


def test_resume_continues_in_the_resumed_folder_with_its_options(tmp_path):
    straight = nyang_cli("train", "--data", "iris", "--model", "mlp", "--epochs", 3, "--batch-size", 16,
                         "--out", tmp_path / "straight", "--no-progress", cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr
    first = nyang_cli("train", "--data", "iris", "--model", "mlp", "--epochs", 2, "--batch-size", 16,
                      "--out", tmp_path / "run", "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    # no --out, no --data/--model/--batch-size: the folder and the options are the resumed run's
    resumed = nyang_cli("train", "--resume", tmp_path / "run", "--epochs", 3, "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch 3/3" in resumed.stdout and "epoch 2/3" not in resumed.stdout
    assert f"run files in {tmp_path / 'run'}" in resumed.stdout and not (tmp_path / "runs").exists()
    assert len((tmp_path / "run" / "history.csv").read_text().splitlines()) == 4
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["config"]["data"] == "iris" and info["config"]["resume"] == str(tmp_path / "run")
    a, b = nyang.load(tmp_path / "straight" / "last.npz"), nyang.load(tmp_path / "run" / "last.npz")
    for key, value in a["model"].items():  # as if never stopped
        np.testing.assert_array_equal(b["model"][key].numpy(), value.numpy(), err_msg=key)
    # a finished run resumes to its end at once, and its files are used
    again = nyang_cli("train", "--resume", tmp_path / "run", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "epoch " not in again.stdout.replace("best epoch", "") and "test accuracy" in again.stdout
    # --out naming another folder is refused; naming the same one is fine
    line = one_line_error(nyang_cli("train", "--resume", tmp_path / "run", "--out", tmp_path / "other",
                                    cwd=tmp_path), "train")
    assert "name different folders" in line and not (tmp_path / "other").exists()
    line = one_line_error(nyang_cli("train", "--resume", tmp_path / "nothing", cwd=tmp_path), "train")
    assert f"{tmp_path / 'nothing'} does not exist" in line
    (tmp_path / "empty").mkdir()
    line = one_line_error(nyang_cli("train", "--resume", tmp_path / "empty", cwd=tmp_path), "train")
    assert f"{tmp_path / 'empty' / 'last.npz'} does not exist" in line


def test_errors_are_one_line_with_the_usage(tmp_path, trained):
    out, _ = trained
    line = one_line_error(nyang_cli("train", "--config", tmp_path / "missing.toml"), "train")
    assert "missing.toml does not exist" in line
    (tmp_path / "bad.toml").write_text("epochs = \n")
    line = one_line_error(nyang_cli("train", "--config", tmp_path / "bad.toml"), "train")
    assert "bad.toml is not valid TOML" in line and "line 1" in line
    (tmp_path / "typo.toml").write_text('epochs = "many"\n')
    line = one_line_error(nyang_cli("train", "--config", tmp_path / "typo.toml"), "train")
    assert "epochs = 'many'; expected int" in line
    (tmp_path / "broken.png").write_bytes(b"not an image")
    line = one_line_error(nyang_cli("predict", "--checkpoint", out / "model.npz", tmp_path / "broken.png"),
                          "predict")
    assert "broken.png" in line
    line = one_line_error(nyang_cli("train", "--data", "digits", "--model", "mlp", "--optimizer", "sgd", "--lr",
                                    1e30, "--epochs", 1, "--out", tmp_path / "nan", "--no-progress"), "train")
    assert "the training loss became" in line and "at epoch 1" in line and "--grad-clip 1.0" in line
    assert "grad_clip=" not in line


def test_a_device_that_cannot_run_is_a_usage_error():
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed")
    except ImportError:
        pass
    line = one_line_error(nyang_cli("train", "--device", "cuda", "--epochs", 1), "train")
    assert "--device cuda" in line and "CuPy is not installed" in line
    line = one_line_error(nyang_cli("eval", "--device", "tpu", "--checkpoint", "x.npz"), "eval")
    assert "unknown device 'tpu'" in line


def test_a_checkpoint_without_architecture_is_explained(tmp_path):
    nyang.save({"model": nyang.models.mlp(64, 10).state_dict()}, tmp_path / "weights.npz")
    line = one_line_error(nyang_cli("eval", "--checkpoint", tmp_path / "weights.npz"), "eval")
    assert "holds weights but no model architecture" in line and "nyang train" in line
    assert "save_model" in line


def test_an_image_folder_run_is_evaluated_and_predicted_at_its_own_size(tmp_path):
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", "export_digits.py"), tmp_path / "png",
                    "--size", "8"], check=True, capture_output=True)
    result = nyang_cli("train", "--data", tmp_path / "png", "--model", "cnn", "--image-size", 16, "--epochs", 1,
                       "--out", tmp_path / "run", "--no-progress")
    assert result.returncode == 0, result.stderr
    test_line = [line for line in result.stdout.splitlines() if line.startswith("test accuracy")][0]
    for name in ("model.npz", "best.npz"):  # no --image-size: the model's own 16x16
        scored = nyang_cli("eval", "--checkpoint", tmp_path / "run" / name, "--data", tmp_path / "png")
        assert scored.returncode == 0, scored.stderr
        assert test_line in scored.stdout
    line = one_line_error(nyang_cli("eval", "--checkpoint", tmp_path / "run" / "model.npz", "--data",
                                    tmp_path / "png", "--image-size", 32), "eval")
    assert "takes 16x16 images" in line
    image = tmp_path / "png" / "3" / sorted(os.listdir(tmp_path / "png" / "3"))[0]
    # what the model gives for the image as training's evaluation transform prepares it
    transforms = nyang.data.transforms
    prepare = transforms.Compose([transforms.ToTensor(), transforms.Resize((16, 16)),
                                  transforms.Normalize((0.5,), (0.5,))])
    images = nyang.data.ImageFolder(tmp_path / "png", transform=prepare)
    x, label = images[[str(path) for path, _ in images.samples].index(str(image))]
    assert images.classes[label] == "3"
    for name in ("model.npz", "best.npz"):
        probs = nyang.predict(nyang.load_model(tmp_path / "run" / name), nyang.tensor(x[None])).probabilities[0]
        top = int(np.argmax(probs))
        predicted = nyang_cli("predict", "--checkpoint", tmp_path / "run" / name, image, "--top", 1)
        assert predicted.returncode == 0, predicted.stderr
        assert predicted.stdout == f"{image}: {images.classes[top]} {probs[top]:.3f}\n"
