"""Timing nyang against PyTorch fairly on a noisy shared machine.

Both sides run in one process and take turns, so drift in machine load hits both
alike; each side's figure is the median of its steps after warm-up, and the ratio is
taken between medians of the same run.

On the CPU the turns are blocks of ``BLOCK`` steps (:func:`in_turns`), each after a
``PAUSE`` and one untimed step. Not single steps: after each NumPy call, OpenBLAS's
worker thread spins for about 0.1 s (measured: 0.12 s of CPU time in the second after
a LeNet step), taking one of the two cores from PyTorch's threads; alternating single
steps made PyTorch's LeNet step 17-22 ms instead of 7-10 ms (and VGG-small's 155
instead of 100 ms), while nyang's did not change. The pause lets that thread go to
sleep, and the untimed step wakes the next framework's own pool. On the GPU and for
whole data-loading epochs, single turns (:func:`interleaved`) are fine.
"""
import json
import math
import os
import platform
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


BLOCK, PAUSE = 10, 0.15  # steps per turn, seconds before a turn (see the notes above)
MIN_SECONDS = 0.25  # timed steps per side, at least (see :func:`steps_for`)


def in_turns(cases, steps=20, warmup=3, block=BLOCK, pause=PAUSE):
    """Median seconds of each phase of each case, taking turns in blocks (see the notes).
    ``cases[name]()`` runs one step and returns ``{phase: seconds}``; each case runs
    ``warmup`` untimed steps, then ``steps`` timed ones in blocks of ``block`` (the last
    block shorter when ``block`` does not divide ``steps``)."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    times = {name: {} for name in cases}
    for start in range(0, steps, block):
        for name, fn in cases.items():
            if len(cases) > 1:
                time.sleep(pause)
            fn()
            for _ in range(min(block, steps - start)):
                for phase, seconds in fn().items():
                    times[name].setdefault(phase, []).append(seconds)
    return {name: {phase: statistics.median(t) for phase, t in phases.items()} for name, phases in times.items()}


def steps_for(cases, steps, seconds=MIN_SECONDS):
    """``steps``, or more where the fastest of ``cases`` (as for :func:`in_turns`) needs
    them to run ``seconds`` in all: a median of 20 steps of 1.5 ms spans under one
    turn, and the MLP's ratio then moved between 0.77 and 1.09 from run to run (0.94 to
    0.99 with 200 steps). Each case runs once untimed, then once timed."""
    fastest = None
    for fn in cases.values():
        fn()
        seconds_per_step = sum(fn().values())
        fastest = seconds_per_step if fastest is None else min(fastest, seconds_per_step)
    return steps if not fastest else max(steps, math.ceil(seconds / fastest))


def step_timer(fn):
    """``fn`` (no arguments) as a case for :func:`in_turns`: one phase, ``"step"``."""
    def step():
        start = time.perf_counter()
        fn()
        return {"step": time.perf_counter() - start}
    return step


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


def write_report(path_prefix, report, text):
    """Write ``<prefix>.json`` (the dict ``report``) and ``<prefix>.md`` (``text``)."""
    with open(path_prefix + ".json", "w") as f:
        json.dump(report, f, indent=2)
    with open(path_prefix + ".md", "w") as f:
        f.write(text + "\n")


def write_results(path_prefix, results, table):
    """Write ``<prefix>.json`` (results and environment) and ``<prefix>.md`` (the table)."""
    write_report(path_prefix, {"environment": environment(), "results": results}, table)
