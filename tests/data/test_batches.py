"""Batching: coverage, seeded per-epoch order, exact resume, per-batch padding."""
from __future__ import annotations

import pytest
import torch

from specc.data.batches import (InMemoryBatches, StreamingBatches, TableDataset, epoch_order,
                                lengths_key)
from specc.data.table import Table


def ragged_table(n: int = 23, pad: int = 0) -> Table:
    """Example i has length 1 + (7 * i) % 9 and tokens i*100 + 1 .. i*100 + length."""
    lengths = torch.tensor([1 + (7 * i) % 9 for i in range(n)])
    width = int(lengths.max())
    tokens = torch.full((n, width), pad)
    for i, ln in enumerate(lengths.tolist()):
        tokens[i, :ln] = torch.arange(1, ln + 1) + 100 * i
    return Table({"tokens": tokens, "y": torch.arange(n)}, lengths={"tokens": lengths})


def ids(batches) -> list[int]:
    return [i for b in batches for i in b["y"].tolist()]


BATCHERS = [
    lambda t, **kw: InMemoryBatches(t, **kw),
    lambda t, **kw: StreamingBatches(TableDataset(t), **kw),
]


@pytest.mark.parametrize("make", BATCHERS)
def test_each_example_once_per_epoch_and_order_depends_on_seed_and_epoch(make):
    t = ragged_table()
    b = make(t, batch_size=5, shuffle=True, seed=7)
    assert len(b) == 5 and b.num_examples == 23
    b.set_epoch(0)
    e0 = ids(b)
    assert sorted(e0) == list(range(23))
    b.set_epoch(1)
    e1 = ids(b)
    assert sorted(e1) == list(range(23)) and e1 != e0
    b.set_epoch(0)
    assert ids(b) == e0  # same (seed, epoch) -> same order, on any batcher instance
    other = make(t, batch_size=5, shuffle=True, seed=7)
    other.set_epoch(1)
    assert ids(other) == e1
    assert e0 == epoch_order(23, 7, 0, True).tolist()


@pytest.mark.parametrize("make", BATCHERS)
def test_iter_from_resumes_mid_epoch(make):
    b = make(ragged_table(), batch_size=4, shuffle=True, seed=1)
    b.set_epoch(3)
    full = [x["y"].tolist() for x in b]
    assert [x["y"].tolist() for x in b.iter_from(2)] == full[2:]
    assert [x["y"].tolist() for x in b] == full  # resuming does not stick


@pytest.mark.parametrize("make", BATCHERS)
@pytest.mark.parametrize("shuffle", [False, True])
def test_variable_length_padded_to_batch_max_only(make, shuffle):
    t = ragged_table(pad=0)
    b = make(t, batch_size=4, shuffle=shuffle, seed=2, pad_value=-5)
    widths = set()
    for batch in b:
        tokens, lengths = batch["tokens"], batch[lengths_key("tokens")]
        assert tokens.shape[1] == int(lengths.max())
        widths.add(tokens.shape[1])
        for row, ln, i in zip(tokens, lengths.tolist(), batch["y"].tolist()):
            assert ln == 1 + (7 * i) % 9
            assert row[:ln].tolist() == list(range(100 * i + 1, 100 * i + ln + 1))
            assert bool((row[ln:] == -5).all())
    assert len(widths) > 1  # batches really differ in width


def test_in_memory_no_shuffle_and_full_batch():
    t = ragged_table(10)
    b = InMemoryBatches(t, batch_size=4)
    assert [x["y"].tolist() for x in b] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(InMemoryBatches(t, batch_size=4, drop_last=True)) == 2
    full = InMemoryBatches(t, batch_size=None, shuffle=True)
    (only,) = list(full)
    assert len(full) == 1 and only["y"].tolist() == list(range(10))
    assert only["tokens"].shape == (10, 9)


def test_streaming_workers_match_in_process():
    t = ragged_table()
    a = StreamingBatches(TableDataset(t), batch_size=6, shuffle=True, seed=4, workers=2)
    b = InMemoryBatches(t, batch_size=6, shuffle=True, seed=4)
    a.set_epoch(2)
    b.set_epoch(2)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        assert all(torch.equal(x[k], y[k]) for k in x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("make", BATCHERS)
def test_cuda_batches_equal_cpu_batches(make):
    t = ragged_table()
    on_gpu = make(t, batch_size=6, shuffle=True, seed=3, device="cuda")
    on_cpu = make(t, batch_size=6, shuffle=True, seed=3)
    for x, y in zip(on_gpu, on_cpu):
        assert all(v.device.type == "cuda" for v in x.values())
        assert all(torch.equal(x[k].cpu(), y[k]) for k in y)
