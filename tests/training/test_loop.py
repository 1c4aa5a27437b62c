"""The training loop: it learns, it is deterministic, it matches a hand-written loop."""
import math

import pytest
import torch
import torch.nn.functional as F

from specc.training.config import EarlyStop, TrainConfig
from specc.training.errors import DivergenceError, TrainError
from specc.training.loop import fit
from specc.training.progress import LineReporter

from trainkit import TinyBatches, adam, line_data, mlp, params_equal, run, separable


def cpu(**kwargs):
    return TrainConfig(device="cpu", **{"epochs": 3, **kwargs})


def test_learns_a_linearly_separable_problem():
    result = run(mlp(), config=cpu(epochs=10, metrics=["accuracy"]))
    assert result.metrics["valid"]["accuracy"] >= 0.95
    assert result.history[-1]["train.loss"] < result.history[0]["train.loss"]


def test_history_rows_and_metrics_layout():
    result = run(mlp(), config=cpu(epochs=2, metrics=["accuracy", "f1"]))
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert list(result.history[0]) == ["epoch", "train.loss", "valid.loss", "valid.accuracy",
                                       "valid.f1", "lr", "seconds"]
    assert result.history[0]["lr"] == 0.01
    assert result.metrics == {"train": {"loss": result.history[-1]["train.loss"]},
                              "valid": {k.split(".")[1]: v for k, v in result.history[-1].items()
                                        if k.startswith("valid.")}}


def test_same_seed_gives_bitwise_equal_weights_and_other_seed_does_not():
    config = cpu(epochs=2)
    a = run(mlp(seed=0, dropout=0.3), config=config, seed=0).model
    b = run(mlp(seed=0, dropout=0.3), config=config, seed=0).model
    c = run(mlp(seed=0, dropout=0.3), config=cpu(epochs=2, seed=1), seed=1).model
    assert params_equal(a, b)
    assert not params_equal(a, c)


def test_dropout_draws_depend_on_the_loop_seed():
    # Same data order (batcher seed 0), same init: only the loop's seed differs.
    a = run(mlp(dropout=0.5), config=cpu(epochs=1, seed=0)).model
    b = run(mlp(dropout=0.5), config=cpu(epochs=1, seed=5)).model
    assert not params_equal(a, b)


def test_parity_with_a_hand_written_loop():
    """randperm + slicing + default Adam, by hand, against fit() on the same batches."""
    x, y = separable(256)
    xt, yt, xv, yv = x[:192], y[:192], x[192:], y[192:]
    epochs, batch = 3, 32

    model = mlp(seed=3)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    hand_losses = []
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=torch.Generator().manual_seed(epoch))
        total = 0.0
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            hand_losses.append((total / len(xt), F.cross_entropy(model(xv), yv).item()))

    result = fit(mlp(seed=3), TinyBatches(xt, yt, batch), TinyBatches(xv, yv, 64, shuffle=False),
                 None, ["x"], "y", F.cross_entropy, adam(0.01), None, cpu(epochs=epochs), None,
                 progress=False)
    for (train, valid), row in zip(hand_losses, result.history):
        assert row["train.loss"] == pytest.approx(train, abs=1e-5)
        assert row["valid.loss"] == pytest.approx(valid, abs=1e-5)
    for p, q in zip(model.parameters(), result.model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-5)


def test_accumulation_matches_one_larger_batch():
    """Two micro-batches of 8 per step give the gradient of one batch of 16 (SGD, no noise)."""
    x, y = separable(64)
    sgd = lambda params: torch.optim.SGD(params, lr=0.1)  # noqa: E731
    big = fit(mlp(), TinyBatches(x, y, 16), None, None, ["x"], "y", F.cross_entropy, sgd, None,
              cpu(epochs=2), None, progress=False).model
    small = fit(mlp(), TinyBatches(x, y, 8), None, None, ["x"], "y", F.cross_entropy, sgd, None,
                cpu(epochs=2, accumulate=2), None, progress=False).model
    for p, q in zip(big.parameters(), small.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_a_short_last_accumulation_group_is_averaged_over_its_own_size():
    # 5 batches with accumulate=2: groups of 2, 2 and 1 -> 3 optimizer steps per epoch
    x, y = separable(40)
    steps = []
    hook = type("Hook", (), {"on_step": lambda self, e, s: steps.append((e, s))})()
    fit(mlp(), TinyBatches(x, y, 8), None, None, ["x"], "y", F.cross_entropy, adam(), None,
        cpu(epochs=1, accumulate=2), None, progress=False, hooks=[hook])
    assert steps == [(1, 2), (1, 4), (1, 5)]


def test_clip_grad_bounds_the_update():
    x, y = line_data()
    sgd = lambda params: torch.optim.SGD(params, lr=1.0)  # noqa: E731
    model = torch.nn.Linear(1, 1)
    before = [p.detach().clone() for p in model.parameters()]
    fit(model, TinyBatches(x, y, 128), None, None, ["x"], "y", F.mse_loss, sgd, None,
        cpu(epochs=1, clip_grad=0.01), None, progress=False)
    moved = torch.cat([(p - b).reshape(-1) for p, b in zip(model.parameters(), before)])
    assert moved.norm() <= 0.01 + 1e-6


def test_schedulers_step_per_batch_per_epoch_and_on_plateau():
    made = []

    def one_cycle(opt, steps, epochs):
        made.append(torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=steps * epochs))
        return made[-1]

    run(mlp(), config=cpu(epochs=2), make_scheduler=one_cycle)  # 10 batches per epoch
    assert made[0].last_epoch == 20  # stepped once per batch (OneCycleLR raises past 20)

    step_lr = lambda opt, steps, epochs: torch.optim.lr_scheduler.StepLR(opt, 1, 0.5)  # noqa: E731
    lrs = [row["lr"] for row in run(mlp(), config=cpu(epochs=3), make_scheduler=step_lr).history]
    assert lrs == [0.01, 0.005, 0.0025]

    plateau = lambda opt, steps, epochs: torch.optim.lr_scheduler.ReduceLROnPlateau(  # noqa: E731
        opt, patience=0, threshold=10.0)  # nothing counts as better: x0.1 each epoch
    lrs = [row["lr"] for row in run(mlp(), config=cpu(epochs=3), make_scheduler=plateau).history]
    assert lrs == pytest.approx([0.01, 0.001, 0.0001])


def test_early_stopping_stops_after_patience():
    # lr=0 never improves: epoch 1 sets the best, epochs 2 and 3 do not -> stop after 3
    result = run(mlp(), config=cpu(epochs=10, early_stop=EarlyStop("valid.loss", patience=2)),
                 lr=0.0)
    assert result.stopped_early and len(result.history) == 3


def test_early_stop_on_a_metric_not_listed_computes_it():
    result = run(mlp(), config=cpu(epochs=2, early_stop=EarlyStop("valid.accuracy")))
    assert "valid.accuracy" in result.history[0] and result.monitor == "valid.accuracy"


def test_early_stop_on_a_missing_split_is_refused():
    with pytest.raises(TrainError, match="no valid split"):
        run(mlp(), config=cpu(early_stop=EarlyStop("valid.loss")), valid=False)


def test_fp16_on_cpu_is_refused_and_bf16_runs():
    with pytest.raises(TrainError, match="precision fp16 is not supported on cpu") as err:
        run(mlp(), config=cpu(precision="fp16"))
    assert err.value.hint == "use precision = fp32"
    result = run(mlp(), config=cpu(epochs=1, precision="bf16"))
    assert math.isfinite(result.history[0]["train.loss"])


def test_nan_loss_raises_divergence_with_epoch_and_step():
    calls = []

    def loss_fn(output, target):  # nan on the 3rd training batch of epoch 3
        loss = F.cross_entropy(output, target)
        if torch.is_grad_enabled():
            calls.append(1)
            if len(calls) == 23:  # 10 batches per epoch
                return loss * float("nan")
        return loss

    with pytest.raises(DivergenceError) as err:
        run(mlp(), config=cpu(epochs=5), loss_fn=loss_fn)
    assert (err.value.epoch, err.value.step, err.value.what) == (3, 3, "loss")
    assert math.isnan(err.value.value)
    assert str(err.value) == "loss became nan at epoch 3, step 3"
    assert "smaller" in err.value.hint


def test_huge_learning_rate_diverges():
    sgd = lambda params: torch.optim.SGD(params, lr=1e6)  # noqa: E731
    x, y = line_data()
    with pytest.raises(DivergenceError, match="became"):
        fit(torch.nn.Linear(1, 1), TinyBatches(x, y, 16), None, None, ["x"], "y", F.mse_loss,
            sgd, None, cpu(epochs=5), None, progress=False)


def test_non_scalar_loss_and_missing_fields_are_train_errors():
    with pytest.raises(TrainError, match="single number"):
        run(mlp(), loss_fn=lambda o, t: F.cross_entropy(o, t, reduction="none"))
    x, y = separable(32)
    with pytest.raises(TrainError, match="no field 'inp'"):
        fit(mlp(), TinyBatches(x, y), None, None, ["inp"], "y", F.cross_entropy, adam(), None,
            cpu(), None, progress=False)


def test_thread_count_is_restored():
    before = torch.get_num_threads()
    run(mlp(), config=cpu(epochs=1, threads=1))
    assert torch.get_num_threads() == before


def test_line_reporter_writes_one_line_per_logged_epoch(tmp_path):
    import io
    stream = io.StringIO()
    run(mlp(), config=cpu(epochs=4, log_every=3, metrics=["accuracy"]),
        reporter=LineReporter(3, stream))
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["3/4", "4/4"]  # every 3rd, and the last
    assert "valid.accuracy" in lines[0]


@pytest.mark.slow
def test_compiled_model_trains_and_reports_its_warm_up():
    plain = run(mlp(), config=cpu(epochs=2))
    compiled = run(mlp(), config=cpu(epochs=2, compile=True))
    assert compiled.compile_seconds > 0
    assert compiled.history[0]["compile_seconds"] == compiled.compile_seconds
    assert compiled.history[1]["compile_seconds"] == 0.0
    assert compiled.history[-1]["valid.loss"] == pytest.approx(plain.history[-1]["valid.loss"],
                                                              abs=1e-4)


def test_rich_reporter_draws_steps_and_epoch_lines():
    import io
    from rich.console import Console
    from specc.training.progress import RichReporter

    out = io.StringIO()
    reporter = RichReporter(console=Console(file=out, force_terminal=True, width=120))
    reporter.refresh_per_second = float("inf")  # refresh on every step, to exercise it
    run(mlp(), config=cpu(epochs=2), reporter=reporter)
    text = out.getvalue()
    assert "epoch 2/2  train.loss" in text and "ex/s" in text and "loss 0." in text


def test_a_run_whose_valid_loss_never_improves_reports_its_last_epoch(tmp_path):
    import json

    class NanValid:  # a valid split whose loss is nan: the monitor never improves
        num_examples = 4

        def set_epoch(self, epoch):
            pass

        def __len__(self):
            return 1

        def __iter__(self):
            yield {"x": torch.full((4, 2), float("nan")), "y": torch.zeros(4, dtype=torch.long)}

    x, y = separable()
    result = fit(mlp(), TinyBatches(x, y), NanValid(), None, ["x"], "y", F.cross_entropy, adam(), None,
                 TrainConfig(epochs=2, device="cpu"), tmp_path, progress=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (result.epoch, metrics["epoch"], metrics["chosen"]) == (2, 2, "last")
