"""The benchmark's workloads: a spec text each (embedded, so the benchmark does not depend on
the example specs), the same model written by hand, and how to read its data.

Every way of training a workload gets the same data (the splits specc itself loads, read
with :func:`load_data`), the same initial weights (:func:`initial_models`: ``specc.build``
under ``torch.manual_seed(seed)``, copied into the hand-written module) and the same
optimiser settings (Adam with the spec's learning rate).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn, Tensor

ROOT = Path(__file__).resolve().parent.parent
SHAPES = ROOT / "specs" / "data" / "shapes"


@dataclass
class Workload:
    name: str
    spec: str              # spec text; EPOCHS and BATCH are filled in
    batch: int
    epochs: int
    lr: float
    make_model: Callable[[], nn.Module]
    loss: Callable[[Tensor, Tensor], Tensor]
    metric: str            # "accuracy" or "mae"
    input: str = "x"       # the model's input field
    variable: bool = False  # the input is padded per batch to its longest example

    def spec_text(self, epochs: int | None = None, batch: int | None = None) -> str:
        return (self.spec.replace("EPOCHS", str(epochs or self.epochs))
                .replace("BATCH", str(batch or self.batch)))


def _moons_model() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 50), nn.ReLU(), nn.Linear(50, 2))


def _digits_model() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 500), nn.ReLU(), nn.Linear(500, 10))


def _sine_model() -> nn.Module:
    return nn.Sequential(nn.Linear(1, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                         nn.Linear(100, 1))


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.MaxPool2d(2))


def _cnn_model() -> nn.Module:
    return nn.Sequential(_conv_block(3, 16), _conv_block(16, 32), nn.Flatten(),
                         nn.Linear(2048, 64), nn.ReLU(), nn.Linear(64, 3))


class BiLSTM(nn.Module):
    """Seed tutorial 002's BiLSTM classifier over padded token batches."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(1000, 64)
        self.lstm = nn.LSTM(64, 64, bidirectional=True, batch_first=True)
        self.linear1 = nn.Linear(256, 64)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.1)
        self.linear2 = nn.Linear(64, 2)

    def forward(self, tokens: Tensor) -> Tensor:
        out, _ = self.lstm(self.embedding(tokens))
        pooled = torch.cat([out.mean(dim=1), out.amax(dim=1)], dim=-1)
        return self.linear2(self.dropout(self.relu(self.linear1(pooled))))


_CLASSIFY = "loss = cross_entropy\noptimizer = Adam(lr={lr})\n"
_TRAIN = "train {{ epochs = EPOCHS, seed = 0, metrics = [{metric}] }}\n"

WORKLOADS: dict[str, Workload] = {w.name: w for w in [
    Workload("moons", """
data {
    train = moons(samples=10000, noise=0.2)
    valid = 20%
    batch = BATCH
}
model MoonNet(x: float[2]) {
    return x -> Linear(50) -> ReLU -> Linear(2)
}
""" + _CLASSIFY.format(lr=0.01) + _TRAIN.format(metric="accuracy"),
             64, 6, 0.01, _moons_model, nn.functional.cross_entropy, "accuracy"),
    Workload("digits", """
data {
    train = digits()
    valid = 20%
    batch = BATCH
    transform = x / 16
}
model DigitNet(x: float[64]) {
    return x -> Linear(500) -> ReLU -> Linear(10)
}
""" + _CLASSIFY.format(lr=0.001) + _TRAIN.format(metric="accuracy"),
             64, 12, 0.001, _digits_model, nn.functional.cross_entropy, "accuracy"),
    Workload("sine", """
data {
    train = generate(samples=5000, x=uniform(-3, 3), y=sin(x) + normal(0, 0.1))
    valid = 20%
    batch = BATCH
}
model GeneralFit(x: float[1]) {
    return x -> Linear(100) -> ReLU -> Linear(100) -> ReLU -> Linear(1)
}
loss = mse
optimizer = Adam(lr=0.01)
""" + _TRAIN.format(metric="mae"),
             64, 6, 0.01, _sine_model, nn.functional.mse_loss, "mae"),
    Workload("cnn", f"""
data {{
    train = image_folder("{SHAPES.as_posix()}", size=[32, 32])
    valid = 20%
    batch = BATCH
}}
block ConvBlock(x: float[c, h, w], channels: int) {{
    return x -> Conv2d(channels, 3, padding=1) -> BatchNorm2d -> ReLU -> MaxPool2d(2)
}}
model ShapeNet(x: float[3, 32, 32]) {{
    return x -> ConvBlock(channels=16) -> ConvBlock(channels=32) -> Flatten -> Linear(64) -> ReLU -> Linear(data.classes)
}}
""" + _CLASSIFY.format(lr=0.001)
             + _TRAIN.format(metric="accuracy"),
             32, 5, 0.001, _cnn_model, nn.functional.cross_entropy, "accuracy"),
    Workload("bilstm", """
data {
    train = sequences(samples=2000, vocab=1000, length=10..50, classes=2)
    valid = 10%
    batch = BATCH
    pad = 0
}
model BiLSTM(tokens: long[seq]) {
    e = Embedding(data.vocab, 64)(tokens)
    out, _ = LSTM(64, bidirectional=true)(e)
    pooled = cat(mean(out, dim=1), max(out, dim=1))
    return pooled -> Linear(64) -> ReLU -> Dropout(0.1) -> Linear(data.classes)
}
""" + _CLASSIFY.format(lr=0.001) + _TRAIN.format(metric="accuracy"),
             64, 4, 0.001, BiLSTM, nn.functional.cross_entropy, "accuracy", "tokens", True),
]}

# The per-step overhead workload: the moons MLP with nothing but training in an epoch.
TINY = Workload("tiny", """
data {
    train = moons(samples=2000, noise=0.2)
    batch = BATCH
}
model MoonNet(x: float[2]) {
    return x -> Linear(50) -> ReLU -> Linear(2)
}
loss = cross_entropy
optimizer = Adam(lr=0.01)
train { epochs = EPOCHS, seed = 0 }
""", 8, 4, 0.01, _moons_model, nn.functional.cross_entropy, "none")


@dataclass
class Split:
    """One split as tensors: ``x`` (padded for variable-length inputs), ``lengths`` or None,
    ``y``."""

    x: Tensor
    y: Tensor
    lengths: Tensor | None = None

    def __len__(self) -> int:
        return len(self.y)


def load_data(text: str, field: str) -> tuple[Split, Split | None]:
    """The train and valid splits exactly as ``specc.train`` loads them for this spec."""
    import specc
    from specc.data.plan import load_splits

    checked = specc.check(specc.load(text))
    splits = load_splits(checked.spec, checked.data, checked.target)

    def split(table) -> Split | None:
        if table is None:
            return None
        return Split(table.fields[field], table.fields[checked.target], table.lengths.get(field))
    return split(splits.train), split(splits.valid)


def initial_models(text: str, make_model: Callable[[], nn.Module], seed: int = 0
                   ) -> tuple[nn.Module, nn.Module]:
    """(specc's model, the hand-written one) with the same initial weights: specc.build under
    ``torch.manual_seed(seed)``, as ``specc.train`` builds it, copied tensor by tensor."""
    import specc

    torch.manual_seed(seed)
    built = specc.build(specc.load(text))
    hand = make_model()
    theirs, ours = built.state_dict(), hand.state_dict()
    if [t.shape for t in theirs.values()] != [t.shape for t in ours.values()]:
        raise SystemExit(f"hand-written model does not match the spec's: {list(theirs)} vs {list(ours)}")
    hand.load_state_dict(dict(zip(ours, theirs.values())))
    return built, hand
