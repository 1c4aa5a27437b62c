"""Per-batch training values of the current epoch, kept on the device until the epoch ends.

Every batch appends its (detached) loss tensor and every clipped optimizer step its gradient
norm: appending costs no device sync. At the end of the epoch (or on an interruption) one
stack-and-copy reads them all, which gives the epoch's train loss and the first non-finite
value, if any, with its exact step.

On a mid-epoch interruption the values read so far go into the checkpoint (``partial``), and
a resumed run starts its log from them, so the resumed epoch's train loss is the mean over
all of the epoch's batches, exactly as if the run had not stopped.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


class EpochLog:
    def __init__(self, carried: dict | None = None):
        carried = carried or {}
        self.carried_losses: list[float] = _floats(carried.get("losses"))
        self.carried_norms: list[float] = _floats(carried.get("norms"))
        self.sizes: list[int] = list(carried.get("sizes", []))
        self.norm_steps: list[int] = list(carried.get("norm_steps", []))
        self.carried_seconds: float = float(carried.get("seconds", 0.0))
        self.losses: list[Tensor] = []
        self.norms: list[Tensor] = []

    def read(self) -> tuple[list[float], list[float]]:
        """All losses and gradient norms of the epoch so far, as floats (one device sync)."""
        return (self.carried_losses + _read(self.losses), self.carried_norms + _read(self.norms))

    def first_nonfinite(self, losses: list[float], norms: list[float],
                        check_norms: bool) -> tuple[int, float, str] | None:
        """(1-based step, value, what) of the earliest non-finite loss or gradient norm."""
        found = [(i + 1, v, "loss") for i, v in enumerate(losses) if not math.isfinite(v)][:1]
        if check_norms:
            found += [(s, v, "gradient norm") for s, v in zip(self.norm_steps, norms)
                      if not math.isfinite(v)][:1]
        return min(found, key=lambda f: f[0]) if found else None

    def mean_loss(self, losses: list[float]) -> float:
        """The loss averaged over the epoch's examples (each batch weighted by its size)."""
        return math.fsum(v * n for v, n in zip(losses, self.sizes)) / sum(self.sizes)

    def partial(self, losses: list[float], norms: list[float], seconds: float,
                sizes: list[int] | None = None) -> dict:
        """What a mid-epoch checkpoint stores to continue this log exactly (``sizes``: the
        steps' batch sizes, if not this log's own)."""
        return {
            "losses": torch.tensor(losses, dtype=torch.float64),
            "sizes": list(self.sizes if sizes is None else sizes),
            "norms": torch.tensor(norms, dtype=torch.float64),
            "norm_steps": list(self.norm_steps),
            "seconds": self.carried_seconds + seconds,
        }


def _read(values: list[Tensor]) -> list[float]:
    return torch.stack(values).cpu().double().tolist() if values else []  # mps has no float64


def _floats(values: Tensor | None) -> list[float]:
    return [] if values is None else values.tolist()
