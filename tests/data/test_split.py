"""Held-out splits: exact size, disjoint cover, seeded, class proportions kept."""
from __future__ import annotations

import pytest
import torch

from specc.catalog.sources import SourceError
from specc.data.split import split
from specc.data.table import Table


def labelled(counts: list[int]) -> Table:
    y = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return Table({"x": torch.arange(len(y), dtype=torch.float32).unsqueeze(1), "y": y},
                 texts={"text": [f"doc {i}" for i in range(len(y))]})


def test_stratified_split_keeps_class_proportions():
    t = labelled([100, 60, 40])
    train, held = split(t, 0.2, seed=0)
    assert torch.bincount(held.fields["y"]).tolist() == [20, 12, 8]
    assert torch.bincount(train.fields["y"]).tolist() == [80, 48, 32]
    together = torch.cat([train.fields["x"], held.fields["x"]]).squeeze(1).sort().values
    assert together.tolist() == list(range(200))
    assert held.texts["text"] == [f"doc {int(i)}" for i in held.fields["x"].squeeze(1)]


def test_largest_remainders_make_the_total_exact():
    train, held = split(labelled([7, 7, 6]), 0.25, seed=1)  # quotas 1.75, 1.75, 1.5
    assert len(held) == 5
    assert torch.bincount(held.fields["y"]).tolist() == [2, 2, 1]


def test_seeded():
    t = labelled([50, 50])
    a = split(t, 0.3, seed=5)[1].fields["x"]
    assert torch.equal(a, split(t, 0.3, seed=5)[1].fields["x"])
    assert not torch.equal(a, split(t, 0.3, seed=6)[1].fields["x"])


def test_regression_target_uses_plain_random_split():
    t = Table({"x": torch.randn(10, 1), "y": torch.randn(10, 1)})
    train, held = split(t, 0.3, seed=0)
    assert (len(train), len(held)) == (7, 3)


@pytest.mark.parametrize("fraction", [0.0, 1.0, 0.01])
def test_bad_fractions(fraction):
    with pytest.raises(SourceError):
        split(labelled([5, 5]), fraction, seed=0)
