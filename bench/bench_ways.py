"""The ways of training one workload that ``train_bench.py`` compares.

Every way trains for a number of epochs and, after each, evaluates the valid split (loss
and the workload's metric), as ``specc.train`` does; an epoch's time covers both. Each way
returns a :class:`Run`: the wall time of every epoch and the last epoch's numbers.

- ``specc``: ``specc.train`` on the workload's spec text (epoch times from a trainer hook,
  so they include everything the trainer does between epochs, checkpoints included).
- ``tutorial``: the seed tutorials' loop: a per-example ``Dataset`` (tutorial 000's
  ``PrepareData``; tutorial 002's ``collate_fn`` padding for sequences), a ``DataLoader``,
  ``loss.item()`` every step.
- ``tensordataset``: ``TensorDataset`` + ``DataLoader``, losses kept as tensors.
- ``ideal``: a hand-written loop over in-memory tensors: ``randperm`` and indexing, default
  ``torch.optim.Adam``, ``zero_grad``, forward, loss, backward, step; the valid split in one
  forward pass (per batch for padded sequences).
- ``ideal_fused``: the same with ``Adam(fused=True)``: a reference, not a default any user gets.
- ``lightning``: a ``LightningModule`` around the same model, when ``lightning`` imports.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import tempfile
import time
from typing import Callable

import torch
from torch import nn, Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, TensorDataset

from bench_workloads import Split, Workload


@dataclass
class Run:
    seconds: list[float]                      # wall time of each epoch
    train_loss: float = float("nan")
    valid_loss: float = float("nan")
    metric: float = float("nan")
    extra: dict = field(default_factory=dict)


def _metric_sum(name: str, out: Tensor, y: Tensor) -> Tensor:
    if name == "accuracy":
        return (out.argmax(1) == y).sum()
    return (out - y).abs().sum()


class _Meter:
    """Sums over a split, kept as tensors and read once: training adds only its loss
    (``add_loss``, one detach per step, as specc's trainer does), evaluation adds the metric."""

    def __init__(self, metric: str):
        self.metric, self.losses, self.sizes, self.metrics = metric, [], [], []

    def add_loss(self, loss: Tensor, n: int) -> None:
        self.losses.append(loss.detach())
        self.sizes.append(n)

    def add(self, loss: Tensor, out: Tensor, y: Tensor) -> None:
        self.add_loss(loss, len(y))
        if self.metric != "none":
            self.metrics.append(_metric_sum(self.metric, out, y))

    def read(self) -> tuple[float, float]:
        n = sum(self.sizes)
        loss = float((torch.stack(self.losses).double() * torch.tensor(self.sizes)).sum()) / n
        metric = float(torch.stack(self.metrics).double().sum()) / n if self.metrics else float("nan")
        return loss, metric


def _finish(run: Run, train: _Meter, valid: _Meter | None) -> None:
    run.train_loss = train.read()[0]
    if valid is not None:
        run.valid_loss, run.metric = valid.read()


# ---------------------------------------------------------------- specc

class _EpochClock:
    """A trainer hook: the time at every epoch end."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_epoch_end(self, epoch, model, row) -> None:
        self.ends.append(time.perf_counter())


def run_specc(wl: Workload, train: Split, valid: Split | None, model: nn.Module, epochs: int,
              threads: int | None, tuning=None, **overrides) -> Run:
    import specc

    clock = _EpochClock()
    if threads is not None:
        overrides["threads"] = threads
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = specc.train(wl.spec_text(epochs, overrides.pop("batch", None)), out=out,
                             force=True, hooks=[clock], tuning=tuning, **overrides)
    run = Run([b - a for a, b in zip([start] + clock.ends, clock.ends)])
    last = result.history[-1]
    run.train_loss = last["train.loss"]
    run.valid_loss = last.get("valid.loss", float("nan"))
    run.metric = last.get(f"valid.{wl.metric}", float("nan"))
    run.extra = {"compile_seconds": result.compile_seconds}
    return run


# ---------------------------------------------------------------- the tutorial loop

class PrepareData(Dataset):
    """Seed tutorial 000's Dataset: one example per ``__getitem__``."""

    def __init__(self, X: Tensor, y: Tensor, lengths: Tensor | None = None):
        self.X, self.y, self.lengths = X, y, lengths

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, idx: int):
        if self.lengths is not None:  # tutorial 002: variable-length sequences
            return self.X[idx, : int(self.lengths[idx])], self.y[idx]
        return self.X[idx], self.y[idx]


def collate_text(batch):
    """Seed tutorial 002's ``collate_fn``: pad each batch to its longest sequence."""
    xs, ys = zip(*batch)
    return pad_sequence(list(xs), batch_first=True, padding_value=0), torch.stack(ys)


def _tutorial_loader(data: Split, batch: int, shuffle: bool) -> DataLoader:
    collate = collate_text if data.lengths is not None else None
    return DataLoader(PrepareData(data.x, data.y, data.lengths), batch_size=batch,
                      shuffle=shuffle, collate_fn=collate)


def run_tutorial(wl: Workload, train: Split, valid: Split | None, model: nn.Module, epochs: int,
                 batch: int | None = None) -> Run:
    batch = batch or wl.batch
    loader = _tutorial_loader(train, batch, True)
    valid_loader = _tutorial_loader(valid, batch, False) if valid is not None else None
    optimiser = torch.optim.Adam(model.parameters(), lr=wl.lr)
    run = Run([])
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        total = 0.0
        for xb, yb in loader:
            optimiser.zero_grad()
            loss = wl.loss(model(xb), yb)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(yb)   # the tutorial reads the loss every step
        run.train_loss = total / len(train)
        if valid_loader is not None:
            model.eval()
            loss_sum = metric_sum = 0.0
            with torch.no_grad():
                for xb, yb in valid_loader:
                    out = model(xb)
                    loss_sum += wl.loss(out, yb).item() * len(yb)
                    metric_sum += _metric_sum(wl.metric, out, yb).item()
            run.valid_loss, run.metric = loss_sum / len(valid), metric_sum / len(valid)
        run.seconds.append(time.perf_counter() - start)
    return run


# ---------------------------------------------------------------- TensorDataset + DataLoader

def _tensor_loader(data: Split, batch: int, shuffle: bool) -> DataLoader:
    tensors = (data.x, data.y) if data.lengths is None else (data.x, data.y, data.lengths)
    return DataLoader(TensorDataset(*tensors), batch_size=batch, shuffle=shuffle)


def _trim(parts):
    """(x, y) of a TensorDataset batch; padded sequences cut to the batch's longest."""
    if len(parts) == 3:
        x, y, lengths = parts
        return x[:, : int(lengths.max())], y
    return parts


def run_tensordataset(wl: Workload, train: Split, valid: Split | None, model: nn.Module,
                      epochs: int, batch: int | None = None) -> Run:
    batch = batch or wl.batch
    loader = _tensor_loader(train, batch, True)
    valid_loader = _tensor_loader(valid, batch, False) if valid is not None else None
    optimizer = torch.optim.Adam(model.parameters(), lr=wl.lr)
    run = Run([])
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        meter = _Meter(wl.metric)
        for parts in loader:
            xb, yb = _trim(parts)
            optimizer.zero_grad()
            loss = wl.loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            meter.add_loss(loss, len(yb))
        vmeter = None
        if valid_loader is not None:
            model.eval()
            vmeter = _Meter(wl.metric)
            with torch.no_grad():
                for parts in valid_loader:
                    xb, yb = _trim(parts)
                    out = model(xb)
                    vmeter.add(wl.loss(out, yb), out, yb)
        _finish(run, meter, vmeter)
        run.seconds.append(time.perf_counter() - start)
    return run


# ---------------------------------------------------------------- the ideal loop

def _rows(data: Split, idx: Tensor) -> Tensor:
    if data.lengths is None:
        return data.x[idx]
    return data.x[idx, : int(data.lengths[idx].max())]


def run_ideal(wl: Workload, train: Split, valid: Split | None, model: nn.Module, epochs: int,
              batch: int | None = None, fused: bool | None = None) -> Run:
    batch = batch or wl.batch
    optimizer = torch.optim.Adam(model.parameters(), lr=wl.lr, fused=fused)
    n = len(train)
    run = Run([])
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        meter = _Meter(wl.metric)
        perm = torch.randperm(n)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb, yb = _rows(train, idx), train.y[idx]
            optimizer.zero_grad()
            loss = wl.loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            meter.add_loss(loss, len(yb))
        vmeter = None
        if valid is not None:
            model.eval()
            vmeter = _Meter(wl.metric)
            step = batch if valid.lengths is not None else len(valid)
            with torch.no_grad():
                for i in range(0, len(valid), step):
                    idx = torch.arange(i, min(i + step, len(valid)))
                    out = model(_rows(valid, idx))
                    vmeter.add(wl.loss(out, valid.y[idx]), out, valid.y[idx])
        _finish(run, meter, vmeter)
        run.seconds.append(time.perf_counter() - start)
    return run


def run_ideal_fused(wl, train, valid, model, epochs, batch=None) -> Run:
    return run_ideal(wl, train, valid, model, epochs, batch, fused=True)


# ---------------------------------------------------------------- PyTorch Lightning

def lightning_available() -> bool:
    try:
        import lightning  # noqa: F401
    except ImportError:
        return False
    return True


def run_lightning(wl: Workload, train: Split, valid: Split | None, model: nn.Module,
                  epochs: int, batch: int | None = None) -> Run:
    import logging
    import warnings

    import lightning as L

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)  # banners and tips
    batch = batch or wl.batch
    ends: list[float] = []

    class Clock(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module):  # after the epoch's validation
            ends.append(time.perf_counter())

    class Lit(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.train_meter = _Meter(wl.metric)
            self.valid_meter = _Meter(wl.metric)

        def training_step(self, parts, index):
            xb, yb = _trim(parts)
            loss = wl.loss(self.model(xb), yb)
            self.train_meter.add_loss(loss, len(yb))
            return loss

        def validation_step(self, parts, index):
            xb, yb = _trim(parts)
            out = self.model(xb)
            self.valid_meter.add(wl.loss(out, yb), out, yb)

        def on_train_epoch_start(self) -> None:
            self.train_meter, self.valid_meter = _Meter(wl.metric), _Meter(wl.metric)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=wl.lr)

    lit = Lit()
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, callbacks=[Clock()])
    start = time.perf_counter()
    with warnings.catch_warnings():  # "the dataloader does not have many workers", ...
        warnings.simplefilter("ignore")
        trainer.fit(lit, _tensor_loader(train, batch, True),
                    _tensor_loader(valid, batch, False) if valid is not None else None)
    run = Run([b - a for a, b in zip([start] + ends, ends)])
    _finish(run, lit.train_meter, lit.valid_meter if valid is not None else None)
    return run


WAYS: dict[str, Callable[..., Run]] = {
    "specc": run_specc,
    "tutorial": run_tutorial,
    "tensordataset": run_tensordataset,
    "ideal": run_ideal,
    "ideal_fused": run_ideal_fused,
    "lightning": run_lightning,
}
