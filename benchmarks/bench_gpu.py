"""Train step and inference on the GPU: nyang on CuPy against PyTorch CUDA, in one run.

    make bench-gpu
    python -m benchmarks.bench_gpu [--steps 30] [--warmup 5] [--workloads mlp lenet vgg-64 vgg-256]
                                   [--amp | --no-amp] [--batch N] [--prefix bench_gpu] [--device cuda]

Workloads (10 classes, random data copied to the GPU once, before timing, so no host
copy is timed):

    mlp       MLP 784-256-128-10 (nyang.models.mlp), batch 128
    lenet     LeNet-5 on 1x28x28 (nyang.models.lenet), batch 64
    vgg-64    VGG-small with BatchNorm on 3x32x32 (nyang.models.vgg_small), batch 64
    vgg-256   the same, batch 256

Each workload runs in float32 and in mixed precision ("amp" rows, e.g. "vgg-64 amp"):
forward and loss under ``nyang.amp.autocast()`` with a ``nyang.amp.GradScaler`` for
backward and step (as ``nyang.training.fit(amp=True)`` does), against PyTorch's
``torch.autocast("cuda", dtype=torch.float16)`` with ``torch.amp.GradScaler("cuda")``;
amp inference is a forward under autocast. ``--no-amp`` runs float32 only, ``--amp``
amp only; the default runs both.

A train step is forward + cross-entropy + backward + SGD with momentum 0.9 (train
mode); inference is a forward pass under no_grad in eval mode. PyTorch runs the nyang
model's twin (``nyang.torch_bridge.to_torch``: the same layers and starting weights) in
full float32: TF32 is switched off for cuDNN convolutions and matmuls, as CuPy does not
use it by default.

Timing: nyang and PyTorch steps alternate (``benchmarks.harness.interleaved``), each
step followed by a device-wide synchronize inside its timed region, so every timed
region starts with an idle GPU and ends when its work has finished; figures are medians
after warm-up (the warm-up also compiles nyang's CUDA kernels). Peak memory is
measured afterwards, in a separate pass of a few steps: nyang's as the peak of bytes
in use in CuPy's memory pool (a ``cupy.cuda.MemoryHook`` adding up mallocs and frees),
PyTorch's as ``torch.cuda.max_memory_allocated``; both count parameters, optimizer
state, inputs and every temporary (gradients in training only), rounded up to the
allocators' blocks. Each (workload, precision) case builds its models afresh and drops
the previous case's first, so no case's memory counts in another's. Amp train rows
also record each side's final loss scale in the JSON: below 65536 means some steps
overflowed and were skipped (cheaper steps).

``--device cpu`` is for testing the script; the figures mean nothing: nyang runs on
NumPy and PyTorch on the CPU through the same code (synchronize is a no-op, no peak
memory is reported, PyTorch's amp is ``torch.autocast("cpu", dtype=torch.float16)``
where the installed PyTorch supports it and is left out, with a note, where not).

Prints a table and writes <prefix>.json / <prefix>.md (bench_gpu.json / bench_gpu.md).
Without a usable GPU (``--device cuda``, the default) it exits at once with status 1
and says what is missing; without a CUDA build of PyTorch it times nyang alone.
"""
import argparse
import contextlib
import gc
import sys

import numpy as np

import nyang
from benchmarks.harness import environment, interleaved, markdown_table, write_results
from nyang.torch_bridge import to_torch

WORKLOADS = {  # name -> (nyang model builder, input shape (C, H, W), batch)
    "mlp": (lambda: nyang.models.mlp(784, 10, hidden=(256, 128)), (1, 28, 28), 128),
    "lenet": (lambda: nyang.models.lenet(1, 10, 28), (1, 28, 28), 64),
    "vgg-64": (lambda: nyang.models.vgg_small(3, 10, 32), (3, 32, 32), 64),
    "vgg-256": (lambda: nyang.models.vgg_small(3, 10, 32), (3, 32, 32), 256),
}
LR, MOMENTUM, MEMORY_STEPS = 0.01, 0.9, 3
PRECISIONS = ("fp32", "amp")


def require_gpu():
    """The CUDA device, or exit with status 1 and the reason there is none."""
    try:
        return nyang.device("cuda")
    except RuntimeError as exc:
        sys.exit(f"bench-gpu needs an NVIDIA GPU with CuPy (pip install nyang[cuda], the cuda extra); {exc}")


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


def torch_cpu():
    """The torch module for the CPU dry run, else (None, why not)."""
    try:
        import torch
    except ImportError:
        return None, "PyTorch is not installed"
    return torch, None


def torch_amp_on_cpu(torch):
    """Why PyTorch's float16 autocast cannot run on this CPU, or None when it can."""
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            out = torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3))
        if out.dtype != torch.float16:
            return f"torch.autocast('cpu', dtype=float16) left a Linear in {out.dtype}"
        torch.amp.GradScaler("cpu")
    except Exception as exc:  # older PyTorch: float16 autocast on the CPU is missing
        return f"PyTorch {torch.__version__} has no float16 autocast on the CPU ({exc})"
    return None


# ---------------------------------------------------------------- one side each


class NyangSide:
    """A nyang model, its optimizer and a batch, all on ``device`` (CUDA, or the CPU
    for a dry run); with ``amp``, autocast and a GradScaler as ``fit(amp=True)``."""

    def __init__(self, model, device, x, y, amp=False):
        self.cuda = device.type == "cuda"
        self.device = device
        self.model = model.to(device)
        self.optimizer = nyang.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss = nyang.nn.CrossEntropyLoss()
        self.x = nyang.tensor(x, device=device)
        self.y = nyang.tensor(y, device=device)
        self.amp = amp
        self.scaler = nyang.amp.GradScaler(enabled=amp)

    def synchronize(self):
        if self.cuda:
            self.device.native.synchronize()

    def _quiet(self):
        # float16 overflow on NumPy warns; under amp it is expected (the scaler skips
        # that step), as in fit. CuPy does not warn, so this is a no-op there.
        return np.errstate(over="ignore", invalid="ignore") if self.amp else contextlib.nullcontext()

    def train_step(self):
        with self._quiet():
            self.optimizer.zero_grad()
            with nyang.amp.autocast(enabled=self.amp):
                loss = self.loss(self.model(self.x), self.y)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.synchronize()

    def infer_step(self):
        with self._quiet(), nyang.no_grad(), nyang.amp.autocast(enabled=self.amp):
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
                if not kwargs.get("mem_ptr"):  # 0: the allocation failed
                    return
                self.now += kwargs["mem_size"]
                self.peak = max(self.peak, self.now)

            def free_postprocess(self, **kwargs):
                self.now -= kwargs["mem_size"]

        with self.device.native:  # the pool's figures are per current device
            pool = cupy.get_default_memory_pool()
            self.synchronize()
            pool.free_all_blocks()
            hook = Peak(pool.used_bytes())
            with hook:
                for _ in range(MEMORY_STEPS):
                    step()
        return hook.peak


class TorchSide:
    """The PyTorch twin ``model``, on the same GPU (or the CPU for a dry run)."""

    def __init__(self, torch, model, device, x, y, amp=False):
        self.torch = torch
        torch.manual_seed(0)
        self.device = device
        self.cuda = device.type == "cuda"
        self.model = model.to(device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss = torch.nn.CrossEntropyLoss()
        self.x = torch.from_numpy(x).to(device)
        self.y = torch.from_numpy(y).to(device)
        self.amp = amp
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp)

    def synchronize(self):
        if self.cuda:
            self.torch.cuda.synchronize(self.device)

    def _autocast(self):
        return self.torch.autocast(self.device.type, dtype=self.torch.float16, enabled=self.amp)

    def train_step(self):
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            loss = self.loss(self.model(self.x), self.y)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.synchronize()

    def infer_step(self):
        with self.torch.no_grad(), self._autocast():
            self.model(self.x)
        self.synchronize()

    def peak_bytes(self, step):
        self.synchronize()
        self.torch.cuda.reset_peak_memory_stats(self.device)
        for _ in range(MEMORY_STEPS):
            step()
        return self.torch.cuda.max_memory_allocated(self.device)


# ---------------------------------------------------------------- the run


def label(name, precision):
    """The workload column: ``vgg-64`` for float32, ``vgg-64 amp`` for mixed precision."""
    return name if precision == "fp32" else f"{name} {precision}"


def measure(name, precision, device, torch, torch_device, steps, warmup, batch=None, memory=True):
    """Rows (train, inference) for workload ``name`` in ``precision`` ("fp32" or "amp").
    ``torch`` is None to time nyang alone; ``memory`` False skips the peak-memory pass."""
    build, shape, default_batch = WORKLOADS[name]
    batch = batch or default_batch
    amp = precision == "amp"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + shape).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    nyang.manual_seed(0)
    model = build()
    twin = to_torch(model) if torch is not None else None  # before the nyang model moves to the device
    sides = {"nyang": NyangSide(model, device, x, y, amp)}
    if twin is not None:
        sides["torch"] = TorchSide(torch, twin, torch_device, x, y, amp)
    rows = []
    for mode in ("train", "infer"):
        for side in sides.values():
            side.model.train(mode == "train")
            if mode == "infer":  # inference peaks count no gradients left over from training
                side.optimizer.zero_grad(set_to_none=True)
        steps_of = {side: getattr(s, f"{mode}_step") for side, s in sides.items()}
        times = interleaved(steps_of, steps=steps, warmup=warmup)
        peaks = {side: sides[side].peak_bytes(step) for side, step in steps_of.items()} if memory else {}
        row = {"workload": label(name, precision), "batch": batch, "mode": mode, "precision": precision}
        for side in sides:
            row[f"{side} ms"] = times[side] * 1e3
            row[f"{side} samples/s"] = batch / times[side]
            if memory:
                row[f"{side} peak MB"] = peaks[side] / 2 ** 20
        if torch is not None:
            row["ratio"] = times["nyang"] / times["torch"]
        if amp and mode == "train":  # below 2**16 means some steps overflowed and were skipped
            for side in sides:
                row[f"{side} loss scale"] = float(sides[side].scaler.get_scale())
        rows.append(row)
        print("  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
              flush=True)
    return rows


def gpu_environment(device):
    """The GPU facts a reader needs to compare two runs (a field CuPy does not give is left out)."""
    import cupy

    info = {"cupy": cupy.__version__}
    facts = {
        "properties": lambda: cupy.cuda.runtime.getDeviceProperties(device.index),
        "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion,
        "cuda_driver": cupy.cuda.runtime.driverGetVersion,
    }
    for key, get in facts.items():
        try:
            value = get()
        except Exception as exc:  # report, do not stop the benchmark over a missing fact
            info[key + "_error"] = repr(exc)
            continue
        if key != "properties":
            info[key] = value
            continue
        name = value.get("name", "?")
        info["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
        if "major" in value and "minor" in value:
            info["compute_capability"] = f"{value['major']}.{value['minor']}"
        if "multiProcessorCount" in value:
            info["multiprocessors"] = value["multiProcessorCount"]
        if "totalGlobalMem" in value:
            info["memory_GiB"] = round(value["totalGlobalMem"] / 2 ** 30, 1)
    return info


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per case (median taken)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (kernel compilation)")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                        help="--amp: mixed precision only; --no-amp: float32 only; default: both")
    parser.add_argument("--batch", type=int, default=None, help="override every workload's batch (tests)")
    parser.add_argument("--prefix", default="bench_gpu", help="write PREFIX.json and PREFIX.md")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cuda (default); cpu is for testing the script: the figures mean nothing")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    precisions = {None: PRECISIONS, True: ("amp",), False: ("fp32",)}[args.amp]
    notes = []

    if args.device == "cuda":
        device = require_gpu()
        torch, why_not = torch_cuda()
        torch_device = torch.device("cuda", device.index) if torch is not None else None
        torch_amp_skipped = None
        info = {**environment(), **gpu_environment(device), "device": "cuda"}
        if torch is not None:
            info.update(torch_cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(), tf32=False)
    else:
        device = nyang.device("cpu")
        torch, why_not = torch_cpu()
        torch_device = torch.device("cpu") if torch is not None else None
        torch_amp_skipped = torch_amp_on_cpu(torch) if torch is not None and "amp" in precisions else None
        info = {**environment(), "device": "cpu",
                "note": "--device cpu tests the script; the figures mean nothing"}
        notes.append("--device cpu: a dry run of the script; the figures mean nothing; no peak memory")
        if torch_amp_skipped:
            notes.append(f"amp rows time nyang alone: {torch_amp_skipped}")
    memory = args.device == "cuda"
    if torch is None:
        notes.append(f"timing nyang alone: {why_not}")
    info["notes"] = notes
    for note in notes:
        print(note, flush=True)
    print(info, flush=True)

    rows = []
    for name in args.workloads:
        for precision in precisions:
            against = None if (precision == "amp" and torch_amp_skipped) else torch
            rows += measure(name, precision, device, against, torch_device, args.steps, args.warmup,
                            args.batch, memory)
            gc.collect()  # drop this case's models and batches before the next one's peak-memory pass
    sides = ["nyang"] + (["torch"] if torch is not None else [])
    columns = ["workload", "batch", "mode"] + [f"{s} ms" for s in sides] + (["ratio"] if torch is not None else [])
    columns += [f"{s} samples/s" for s in sides] + ([f"{s} peak MB" for s in sides] if memory else [])
    table = markdown_table(rows, columns)
    write_results(args.prefix, {"rows": rows, "gpu": info, "steps": args.steps, "warmup": args.warmup}, table)
    print("\n" + table)
    print(f"\nmedian of {args.steps} interleaved steps after {args.warmup} warm-up; ratio = nyang ms / torch ms; "
          f"'amp' rows: float16 autocast + GradScaler on both sides")
    for note in notes:
        print(note)
    return rows


if __name__ == "__main__":
    main()
