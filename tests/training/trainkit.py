"""Shared pieces for the trainer tests: a tiny batcher, data, models, and a run helper."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

from specc.training.config import TrainConfig
from specc.training.loop import fit


class TinyBatches:
    """The batcher interface the loop consumes: order depends only on (seed, epoch)."""

    def __init__(self, x, y, batch=16, shuffle=True, seed=0):
        self.x, self.y, self.batch, self.shuffle, self.seed = x, y, batch, shuffle, seed
        self.epoch = 0

    @property
    def num_examples(self):
        return len(self.x)

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return -(-len(self.x) // self.batch)

    def order(self):
        if not self.shuffle:
            return torch.arange(len(self.x))
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        return torch.randperm(len(self.x), generator=g)

    def __iter__(self):
        perm = self.order()
        for i in range(0, len(perm), self.batch):
            idx = perm[i:i + self.batch]
            yield {"x": self.x[idx], "y": self.y[idx]}


def separable(n=200, seed=0):
    """Two linearly separable blobs in 2-D, class indices as targets."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, y


def line_data(n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=g) * 4 - 2
    y = 2 * x + 1 + 0.1 * torch.randn(n, 1, generator=g)
    return x, y


def mlp(seed=0, dropout=0.0, inputs=2, outputs=2):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(inputs, 16), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(16, outputs))


def adam(lr=0.01):
    return lambda params: torch.optim.Adam(params, lr=lr)


def run(model, data=None, *, config=None, out_dir: Path | None = None, valid=True, seed=0,
        loss_fn=F.cross_entropy, lr=0.01, make_scheduler=None, batch=16, **kwargs):
    """fit() on the separable problem (or ``data``) with quiet progress."""
    x, y = data if data is not None else separable()
    split = int(len(x) * 0.8)
    train = TinyBatches(x[:split], y[:split], batch=batch, seed=seed)
    held = TinyBatches(x[split:], y[split:], batch=batch, shuffle=False) if valid else None
    config = config or TrainConfig(epochs=3, device="cpu", seed=seed)
    return fit(model, train, held, None, ["x"], "y", loss_fn, adam(lr), make_scheduler, config,
               out_dir, progress=kwargs.pop("progress", False), **kwargs)


def params_equal(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
