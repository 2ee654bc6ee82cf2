"""Train step and inference on the GPU: nyang on CuPy against PyTorch CUDA, in one run.

    make bench-gpu
    python -m benchmarks.bench_gpu [--steps 30] [--warmup 5] [--workloads mlp lenet vgg-64 vgg-256]

Workloads (float32, 10 classes, random data made on the GPU once, so no host copy is
timed):

    mlp       MLP 784-256-128-10 (nyang.models.mlp), batch 128
    lenet     LeNet-5 on 1x28x28 (nyang.models.lenet), batch 64
    vgg-64    VGG-small with BatchNorm on 3x32x32 (nyang.models.vgg_small), batch 64
    vgg-256   the same, batch 256

A train step is forward + cross-entropy + backward + SGD with momentum 0.9 (train
mode); inference is a forward pass under no_grad in eval mode. PyTorch runs the same
architectures (parameter counts are checked) in full float32: TF32 is switched off
for cuDNN convolutions and matmuls, as CuPy does not use it by default.

Timing: nyang and PyTorch steps alternate (``benchmarks.harness.interleaved``), each
step followed by a device-wide synchronize inside its timed region, so every timed
region starts with an idle GPU and ends when its work has finished; figures are medians
after warm-up (the warm-up also compiles nyang's CUDA kernels). Peak memory is
measured afterwards, in a separate pass of a few steps: nyang's as the peak of bytes
in use in CuPy's memory pool (a ``cupy.cuda.MemoryHook`` adding up mallocs and frees),
PyTorch's as ``torch.cuda.max_memory_allocated``; both count parameters, optimizer
state, inputs and every temporary, rounded up to the allocators' blocks.

Prints a table and writes bench_gpu.json / bench_gpu.md. Without a usable GPU it exits
at once with status 1 and says what is missing; without a CUDA build of PyTorch it
times nyang alone.
"""
import argparse
import math
import sys

import numpy as np

import nyang
from benchmarks.harness import environment, interleaved, markdown_table, write_results

WORKLOADS = {  # name -> (nyang model builder, input shape (C, H, W), batch)
    "mlp": (lambda: nyang.models.mlp(784, 10, hidden=(256, 128)), (1, 28, 28), 128),
    "lenet": (lambda: nyang.models.lenet(1, 10, 28), (1, 28, 28), 64),
    "vgg-64": (lambda: nyang.models.vgg_small(3, 10, 32), (3, 32, 32), 64),
    "vgg-256": (lambda: nyang.models.vgg_small(3, 10, 32), (3, 32, 32), 256),
}
LR, MOMENTUM, MEMORY_STEPS = 0.01, 0.9, 3


def require_gpu():
    """The CUDA device, or exit with status 1 and the reason there is none."""
    try:
        return nyang.device("cuda")
    except RuntimeError as exc:
        sys.exit(f"bench-gpu needs an NVIDIA GPU with CuPy (pip install nyang[cuda]); {exc}")


def torch_cuda():
    """The torch module when it has a usable CUDA build, else (None, why not)."""
    try:
        import torch
    except ImportError:
        return None, "PyTorch is not installed"
    if not torch.cuda.is_available():
        return None, f"PyTorch {torch.__version__} has no usable CUDA (torch.version.cuda={torch.version.cuda})"
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch, None


def torch_model(torch, name):
    """The PyTorch twin of ``WORKLOADS[name]``'s nyang model."""
    nn = torch.nn
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    if name == "lenet":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                             nn.Linear(84, 10))

    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(3, 32), *block(32, 64), nn.Flatten(), nn.Linear(64 * 8 * 8, 256), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(256, 10))


# ---------------------------------------------------------------- one side each


class NyangSide:
    """A nyang model, its optimizer and a batch, all on the GPU."""

    def __init__(self, name, device, x, y):
        import cupy

        build, _, _ = WORKLOADS[name]
        nyang.manual_seed(0)
        self.model = build().to(device)
        self.optimizer = nyang.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss = nyang.nn.CrossEntropyLoss()
        self.x = nyang.tensor(x, device=device)
        self.y = nyang.tensor(y, device=device)
        self.device = cupy.cuda.Device(device.index)

    def parameters(self):
        return sum(math.prod(p.shape) for p in self.model.parameters())

    def synchronize(self):
        self.device.synchronize()

    def train_step(self):
        self.optimizer.zero_grad()
        self.loss(self.model(self.x), self.y).backward()
        self.optimizer.step()
        self.synchronize()

    def infer_step(self):
        with nyang.no_grad():
            self.model(self.x)
        self.synchronize()

    def peak_bytes(self, step):
        """Peak bytes in use in CuPy's pool over ``MEMORY_STEPS`` calls of ``step``."""
        import cupy

        class Peak(cupy.cuda.MemoryHook):
            name = "nyang-peak"

            def __init__(self, start):
                self.now = self.peak = start

            def malloc_postprocess(self, **kwargs):
                self.now += kwargs["mem_size"]
                self.peak = max(self.peak, self.now)

            def free_postprocess(self, **kwargs):
                self.now -= kwargs["mem_size"]

        pool = cupy.get_default_memory_pool()
        self.synchronize()
        pool.free_all_blocks()
        hook = Peak(pool.used_bytes())
        with hook:
            for _ in range(MEMORY_STEPS):
                step()
        return hook.peak


class TorchSide:
    """The PyTorch twin, on the same GPU."""

    def __init__(self, torch, name, device_index, x, y):
        self.torch = torch
        torch.manual_seed(0)
        self.device = torch.device("cuda", device_index)
        self.model = torch_model(torch, name).to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss = torch.nn.CrossEntropyLoss()
        self.x = torch.from_numpy(x).to(self.device)
        self.y = torch.from_numpy(y).to(self.device)

    def parameters(self):
        return sum(p.numel() for p in self.model.parameters())

    def synchronize(self):
        self.torch.cuda.synchronize(self.device)

    def train_step(self):
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(self.model(self.x), self.y).backward()
        self.optimizer.step()
        self.synchronize()

    def infer_step(self):
        with self.torch.no_grad():
            self.model(self.x)
        self.synchronize()

    def peak_bytes(self, step):
        self.synchronize()
        self.torch.cuda.reset_peak_memory_stats(self.device)
        for _ in range(MEMORY_STEPS):
            step()
        return self.torch.cuda.max_memory_allocated(self.device)


# ---------------------------------------------------------------- the run


def measure(name, device, torch, steps, warmup):
    """Rows (train, inference) for workload ``name``."""
    _, shape, batch = WORKLOADS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + shape).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    sides = {"nyang": NyangSide(name, device, x, y)}
    if torch is not None:
        sides["torch"] = TorchSide(torch, name, device.index, x, y)
        counts = {side: s.parameters() for side, s in sides.items()}
        if counts["nyang"] != counts["torch"]:
            raise RuntimeError(f"{name}: the models differ: parameter counts {counts}")
    rows = []
    for mode in ("train", "infer"):
        for side in sides.values():
            side.model.train(mode == "train")
        steps_of = {side: getattr(s, f"{mode}_step") for side, s in sides.items()}
        times = interleaved(steps_of, steps=steps, warmup=warmup)
        peaks = {side: sides[side].peak_bytes(step) for side, step in steps_of.items()}
        row = {"workload": name, "batch": batch, "mode": mode}
        for side in sides:
            row[f"{side} ms"] = times[side] * 1e3
            row[f"{side} samples/s"] = batch / times[side]
            row[f"{side} peak MB"] = peaks[side] / 2 ** 20
        if torch is not None:
            row["ratio"] = times["nyang"] / times["torch"]
        rows.append(row)
        print("  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
              flush=True)
    return rows


def gpu_environment(device):
    """The GPU facts a reader needs to compare two runs."""
    import cupy

    properties = cupy.cuda.runtime.getDeviceProperties(device.index)
    name = properties["name"]
    return {"gpu": name.decode() if isinstance(name, bytes) else str(name),
            "compute_capability": f"{properties['major']}.{properties['minor']}",
            "multiprocessors": properties["multiProcessorCount"],
            "cupy": cupy.__version__, "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
            "cuda_driver": cupy.cuda.runtime.driverGetVersion()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per case (median taken)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (kernel compilation)")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    args = parser.parse_args(argv)

    device = require_gpu()
    torch, why_not = torch_cuda()
    if torch is None:
        print(f"timing nyang alone: {why_not}", flush=True)
    info = {**environment(), **gpu_environment(device)}
    if torch is not None:
        info.update(torch_cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(), tf32=False)
    print(info, flush=True)

    rows = []
    for name in args.workloads:
        rows += measure(name, device, torch, args.steps, args.warmup)
    sides = ["nyang"] + (["torch"] if torch is not None else [])
    columns = ["workload", "batch", "mode"] + [f"{s} ms" for s in sides] + (["ratio"] if torch else [])
    columns += [f"{s} samples/s" for s in sides] + [f"{s} peak MB" for s in sides]
    table = markdown_table(rows, columns)
    write_results("bench_gpu", {"rows": rows, "gpu": info}, table)
    print("\n" + table)
    print(f"\nmedian of {args.steps} interleaved steps after {args.warmup} warm-up; ratio = nyang ms / torch ms")
    return rows


if __name__ == "__main__":
    main()
