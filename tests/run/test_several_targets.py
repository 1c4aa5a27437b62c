"""Language 1.1 section 10.9 end to end: the loss and metrics over named outputs and fields."""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

import specc
from specc.run import feed, loss_function
from specc.training.tuning import Tuning

MULTITASK = Path(__file__).resolve().parents[2] / "specs" / "multitask.spec"

INLINE = """
data {{
    train = tensors(x=[[0, 1], [1, 0], [1, 1], [0, 0], [2, 1], [1, 2], [2, 2], [0, 2]],
                    y=[0, 1, 1, 0, 1, 0, 1, 0], size=[1, 2, 3, 0, 4, 3, 5, 1])
    valid = 25%
    batch = 4
}}
model TwoHeads(x: float[2]) {{
    h = x -> Linear(8) -> ReLU
    logits = h -> Linear(2)
    amount = h -> Linear(1)
    return logits, amount
}}
loss = {loss}
optimizer = Adam(lr=0.01)
train {{ epochs = 4, metrics = [accuracy(logits, y), mae(amount, size)]{train} }}
"""


def test_the_two_head_loss_is_the_sum_it_is_written_as():
    checked = specc.check(MULTITASK)
    assert checked.program.loss_reads == ["logits", "amount", "kind", "size"]   # outputs, then fields
    assert feed(checked).loss == (("output", 0), ("output", 1), ("field", "kind"), ("field", "size"))
    loss = loss_function(checked, {}, Tuning())
    g = torch.Generator().manual_seed(0)
    logits, amount, size = torch.randn(6, 3, generator=g), torch.randn(6, 1, generator=g), torch.randn(6, 1, generator=g)
    kind = torch.randint(0, 3, (6,), generator=g)
    want = F.cross_entropy(logits, kind) + 0.5 * F.mse_loss(amount, size)
    assert torch.equal(loss(logits, amount, kind, size), want)


def test_a_call_metric_is_monitored_by_its_key(tmp_path):
    path = tmp_path / "two.spec"
    path.write_text(INLINE.format(loss="cross_entropy(logits, y) + mse(amount, size)",
                                  train=', monitor = "valid.mae(amount, size)"'))
    result = specc.train(path, out=tmp_path / "run")
    maes = [row["valid.mae(amount, size)"] for row in result.history]
    assert result.epoch == 1 + maes.index(min(maes))
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["chosen"] == "best valid.mae(amount, size)"


def test_a_loss_of_the_output_alone_reads_only_the_output(tmp_path):
    path = tmp_path / "one.spec"
    path.write_text(INLINE.format(loss="mean(output ** 2)", train=""))
    checked = specc.check(path)
    assert checked.program.loss_reads == ["output"] and feed(checked).loss == (("output", 0),)
    result = specc.train(path, out=tmp_path / "run")
    assert set(result.metrics["valid"]) == {"loss", "accuracy(logits, y)", "mae(amount, size)"}
