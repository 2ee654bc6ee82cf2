"""``nyang compare``: train one model in nyang and in PyTorch side by side.

Both frameworks start from the same weights (the PyTorch model is
``nyang.torch_bridge.to_torch`` of the nyang one), see the same batches in the same
order (one nyang DataLoader; each batch is handed to PyTorch as torch tensors over
the same memory), and use the same optimizer, scheduler, loss, epochs and early
stopping, each on its own validation loss. The two take turns epoch by epoch (the
loader replays each epoch for the second one, and the first alternates), so drift in
machine load hits both alike. Not step by step: after each NumPy call, OpenBLAS's
worker thread spins for about 0.1 s, taking a core from PyTorch's threads, and
alternating single steps made PyTorch's steps up to 2x slower on a 2-core machine;
each turn starts after a pause of ``SETTLE_SECONDS`` that lets that thread sleep.
Both are scored like ``nyang train``: on the test split, with the weights of the
epoch with the lowest validation loss.

Dropout draws its own masks in each framework, so with dropout the two loss curves
differ by that noise; the built-in models compare without dropout (vgg-small is
built with dropout 0 here).

Memory: the peak resident memory of one process cannot be split between two
frameworks, so each side is run again alone, in a fresh subprocess, for one epoch
(forward, backward, step and validation) of the same workload; we report its peak
RSS and how much it grew during training (peak minus the RSS once the libraries,
data and model were loaded). The PyTorch process also imports nyang (about 14 MB)
to load the data and build the twin.
"""
import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from nyang.torch_bridge import import_torch, to_torch, to_torch_optimizer, to_torch_scheduler

SETTLE_SECONDS = 0.15
ROWS = (("final train loss", "train_loss"), ("test accuracy", "test_accuracy"), ("test macro F1", "test_f1"),
        ("best epoch", "best_epoch"), ("train seconds / epoch", "seconds_per_epoch"),
        ("train samples / s", "samples_per_second"), ("peak RSS (MB)", "peak_rss_mb"),
        ("RSS growth in training (MB)", "rss_growth_mb"))


def peak_rss_mb():
    """This process's peak resident memory so far, in MB: VmHWM from /proc (reset by exec,
    unlike ru_maxrss, which a child started by fork + exec inherits from its parent),
    or ru_maxrss where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Side:
    """One framework's model, optimizer and scheduler, stepped one batch at a time."""

    def __init__(self, name, model, optimizer, scheduler, interval, loss_fn, grad_clip):
        self.name, self.model, self.optimizer, self.loss_fn = name, model, optimizer, loss_fn
        self.scheduler, self.interval, self.grad_clip = scheduler, interval, grad_clip
        self.losses, self.seconds, self.samples, self.epoch_seconds = [], 0.0, 0, []
        self.epoch_losses, self.best, self.best_epoch, self.best_state, self.wait = [], None, None, None, 0
        self.stopped = False

    def train_step(self, x, y, x_torch, y_torch):
        """One timed training step on a batch given in both frameworks; records and returns its loss."""
        start = time.perf_counter()
        value = self._step(x, y, x_torch, y_torch)
        self.seconds += time.perf_counter() - start
        self.samples += x.shape[0]
        self.losses.append(value)
        self.epoch_losses.append((value, x.shape[0]))
        return value

    def end_epoch(self, epoch, valid_loss, patience):
        """Mean train loss of the epoch; step an epoch scheduler, keep the best weights, stop early."""
        from nyang.callbacks import improved

        train_loss = sum(v * n for v, n in self.epoch_losses) / sum(n for _, n in self.epoch_losses)
        self.epoch_losses = []
        self.epoch_seconds.append(self.seconds - sum(self.epoch_seconds))
        if self.scheduler is not None and self.interval == "epoch":
            if type(self.scheduler).__name__ == "ReduceLROnPlateau":
                self.scheduler.step(valid_loss)
            else:
                self.scheduler.step()
        if improved(valid_loss, self.best, "min"):
            self.best, self.best_epoch, self.best_state, self.wait = valid_loss, epoch, self._state(), 0
        else:
            self.wait += 1
            self.stopped = patience is not None and self.wait >= patience
        return train_loss

    def restore_best(self):
        """Load the weights of the epoch with the lowest validation loss."""
        self.model.load_state_dict(self.best_state)

    def evaluate(self, batches):
        """(mean loss, predicted classes) over ``batches`` of (x, y, x_torch, y_torch), in eval mode."""
        self.model.eval()
        loss_sum, count, preds = 0.0, 0, []
        for batch in batches:
            loss, logits = self._eval_batch(*batch)
            loss_sum, count = loss_sum + loss * logits.shape[0], count + logits.shape[0]
            preds.append(logits.argmax(axis=1))
        self.model.train()
        return loss_sum / count, np.concatenate(preds)


class _NyangSide(_Side):
    def _step(self, x, y, _, __):
        from nyang.nn.utils import clip_grad_norm_

        loss = self.loss_fn(self.model(x), y)
        value = float(loss.item())
        self.optimizer.zero_grad()
        loss.backward()
        if self.grad_clip is not None:
            clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None and self.interval == "step":
            self.scheduler.step()
        return value

    def _eval_batch(self, x, y, _, __):
        from nyang.autograd import no_grad

        with no_grad():
            out = self.model(x)
            return float(self.loss_fn(out, y).item()), out.numpy()

    def _state(self):
        return {k: np.array(v.numpy()) for k, v in self.model.state_dict().items()}


class _TorchSide(_Side):
    def __init__(self, torch, *args):
        super().__init__(*args)
        self.torch = torch

    def _step(self, _, __, x, y):
        out = self.model(x)
        loss = self.loss_fn(out, y)
        value = float(loss.item())
        self.optimizer.zero_grad()
        loss.backward()
        if self.grad_clip is not None:
            self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None and self.interval == "step":
            self.scheduler.step()
        return value

    def _eval_batch(self, _, __, x, y):
        with self.torch.no_grad():
            out = self.model(x)
            return float(self.loss_fn(out, y).item()), out.numpy()

    def _state(self):
        return copy.deepcopy(self.model.state_dict())


def _with_torch(loader, torch):
    """Batches of ``loader`` as (x, y, x_torch, y_torch), the torch tensors sharing
    memory with the nyang ones (None without ``torch``)."""
    for x, y in loader:
        if torch is None:
            yield x, y, None, None
        else:
            yield x, y, torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy())


def _build_model(options, input_shape, num_classes):
    from nyang import models
    from nyang.cli import build_model

    if options["model"] == "vgg-small" and not options.get("layers"):
        c, h, _ = input_shape
        return models.vgg_small(c, num_classes, h, dropout=0.0)
    return build_model(options["model"], options.get("layers"), input_shape, num_classes)


def _setup(options, sides):
    """Data loaders and the ``sides`` ("nyang", "torch") of a comparison of ``options``."""
    import nyang
    from nyang import nn
    from nyang.cli import build_optimizer, build_scheduler, load_data

    torch = import_torch() if "torch" in sides else None
    nyang.manual_seed(options["seed"])
    if torch is not None:
        torch.manual_seed(options["seed"])
    train, valid, test, classes, input_shape = load_data(options["data"], options["batch_size"],
                                                         options["workers"], options["seed"], "cpu",
                                                         options["image_size"])
    model = _build_model(options, input_shape, len(classes))
    optimizer = build_optimizer(options["optimizer"], model.parameters(), options["lr"], options["weight_decay"])
    built = {}
    if torch is not None:  # the twin optimizer copies the groups before a scheduler changes them
        twin = to_torch(model)
        torch_optimizer = to_torch_optimizer(optimizer, model, twin)
    scheduler, interval = build_scheduler(options["scheduler"], optimizer, options["lr"], options["epochs"],
                                          len(train))
    if torch is not None:
        torch_scheduler = None if scheduler is None else to_torch_scheduler(scheduler, torch_optimizer)
        built["torch"] = _TorchSide(torch, "PyTorch", twin, torch_optimizer, torch_scheduler, interval,
                                    torch.nn.CrossEntropyLoss(label_smoothing=options["label_smoothing"]),
                                    options["grad_clip"])
    if "nyang" in sides:
        built["nyang"] = _NyangSide("nyang", model, optimizer, scheduler, interval,
                                    nn.CrossEntropyLoss(label_smoothing=options["label_smoothing"]),
                                    options["grad_clip"])
    return (train, valid, test), [built[s] for s in sides], torch


def _train(loaders, sides, torch, options, verbose):
    """Train ``sides`` epoch by epoch, taking turns (the first side alternates); each
    side replays the same epoch of the loader. Returns each side's per-epoch train losses."""
    train, valid, _ = loaders
    train_losses = {side.name: [] for side in sides}
    for epoch in range(1, options["epochs"] + 1):
        active = [side for side in sides if not side.stopped]
        if not active:
            break
        start = train.state_dict()
        for k, side in enumerate(active if epoch % 2 else active[::-1]):
            if k:
                train.load_state_dict(start)  # the same batches, in the same order
            if len(active) > 1:
                time.sleep(SETTLE_SECONDS)
            for batch in _with_torch(train, torch):
                side.train_step(*batch)
        valid_batches = list(_with_torch(valid, torch))
        parts = [f"epoch {epoch}/{options['epochs']}"]
        for side in active:
            valid_loss, _ = side.evaluate(valid_batches)
            train_losses[side.name].append(side.end_epoch(epoch, valid_loss, options["patience"]))
            parts.append(f"{side.name}: train_loss {train_losses[side.name][-1]:.4f} valid_loss {valid_loss:.4f}")
        if verbose:
            print("  ".join(parts), flush=True)
    return train_losses


def _scores(side, test_batches):
    from nyang import metrics

    side.restore_best()
    _, preds = side.evaluate(test_batches)
    y_true = np.concatenate([b[1].numpy() for b in test_batches])
    return {"test_accuracy": float(metrics.accuracy(y_true, preds)),
            "test_f1": float(metrics.f1_score(y_true, preds, average="macro")), "best_epoch": side.best_epoch}


def relative_differences(a, b):
    """|a - b| / |b| step by step over the steps both curves have."""
    n = min(len(a), len(b))
    a, b = np.asarray(a[:n], dtype=np.float64), np.asarray(b[:n], dtype=np.float64)
    return np.abs(a - b) / np.maximum(np.abs(b), np.finfo(np.float64).tiny)


def _probe_memory(options, side):
    """Peak RSS of ``side`` training one epoch alone in a fresh subprocess (see the module notes)."""
    probe = dict(options, epochs=1, patience=None)
    code = "import sys; from nyang.compare import _memory_probe; _memory_probe(sys.argv[1], sys.argv[2])"
    result = subprocess.run([sys.executable, "-c", code, side, json.dumps(probe)], capture_output=True,
                            text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"compare: the {side} memory run failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _memory_probe(side, options_json):
    """Entry point of the memory subprocess: print {"peak_rss_mb", "rss_growth_mb"} as JSON."""
    options = json.loads(options_json)
    loaders, (runner,), torch = _setup(options, (side,))
    baseline = peak_rss_mb()
    _train(loaders, [runner], torch, options, verbose=False)
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "rss_growth_mb": peak_rss_mb() - baseline}))


def _environment(torch):
    import platform

    import nyang

    return {"nyang": nyang.__version__, "numpy": np.__version__, "torch": torch.__version__,
            "python": platform.python_version(), "torch_threads": torch.get_num_threads(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}


def save_curves_png(nyang_losses, torch_losses, path, title):
    """Both per-step training-loss curves on the same axes, and their relative difference below."""
    from nyang.viz import _matplotlib

    figure_class, canvas_class = _matplotlib()
    figure = figure_class(figsize=(8, 6), dpi=100)
    canvas_class(figure)
    curves, diff = figure.add_subplot(2, 1, 1), figure.add_subplot(2, 1, 2)
    curves.plot(np.arange(1, len(nyang_losses) + 1), nyang_losses, label="nyang", linewidth=1.5)
    curves.plot(np.arange(1, len(torch_losses) + 1), torch_losses, label="PyTorch", linewidth=1, linestyle="--")
    curves.set(title=title, ylabel="training loss (per step)", yscale="log")
    curves.legend()
    rel = relative_differences(nyang_losses, torch_losses)
    steps = np.flatnonzero(rel) + 1  # steps where both agree exactly have no place on a log scale
    diff.scatter(steps, rel[steps - 1], s=3, color="tab:red")
    diff.set(xlabel="step", ylabel="|nyang - PyTorch| / |PyTorch|", yscale="log",
             title="relative difference (steps with none left out)")
    for axes in (curves, diff):
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png", facecolor="white")
    return path


def compare(data="digits", model="cnn", layers=None, optimizer="adam", lr=1e-3, weight_decay=0.0,
            scheduler="none", epochs=30, batch_size=32, label_smoothing=0.0, grad_clip=None, patience=None,
            seed=0, workers=0, image_size=None, out=None, memory=True, verbose=True):
    """Train ``model`` on ``data`` in nyang and in PyTorch side by side (see the module
    notes) and return the results also written to ``out/compare.json``, with
    ``out/loss_curves.png``. The arguments are those of ``nyang train``; ``layers`` is
    a config's ``[model] layers`` list; ``memory=False`` skips the memory subprocesses."""
    options = dict(data=data, model=model, layers=layers, optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                   scheduler=scheduler, epochs=epochs, batch_size=batch_size, label_smoothing=label_smoothing,
                   grad_clip=grad_clip, patience=patience, seed=seed, workers=workers, image_size=image_size)
    loaders, (ours, theirs), torch = _setup(options, ("nyang", "torch"))
    train_losses = _train(loaders, [ours, theirs], torch, options, verbose)
    test_batches = list(_with_torch(loaders[2], torch))
    results = {}
    for side in (ours, theirs):
        epochs_run = len(train_losses[side.name])
        results[side.name] = {"train_loss": train_losses[side.name][-1], **_scores(side, test_batches),
                              "epochs": epochs_run, "steps": len(side.losses),
                              "seconds_per_epoch": float(np.median(side.epoch_seconds)),
                              "samples_per_second": side.samples / epochs_run / np.median(side.epoch_seconds)}
    if memory:
        for side, key in ((ours, "nyang"), (theirs, "torch")):
            results[side.name].update(_probe_memory(options, key))
    rel = relative_differences(ours.losses, theirs.losses)
    report = {
        "options": options, "environment": _environment(torch),
        "nyang": results["nyang"], "torch": results["PyTorch"],
        "ratio": {key: results["nyang"][key] / results["PyTorch"][key] for _, key in ROWS
                  if key in results["nyang"] and key != "best_epoch" and results["PyTorch"][key]},
        "max_rel_diff_first_100": float(rel[:100].max()), "max_rel_diff": float(rel.max()),
        "max_rel_diff_step": int(rel.argmax()) + 1, "compared_steps": int(rel.size),
        "loss_curves": {"nyang": ours.losses, "torch": theirs.losses},
        "timing": "median over epochs of the time in train steps (forward, loss, backward, clip, optimizer and "
                  "scheduler step); the two sides take turns epoch by epoch on the same batches; data loading "
                  "and validation excluded",
        "memory": "each side alone in a fresh subprocess for one epoch: peak RSS (VmHWM) and its growth "
                  "during training; the PyTorch process also imports nyang" if memory else None,
    }
    out = out or os.path.join("runs", f"compare-{os.path.basename(os.path.normpath(data))}-{model}")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "compare.json"), "w") as f:
        json.dump(report, f, indent=2)
    try:
        save_curves_png(ours.losses, theirs.losses, os.path.join(out, "loss_curves.png"),
                        f"{model} on {os.path.basename(os.path.normpath(data))}: nyang vs PyTorch")
    except ImportError as exc:
        print(f"loss_curves.png not drawn ({exc})")
    if verbose:
        print(format_report(report, out))
    return report


def format_report(report, out):
    """The comparison table and curve differences as text."""
    lines = [f"\n{'':30s}{'nyang':>12s}{'PyTorch':>12s}{'nyang/PyTorch':>15s}"]
    for label, key in ROWS:
        if key not in report["nyang"]:
            continue
        a, b = report["nyang"][key], report["torch"][key]
        ratio = report["ratio"].get(key)
        lines.append(f"{label:30s}{a:>12.4g}{b:>12.4g}{'' if ratio is None else f'{ratio:15.3f}'}")
    lines.append(f"\nloss curves, largest |nyang - PyTorch| / |PyTorch| per step: "
                 f"{report['max_rel_diff_first_100']:.2e} over the first 100 steps, {report['max_rel_diff']:.2e} "
                 f"over all {report['compared_steps']} (at step {report['max_rel_diff_step']})")
    lines.append(f"timing: {report['timing']}")
    if report["memory"]:
        lines.append(f"memory: {report['memory']}")
    lines.append(f"files: {out}/compare.json, {out}/loss_curves.png")
    return "\n".join(lines)


def _run(args):
    if args.device != "cpu":
        raise ValueError(f"compare runs on the CPU (the PyTorch side is the CPU build), got device {args.device!r}")
    if args.resume:
        raise ValueError("compare does not resume a run; start it again")
    try:
        import_torch()
    except ImportError as exc:
        print(exc, file=sys.stderr)
        return 1
    compare(args.data, args.model, args.layers, args.optimizer, args.lr, args.weight_decay, args.scheduler,
            args.epochs, args.batch_size, args.label_smoothing, args.grad_clip, args.patience, args.seed,
            args.workers, args.image_size, args.out, memory=not args.no_memory)
    return 0


def add_compare_parser(sub):
    """Add the ``compare`` subcommand to the ``nyang`` parser's subparsers ``sub``."""
    from nyang.cli import DATASETS, recipe_options

    p = sub.add_parser("compare", help="train the same model in nyang and PyTorch and compare them",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default="digits", help=f"one of {', '.join(DATASETS)} or an image folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, default=None, help="resize image-folder images to this size")
    recipe_options(p, model_help="vgg-small is built without dropout here",
                   patience_help="early-stopping patience in epochs (each side)")
    p.add_argument("--out", help="output folder (default runs/compare-DATA-MODEL)")
    p.add_argument("--no-memory", action="store_true", help="skip the two memory subprocesses")
    # options of `nyang train` configs that compare accepts (device and resume are checked in _run)
    p.set_defaults(run=_run, layers=None, device="cpu", resume=None, no_progress=False)
    return p
