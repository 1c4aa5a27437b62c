"""Files a run leaves behind: ``metrics.json`` and ``history.csv``.

History rows are flat dicts with dotted keys (``"valid.accuracy"``), the same names a
monitor uses. ``metrics.json`` nests the last row by split::

    {"train": {"loss": 0.21}, "valid": {"loss": 0.25, "accuracy": 0.93}}

Non-finite values are written as JSON ``null`` (JSON has no NaN).
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from specc.training.config import SPLITS


def split_metrics(row: dict) -> dict[str, dict[str, float | None]]:
    """``{"valid.loss": 0.2, "lr": ...}`` -> ``{"valid": {"loss": 0.2}}`` (splits only)."""
    nested: dict[str, dict[str, float | None]] = {}
    for key, value in row.items():
        split, dot, metric = key.partition(".")
        if dot and split in SPLITS:
            nested.setdefault(split, {})[metric] = _finite_or_none(value)
    return nested


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def write_metrics(path: Path, metrics: dict) -> None:
    path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")


def write_history(path: Path, history: list[dict]) -> None:
    """One row per epoch; the columns are every key seen, in first-seen order."""
    columns: dict[str, None] = {}
    for row in history:
        columns.update(dict.fromkeys(row))
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(history)


def write_outputs(out_dir: Path, history: list[dict], metrics: dict) -> None:
    """Write both files into ``out_dir``: the last epoch's nested ``metrics`` (from
    :func:`split_metrics`) and the whole history."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_metrics(out_dir / "metrics.json", metrics)
    write_history(out_dir / "history.csv", history)
