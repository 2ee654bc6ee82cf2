"""The training job behind "Train in the browser".

A :class:`Job` holds a nyang :class:`~nyang.training.Trainer` in ``st.session_state``
and :class:`LiveProgress`, the Callback that draws each epoch into Streamlit
placeholders and turns the page's stop flag into ``trainer.should_stop``.

Streamlit stops a running script when the user clicks a widget, at the script's next
Streamlit call. The callback makes its Streamlit calls only at the end of an epoch,
after the trainer has recorded it, so an interrupted run is always between two
epochs: the next script run calls ``trainer.run()`` again and it continues where
it was, or, after the Stop button set the flag, stops at once. With Streamlit's
``runner.fastReruns`` (on by default; ``make docs`` turns it off) the next script run
starts while the stopped one is still finishing its epoch, so :meth:`Job.run` takes
the job's lock first.
"""
import io
import os
import tempfile
import threading

import numpy as np
import pandas as pd
import streamlit as st

import nyang
from nyang import metrics, nn, optim
from nyang.callbacks import Callback
from nyang.data import datasets
from nyang.optim import lr_scheduler
from nyang.training import Trainer

STOP_KEY = "train_stop_requested"
DATASETS = {"iris": datasets.iris, "wine": datasets.wine, "breast_cancer": datasets.breast_cancer,
            "digits": datasets.digits}
MODELS = ("linear", "mlp", "cnn")
OPTIMIZERS = {
    "SGD": lambda p, lr: optim.SGD(p, lr=lr),
    "SGD + momentum": lambda p, lr: optim.SGD(p, lr=lr, momentum=0.9),
    "Adam": lambda p, lr: optim.Adam(p, lr=lr),
    "AdamW": lambda p, lr: optim.AdamW(p, lr=lr, weight_decay=1e-2),
    "RMSprop": lambda p, lr: optim.RMSprop(p, lr=lr),
    "Adagrad": lambda p, lr: optim.Adagrad(p, lr=lr),
}
# name: (build(optimizer, epochs, steps per epoch), interval)
SCHEDULERS = {
    "none": (lambda o, e, n: None, "epoch"),
    "StepLR": (lambda o, e, n: lr_scheduler.StepLR(o, step_size=max(e // 3, 1), gamma=0.3), "epoch"),
    "CosineAnnealingLR": (lambda o, e, n: lr_scheduler.CosineAnnealingLR(o, T_max=e), "epoch"),
    "OneCycleLR": (lambda o, e, n: lr_scheduler.OneCycleLR(o, max_lr=o.param_groups[0]["lr"], total_steps=e * n),
                   "step"),
}


@st.cache_resource
def load(dataset):
    """The seeded 70/15/15 split of a bundled dataset (tables standardized on the training split)."""
    return DATASETS[dataset]() if dataset == "digits" else DATASETS[dataset](scaler="standard")


def build_model(name, splits, hidden):
    """``linear``, ``mlp`` (one hidden layer of ``hidden`` units) or ``cnn`` (digits only)."""
    if name == "cnn":
        return nyang.models.small_cnn(in_channels=1, num_classes=splits.num_classes, input_size=8)
    if name == "mlp":
        return nyang.models.mlp(splits.num_features, splits.num_classes, hidden=(hidden,))
    return nn.Sequential(nn.Flatten(), nn.Linear(splits.num_features, splits.num_classes))


class View:
    """The placeholders one script run draws the training into."""

    def __init__(self):
        self.status = st.empty()
        self.progress = st.progress(0.0)
        left, right = st.columns(2)
        left.markdown("**Loss**")
        self.loss = left.empty()
        right.markdown("**Accuracy**")
        self.accuracy = right.empty()

    def draw(self, trainer):
        """The progress bar and the curves of ``trainer.history`` so far."""
        rows = trainer.history.rows
        self.progress.progress(trainer.epoch / trainer.epochs, text=f"epoch {trainer.epoch} / {trainer.epochs}")
        if not rows:
            return
        table = pd.DataFrame(rows).set_index("epoch")
        self.loss.line_chart(table[["train_loss", "valid_loss"]], x_label="epoch")
        self.accuracy.line_chart(table[["train_accuracy", "valid_accuracy"]], x_label="epoch")
        last = rows[-1]
        self.status.markdown(f"epoch {last['epoch']}: train loss {last['train_loss']:.4f}, valid accuracy "
                             f"{last['valid_accuracy']:.3f}, lr {last['lr']:.2e}, {last['seconds']:.2f} s")


class LiveProgress(Callback):
    """Draws each epoch into ``view`` (set anew by every script run) and stops the
    trainer when ``st.session_state[STOP_KEY]`` is set."""

    def __init__(self):
        self.view = None

    def on_fit_start(self, trainer):
        self._check_stop(trainer)

    def on_epoch_end(self, trainer, row):
        self._check_stop(trainer)
        self.view.draw(trainer)

    @staticmethod
    def _check_stop(trainer):
        if st.session_state.get(STOP_KEY):
            trainer.should_stop = True


class Job:
    """One training run from the page's settings (a dict: dataset, model, hidden,
    optimizer, lr, scheduler, epochs, batch_size, seed)."""

    def __init__(self, config):
        self.config = config
        nyang.manual_seed(config["seed"])
        self.splits = load(config["dataset"])
        train, valid, _ = self.splits.loaders(batch_size=config["batch_size"])
        self.model = build_model(config["model"], self.splits, config["hidden"])
        optimizer = OPTIMIZERS[config["optimizer"]](self.model.parameters(), config["lr"])
        build, interval = SCHEDULERS[config["scheduler"]]
        self.callback = LiveProgress()
        self.trainer = Trainer(self.model, optimizer, nn.CrossEntropyLoss(), train, valid, epochs=config["epochs"],
                               scheduler=build(optimizer, config["epochs"], len(train)), scheduler_interval=interval,
                               callbacks=[self.callback], progress=False, verbose=False,
                               classes=self.splits.classes)
        self.done, self.stopped, self.result = False, False, None
        self.lock = threading.Lock()

    def run(self, view):
        """Train (or continue) to the end or until stopped, drawing into ``view``, then
        score; a finished job only draws its curves."""
        with self.lock:
            self.callback.view = view
            if not self.done:
                self.trainer.run()
                self.done, self.stopped = True, self.trainer.should_stop
                st.session_state[STOP_KEY] = False
                self.result = self.score()
            view.draw(self.trainer)

    def score(self):
        """Test metrics, confusion matrix (and its picture), the wrong predictions and
        the checkpoint's bytes, all from one pass of the model over the test split."""
        y_true = self.splits.test.tensors[1]
        prediction = nyang.predict(self.model, self.splits.test, progress=False)
        scores = {"accuracy": float(metrics.accuracy(y_true, prediction.classes)),
                  "f1": float(metrics.f1_score(y_true, prediction.classes, average="macro"))}
        cm = np.asarray(metrics.confusion_matrix(y_true, prediction.classes, num_classes=self.splits.num_classes))
        return {"scores": scores, "confusion": cm, "confusion_png": confusion_png(cm, self.splits.classes),
                "wrong": np.flatnonzero(prediction.classes != y_true), "y_true": y_true,
                "prediction": prediction, "checkpoint": self.checkpoint()}

    def checkpoint(self):
        """The bytes of ``nyang.save_model``'s file for this model (with its classes and settings)."""
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.npz")
            nyang.save_model(self.model, path, metadata={"classes": self.splits.classes, "config": self.config})
            with open(path, "rb") as f:
                return f.read()


def confusion_png(cm, classes):
    """``nyang.viz.save_confusion_matrix`` drawn into PNG bytes."""
    buffer = io.BytesIO()
    nyang.viz.save_confusion_matrix(cm, buffer, class_names=classes)
    return buffer.getvalue()
