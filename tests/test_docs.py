"""The documentation site (docs/): every page runs under Streamlit's AppTest without
an exception, its main widgets are there, changing them changes what it shows, and
what it shows is right where that is easy to check."""
import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
pytest.importorskip("matplotlib")
from streamlit.testing.v1 import AppTest  # noqa: E402

import nyang  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module", autouse=True)
def docs_on_path():
    """The pages import the helpers in docs/nyangdocs, as ``streamlit run docs/app.py`` allows."""
    sys.path.insert(0, str(DOCS))
    yield
    sys.path.remove(str(DOCS))


def open_page(name):
    """An AppTest of the site switched to ``topics/<name>.py`` and run."""
    at = AppTest.from_file(str(DOCS / "app.py"), default_timeout=120).run()
    at.switch_page(f"topics/{name}.py")
    return run(at)


def run(target):
    """Run an AppTest, or the AppTest of a widget just changed; fail on any exception."""
    at = target.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def widget(elements, label):
    """The widget of ``elements`` (e.g. ``at.selectbox``) whose label is ``label``."""
    matches = [w for w in elements if w.label == label]
    assert matches, f"no widget labelled {label!r} in {[w.label for w in elements]}"
    return matches[0]


def images(at):
    """The URLs of the page's figures: they name the PNG's content."""
    return [url for image in at.image for url in image.value]


def column(at, index, name):
    return list(at.dataframe[index].value[name])


# ------------------------------------------------------------------ pages
def test_every_page_is_in_the_navigation():
    pages = {p.stem for p in (DOCS / "topics").glob("*.py")}
    app = (DOCS / "app.py").read_text()
    assert len(pages) == 12 and all(f'"topics/{p}.py"' in app for p in pages)
    assert not (DOCS / "pages").exists()  # Streamlit would run a folder of that name as a legacy multipage app


def test_getting_started_runs_the_first_model():
    at = open_page("getting_started")
    assert any("make demo" in c.value for c in at.code)
    assert not any("'accuracy':" in c.value for c in at.code)  # nothing run before the button
    run(widget(at.button, "Run it").click())
    printed = [c.value for c in at.code if "'accuracy':" in c.value]
    assert len(printed) == 1 and "epoch 20/20" in printed[0]  # fit printed its 20 epochs, then evaluate
    scores = ast.literal_eval(printed[0].strip().splitlines()[-1])
    assert set(scores) == {"accuracy"} and scores["accuracy"] >= 0.9  # seeded iris: an easy problem


def test_api_reference_browses_modules_and_searches():
    at = open_page("api_reference")
    module = widget(at.selectbox, "Module")
    assert {"nyang", "nyang.nn", "nyang.optim", "nyang.functional"} <= {o.split()[0] for o in module.options}
    names = [o.split()[0] for o in module.options]  # a tree: each package followed by its modules, indented
    assert names.index("nyang.nn.init") > names.index("nyang.nn") and names[0] == "nyang"
    assert module.options[names.index("nyang.nn.init")].startswith("\u2003\u2003")
    first = [e.label for e in at.expander]
    run(module.select("nyang.optim"))
    assert [e.label for e in at.expander] != first
    assert any("AdamW" in e.label for e in at.expander)
    run(widget(at.text_input, "Search names").input("cross_entropy"))
    labels = [e.label for e in at.expander]
    assert labels and all("cross" in label.lower() for label in labels)
    run(widget(at.text_input, "Search names").input("no such name anywhere"))
    assert not at.expander


def forward_loss_by_hand(x1, x2, target, seed):
    """The page's loss with NumPy: the same seeded Linear(2, 3) and Linear(3, 1) weights."""
    generator = nyang.Generator("cpu").manual_seed(seed)
    first, second = nyang.nn.Linear(2, 3, generator=generator), nyang.nn.Linear(3, 1, generator=generator)
    h = first.weight.numpy() @ np.array([x1, x2], dtype=np.float32) + first.bias.numpy()
    y_hat = second.weight.numpy() @ np.maximum(h, 0) + second.bias.numpy()
    return 0.5 * float(((y_hat - target) ** 2).sum())


def test_forward_backward_autograd_matches_the_chain_rule():
    at = open_page("forward_backward")
    assert at.metric[0].value == f"{forward_loss_by_hand(1.0, -0.5, 1.0, 1):.4f}"  # the default sliders
    assert max(float(d) for d in column(at, 0, "max |diff|")) < 1e-5
    run(widget(at.slider, "x₁").set_value(-1.5))
    assert at.metric[0].value == f"{forward_loss_by_hand(-1.5, -0.5, 1.0, 1):.4f}"
    assert max(float(d) for d in column(at, 0, "max |diff|")) < 1e-5


def test_activations_derivatives_come_from_autograd():
    at = open_page("activations")
    before = images(at)
    run(widget(at.multiselect, "Activations").set_value(["relu", "sigmoid"]))
    assert images(at) != before
    assert column(at, 0, "activation") == ["relu", "sigmoid"]
    assert column(at, 0, "f′(1)")[0] == 1.0 and column(at, 0, "f′(-1)")[0] == 0.0
    assert column(at, 0, "f′(0)")[1] == pytest.approx(0.25)
    run(widget(at.multiselect, "Activations").set_value(["leaky_relu", "elu"]))
    run(widget(at.slider, "leaky_relu slope s").set_value(0.2))
    run(widget(at.slider, "elu α").set_value(0.5))
    assert column(at, 0, "f′(-1)")[0] == pytest.approx(0.2) and column(at, 0, "f(-1)")[0] == pytest.approx(-0.2)
    # elu(-1) = α (e^-1 - 1), elu'(-1) = α e^-1 (the table rounds to 4 decimals)
    assert column(at, 0, "f(-1)")[1] == pytest.approx(round(0.5 * (np.exp(-1) - 1), 4))
    assert column(at, 0, "f′(-1)")[1] == pytest.approx(round(0.5 * np.exp(-1), 4))


def test_initialization_kaiming_keeps_relu_activations_alive():
    at = open_page("initialization")
    before = images(at)
    run(widget(at.selectbox, "Activation").set_value("relu"))
    assert images(at) != before
    stds = at.dataframe[0].value
    assert stds.loc["Kaiming normal", 10] > 5 * stds.loc["Xavier normal", 10]


def test_optimizers_change_with_the_surface_and_steps():
    at = open_page("optimizers")
    before, losses = images(at), column(at, 0, "final loss")
    assert column(at, 0, "optimizer") == ["SGD", "Momentum", "Adam"]
    # SGD with lr 0.9 on 0.01 x² + y² from (-4.5, 1.5): each step multiplies x by 1 - 0.9 * 0.02
    # and y by 1 - 0.9 * 2, so after n steps x = -4.5 * 0.982^n, y = 1.5 * (-0.8)^n
    assert column(at, 0, "final x")[0] == pytest.approx(-4.5 * 0.982 ** 150, rel=1e-4)
    run(widget(at.slider, "Steps").set_value(40))
    assert column(at, 0, "final loss") != losses
    assert column(at, 0, "final x")[0] == pytest.approx(-4.5 * 0.982 ** 40, rel=1e-4)
    x, y = -4.5 * 0.982 ** 39, 1.5 * (-0.8) ** 39  # the final loss is the one the last step started from
    assert column(at, 0, "final loss")[0] == pytest.approx(0.01 * x ** 2 + y ** 2, rel=1e-4)
    run(widget(at.selectbox, "Loss surface").set_value("Rosenbrock"))
    assert images(at) != before


def test_every_scheduler_draws_its_curve():
    at = open_page("schedulers")
    assert at.metric[-1].value == "0.0125"  # StepLR(step_size=30, gamma=0.5) from 0.1, at step 99
    seen = set()
    for name in widget(at.selectbox, "Scheduler").options:
        run(widget(at.selectbox, "Scheduler").set_value(name))
        seen.add(tuple(images(at)))
    assert len(seen) == len(widget(at.selectbox, "Scheduler").options)
    run(widget(at.selectbox, "Scheduler").set_value("ExponentialLR"))
    assert at.metric[-1].value == f"{0.1 * 0.97 ** 99:.4g}"  # gamma 0.97 from 0.1, at step 99
    before = images(at)
    run(widget(at.toggle, "Overlay the others").set_value(True))
    assert images(at) != before and at.metric[-1].value == f"{0.1 * 0.97 ** 99:.4g}"


def test_normalization_layers_zero_their_groups():
    at = open_page("normalization")
    before = images(at)
    assert max(column(at, 0, "largest |mean| of a group")) < 1e-4
    run(widget(at.select_slider, "GroupNorm groups G").set_value(3))
    assert images(at) != before
    assert column(at, 0, "groups")[3] == 4 * 3


def test_losses_value_and_gradient():
    at = open_page("losses")
    assert column(at, 0, "gradient at 0")[0] == pytest.approx(-1.0)  # MSE at 0, target 0.5: 2 (0 - 0.5)
    before = images(at)
    run(widget(at.selectbox, "Task").set_value("Binary classification"))
    assert images(at) != before
    # BCE with logits at z = 0, target 1: -log σ(0) = log 2, gradient σ(0) - 1 = -0.5
    assert column(at, 0, "loss")[0] == "BCEWithLogitsLoss"
    assert column(at, 0, "value at 0")[0] == pytest.approx(round(np.log(2), 4))
    assert column(at, 0, "gradient at 0")[0] == pytest.approx(-0.5)
    run(widget(at.selectbox, "Task").set_value("Multi-class (3 classes)"))
    # cross-entropy of logits (0, 0, 0) for class 0: log 3, gradient softmax - one-hot = 1/3 - 1
    assert column(at, 0, "loss")[0] == "CrossEntropyLoss"
    assert column(at, 0, "value at 0")[0] == pytest.approx(round(np.log(3), 4))
    assert column(at, 0, "gradient at 0")[0] == pytest.approx(round(-2 / 3, 4))


def test_augmentation_reseeds_and_can_do_nothing():
    at = open_page("augmentation")
    after = images(at)[1]
    run(widget(at.button, "Reseed").click())
    assert images(at)[1] != after and widget(at.number_input, "Seed").value == 1
    transforms = "Transforms, applied in this order (Mixup/CutMix last, on the batch)"
    run(widget(at.multiselect, transforms).set_value(["CutMix"]))
    assert at.code[0].value.startswith("CutMix(")
    assert any(r"\mathrm{Beta}" in latex.value for latex in at.latex)  # the Mixup/CutMix math
    run(widget(at.multiselect, transforms).set_value([]))
    assert images(at)[0] == images(at)[1]  # no transform: "after" is the very same figure as "before"


def test_train_one_epoch_on_iris_and_download_the_checkpoint(tmp_path):
    at = open_page("train")
    assert widget(at.button, "Stop").disabled
    widget(at.number_input, "Epochs").set_value(1)
    run(widget(at.button, "Train").click())
    assert at.success[0].value == "Trained 1 epoch."
    assert {"Dataset", "Model", "Optimizer", "Scheduler"} <= {w.label for w in at.selectbox}
    assert len(images(at)) == 1  # the confusion matrix
    wrong = int(widget(at.metric, "Wrong predictions").value.split(" / ")[0])
    if wrong:  # iris has no images: the wrong predictions are a table
        assert list(at.dataframe[-1].value.columns) == ["test row", "true", "predicted", "confidence"]
        assert len(at.dataframe[-1].value) == min(wrong, 16)
    assert at.get("download_button")
    job = at.session_state["train_job"]
    path = tmp_path / "model.npz"
    path.write_bytes(job.result["checkpoint"])
    model, meta = nyang.load_model(path, with_metadata=True)
    assert meta["classes"] == job.splits.classes
    x, y = job.splits.test.tensors
    predicted = nyang.predict(model, x, progress=False).classes
    assert (predicted == job.result["prediction"].classes).all()
    # the page's scores are those of the checkpoint's predictions against the test labels
    right = int((predicted == y).sum())
    assert widget(at.metric, "Test accuracy").value == f"{right / len(y):.3f}"
    assert widget(at.metric, "Wrong predictions").value == f"{len(y) - right} / {len(y)}"
    cm = job.result["confusion"]
    assert cm.sum() == len(y) and np.trace(cm) == right


def test_train_stop_flag_stops_the_trainer():
    at = open_page("train")
    at.session_state["train_stop_requested"] = True  # what the Stop button's callback sets
    widget(at.selectbox, "Dataset").set_value("digits")
    run(widget(at.button, "Train").click())
    assert "Stopped after 0 of 20 epochs" in at.warning[0].value
    assert at.session_state["train_stop_requested"] is False


def test_compare_page_runs_a_small_comparison():
    at = open_page("compare")
    assert at.header[0].value == "Training side by side"

    def compare_tables():
        return [d.value for d in at.dataframe if "nyang / PyTorch" in d.value.columns]

    from_files = len(compare_tables())
    pytest.importorskip("torch")
    widget(at.number_input, "Epochs").set_value(1)
    run(widget(at.button, "Run").click())
    assert len(compare_tables()) == from_files + 1
    accuracy = compare_tables()[-1].set_index("").loc["test accuracy"]  # the run's table comes after the files'
    assert accuracy["nyang"] == pytest.approx(accuracy["PyTorch"], abs=0.05)


def test_only_the_compare_page_imports_torch():
    """Every other page computes with nyang alone (run in a fresh Python: this one has torch)."""
    pages = sorted(p.stem for p in (DOCS / "topics").glob("*.py") if p.stem != "compare")
    script = ("import sys; sys.path.insert(0, {docs!r})\n"
              "from streamlit.testing.v1 import AppTest\n"
              "for page in {pages!r}:\n"
              "    at = AppTest.from_file({app!r}, default_timeout=120).run()\n"
              "    at.switch_page('topics/' + page + '.py'); at.run()\n"
              "    assert not at.exception, (page, [e.value for e in at.exception])\n"
              "    assert 'torch' not in sys.modules, page\n"
              "print('ok')").format(docs=str(DOCS), pages=pages, app=str(DOCS / "app.py"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stdout[-2000:] + result.stderr[-3000:]


# ------------------------------------------------------------------ helpers
def test_api_index_lists_every_public_name_once():
    from nyangdocs import apiref

    entries = apiref.build_index()
    names = [e["qualname"] for e in entries]
    assert len(names) == len(set(names))
    by_name = {e["qualname"]: e for e in entries}
    assert "nyang.functional.relu" in by_name and "nyang.relu" in by_name["nyang.functional.relu"]["also"]
    assert "nyang.nn.Linear" in by_name and "nyang.training.fit" in by_name and "nyang.Tensor" in by_name
    for name in nyang.optim.__all__:
        if name != "lr_scheduler":
            assert f"nyang.optim.{name}" in by_name
    assert "(*, in_features)" in by_name["nyang.nn.Linear"]["shapes"]
    assert {"nyang.amp.autocast", "nyang.amp.GradScaler", "nyang.autograd.Function"} <= set(by_name)
    # every public class and function any importable module defines is there under some name
    indexed = {id(getattr(importlib.import_module(e["module"]), e["name"])) for e in entries}
    for module in apiref.public_modules():
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and not name.startswith("_") \
                    and obj.__module__ == module.__name__:
                assert id(obj) in indexed, f"{module.__name__}.{name} is missing from the API reference"
    assert [e["name"] for e in apiref.search(entries, "adamw")][:1] == ["AdamW"]


def test_docstrings_become_markdown():
    from nyangdocs import apiref

    text = apiref.to_markdown("Use :class:`~nyang.nn.Linear` on (*, F)::\n\n    y = f(x)\n\nthen ``z``.\n\n>>> 1 + 1")
    assert text == ("Use `nyang.nn.Linear` on (\\*, F):\n```python\ny = f(x)\n\n```\nthen `z`.\n\n"
                    "```python\n>>> 1 + 1\n```")
    assert apiref.shapes("x (N, C, H, W), max(0, 1 - v) and (2, 3)") == ["(N, C, H, W)"]


def test_result_files_become_tables(tmp_path):
    from nyangdocs import results

    report = {"environment": {"cpus": 2}, "models": [{"workload": "mlp", "train ratio": 1.5}],
              "layers": [{"layer": "conv", "fwd ratio": 2.0}]}
    assert set(results.tables(report)) == {"models", "layers"}
    (tmp_path / "bench_x.json").write_text("{}")
    (tmp_path / "runs" / "compare-iris-mlp").mkdir(parents=True)
    (tmp_path / "runs" / "compare-iris-mlp" / "compare.json").write_text("{}")
    assert [p.name for p in results.find("bench", tmp_path)] == ["bench_x.json"]
    assert len(results.find("compare", tmp_path)) == 1
    table = results.compare_table({"nyang": {"acc": 0.9, "only": 1}, "torch": {"acc": 0.8}, "ratio": {"acc": 1.125}})
    assert table.to_dict("records") == [{"": "acc", "nyang": 0.9, "PyTorch": 0.8, "nyang / PyTorch": 1.125}]
