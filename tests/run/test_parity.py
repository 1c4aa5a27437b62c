"""specc's trainer computes what the hand-written loop computes: speed never comes from
computing something else.

The moons model is trained by ``specc.train`` and by the "ideal" hand-written loop (in-memory
tensors, a permutation per epoch, ``zero_grad``, forward, loss, backward, ``step``) from the
same initial weights (``specc.build`` under the same ``torch.manual_seed``), on the same
split tensors (read the way specc reads them), in the same example order (specc's
``epoch_order``) and with the same optimiser settings. Per-epoch losses agree to 5 decimals.

specc uses ``Adam(fused=True)``; the hand-written loop uses torch's default implementation,
so the comparison also shows that the fused kernel is the same update up to float rounding.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn
import torch.nn.functional as F

import specc
from specc.data.batches import epoch_order
from specc.data.plan import load_splits

SPEC = """
data {
    train = moons(samples=10000, noise=0.2)
    valid = 20%
    batch = 64
    seed = 4
}
model MoonNet(x: float[2]) {
    return x -> Linear(50) -> ReLU -> Linear(2)
}
loss = cross_entropy
optimizer = Adam(lr=0.01)
train { epochs = 3, seed = 7, metrics = [accuracy] }
"""
EPOCHS, BATCH, LR, DATA_SEED, SEED = 3, 64, 0.01, 4, 7


def ideal_loop(fused: bool | None) -> list[tuple[float, float, float]]:
    """(train loss, valid loss, valid accuracy) per epoch, by hand."""
    checked = specc.check(specc.load(SPEC))
    splits = load_splits(checked.spec, checked.data, checked.target)
    x, y = splits.train.fields["x"], splits.train.fields["y"]
    xv, yv = splits.valid.fields["x"], splits.valid.fields["y"]

    torch.manual_seed(SEED)  # specc.train seeds with train.seed, then builds the model
    built = specc.build(specc.load(SPEC))
    model = nn.Sequential(nn.Linear(2, 50), nn.ReLU(), nn.Linear(50, 2))
    model.load_state_dict(dict(zip(model.state_dict(), built.state_dict().values())))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=fused)

    rows = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as specc runs this small model; the sums do not depend on it
    try:
        for epoch in range(EPOCHS):
            rows.append(_epoch(model, optimizer, x, y, xv, yv, epoch))
    finally:
        torch.set_num_threads(threads)
    return rows


def _epoch(model, optimizer, x, y, xv, yv, epoch: int) -> tuple[float, float, float]:
    """One epoch in specc's example order, then the valid split in one pass."""
    model.train()
    order = epoch_order(len(x), DATA_SEED, epoch, True)
    total = 0.0
    for start in range(0, len(x), BATCH):
        idx = order[start:start + BATCH]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    model.eval()
    with torch.no_grad():
        out = model(xv)
        valid_loss = F.cross_entropy(out, yv).item()
        accuracy = (out.argmax(1) == yv).double().mean().item()
    return total / len(x), valid_loss, accuracy


@pytest.fixture(scope="module")
def specc_rows(tmp_path_factory):
    result = specc.train(SPEC, out=tmp_path_factory.mktemp("parity"))
    return [(r["train.loss"], r["valid.loss"], r["valid.accuracy"]) for r in result.history]


@pytest.mark.parametrize("fused", [None, True], ids=["default-adam", "fused-adam"])
def test_specc_losses_equal_the_hand_written_loop(specc_rows, fused):
    hand = ideal_loop(fused)
    assert len(specc_rows) == len(hand) == EPOCHS
    for epoch, (ours, theirs) in enumerate(zip(specc_rows, hand), 1):
        assert ours[0] == pytest.approx(theirs[0], abs=5e-6), f"train loss, epoch {epoch}"
        assert ours[1] == pytest.approx(theirs[1], abs=5e-6), f"valid loss, epoch {epoch}"
        assert ours[2] == pytest.approx(theirs[2], abs=1e-9), f"valid accuracy, epoch {epoch}"


def test_the_losses_move():
    """The comparison above is not between two runs that never trained."""
    rows = ideal_loop(None)
    assert rows[-1][0] < rows[0][0] < 0.69  # below chance from the first epoch on
