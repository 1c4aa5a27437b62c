"""Checkpoints: atomic writes, safe loads, exact resume, interruption, divergence."""
import signal

import pytest
import torch

from specc.training import checkpoint
from specc.training.config import EarlyStop, TrainConfig
from specc.training.errors import DivergenceError, ResumeError

from trainkit import mlp, params_equal, run


def cpu(tmp_path, **kwargs):
    return TrainConfig(device="cpu", checkpoint=str(tmp_path / "ckpt"), **{"epochs": 4, **kwargs})


class SignalAt:
    """Sends a signal to this process after the ``at``-th optimizer step."""

    def __init__(self, at, sig=signal.SIGINT):
        self.at, self.sig, self.steps = at, sig, 0

    def on_step(self, epoch, step):
        self.steps += 1
        if self.steps == self.at:
            signal.raise_signal(self.sig)


def without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


# (model dropout, config extras, scheduler): RNG state, accumulation, clipping and a
# per-batch scheduler must all come back exactly.
CASES = {
    "dropout": (0.3, {}, None),
    "accumulate-clip-onecycle": (0.0, {"accumulate": 2, "clip_grad": 0.5},
                                 lambda opt, steps, epochs: torch.optim.lr_scheduler.OneCycleLR(
                                     opt, max_lr=0.05, total_steps=steps * epochs)),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("stop_at", [13, 20], ids=["mid-epoch", "epoch-end"])
def test_interrupted_and_resumed_run_is_bitwise_equal(tmp_path, case, stop_at):
    dropout, extra, scheduler = CASES[case]
    whole = run(mlp(dropout=dropout), config=cpu(tmp_path / "a", **extra),
                make_scheduler=scheduler)

    config = cpu(tmp_path / "b", **extra)
    steps = stop_at if not extra else stop_at // 2  # accumulate=2: 5 steps per epoch
    first = run(mlp(dropout=dropout), config=config, make_scheduler=scheduler,
                hooks=[SignalAt(steps)])
    assert first.interrupted and len(first.history) < 4
    saved = checkpoint.load(tmp_path / "b" / "ckpt" / "last.pt")
    assert (saved["epoch"], saved["step_in_epoch"]) == (
        {13: (1, 3), 20: (2, 0)}[stop_at] if not extra else {13: (1, 2), 20: (2, 0)}[stop_at])

    resumed = run(mlp(seed=99, dropout=dropout), config=config, make_scheduler=scheduler,
                  resume=True)
    assert not resumed.interrupted
    for (name, p), q in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), name
    assert without_seconds(resumed.history) == without_seconds(whole.history)


def test_sigterm_interrupts_too_and_handlers_are_restored(tmp_path):
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    result = run(mlp(), config=cpu(tmp_path), hooks=[SignalAt(5, signal.SIGTERM)])
    assert result.interrupted and result.history == []
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    assert checkpoint.load(tmp_path / "ckpt" / "last.pt")["step_in_epoch"] == 5


def test_best_checkpoint_follows_the_monitor(tmp_path):
    result = run(mlp(), config=cpu(tmp_path, epochs=3))
    best = checkpoint.load(tmp_path / "ckpt" / "best.pt")
    losses = [row["valid.loss"] for row in result.history]
    assert best["best"] == min(losses) == result.best
    assert best["epoch"] == losses.index(min(losses)) + 1


def test_resume_keeps_early_stopping_state(tmp_path):
    config = cpu(tmp_path, epochs=10, early_stop=EarlyStop("valid.loss", patience=2))
    first = run(mlp(), config=config, lr=0.0, hooks=[SignalAt(15)])  # stop in epoch 2
    assert first.interrupted
    resumed = run(mlp(), config=config, lr=0.0, resume=True)
    assert resumed.stopped_early and len(resumed.history) == 3


def test_resume_of_another_spec_is_refused_unless_forced(tmp_path):
    run(mlp(), config=cpu(tmp_path, epochs=1), spec_hash="aaaa1111")
    with pytest.raises(ResumeError) as err:
        run(mlp(), config=cpu(tmp_path, epochs=2), spec_hash="bbbb2222", resume=True)
    assert "aaaa1111" in str(err.value) and "bbbb2222" in str(err.value)
    forced = run(mlp(), config=cpu(tmp_path, epochs=2), spec_hash="bbbb2222", resume=True,
                 force=True)
    assert [row["epoch"] for row in forced.history] == [1, 2]


def test_resume_without_a_checkpoint_is_a_resume_error(tmp_path):
    with pytest.raises(ResumeError, match="does not exist"):
        run(mlp(), config=cpu(tmp_path), resume=True)
    with pytest.raises(ResumeError, match="needs a checkpoint directory"):
        run(mlp(), config=TrainConfig(device="cpu"), resume=True)


def test_resume_of_a_different_model_is_a_resume_error(tmp_path):
    run(mlp(), config=cpu(tmp_path, epochs=1))
    with pytest.raises(ResumeError, match="does not fit this model"):
        run(torch.nn.Linear(2, 2), config=cpu(tmp_path), resume=True)


def test_torn_write_never_replaces_the_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    checkpoint.save(path, {"format": checkpoint.FORMAT, "value": torch.tensor([1.0])})

    def torn(state, f):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", torn)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, {"format": checkpoint.FORMAT, "value": torch.tensor([2.0])})
    monkeypatch.undo()
    assert torch.equal(checkpoint.load(path)["value"], torch.tensor([1.0]))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_load_runs_no_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "obj": EarlyStop()}, path)  # an arbitrary class instance
    with pytest.raises(ResumeError, match="cannot read checkpoint"):
        checkpoint.load(path)


def test_checkpoint_holds_the_documented_keys(tmp_path):
    run(mlp(), config=cpu(tmp_path, epochs=1), spec_hash="h")
    state = checkpoint.load(tmp_path / "ckpt" / "last.pt")
    assert set(state) == {"format", "model_name", "model", "optimizer", "scheduler", "scaler", "epoch",
                          "step_in_epoch", "global_step", "spec_hash", "history", "best",
                          "monitor", "early_stop_counter", "rng", "partial"}
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (1, 0, 10)
    assert isinstance(state["rng"]["cpu"], torch.Tensor)


def test_divergence_leaves_the_last_good_checkpoint(tmp_path):
    calls = []

    def loss_fn(output, target):  # nan on the 5th training batch of epoch 3
        loss = torch.nn.functional.cross_entropy(output, target)
        if torch.is_grad_enabled():
            calls.append(1)
            if len(calls) == 25:
                return loss * float("nan")
        return loss

    with pytest.raises(DivergenceError) as err:
        run(mlp(), config=cpu(tmp_path), loss_fn=loss_fn)
    assert (err.value.epoch, err.value.step) == (3, 5)
    state = checkpoint.load(tmp_path / "ckpt" / "last.pt")
    assert state["epoch"] == 2
    assert all(torch.isfinite(t).all() for t in state["model"].values())


def test_non_finite_weights_are_never_saved(tmp_path):
    class Poison:  # breaks a weight after the last step of epoch 2: the losses stay finite
        def __init__(self, model):
            self.model, self.steps = model, 0

        def on_step(self, epoch, step):
            self.steps += 1
            if self.steps == 20:
                with torch.no_grad():
                    self.model[0].weight[0, 0] = float("inf")

    model = mlp()
    with pytest.raises(DivergenceError) as err:
        run(model, config=cpu(tmp_path), hooks=[Poison(model)])
    assert (err.value.epoch, err.value.step, err.value.what) == (2, 10, "weights")
    assert checkpoint.load(tmp_path / "ckpt" / "last.pt")["epoch"] == 1


def test_finished_run_resumes_to_more_epochs(tmp_path):
    short = run(mlp(), config=cpu(tmp_path / "a", epochs=2))
    longer = run(mlp(), config=cpu(tmp_path / "a", epochs=3), resume=True)
    whole = run(mlp(), config=cpu(tmp_path / "b", epochs=3))
    assert without_seconds(longer.history[:2]) == without_seconds(short.history)
    assert params_equal(longer.model, whole.model)


def test_mid_epoch_resume_uses_the_batchers_iter_from(tmp_path):
    from trainkit import TinyBatches, adam, separable
    from specc.training.loop import fit

    class Skipping(TinyBatches):
        starts = []

        def iter_from(self, step):
            self.starts.append(step)
            it = iter(self)
            for _ in range(step):
                next(it)
            return it

    x, y = separable()
    config = cpu(tmp_path, epochs=2)

    def go(**kwargs):
        return fit(mlp(), Skipping(x, y), None, None, ["x"], "y", torch.nn.functional.cross_entropy,
                   adam(), None, config, None, progress=False, **kwargs)

    go(hooks=[SignalAt(17)])           # 13 batches per epoch: stops at epoch 2, batch 4
    resumed = go(resume=True)
    assert Skipping.starts == [4]
    whole = fit(mlp(), TinyBatches(x, y), None, None, ["x"], "y",
                torch.nn.functional.cross_entropy, adam(), None,
                TrainConfig(device="cpu", epochs=2), None, progress=False)
    assert params_equal(resumed.model, whole.model)


def test_mid_epoch_resume_keeps_the_train_metrics_sums(tmp_path):
    # no valid split: accuracy is summed over the epoch's training steps; a resume mid-epoch
    # must carry the sums of the steps before the interruption
    whole = run(mlp(), valid=False, config=cpu(tmp_path / "a", metrics=["accuracy"]))
    config = cpu(tmp_path / "b", metrics=["accuracy"])
    first = run(mlp(), valid=False, config=config, hooks=[SignalAt(13)])
    assert first.interrupted and checkpoint.load(tmp_path / "b" / "ckpt" / "last.pt")["step_in_epoch"] == 3
    resumed = run(mlp(seed=99), valid=False, config=config, resume=True)
    assert "train.accuracy" in whole.history[0]
    assert without_seconds(resumed.history) == without_seconds(whole.history)
def _one_cycle(opt, steps, epochs):
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=steps * epochs)


# Optimizers whose per-parameter state differs in kind: a schedule that cycles momentum gives
# SGD and RMSprop a momentum_buffer they do not keep at momentum 0; Adafactor's is factored.
OPTIMIZERS = {
    "sgd-onecycle": (lambda p: torch.optim.SGD(p, lr=0.1), _one_cycle),
    "rmsprop-onecycle": (lambda p: torch.optim.RMSprop(p, lr=0.01), _one_cycle),
    "adafactor": (lambda p: torch.optim.Adafactor(p, lr=0.01), None),
    "adamw-amsgrad": (lambda p: torch.optim.AdamW(p, lr=0.01, amsgrad=True, fused=True), None),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizers_state_is_checked_and_resumed_exactly(tmp_path, name):
    from trainkit import TinyBatches, separable
    from specc.training.loop import fit

    make_optimizer, scheduler = OPTIMIZERS[name]
    x, y = separable()

    def go(config, **kwargs):
        return fit(mlp(), TinyBatches(x, y), None, None, ["x"], "y", torch.nn.functional.cross_entropy,
                   make_optimizer, scheduler, config, None, progress=False, **kwargs)

    whole = go(cpu(tmp_path / "a", epochs=2))
    config = cpu(tmp_path / "b", epochs=2)
    assert go(config, hooks=[SignalAt(17)]).interrupted   # epoch 2, batch 4
    assert params_equal(go(config, resume=True).model, whole.model)
