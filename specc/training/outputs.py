"""Files a run leaves behind: ``metrics.json`` and ``history.csv``.

History rows are flat dicts with dotted keys (``"valid.accuracy"``), the same names a
monitor uses. ``metrics.json`` nests the result epoch's row by split, says which epoch and
why (``"best valid.loss"``, or ``"last"``), adds the test split scored once on the result's
weights, and keeps the last epoch's row under ``"last"``::

    {"epoch": 6, "chosen": "best valid.loss",
     "train": {"loss": 0.21}, "valid": {"loss": 0.25, "accuracy": 0.93},
     "test": {"loss": 0.26, "accuracy": 0.92},
     "last": {"epoch": 8, "train": {"loss": 0.19}, "valid": {"loss": 0.27, "accuracy": 0.92}}}

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


def write_history(path: Path, history: list[dict]) -> list[str]:
    """One row per epoch; the columns are every key seen, in first-seen order (returned)."""
    columns: dict[str, None] = {}
    for row in history:
        columns.update(dict.fromkeys(row))
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(history)
    return list(columns)


class HistoryFile:
    """``history.csv``, one row appended and flushed at every epoch end (a loop hook), so a
    run can be watched while it trains. The file is written whole at the first row (over an
    older run's, or with a resumed run's rows) and whenever a row brings a new column."""

    def __init__(self, path: Path, history: list[dict]):
        self.path = path
        self.rows = list(history)
        self.columns: list[str] | None = None

    def on_epoch_end(self, epoch: int, model, row: dict) -> None:
        self.rows.append(row)
        if self.columns is None or not row.keys() <= set(self.columns):
            self.columns = write_history(self.path, self.rows)
            return
        with self.path.open("a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=self.columns).writerow(row)

    def close(self) -> None:
        """Nothing stays open between epochs."""
