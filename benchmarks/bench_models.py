"""Whole models, nyang vs PyTorch: a train step (forward, cross-entropy, backward, SGD
momentum step) and inference (eval mode, no_grad forward) of an MLP 784-256-128-10
(batch 128), LeNet-5 on 1x28x28 (batch 64) and VGG-small on 3x32x32 (batch 64), plus
per-layer forward and backward times of VGG-small.

Run: ``make bench`` (or ``python -m benchmarks.bench_models [--steps 20]``); writes
``bench.json`` and ``bench.md``. Each workload runs in a subprocess of its own, where
the PyTorch model is ``to_torch`` of the nyang one. Figures are medians after warm-up.
GFLOP counts only the multiply-adds of Conv2d and Linear: 2 FLOPs each forward, 3x
that for a train step (the backward computes two products per forward product).

Interleaving: the two frameworks take turns in blocks of steps, each after a pause
(``benchmarks.harness.in_turns``, whose notes say why not single steps).

Memory: two more subprocesses per workload, nyang alone and PyTorch alone, run the
same steps and report their peak RSS (and their medians, as "alone", a check on the
interleaved figures).

The floor: the MLP also runs as plain NumPy (``benchmarks.numpy_mlp``), a third side in
the same turns, so the table shows how much of nyang's time is NumPy's own and how much
is the framework's.
"""
import argparse
import json
import subprocess
import sys
import time

import numpy as np

from benchmarks.harness import (BLOCK, MIN_SECONDS, PAUSE, environment, in_turns, markdown_table, step_timer, steps_for,
                                write_report)

WORKLOADS = {  # name: (label, builder arguments, input shape without the batch, batch)
    "mlp": ("MLP 784-256-128-10", ("mlp", 784, 10, (256, 128)), (784,), 128),
    "lenet": ("LeNet-5, 1x28x28", ("lenet", 1, 10, 28), (1, 28, 28), 64),
    "vgg-small": ("VGG-small + BN, 3x32x32", ("vgg_small", 3, 10, 32), (3, 32, 32), 64),
}
LAYERS_OF = "vgg-small"
FLOOR_OF = "mlp"  # the workload that also runs as plain NumPy


def build(name):
    """The nyang model of workload ``name`` (seeded)."""
    import nyang

    nyang.manual_seed(0)
    builder, *args = WORKLOADS[name][1]
    if builder == "mlp":
        return nyang.models.mlp(args[0], args[1], hidden=args[2])
    return getattr(nyang.models, builder)(*args)


def forward_macs(model, sample_shape):
    """Multiply-accumulates of one forward pass of one sample through the Conv2d and
    Linear layers of a Sequential ``model`` (nested Sequentials included)."""
    import nyang
    from nyang import nn

    def walk(module, x):
        macs = 0
        for layer in module.children():
            if isinstance(layer, nn.Sequential):
                count, x = walk(layer, x)
                macs += count
                continue
            out = layer(x)
            if isinstance(layer, nn.Conv2d):
                kh, kw = layer.kernel_size
                macs += out.numel() * (layer.in_channels // layer.groups) * kh * kw
            elif isinstance(layer, nn.Linear):
                macs += out.numel() * layer.in_features
            x = out
        return macs, x

    was_training = model.training
    model.eval()
    with nyang.no_grad():
        macs, _ = walk(model, nyang.zeros(1, *sample_shape))
    model.train(was_training)
    return macs


def _data(name, batch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *WORKLOADS[name][2])).astype(np.float32)
    return x, rng.integers(0, 10, batch)


def _cases(fw, model, x, y):
    """``{"train": step, "infer": step}`` closures for ``model`` in framework ``fw``, the
    ``nyang`` or the ``torch`` module (every name used here is the same in both)."""
    optimizer = fw.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn, xs, ys = fw.nn.CrossEntropyLoss(), fw.from_numpy(x), fw.from_numpy(y)

    def train():
        optimizer.zero_grad()
        loss_fn(model(xs), ys).backward()
        optimizer.step()

    def infer():
        with fw.no_grad():
            model(xs)

    return {"train": train, "infer": infer}


def _timed(modes, cases, steps, warmup, pause=PAUSE, min_seconds=MIN_SECONDS):
    """Median seconds of each side's train step and inference, with the models (whose
    ``train(mode)`` methods are ``modes``) in train and eval mode, over at least ``steps``
    steps and ``min_seconds`` per side (``steps_for``); ``result["steps"]`` says how many."""
    result = {"steps": {}}
    for mode in ("train", "infer"):
        for set_mode in modes:
            set_mode(mode == "train")
        timers = {side: step_timer(fns[mode]) for side, fns in cases.items()}
        result["steps"][mode] = steps_for(timers, steps, min_seconds)
        medians = in_turns(timers, result["steps"][mode], warmup, pause=pause)
        result[mode] = {side: m["step"] for side, m in medians.items()}
    return result


def _layer_times(model, twin, x, steps, warmup, pause=PAUSE):
    """Median forward and backward ms of each layer of ``model`` and its twin on the
    activations of ``x``, in turns; the first layer gets no input gradient, as in training.

    Each side gets its inputs in the memory layout its own model hands the layer: nyang's
    convolutions and batch norms return channels-last arrays behind the (N, C, H, W)
    shape, PyTorch's contiguous NCHW. nyang's upstream gradient takes the layout of the
    layer's output (as the layer above's backward returns it); PyTorch's is contiguous."""
    import nyang
    import torch

    inputs, outputs = [], []
    with nyang.no_grad():
        h = nyang.tensor(x)
        for layer in model:
            inputs.append(h.numpy().copy(order="K"))  # keeps nyang's memory layout
            h = layer(h)
            outputs.append(h.numpy())
    rows = []
    for i, (ours, theirs) in enumerate(zip(model, twin)):
        g = np.random.default_rng(i).standard_normal(outputs[i].shape).astype(np.float32)
        g_ours = np.empty_like(outputs[i])  # the output's layout (empty_like keeps it)
        g_ours[...] = g
        cases = {"nyang": _layer_step(ours, nyang.tensor(inputs[i], requires_grad=i > 0), nyang.tensor(g_ours)),
                 "torch": _layer_step(theirs, torch.tensor(np.ascontiguousarray(inputs[i]), requires_grad=i > 0),
                                      torch.from_numpy(g))}
        medians = in_turns(cases, steps, warmup, pause=pause)
        med = {side: {phase: t * 1e3 for phase, t in m.items()} for side, m in medians.items()}
        rows.append({"layer": f"{i}: {type(ours).__name__}", "shape in": "x".join(map(str, inputs[i].shape[1:])),
                     "nyang fwd ms": med["nyang"]["forward"], "torch fwd ms": med["torch"]["forward"],
                     "fwd ratio": med["nyang"]["forward"] / med["torch"]["forward"],
                     "nyang bwd ms": med["nyang"]["backward"], "torch bwd ms": med["torch"]["backward"],
                     "bwd ratio": med["nyang"]["backward"] / med["torch"]["backward"]})
    return rows


def _layer_step(layer, x, grad):
    """A step timing one forward and one backward of ``layer`` (gradients reset first)."""
    def step():
        x.grad = None
        for p in layer.parameters():
            p.grad = None
        start = time.perf_counter()
        out = layer(x)
        middle = time.perf_counter()
        out.backward(grad)
        return {"forward": middle - start, "backward": time.perf_counter() - middle}
    return step


def run_workload(name, steps, warmup, batch, pause=PAUSE, min_seconds=MIN_SECONDS):
    """Medians (seconds, in turns) of train step and inference of both frameworks,
    and for VGG-small the per-layer rows."""
    import nyang
    import torch
    from nyang.torch_bridge import to_torch

    model = build(name)
    twin = to_torch(model)
    x, y = _data(name, batch)
    cases = {"nyang": _cases(nyang, model, x, y), "torch": _cases(torch, twin, x, y)}
    if name == FLOOR_OF:
        from benchmarks.numpy_mlp import numpy_cases

        cases["numpy"] = numpy_cases(model, x, y)
    result = {"seconds": _timed((model.train, twin.train), cases, steps, warmup, pause, min_seconds)}
    if name == LAYERS_OF:
        model.train(), twin.train()
        result["layers"] = _layer_times(model, twin, x, steps, warmup, pause)
    return result


def run_alone(name, side, steps, warmup, batch, min_seconds=MIN_SECONDS):
    """Medians of train step and inference of one framework alone, and its peak RSS
    (MB) with the RSS once the libraries, model and data were loaded."""
    import importlib

    from nyang.compare import peak_rss_mb

    model = build(name)
    x, y = _data(name, batch)
    if side == "torch":
        from nyang.torch_bridge import to_torch

        model = to_torch(model)
    cases = {side: _cases(importlib.import_module(side), model, x, y)}
    baseline = peak_rss_mb()
    seconds = _timed((model.train,), cases, steps, warmup, min_seconds=min_seconds)
    return {"seconds": {mode: seconds[mode][side] for mode in ("train", "infer")}, "peak_rss_mb": peak_rss_mb(),
            "loaded_rss_mb": baseline}


def _child(*args):
    """Run ``python -m benchmarks.bench_models --child ...`` and return its JSON answer."""
    command = [sys.executable, "-m", "benchmarks.bench_models", "--child", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _blas_threads():
    """{library: threads} of the BLAS/OpenMP pools loaded here (threadpoolctl), or None."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return {p["internal_api"]: p["num_threads"] for p in threadpool_info()}


def measure(name, steps, warmup, batch, pause=PAUSE, min_seconds=MIN_SECONDS):
    """One row of the model table (and the layer rows) for workload ``name``."""
    label, _, shape, default_batch = WORKLOADS[name]
    batch = batch or default_batch
    gflop = 6 * forward_macs(build(name), shape) * batch / 1e9
    both = _child("both", name, steps, warmup, batch, pause, min_seconds)
    alone = {side: _child(side, name, steps, warmup, batch, pause, min_seconds) for side in ("nyang", "torch")}
    ours, theirs = both["seconds"]["train"]["nyang"], both["seconds"]["train"]["torch"]
    infer_ours, infer_theirs = both["seconds"]["infer"]["nyang"], both["seconds"]["infer"]["torch"]
    row = {
        "workload": label, "batch": batch, "GFLOP/step": gflop,
        "train steps": both["seconds"]["steps"]["train"], "infer steps": both["seconds"]["steps"]["infer"],
        "nyang train ms": ours * 1e3, "torch train ms": theirs * 1e3, "train ratio": ours / theirs,
        "nyang samples/s": batch / ours, "torch samples/s": batch / theirs,
        "nyang GFLOP/s": gflop / ours, "torch GFLOP/s": gflop / theirs,
        "nyang infer ms": infer_ours * 1e3, "torch infer ms": infer_theirs * 1e3,
        "infer ratio": infer_ours / infer_theirs,
        "nyang infer samples/s": batch / infer_ours, "torch infer samples/s": batch / infer_theirs,
        "nyang infer GFLOP/s": gflop / 3 / infer_ours, "torch infer GFLOP/s": gflop / 3 / infer_theirs,
        "nyang peak RSS MB": alone["nyang"]["peak_rss_mb"], "torch peak RSS MB": alone["torch"]["peak_rss_mb"],
        "RSS ratio": alone["nyang"]["peak_rss_mb"] / alone["torch"]["peak_rss_mb"],
        "nyang loaded RSS MB": alone["nyang"]["loaded_rss_mb"], "torch loaded RSS MB": alone["torch"]["loaded_rss_mb"],
        "nyang alone train ms": alone["nyang"]["seconds"]["train"] * 1e3,
        "torch alone train ms": alone["torch"]["seconds"]["train"] * 1e3,
        "alone train ratio": alone["nyang"]["seconds"]["train"] / alone["torch"]["seconds"]["train"],
        "alone infer ratio": alone["nyang"]["seconds"]["infer"] / alone["torch"]["seconds"]["infer"],
    }
    floor = both["seconds"]["train"].get("numpy")
    if floor is not None:
        infer_floor = both["seconds"]["infer"]["numpy"]
        row.update({
            "numpy train ms": floor * 1e3, "numpy / torch train": floor / theirs, "nyang / numpy train": ours / floor,
            "numpy infer ms": infer_floor * 1e3, "numpy / torch infer": infer_floor / infer_theirs,
            "nyang / numpy infer": infer_ours / infer_floor,
        })
    return row, both.get("layers")


TIME_COLUMNS = ["workload", "batch", "GFLOP/step", "train steps", "nyang train ms", "torch train ms", "train ratio",
                "nyang GFLOP/s", "torch GFLOP/s", "nyang samples/s", "torch samples/s"]
INFER_COLUMNS = ["workload", "batch", "infer steps", "nyang infer ms", "torch infer ms", "infer ratio",
                 "nyang infer GFLOP/s", "torch infer GFLOP/s", "nyang infer samples/s", "torch infer samples/s"]
MEMORY_COLUMNS = ["workload", "nyang peak RSS MB", "torch peak RSS MB", "RSS ratio", "nyang loaded RSS MB",
                  "torch loaded RSS MB", "nyang alone train ms", "torch alone train ms", "alone train ratio",
                  "alone infer ratio"]
FLOOR_COLUMNS = ["workload", "numpy train ms", "nyang train ms", "torch train ms", "numpy / torch train",
                 "nyang / numpy train", "numpy infer ms", "numpy / torch infer", "nyang / numpy infer"]
LAYER_COLUMNS = ["layer", "shape in", "nyang fwd ms", "torch fwd ms", "fwd ratio", "nyang bwd ms", "torch bwd ms",
                 "bwd ratio"]


def main(steps=20, warmup=3, workloads=tuple(WORKLOADS), batch=None, prefix="bench", pause=PAUSE,
         min_seconds=MIN_SECONDS):
    """Measure ``workloads``, print the tables and write ``<prefix>.json`` and ``<prefix>.md``."""
    env = {**environment(), "blas_threads": _blas_threads()}
    print(f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}  OMP_NUM_THREADS={env['OMP_NUM_THREADS']}  "
          f"torch threads={env.get('torch_threads')}  BLAS threads={env['blas_threads']}  cpus={env['cpus']}",
          flush=True)
    rows, layers = [], None
    for name in workloads:
        row, layer_rows = measure(name, steps, warmup, batch, pause, min_seconds)
        rows.append(row)
        layers = layer_rows or layers
        print(f"{row['workload']:26s} train nyang {row['nyang train ms']:8.2f} ms  torch "
              f"{row['torch train ms']:8.2f} ms  ratio {row['train ratio']:.2f}   infer ratio {row['infer ratio']:.2f}"
              + (f"   plain NumPy {row['numpy train ms']:.2f} ms ({row['numpy / torch train']:.2f} of torch)"
                 if "numpy train ms" in row else ""), flush=True)
    note = (f"Median of at least {steps} steps after {warmup} warm-up (more where {min_seconds} s per side "
            f"needs them: the steps columns), nyang and PyTorch taking turns in blocks of "
            f"{min(BLOCK, steps)} steps; train step = forward + cross-entropy + "
            f"backward + SGD momentum; infer = eval-mode no_grad forward. Peak RSS (VmHWM) and the 'alone' times "
            f"come from separate nyang-only and PyTorch-only processes running the same steps (the PyTorch "
            f"process imports nyang to build the model); 'loaded' is the RSS before the first step.")
    parts = [markdown_table(rows, TIME_COLUMNS), markdown_table(rows, INFER_COLUMNS),
             markdown_table(rows, MEMORY_COLUMNS)]
    floors = [row for row in rows if "numpy train ms" in row]
    if floors:
        parts.append("Plain NumPy, the same model, data and recipe (`benchmarks/numpy_mlp.py`), in the same turns:\n\n"
                     + markdown_table(floors, FLOOR_COLUMNS))
    if layers:
        parts.append(f"Per layer, {WORKLOADS[LAYERS_OF][0]} (train mode):\n\n" + markdown_table(layers, LAYER_COLUMNS))
    text = "\n\n".join(parts) + "\n\n" + note
    print("\n" + text)
    write_report(prefix, {"environment": env, "steps": steps, "warmup": warmup, "models": rows, "layers": layers},
                 text)
    return rows, layers


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per case (median)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--batch", type=int, default=None, help="override every workload's batch (tests)")
    parser.add_argument("--prefix", default="bench", help="write PREFIX.json and PREFIX.md")
    parser.add_argument("--pause", type=float, default=PAUSE, help="seconds before each turn (0 in tests)")
    parser.add_argument("--min-seconds", type=float, default=MIN_SECONDS,
                        help="timed seconds per side at least: more steps for fast workloads (0 in tests)")
    parser.add_argument("--child", nargs=7, metavar=("SIDE", "WORKLOAD", "STEPS", "WARMUP", "BATCH", "PAUSE", "MIN"),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _parse(sys.argv[1:])
    if args.child:
        side, name, steps, warmup, batch, pause, min_seconds = args.child
        numbers = int(steps), int(warmup), int(batch)
        print(json.dumps(run_workload(name, *numbers, float(pause), float(min_seconds)) if side == "both"
                         else run_alone(name, side, *numbers, float(min_seconds))))
    else:
        main(args.steps, args.warmup, args.workloads, args.batch, args.prefix, args.pause, args.min_seconds)
