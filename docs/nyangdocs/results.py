"""The files `nyang compare` and `make bench` write, found and turned into tables.

``compare.json`` (``nyang compare``: one model trained in nyang and PyTorch side by
side) lives in ``runs/compare-DATA-MODEL/``; ``bench.json`` and ``bench_layers.json``
(``make bench``) in the repository root. Tables are read generically (every list of
row dicts in a file is a table), so new columns show up without changes here.
"""
import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
PATTERNS = {"compare": ("compare.json", "runs/compare.json", "runs/*/compare.json"),
            "bench": ("bench*.json", "runs/bench*.json", "runs/*/bench*.json")}


def find(kind, root=ROOT):
    """The ``kind`` (``"compare"`` or ``"bench"``) result files under ``root``, newest first."""
    found = {p for pattern in PATTERNS[kind] for p in Path(root).glob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def read(path):
    """The JSON in ``path``."""
    with open(path) as f:
        return json.load(f)


def tables(report):
    """``{name: DataFrame}`` of every list of row dicts in a benchmark report."""
    if isinstance(report, list):
        report = {"results": report}
    return {key: pd.DataFrame(value) for key, value in report.items()
            if isinstance(value, list) and value and all(isinstance(row, dict) for row in value)}


def compare_table(report, rows=None):
    """The nyang / PyTorch / ratio table of a ``compare.json`` report; ``rows`` are
    (label, key) pairs (default: every key both sides report)."""
    ours, theirs, ratio = report["nyang"], report["torch"], report.get("ratio", {})
    rows = rows or [(key, key) for key in ours if key in theirs]
    return pd.DataFrame([{"": label, "nyang": ours[key], "PyTorch": theirs[key], "nyang / PyTorch": ratio.get(key)}
                         for label, key in rows if key in ours and key in theirs])


def loss_curves(report):
    """The per-step training losses of both sides as a DataFrame (None when absent)."""
    curves = report.get("loss_curves")
    if not curves:
        return None
    steps = min(len(curves["nyang"]), len(curves["torch"]))
    return pd.DataFrame({"nyang": curves["nyang"][:steps], "PyTorch": curves["torch"][:steps]},
                        index=pd.RangeIndex(1, steps + 1, name="step"))
