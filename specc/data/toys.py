"""Synthetic sources generated in torch from a seeded ``torch.Generator``.

``moons``, ``circles`` and ``blobs`` follow scikit-learn's ``make_moons``, ``make_circles``
and ``make_blobs`` formulas (same distributions, not the same random numbers), so specs do
not need scikit-learn. Arithmetic is done in float64 and stored as float32. The same seed
always gives the same table; a different seed a different one.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from specc.catalog.source_base import as_range
from specc.data.table import Table


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _shuffled(x: Tensor, y: Tensor, g: torch.Generator, noise: float) -> Table:
    """Shuffle examples, add gaussian noise to x, and store as float32 / long."""
    order = torch.randperm(len(y), generator=g)
    x, y = x[order], y[order]
    if noise > 0:
        x = x + noise * torch.randn(x.shape, generator=g, dtype=x.dtype)
    return Table({"x": x.to(torch.float32), "y": y.to(torch.long)})


def moons(samples: int, noise: float, seed: int) -> Table:
    """Two interleaving half circles: the outer one (class 0) is the upper half of the unit
    circle, the inner one (class 1) is the lower half shifted by (1, -0.5)."""
    g = _generator(seed)
    n_out = samples // 2
    n_in = samples - n_out
    t_out = torch.linspace(0, math.pi, n_out, dtype=torch.float64)
    t_in = torch.linspace(0, math.pi, n_in, dtype=torch.float64)
    outer = torch.stack([torch.cos(t_out), torch.sin(t_out)], 1)
    inner = torch.stack([1 - torch.cos(t_in), 1 - torch.sin(t_in) - 0.5], 1)
    y = torch.cat([torch.zeros(n_out), torch.ones(n_in)])
    return _shuffled(torch.cat([outer, inner]), y, g, noise)


def circles(samples: int, noise: float, factor: float, seed: int) -> Table:
    """A unit circle (class 0) around a circle of radius ``factor`` (class 1)."""
    g = _generator(seed)
    n_out = samples // 2
    n_in = samples - n_out
    t_out = torch.arange(n_out, dtype=torch.float64) * (2 * math.pi / max(n_out, 1))
    t_in = torch.arange(n_in, dtype=torch.float64) * (2 * math.pi / max(n_in, 1))
    outer = torch.stack([torch.cos(t_out), torch.sin(t_out)], 1)
    inner = factor * torch.stack([torch.cos(t_in), torch.sin(t_in)], 1)
    y = torch.cat([torch.zeros(n_out), torch.ones(n_in)])
    return _shuffled(torch.cat([outer, inner]), y, g, noise)


def blobs(samples: int, centers: int, features: int, std: float, seed: int) -> Table:
    """Isotropic gaussian clusters of standard deviation ``std`` around ``centers`` centres
    drawn uniformly from [-10, 10]^features; cluster k has ``samples // centers`` examples,
    one more for the first ``samples % centers`` clusters."""
    g = _generator(seed)
    middle = torch.rand((centers, features), generator=g, dtype=torch.float64) * 20 - 10
    counts = torch.full((centers,), samples // centers)
    counts[: samples % centers] += 1
    y = torch.repeat_interleave(torch.arange(centers), counts)
    x = middle[y] + std * torch.randn((samples, features), generator=g, dtype=torch.float64)
    return _shuffled(x, y, g, 0.0)


INDICATOR_RATE = 0.2
"""Fraction of positions in a ``sequences`` example drawn from its class's indicator tokens."""


def indicator_tokens(vocab: int, classes: int) -> Tensor:
    """``[classes, k]`` token ids: class c's indicators, disjoint between classes.

    ``k = clamp((vocab - 1) // (4 * classes), 1, 8)``, so at most a quarter of the vocabulary
    is indicators and the rest is shared background.
    """
    k = max(1, min(8, (vocab - 1) // (4 * classes)))
    return torch.arange(1, 1 + classes * k).view(classes, k)


def sequences(samples: int, vocab: int, length, classes: int, seed: int) -> Table:
    """Variable-length token sequences whose class is learnable from the tokens.

    Each example draws a class uniformly and a length uniformly in ``length`` (inclusive).
    Every position is, with probability :data:`INDICATOR_RATE`, one of its class's indicator
    tokens (:func:`indicator_tokens`), otherwise a uniform token in ``1..vocab-1``. Id 0 is
    padding and fills positions past each example's length.
    """
    lo, hi = as_range(length)
    g = _generator(seed)
    y = torch.randint(0, classes, (samples,), generator=g)
    lengths = torch.randint(lo, hi + 1, (samples,), generator=g)
    background = torch.randint(1, vocab, (samples, hi), generator=g)
    marks = indicator_tokens(vocab, classes)
    pick = torch.randint(0, marks.shape[1], (samples, hi), generator=g)
    use = torch.rand((samples, hi), generator=g) < INDICATOR_RATE
    tokens = torch.where(use, marks[y.unsqueeze(1), pick], background)
    tokens[torch.arange(hi).unsqueeze(0) >= lengths.unsqueeze(1)] = 0
    tokens = tokens[:, : int(lengths.max())]  # stored padded to the longest example only
    return Table({"tokens": tokens, "y": y}, lengths={"tokens": lengths})
