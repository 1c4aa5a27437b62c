"""Holding out a fraction of a data set (``valid = 20%``), seeded and stratified.

The held-out part has ``round(fraction * N)`` examples. With ``stratify`` naming a class-index
field (``long``, one value per example), every class contributes in proportion to its size:
class quotas are ``fraction * count``, rounded down, and the examples left over go to the
classes with the largest remainders (ties to the lower class index), so the total is exact.
Any other field (or none) gives a plain seeded random split. An ordered table (``text_file``:
consecutive blocks of one text) holds out its last ``k`` examples instead, the end of the text,
so that no held-out block is a neighbour of a train block on both sides. Both parts keep the
original example order; shuffling is the batcher's job.
"""
from __future__ import annotations

from typing import Protocol, TypeVar

import torch
from torch import Tensor

from specc.catalog.source_base import SourceError


class Splittable(Protocol):
    def __len__(self) -> int: ...
    def column(self, name: str) -> Tensor: ...
    def select(self, index: Tensor): ...


T = TypeVar("T", bound=Splittable)


def split(table: T, fraction: float, seed: int = 0, stratify: str | None = "y") -> tuple[T, T]:
    """Split ``table`` (a Table or ImageFiles) into ``(train, held_out)``.

    Raises:
        SourceError: ``fraction`` outside (0, 1), or a split that would leave either part empty.
    """
    n = len(table)
    if not 0 < fraction < 1:
        raise SourceError(f"a held-out fraction must lie strictly between 0 and 1 (0% and "
                          f"100%); got {fraction}")
    k = round(fraction * n)
    if k < 1 or k >= n:
        raise SourceError(f"holding out {fraction:.0%} of {n} examples leaves "
                          f"{'no held-out' if k < 1 else 'no training'} example",
                          hint="use a larger data set or another fraction")
    g = torch.Generator().manual_seed(int(seed))
    labels = _class_labels(table, stratify)
    if getattr(table, "ordered", False):
        held = torch.arange(n - k, n)
    elif labels is None:
        held = torch.randperm(n, generator=g)[:k]
    else:
        held = _stratified(labels, fraction, k, g)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[held] = True
    train_index = torch.nonzero(~mask).squeeze(1)
    held_index = torch.nonzero(mask).squeeze(1)
    return table.select(train_index), table.select(held_index)


def _class_labels(table: Splittable, stratify: str | None) -> Tensor | None:
    if stratify is None:
        return None
    try:
        labels = table.column(stratify)
    except KeyError:
        return None
    if labels.dtype != torch.long or labels.dim() != 1:
        return None
    return labels.cpu()


def _stratified(labels: Tensor, fraction: float, k: int, g: torch.Generator) -> Tensor:
    """``k`` indices, each class contributing its proportional share (largest remainders)."""
    classes, counts = torch.unique(labels, return_counts=True)
    quota = counts.to(torch.float64) * fraction
    take = quota.floor().to(torch.long)
    left = k - int(take.sum())
    if left > 0:
        remainder = quota - take
        order = sorted(range(len(classes)), key=lambda c: (-float(remainder[c]), c))
        for c in order[:left]:
            take[c] += 1
    picks = []
    for c, m in zip(classes.tolist(), take.tolist()):
        members = torch.nonzero(labels == c).squeeze(1)
        picks.append(members[torch.randperm(len(members), generator=g)[:m]])
    return torch.cat(picks)
