"""The trainer's speed settings: each one switched off gives the same run (or, for those
documented to change only rounding, the same run up to rounding)."""
from dataclasses import replace

import pytest
import torch
from torch import fx, nn

from specc.training import checkpoint
from specc.training.config import TrainConfig
from specc.training.shortcuts import batch_independent, direct_module, eval_batch_size, mean_loss
from specc.training.tuning import Tuning

from trainkit import mlp, params_equal, run


def cpu(tmp=None, **kwargs):
    return TrainConfig(device="cpu", checkpoint=str(tmp) if tmp else None,
                       **{"epochs": 3, **kwargs})


# ---------------------------------------------------------------- settings

def test_tuning_from_env_turns_settings_off():
    assert Tuning.from_env("") == Tuning()
    assert Tuning.from_env("-fused_optimizer, -wide_eval") == \
        replace(Tuning(), fused_optimizer=False, wide_eval=False)
    assert not any(vars(Tuning.from_env("off")).values())


@pytest.mark.parametrize("text", ["-nope", "fused_optimizer", "on"])
def test_tuning_from_env_refuses_unknown_text(text):
    with pytest.raises(ValueError, match="SPECC_TUNING"):
        Tuning.from_env(text)


# ---------------------------------------------------------------- exactness in fit

@pytest.mark.parametrize("setting", ["fast_zero_grad", "background_checkpoints", "throttled_checkpoints"])
def test_switching_a_setting_off_gives_bitwise_equal_weights(tmp_path, setting):
    on = run(mlp(dropout=0.2), config=cpu(tmp_path / "on"), tuning=Tuning())
    off = run(mlp(dropout=0.2), config=cpu(tmp_path / "off"),
              tuning=replace(Tuning(), **{setting: False}))
    assert params_equal(on.model, off.model)
    a, b = (checkpoint.load(tmp_path / d / "last.pt") for d in ("on", "off"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["optimizer"]["state"]["0.weight"]["step"] == b["optimizer"]["state"]["0.weight"]["step"] == 30


def test_fast_zero_grad_leaves_no_gradient_behind():
    result = run(mlp(), config=cpu(epochs=1))
    assert all(p.grad is None for p in result.model.parameters())


def test_background_checkpoints_are_on_disk_when_fit_returns(tmp_path):
    run(mlp(), config=cpu(tmp_path, epochs=2), tuning=Tuning(background_checkpoints=True))
    assert checkpoint.load(tmp_path / checkpoint.LAST)["epoch"] == 2
    assert checkpoint.load(tmp_path / checkpoint.BEST)["epoch"] in (1, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]  # no temp files


def _counting_writes(monkeypatch) -> list:
    calls = []
    original = checkpoint.Writer.write
    monkeypatch.setattr(checkpoint.Writer, "write",
                        lambda self, paths, state: (calls.append(sorted(p.name for p in paths)),
                                                    original(self, paths, state)))
    return calls


@pytest.mark.parametrize("background", [True, False])
def test_throttled_checkpoints_write_less_and_leave_the_same_files(tmp_path, monkeypatch, background):
    monkeypatch.setattr("specc.training.trainer.CHECKPOINT_INTERVAL", 1e9)   # nothing is due after epoch 1
    calls = _counting_writes(monkeypatch)
    on = replace(Tuning(), background_checkpoints=background)
    run(mlp(dropout=0.2), config=cpu(tmp_path / "on", epochs=5), tuning=on)
    throttled, calls[:] = list(calls), []
    run(mlp(dropout=0.2), config=cpu(tmp_path / "off", epochs=5), tuning=replace(on, throttled_checkpoints=False))
    assert throttled[0] == ["best.pt", "last.pt"] and len(throttled) <= 3 < len(calls) == 5
    for name in ("last.pt", "best.pt"):
        a, b = (checkpoint.load(tmp_path / d / name) for d in ("on", "off"))
        assert a["epoch"] == b["epoch"] and a["best"] == b["best"]
        assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
        assert a["optimizer"]["state"]["0.weight"]["step"] == b["optimizer"]["state"]["0.weight"]["step"]
    assert checkpoint.load(tmp_path / "on" / "last.pt")["epoch"] == 5


def test_a_checkpoint_is_written_once_the_interval_has_passed(tmp_path, monkeypatch):
    monkeypatch.setattr("specc.training.trainer.CHECKPOINT_INTERVAL", 0.0)
    calls = _counting_writes(monkeypatch)
    run(mlp(), config=cpu(tmp_path, epochs=4))
    assert len(calls) == 4       # every epoch end is due: the same as without throttling


# ---------------------------------------------------------------- the background writer

def test_writer_writes_the_state_as_it_was_when_asked(tmp_path):
    value = torch.tensor([1.0])
    writer = checkpoint.Writer(background=True)
    writer.write([tmp_path / "a.pt", tmp_path / "b.pt"], {"format": checkpoint.FORMAT, "value": value})
    value.add_(1)  # training goes on while the file is written
    writer.wait()
    for name in ("a.pt", "b.pt"):
        assert torch.equal(checkpoint.load(tmp_path / name)["value"], torch.tensor([1.0]))


def test_writer_keeps_the_order_of_writes(tmp_path):
    writer = checkpoint.Writer(background=True)
    for i in range(5):
        writer.write([tmp_path / "last.pt"], {"format": checkpoint.FORMAT, "value": torch.tensor([float(i)])})
    writer.wait()
    assert checkpoint.load(tmp_path / "last.pt")["value"].item() == 4.0


@pytest.mark.parametrize("background", [True, False])
def test_writer_reports_a_failed_write(tmp_path, background):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    writer = checkpoint.Writer(background=background)
    with pytest.raises(OSError):
        writer.write([blocker / "last.pt"], {"format": 1})
        writer.wait()
    writer.wait()  # the error was handed over once


def test_writer_can_hold_back_its_error_when_another_is_raised(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    writer = checkpoint.Writer(background=True)
    writer.write([blocker / "last.pt"], {"format": 1})
    writer.wait(raise_errors=False)


# ---------------------------------------------------------------- shortcuts

def _graph(fn) -> fx.GraphModule:
    return fx.symbolic_trace(fn)


class _Forward(nn.Module):
    def __init__(self, loss):
        super().__init__()
        self.loss = loss

    def forward(self, output, target):
        return self.loss(output, target)


class _Scaled(_Forward):
    def forward(self, output, target):
        return self.loss(output, target) * 2


class _Swapped(_Forward):
    def forward(self, output, target):
        return self.loss(target, output)


def test_direct_module_finds_a_loss_that_is_only_forwarded():
    ce = nn.CrossEntropyLoss()
    assert direct_module(_graph(_Forward(ce))) is not None
    assert isinstance(direct_module(_graph(_Forward(ce))), nn.CrossEntropyLoss)
    assert direct_module(_graph(_Scaled(ce))) is None
    assert direct_module(_graph(_Swapped(nn.MSELoss()))) is None
    assert direct_module(ce) is None


def test_direct_module_computes_what_the_graph_computes():
    graph = _graph(_Forward(nn.CrossEntropyLoss(label_smoothing=0.1)))
    out, target = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    assert torch.equal(direct_module(graph)(out, target), graph(out, target))


def test_mean_loss_only_for_mean_reduced_torch_losses():
    assert mean_loss(nn.CrossEntropyLoss())
    assert not mean_loss(nn.CrossEntropyLoss(reduction="sum"))
    assert not mean_loss(lambda o, t: (o - t).abs().mean())


def test_batch_independent_refuses_batch_statistics_and_foreign_layers():
    assert batch_independent(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()))
    assert not batch_independent(nn.Sequential(nn.BatchNorm1d(4, track_running_stats=False)))

    class Mine(nn.Module):
        def forward(self, x):
            return x - x.mean(0)
    assert not batch_independent(nn.Sequential(nn.Linear(2, 2), Mine()))


@pytest.mark.parametrize("elements, batch, examples, budget, expected", [
    (2, 64, 2000, 1 << 20, 2000),      # a small split: one batch
    (3073, 32, 120, 1 << 20, 120),
    (3073, 32, 5000, 1 << 20, 341),    # as many as fit the budget
    (1 << 21, 16, 100, 1 << 20, 16),   # never below the training batch
])
def test_eval_batch_size(elements, batch, examples, budget, expected):
    assert eval_batch_size(elements, batch, examples, budget) == expected
