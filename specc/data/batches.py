"""Batches for the trainer: from a Table held on the device, or streamed from files.

Both batchers share one interface:

- ``set_epoch(epoch)`` picks the epoch; the example order of an epoch is a function of
  ``(seed, epoch)`` only (:func:`epoch_order`), so a run resumed from a checkpoint sees the
  same batches as the run that wrote it. Call it before each epoch, as with PyTorch's
  ``DistributedSampler``; the order does not advance by itself.
- ``iter_from(step)`` yields the epoch's batches from batch ``step`` on (exact resume in the
  middle of an epoch); ``iter(batcher)`` is ``iter_from(0)``.
- ``len(batcher)`` is the number of batches per epoch, ``num_examples`` the examples.

A batch is a ``dict[str, Tensor]`` on the device. A variable-length field ``f`` is padded
only to the longest example of that batch, with ``pad_value``, and its true lengths come
along as ``"f.lengths"`` (``long [B]``; the dot keeps the key apart from any field name).

Distributed training (:mod:`specc.training.distributed`): ``shard(rank, world)`` makes a
batcher yield only rank ``rank``'s part of each global batch, as ``DistributedSampler``
does; ``len``, ``num_examples`` and ``global_size(b)`` still count the global batches.
"""
from __future__ import annotations

import hashlib
from functools import partial
from typing import Any, Iterator, Sequence

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, Sampler

from specc.data.table import Table

Batch = dict[str, Tensor]


def lengths_key(field: str) -> str:
    """The batch key holding the true lengths of variable-length ``field``."""
    return f"{field}.lengths"


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed mixed from ``(seed, epoch)``, stable across processes and platforms."""
    digest = hashlib.blake2b(f"{int(seed)}:{int(epoch)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool) -> Tensor:
    """The example order of one epoch: a seeded permutation, or ``0..n-1`` without shuffle."""
    if not shuffle:
        return torch.arange(n)
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return torch.randperm(n, generator=g)


def batch_count(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)


def shard_range(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous part ``[lo, hi)`` of ``n`` examples (sizes differ by <= 1)."""
    return rank * n // world, (rank + 1) * n // world


class _Sharded:
    """What both batchers share for distributed training."""

    rank, world = 0, 1
    batch_size: int
    num_examples: int

    def shard(self, rank: int, world: int) -> None:
        self.rank, self.world = rank, world

    def global_size(self, b: int) -> int:
        """Examples in global batch ``b`` (over every rank)."""
        return min(self.batch_size, self.num_examples - b * self.batch_size)


def _repad(t: Tensor, lengths: Tensor, pad_value: Any) -> Tensor:
    """``t`` with every position past each example's length set to ``pad_value``."""
    past = torch.arange(t.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)
    past = past.reshape(*past.shape, *([1] * (t.dim() - 2)))
    return t.masked_fill(past.to(t.device), torch.tensor(pad_value, dtype=t.dtype))


class InMemoryBatches(_Sharded):
    """Batches of a Table whose tensors were moved to ``device`` once.

    Args:
        table: the examples (text fields must be encoded first).
        batch_size: examples per batch; None means one batch of every example (``full``),
            in stored order.
        shuffle: a new seeded permutation each epoch (see :func:`epoch_order`).
        seed: the shuffling seed.
        device: where the tensors live and batches are made.
        pad_value: the value past the end of variable-length examples.
        drop_last: drop a last batch smaller than ``batch_size``.

    A batch is made by slicing (no shuffle) or ``index_select`` with a slice of the epoch's
    permutation: no per-example Python work. Batch widths of variable-length fields come from
    a CPU copy of the lengths, so making a batch never waits on the device.
    """

    def __init__(self, table: Table, batch_size: int | None = None, shuffle: bool = False,
                 seed: int = 0, device: Any = "cpu", pad_value: Any = 0,
                 drop_last: bool = False):
        if table.texts:
            raise ValueError(f"text fields {sorted(table.texts)} must be encoded before batching")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None, got {batch_size}")
        self.device = torch.device(device)
        self.lengths = {k: v.cpu() for k, v in table.lengths.items()}
        self.fields = {k: (_repad(v, self.lengths[k], pad_value) if k in self.lengths else v)
                       .to(self.device) for k, v in table.fields.items()}
        self.lengths_on_device = {k: v.to(self.device) for k, v in self.lengths.items()}
        self.num_examples = len(table)
        full = batch_size is None
        self.batch_size = self.num_examples if full else batch_size
        self.shuffle = shuffle and not full
        self.seed = seed
        self.drop_last = drop_last and not full
        self.epoch = 0
        self._order: tuple[Tensor, Tensor] | None = None

    def __len__(self) -> int:
        return batch_count(self.num_examples, max(self.batch_size, 1), self.drop_last)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._order = None

    def _permutation(self) -> tuple[Tensor, Tensor]:
        """The epoch's order on the CPU and on the device (computed once per epoch)."""
        if self._order is None:
            cpu = epoch_order(self.num_examples, self.seed, self.epoch, True)
            self._order = (cpu, cpu.to(self.device))
        return self._order

    def __iter__(self) -> Iterator[Batch]:
        return self.iter_from(0)

    def iter_from(self, step: int) -> Iterator[Batch]:
        """The current epoch's batches, starting at batch number ``step`` (0-based)."""
        for b in range(step, len(self)):
            start = b * self.batch_size
            stop = min(start + self.batch_size, self.num_examples)
            lo, hi = shard_range(stop - start, self.rank, self.world)
            part = (start + lo, start + hi)
            yield self._shuffled(start, stop, *part) if self.shuffle else self._sliced(start, stop, *part)

    def _sliced(self, start: int, stop: int, lo: int, hi: int) -> Batch:
        """Rows ``lo:hi`` of the batch ``start:stop`` (padded to the whole batch's width)."""
        batch: Batch = {}
        for k, t in self.fields.items():
            if k in self.lengths:
                width = int(self.lengths[k][start:stop].max())
                batch[k] = t[lo:hi, :width]
                batch[lengths_key(k)] = self.lengths_on_device[k][lo:hi]
            else:
                batch[k] = t[lo:hi]
        return batch

    def _shuffled(self, start: int, stop: int, lo: int, hi: int) -> Batch:
        order_cpu, order = self._permutation()
        index = order[lo:hi]
        batch: Batch = {}
        for k, t in self.fields.items():
            if k in self.lengths:
                width = int(self.lengths[k].index_select(0, order_cpu[start:stop]).max())
                batch[k] = t[:, :width].index_select(0, index)
                batch[lengths_key(k)] = self.lengths_on_device[k].index_select(0, index)
            else:
                batch[k] = t.index_select(0, index)
        return batch


class EpochBatchSampler(Sampler[list[int]]):
    """Index lists for one epoch's batches, in :func:`epoch_order`, from batch ``start`` on.

    ``start`` is read when iteration begins (eagerly), then reset to 0, so a DataLoader
    iterator created right after setting it resumes there.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, drop_last: bool):
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.seed, self.drop_last = seed, drop_last
        self.epoch = 0
        self.start = 0
        self.rank, self.world = 0, 1

    def __len__(self) -> int:
        return batch_count(self.n, self.batch_size, self.drop_last)

    def __iter__(self) -> Iterator[list[int]]:
        order = epoch_order(self.n, self.seed, self.epoch, self.shuffle).tolist()
        first, self.start = self.start, 0
        bs = self.batch_size
        batches = [order[b * bs: (b + 1) * bs] for b in range(first, len(self))]
        return iter([b[slice(*shard_range(len(b), self.rank, self.world))] for b in batches])


def pad_collate(items: Sequence[dict[str, Tensor]], variable: frozenset[str] = frozenset(),
                pad_value: Any = 0) -> Batch:
    """Stack examples into a batch; ``variable`` fields are padded to the batch's longest."""
    batch: Batch = {}
    for k in items[0]:
        values = [item[k] for item in items]
        if k in variable:
            batch[k] = pad_sequence(values, batch_first=True, padding_value=pad_value)
            batch[lengths_key(k)] = torch.tensor([len(v) for v in values], dtype=torch.long)
        else:
            batch[k] = torch.stack(values)
    return batch


class TableDataset(Dataset):
    """A Table seen one example at a time (variable-length fields cut to their length)."""

    def __init__(self, table: Table):
        if table.texts:
            raise ValueError(f"text fields {sorted(table.texts)} must be encoded before batching")
        self.table = table
        self.variable_fields = frozenset(table.lengths)

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        t = self.table
        return {k: (v[i, : int(t.lengths[k][i])] if k in t.lengths else v[i])
                for k, v in t.fields.items()}


class StreamingBatches(_Sharded):
    """Batches assembled by a DataLoader from a Dataset that loads examples on demand.

    Args:
        dataset: yields ``dict[str, Tensor]`` examples; its ``variable_fields`` attribute (if
            any) names the fields padded per batch.
        batch_size, shuffle, seed, device, pad_value, drop_last: as for InMemoryBatches.
        workers: DataLoader worker processes (0 = load in this process).

    Memory is pinned when the device is CUDA, and batches are copied with
    ``non_blocking=True``.
    """

    def __init__(self, dataset: Dataset, batch_size: int | None = None, shuffle: bool = False,
                 seed: int = 0, device: Any = "cpu", workers: int = 0, pad_value: Any = 0,
                 drop_last: bool = False):
        self.num_examples = len(dataset)  # type: ignore[arg-type]
        self.batch_size = self.num_examples if batch_size is None else batch_size
        self.device = torch.device(device)
        self.sampler = EpochBatchSampler(self.num_examples, self.batch_size,
                                         shuffle and batch_size is not None, seed,
                                         drop_last and batch_size is not None)
        variable = frozenset(getattr(dataset, "variable_fields", ()))
        self.loader = DataLoader(dataset, batch_sampler=self.sampler, num_workers=workers,
                                 collate_fn=partial(pad_collate, variable=variable,
                                                    pad_value=pad_value),
                                 pin_memory=self.device.type == "cuda")

    def __len__(self) -> int:
        return len(self.sampler)

    def shard(self, rank: int, world: int) -> None:
        super().shard(rank, world)
        self.sampler.rank, self.sampler.world = rank, world

    def set_epoch(self, epoch: int) -> None:
        self.sampler.epoch = epoch

    def __iter__(self) -> Iterator[Batch]:
        return self.iter_from(0)

    def iter_from(self, step: int) -> Iterator[Batch]:
        """The current epoch's batches from batch ``step`` on."""
        self.sampler.start = step
        batches = iter(self.loader)
        for batch in batches:
            yield {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
