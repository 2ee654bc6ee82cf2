"""Timing nyang against PyTorch fairly on a noisy shared machine.

Both sides run in one process and are interleaved step by step (nyang, torch,
nyang, torch, ...), so drift in machine load hits both equally; each side's
figure is the median of its steps after warm-up, and the ratio is taken between
medians of the same run.
"""
import json
import os
import platform
import resource
import statistics
import time


def interleaved(cases, steps=20, warmup=3):
    """Median seconds per call for each ``cases[name]`` (a no-argument callable),
    calling the cases in turn ``warmup + steps`` times."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times = {name: [] for name in cases}
    for _ in range(steps):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def peak_rss_mb():
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def environment():
    """The facts a reader needs to compare two benchmark runs."""
    import numpy

    info = {"python": platform.python_version(), "numpy": numpy.__version__, "machine": platform.machine(),
            "cpus": os.cpu_count(), "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def markdown_table(rows, columns):
    """A markdown table of ``rows`` (dicts) with the given ``columns``."""
    def cell(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_results(path_prefix, results, table):
    """Write ``<prefix>.json`` (results and environment) and ``<prefix>.md`` (the table)."""
    with open(path_prefix + ".json", "w") as f:
        json.dump({"environment": environment(), "results": results}, f, indent=2)
    with open(path_prefix + ".md", "w") as f:
        f.write(table + "\n")
