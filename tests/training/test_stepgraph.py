"""``train { compile = step }``: the step graph's update equals torch.optim's, compiled
training equals eager training (moons, digits), checkpoints cross between the two, what
falls back says why once, and ``compile = auto`` picks eager for a tiny run without compiling.

The update math is checked in float64 on the step function itself (no compilation, so every
optimizer setting is cheap). The compiled runs are marked ``slow``: a first (cold) compile
takes 10-40 s on a 2-core CPU.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils._pytree import tree_unflatten

import specc
from specc.cli.main import main
from specc.training import stepgraph
from specc.training.feed import Feed

MOONS = """
data {
    train = moons(samples=640, noise=0.2)
    valid = 20%
    batch = 64
}
model MoonNet(x: float[2]) {
    return x -> Linear(16) -> ReLU -> Linear(2)
}
loss = cross_entropy
optimizer = OPTIMIZER
train {
    epochs = EPOCHS
    metrics = [accuracy]
}
"""


def moons(epochs=3, optimizer="Adam(lr=0.01)"):
    return MOONS.replace("EPOCHS", str(epochs)).replace("OPTIMIZER", optimizer)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Measurements for compile = auto go to a fresh folder; the inductor cache stays shared."""
    from specc.cachedir import cache_folder
    shared = cache_folder()
    if shared is not None:
        monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(shared / "inductor"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


# ---------------------------------------------------------------- the update math

OPTIMIZERS = [
    (torch.optim.Adam, dict(lr=0.01)),
    (torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    (torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    (torch.optim.Adam, dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True)),
    (torch.optim.SGD, dict(lr=0.1)),
    (torch.optim.SGD, dict(lr=0.1, weight_decay=0.01)),
    (torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    (torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
]


@pytest.mark.parametrize("clip", [None, 0.05])
@pytest.mark.parametrize("make, options", OPTIMIZERS)
def test_the_step_update_equals_torch_optim_over_150_steps(make, options, clip):
    """Float64, so the only difference is the order of float operations: <= 1e-12 after 150
    steps (from the eager first step on, as the trainer runs it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # these tiny ops are slowest on threads other jobs contend for
    try:
        _compare_with_torch_optim(make, options, clip)
    finally:
        torch.set_num_threads(threads)


def _compare_with_torch_optim(make, options, clip):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    twin = copy.deepcopy(model)
    loss_fn = nn.CrossEntropyLoss()
    ours, theirs = make(model.parameters(), **options), make(twin.parameters(), **options)
    schedule = torch.optim.lr_scheduler.StepLR(ours, step_size=40, gamma=0.5)
    twin_schedule = torch.optim.lr_scheduler.StepLR(theirs, step_size=40, gamma=0.5)

    def eager_step(net, optimizer, x, y):
        loss_fn(net(x), y).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def batch(i):
        g = torch.Generator().manual_seed(i)
        x = torch.randn(16, 3, generator=g, dtype=torch.float64)
        return x, (x[:, 0] > x[:, 1]).long()

    for net, optimizer in ((model, ours), (twin, theirs)):
        eager_step(net, optimizer, *batch(0))
    graph = stepgraph.StepGraph(model, Feed.single("y"), loss_fn, ours, clip)
    x, y = batch(1)
    layout = graph.gather([x], [y])
    for i in range(1, 151):
        x, y = batch(i)
        for group, lr_tensor in zip(ours.param_groups, graph.lrs):
            lr_tensor.fill_(group["lr"])
        graph._step(*tree_unflatten([*graph.held, x, y], layout))
        eager_step(twin, theirs, x, y)
        schedule.step()
        twin_schedule.step()
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-12)
    for state, twin_state in zip(ours.state.values(), theirs.state.values()):
        for key, value in twin_state.items():
            assert torch.allclose(state[key], value, rtol=0, atol=1e-12), key


# ---------------------------------------------------------------- through specc.train

@pytest.mark.slow
def test_a_step_compiled_run_equals_eager_and_its_checkpoint_resumes_eagerly(tmp_path):
    """compile = step trains as the eager run does (float32: 1e-5), reports its compile
    time apart, and its last.pt continues eagerly to the uninterrupted eager run's numbers."""
    eager = specc.train(moons(3), out=tmp_path / "eager", force=True)
    step = specc.train(moons(2), out=tmp_path / "step", force=True, compile="step")
    assert step.compile_seconds > 0 and eager.compile_seconds is None
    assert step.history[0]["compile_seconds"] == pytest.approx(step.compile_seconds)
    assert step.history[1]["compile_seconds"] == 0.0
    written = json.loads((tmp_path / "step" / "metrics.json").read_text())
    assert written["compile_seconds"] == pytest.approx(step.compile_seconds)
    for a, b in zip(step.history, eager.history):
        for key in ("train.loss", "valid.loss", "valid.accuracy"):
            assert a[key] == pytest.approx(b[key], abs=1e-5), key
    assert main(["run", str(tmp_path / "step" / "spec.spec"), "--out", str(tmp_path / "step"),
                 "--resume", "--set", "train.epochs=3", "--set", "train.compile=false",
                 "--quiet"]) == 0
    resumed = json.loads((tmp_path / "step" / "metrics.json").read_text())
    assert resumed["last"]["epoch"] == 3
    assert resumed["last"]["valid"]["loss"] == pytest.approx(eager.history[2]["valid.loss"], abs=1e-5)


@pytest.mark.slow
def test_an_eager_checkpoint_resumes_step_compiled_on_digits(tmp_path):
    digits = (
        "data {\n train = digits()\n valid = 20%\n transform = x / 16\n batch = 64\n}\n"
        "model DigitsMLP(x: float[64]) {\n return x -> Linear(500) -> ReLU -> Linear(10)\n}\n"
        "loss = cross_entropy\noptimizer = SGD(lr=0.05, momentum=0.9, weight_decay=0.001)\n"
        "train {\n epochs = 2\n metrics = [accuracy]\n}\n")
    eager = specc.train(digits.replace("epochs = 2", "epochs = 4"), out=tmp_path / "eager",
                        force=True)
    first = tmp_path / "run"
    specc.train(digits, out=first, force=True)
    assert main(["run", str(first / "spec.spec"), "--out", str(first), "--resume",
                 "--set", "train.epochs=4", "--set", "train.compile=step", "--quiet"]) == 0
    resumed = json.loads((first / "metrics.json").read_text())
    assert resumed["last"]["valid"]["loss"] == pytest.approx(eager.history[3]["valid.loss"], abs=1e-4)
    assert resumed["last"]["valid"]["accuracy"] == pytest.approx(
        eager.history[3]["valid.accuracy"], abs=1e-3)


# ---------------------------------------------------------------- fallbacks and auto

@pytest.mark.parametrize("optimizer, settings, reason", [
    ("RMSprop(lr=0.01)", {}, "the optimizer RMSprop has no graph update (Adam, AdamW and SGD have)"),
    ("Adam(lr=0.01, amsgrad=true)", {}, "Adam(amsgrad=true) has no graph update"),
    ("Adam(lr=0.01)", {"accumulate": 2}, "accumulate > 1 is not supported"),
])
def test_what_the_graph_cannot_express_trains_eagerly_and_says_why_once(tmp_path, optimizer,
                                                                        settings, reason):
    eager = specc.train(moons(2, optimizer), out=tmp_path / "eager", force=True, **settings)
    step = specc.train(moons(2, optimizer), out=tmp_path / "step", force=True, compile="step",
                       **settings)
    assert step.notes.count(f"compile = step: {reason}; the run trains eagerly") == 1
    assert step.compile_seconds == 0.0
    assert [r["train.loss"] for r in step.history] == [r["train.loss"] for r in eager.history]


def test_two_outputs_and_two_targets_train_in_the_step_graph_as_eagerly(tmp_path):
    """multitask.spec (two heads, two CSV targets, a summed loss, a metric on each head): the
    step graph reads both outputs and both fields, and trains as the eager run does."""
    spec = Path(__file__).resolve().parents[2] / "specs" / "multitask.spec"
    eager = specc.train(specc.load(spec), out=tmp_path / "eager", force=True, epochs=2)
    step = specc.train(specc.load(spec), out=tmp_path / "step", force=True, epochs=2, compile="step")
    assert not [n for n in step.notes if n.startswith("compile = step")], step.notes
    assert step.compile_seconds > 0
    for a, b in zip(step.history, eager.history):
        for key in ("train.loss", "valid.loss", "valid.accuracy(logits, kind)", "valid.mae(amount, size)"):
            assert a[key] == pytest.approx(b[key], abs=1e-5), key


def test_a_parameter_without_gradient_falls_back_before_compiling(tmp_path, monkeypatch):
    monkeypatch.setattr(stepgraph, "make_fx", lambda *a, **k: pytest.fail("traced"))
    spec = moons(2).replace("return x -> Linear(16) -> ReLU -> Linear(2)",
                            "unused = x -> Linear(3)\n    return x -> Linear(16) -> ReLU -> Linear(2)")
    result = specc.train(spec, out=tmp_path, force=True, compile="step")
    notes = [n for n in result.notes if n.startswith("compile = step")]
    assert notes == ["compile = step: the parameter linear_1.weight gets no gradient; "
                     "the run trains eagerly"]


def test_auto_trains_a_tiny_run_eagerly_without_compiling_and_measures_it(tmp_path):
    result = specc.train(moons(2), out=tmp_path / "run", force=True, compile="auto")
    assert result.compile_seconds is None
    assert "compile_seconds" not in result.history[0]
    assert "compile_seconds" not in json.loads((tmp_path / "run" / "metrics.json").read_text())
    measured = list((tmp_path / "cache" / "specc" / "compile").glob("*.json"))
    assert len(measured) == 1
    assert set(json.loads(measured[0].read_text())) == {"off"}


def test_auto_reads_an_earlier_runs_measurement(tmp_path):
    """The second run with compile = auto finds the first one's figures and chooses from them."""
    first = specc.train(moons(2), out=tmp_path / "first", force=True, compile="auto")
    second = specc.train(moons(2), out=tmp_path / "second", force=True, compile="auto")
    assert [r["train.loss"] for r in second.history] == [r["train.loss"] for r in first.history]


def test_a_slow_eager_figure_is_replaced_by_a_faster_eager_run(tmp_path):
    """auto's figures keep each mode's fastest: an eager figure measured on a busy machine
    (here written as 1000 s an epoch) gives way to a plain eager run's, which is recorded
    because the model has a compiled figure; a model never compiled records nothing."""
    folder = tmp_path / "cache" / "specc" / "compile"
    specc.train(moons(2), out=tmp_path / "plain", force=True)
    assert not folder.exists()
    specc.train(moons(2), out=tmp_path / "auto", force=True, compile="auto")
    (path,) = folder.glob("*.json")
    path.write_text(json.dumps({"off": {"epoch_seconds": 1000.0, "compile_seconds": 0.0},
                                "step": {"epoch_seconds": 500.0, "compile_seconds": 100.0}}))
    specc.train(moons(2), out=tmp_path / "eager", force=True)
    figures = json.loads(path.read_text())
    assert figures["off"]["epoch_seconds"] < 10 and figures["step"]["epoch_seconds"] == 500.0


def _trainer(epochs: int) -> SimpleNamespace:
    model = nn.Linear(2, 2)
    return SimpleNamespace(
        model=model, optimizer=torch.optim.Adam(model.parameters()), loss_fn=nn.MSELoss(),
        batches_per_epoch=10, train_batches=SimpleNamespace(num_examples=640),
        device=torch.device("cpu"), held_out={},
        config=SimpleNamespace(threads=None, clip_grad=None, accumulate=1, precision="fp32",
                               epochs=epochs))


@pytest.mark.parametrize("measured, epochs, chosen", [
    ({}, 1000, "off"),                                          # nothing measured: eager
    ({"step": (0.1, 2.0)}, 1000, "off"),                        # no eager figure: eager
    ({"off": (1.0, 0.0), "step": (0.4, 30.0)}, 10, "off"),      # 10 + 0 < 4 + 30
    ({"off": (1.0, 0.0), "step": (0.4, 30.0)}, 100, "step"),    # 100 > 40 + 30
    ({"off": (1.0, 0.0), "step": (0.4, 30.0), "model": (0.3, 20.0)}, 100, "model"),
])
def test_auto_picks_the_least_predicted_time(measured, epochs, chosen):
    trainer = _trainer(epochs)
    path = stepgraph._measured_file(trainer)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({mode: {"epoch_seconds": e, "compile_seconds": c}
                                for mode, (e, c) in measured.items()}))
    assert stepgraph.choose(trainer) == chosen


def test_a_bad_compile_value_is_one_positioned_error(tmp_path, capsys):
    spec = tmp_path / "m.spec"
    spec.write_text(moons(1).replace("epochs = 1", "epochs = 1\n    compile = fast"))
    assert main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"{spec}:14:15: error: train.compile: must be false, true, model, step, auto, got fast" in err


def test_a_resumed_run_may_change_compile(tmp_path):
    """compile computes the same either way, so --resume takes a new value (here auto, which
    runs this unmeasured spec eagerly) instead of refusing the changed configuration."""
    spec, out = tmp_path / "moons.spec", tmp_path / "run"
    spec.write_text(moons(1))
    assert main(["run", str(spec), "--out", str(out), "--quiet"]) == 0
    assert main(["run", str(spec), "--out", str(out), "--resume", "--set", "train.epochs=2",
                 "--set", "train.compile=auto", "--quiet"]) == 0
    history = (out / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["1", "2"]
