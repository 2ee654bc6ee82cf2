"""Per-layer forward + backward time, nyang vs PyTorch, for the VGG-style shapes
(batch 64, 3x32x32 -> 32 -> 64 channels). Run: ``make bench`` (or python -m
benchmarks.bench_layers [--steps 20]). Prints a table and writes bench_layers.json / .md."""
import argparse

import numpy as np

import nyang
from benchmarks.harness import environment, in_turns, markdown_table, step_timer, write_results


def layer_cases():
    """(name, nyang layer, torch layer, input shape) for each measured layer."""
    import torch

    n = nyang.nn
    return [
        ("Conv2d 3->32 3x3 @32", n.Conv2d(3, 32, 3, padding=1), torch.nn.Conv2d(3, 32, 3, padding=1), (64, 3, 32, 32)),
        ("Conv2d 32->32 3x3 @32", n.Conv2d(32, 32, 3, padding=1), torch.nn.Conv2d(32, 32, 3, padding=1),
         (64, 32, 32, 32)),
        ("Conv2d 32->64 3x3 @16", n.Conv2d(32, 64, 3, padding=1), torch.nn.Conv2d(32, 64, 3, padding=1),
         (64, 32, 16, 16)),
        ("Conv2d 64->64 3x3 @16", n.Conv2d(64, 64, 3, padding=1), torch.nn.Conv2d(64, 64, 3, padding=1),
         (64, 64, 16, 16)),
        ("MaxPool2d 2x2 @32", n.MaxPool2d(2), torch.nn.MaxPool2d(2), (64, 32, 32, 32)),
        ("MaxPool2d 2x2 @16", n.MaxPool2d(2), torch.nn.MaxPool2d(2), (64, 64, 16, 16)),
        ("BatchNorm2d 32 @32", n.BatchNorm2d(32), torch.nn.BatchNorm2d(32), (64, 32, 32, 32)),
        ("BatchNorm2d 64 @16", n.BatchNorm2d(64), torch.nn.BatchNorm2d(64), (64, 64, 16, 16)),
        ("ReLU @32", n.ReLU(), torch.nn.ReLU(), (64, 32, 32, 32)),
    ]


def forward_backward(layer, x, g):
    """A closure running one forward and backward of ``layer`` (grads reset first)."""
    def step():
        x.grad = None
        for p in layer.parameters():
            p.grad = None
        layer(x).backward(g)
    return step


def channels_last(a):
    """An (N, C, H, W) array with channels-last memory: the layout nyang's Conv2d and
    BatchNorm2d return, so the layers inside a network (all but the first convolution)
    get their inputs and gradients in it; PyTorch's get contiguous NCHW, as its own do."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def main(steps=20, prefix="bench_layers"):
    import torch

    rng = np.random.default_rng(0)
    rows = []
    for name, ours, theirs, shape in layer_cases():
        x = rng.standard_normal(shape).astype(np.float32)
        out_shape = tuple(theirs(torch.tensor(x)).shape)
        g = rng.standard_normal(out_shape).astype(np.float32)
        inside = shape[1] > 3  # else the first layer: image input, no input gradient (as in training)
        if inside:  # as nyang's convolutions hand it over (see channels_last)
            x, g = channels_last(x), channels_last(g)
        xn = nyang.tensor(x, requires_grad=inside)
        xt = torch.tensor(np.ascontiguousarray(x), requires_grad=inside)
        g_torch = np.ascontiguousarray(g)
        medians = in_turns({"nyang": step_timer(forward_backward(ours, xn, nyang.tensor(g))),
                            "torch": step_timer(forward_backward(theirs, xt, torch.tensor(g_torch)))}, steps=steps)
        times = {side: m["step"] for side, m in medians.items()}
        rows.append({"layer": name, "nyang ms": times["nyang"] * 1e3, "torch ms": times["torch"] * 1e3,
                     "ratio": times["nyang"] / times["torch"]})
        print(f"{name:26s} nyang {rows[-1]['nyang ms']:7.2f} ms  torch {rows[-1]['torch ms']:7.2f} ms  "
              f"ratio {rows[-1]['ratio']:.2f}", flush=True)
    table = markdown_table(rows, ["layer", "nyang ms", "torch ms", "ratio"])
    write_results(prefix, rows, table)
    print(f"\nforward + backward, median of {steps} steps taken in turns; {environment()}")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per layer and framework")
    parser.add_argument("--prefix", default="bench_layers", help="write <prefix>.json and <prefix>.md")
    args = parser.parse_args()
    main(args.steps, args.prefix)
