"""Images per second through ImageFolder + a train augmentation pipeline + DataLoader.

    python -m benchmarks.bench_data [--epochs 5] [--batch-size 64] [--workers 0 2]

Exports the bundled digits as 32x32 RGB PNGs into a temporary folder, then times
whole epochs (Pillow decode, augmentation, collation, Tensors) for each worker
count, with persistent workers; the loaders' epochs are interleaved (one epoch of
each in turn, ``benchmarks.harness.interleaved``) so machine-load drift hits all
alike, and each figure is the median epoch. Also prints each transform's cost per
image, measured in this process.
"""
import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import nyang
from benchmarks.harness import environment, interleaved
from nyang.data import DataLoader, ImageFolder, load_image
from nyang.data import transforms as T

MEAN, STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]


def train_transform():
    """The benchmarked pipeline: a typical small-image training augmentation."""
    return T.Compose([
        T.ToTensor(),
        T.RandomResizedCrop(32, scale=(0.8, 1.0)),
        T.RandomHorizontalFlip(),
        T.ColorJitter(0.2, 0.2, 0.2, 0.02),
        T.RandomRotation(10),
        T.Normalize(MEAN, STD),
        T.RandomErasing(p=0.25),
    ])


def _export(out_dir):
    path = Path(__file__).resolve().parent.parent / "examples" / "export_digits.py"
    spec = importlib.util.spec_from_file_location("export_digits", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.export_digits(out_dir, size=32, rgb=True)


def per_transform(root, count=300, repeats=3):
    """Microseconds per image of decoding and of each transform (best of ``repeats``)."""
    files = sorted(Path(root).rglob("*.png"))[:count]
    pipeline = train_transform().transforms
    best = [float("inf")] * (len(pipeline) + 1)
    for _ in range(repeats):
        start = time.perf_counter()
        images = [load_image(f) for f in files]
        best[0] = min(best[0], time.perf_counter() - start)
        for k, transform in enumerate(pipeline, 1):
            start = time.perf_counter()
            images = [transform(image) for image in images]
            best[k] = min(best[k], time.perf_counter() - start)
    names = ["decode PNG (Pillow)"] + [type(t).__name__ for t in pipeline]
    return [(name, seconds / len(files)) for name, seconds in zip(names, best)]


def epoch_rates(dataset, batch_size, worker_counts, epochs):
    """Images/s of each worker count: the median of ``epochs`` interleaved epochs."""
    loaders = {workers: DataLoader(dataset, batch_size, shuffle=True, num_workers=workers,
                                   persistent_workers=workers > 0) for workers in worker_counts}
    cases = {workers: (lambda loader=loader: sum(x.shape[0] for x, _ in loader)) for workers, loader in loaders.items()}
    seconds = interleaved(cases, steps=epochs, warmup=1)
    for loader in loaders.values():
        loader.close()
    return {workers: len(dataset) / s for workers, s in seconds.items()}


def main(argv=None):
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args(argv)
    print(", ".join(f"{k} {v}" for k, v in environment().items()))
    nyang.manual_seed(0)
    with tempfile.TemporaryDirectory() as root:
        _export(root)
        dataset = ImageFolder(root, split="train", transform=train_transform())
        print(f"{len(dataset)} training images, 32x32 RGB PNG, batch {args.batch_size}")
        for name, seconds in per_transform(root):
            print(f"  {name:<22} {seconds * 1e6:7.1f} us/image")
        rates = epoch_rates(dataset, args.batch_size, args.workers, args.epochs)
        for workers, rate in rates.items():
            print(f"num_workers={workers}: {rate:8.0f} images/s ({rate / rates[args.workers[0]]:.2f}x)")


if __name__ == "__main__":
    main()
