"""What a run reports and hands over: the best epoch's numbers and weights (with a valid split),
the test split scored once at the end, train metrics without a valid split, the early-stop line."""
from __future__ import annotations

import csv
import json
from pathlib import Path
import re

import torch
import torch.nn.functional as F

import specc
from specc.cli.main import main
from specc.data.plan import load_splits

# lr 0.05 on 400 noisy moons: valid accuracy peaks at epoch 6 of 8 (seed 0)
MOONS = """data {
    train = moons(samples=400, noise=0.2)
    valid = 20%
    test = 20%
    batch = 32
}
model M(x: float[2]) {
    return x -> Linear(16) -> ReLU -> Linear(2)
}
loss = cross_entropy
optimizer = Adam(lr=0.05)
train { epochs = 8, metrics = [accuracy], monitor = valid.accuracy }
"""


def _history(out: Path) -> list[dict]:
    with (out / "history.csv").open() as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _nested(row: dict, splits=("train", "valid")) -> dict:
    return {s: {k.split(".", 1)[1]: v for k, v in row.items() if k.startswith(s + ".")} for s in splits}


def test_metrics_json_is_the_best_epoch_and_best_pt_is_the_handed_over_model(tmp_path, capsys):
    spec = tmp_path / "moons.spec"
    spec.write_text(MOONS)
    out = tmp_path / "run"
    assert main(["run", str(spec), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    history = _history(out)
    best = max(history, key=lambda r: (r["valid.accuracy"], -r["epoch"]))   # the first best
    assert best["epoch"] < len(history)                                      # the case this is about
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epoch"] == best["epoch"] and metrics["chosen"] == "best valid.accuracy"
    assert {s: metrics[s] for s in ("train", "valid")} == _nested(best)
    assert metrics["last"] == {"epoch": len(history), **_nested(history[-1])}
    assert f"epoch {int(best['epoch'])} (best valid.accuracy); train: loss {best['train.loss']:.4g}" in printed

    # the test split: scored once, on best.pt's weights; never in the history or a progress line
    assert not any(k.startswith("test.") for k in history[0])
    assert all("test." not in line for line in printed.splitlines() if line.startswith("epoch "))
    checked = specc.check(specc.load(str(spec)))
    model = specc.build(checked)
    model.load_state_dict(torch.load(out / "best.pt", weights_only=True)["model"])
    test = load_splits(checked.spec, checked.data, checked.target).test.fields
    with torch.no_grad():
        output = model(test["x"])
    assert abs(metrics["test"]["loss"] - F.cross_entropy(output, test["y"]).item()) < 1e-6
    assert metrics["test"]["accuracy"] == (output.argmax(1) == test["y"]).double().mean().item()

    # the Python API hands over the same weights
    result = specc.train(str(spec), out=str(tmp_path / "api"))
    best_pt = torch.load(tmp_path / "api" / "best.pt", weights_only=True)["model"]
    assert result.epoch == best["epoch"]
    for key, value in result.model.state_dict().items():
        assert torch.equal(value, best_pt[key]), key
    assert result.metrics == {s: metrics[s] for s in ("train", "valid", "test")}


def test_without_a_valid_split_the_last_epoch_and_train_metrics(tmp_path):
    # specs/linear.spec asks for mae with no valid split: it is computed on train while training
    out = tmp_path / "run"
    spec = Path(__file__).resolve().parents[2] / "specs" / "linear.spec"
    assert main(["run", str(spec), "--out", str(out), "--set", "train.epochs=3", "--set", "train.plot=[]",
                 "--quiet"]) == 0
    history = _history(out)
    assert "train.mae" in history[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epoch"] == 3 and metrics["chosen"] == "last"
    assert metrics["train"] == {"loss": history[-1]["train.loss"], "mae": history[-1]["train.mae"]}
    # batch = full: epoch 1's one step sees the initial weights, so its mae is theirs
    checked = specc.check(specc.load(str(spec)))
    torch.manual_seed(0)
    model = specc.build(checked)
    train = load_splits(checked.spec, checked.data, checked.target).train.fields
    with torch.no_grad():
        mae = (model(train["x"]).double() - train["y"].double()).abs().mean().item()
    assert abs(history[0]["train.mae"] - mae) < 1e-9


def test_a_metric_that_cannot_apply_points_at_it(tmp_path, capsys):
    spec = tmp_path / "moons.spec"
    spec.write_text(MOONS.replace("metrics = [accuracy]", "metrics = [accuracy, mae]"))
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{spec}:12:42: error: the metric mae needs an output" in err   # found by check, before the run
    assert "Traceback" not in err


def test_early_stopping_says_so_in_one_line(tmp_path, capsys):
    spec = tmp_path / "moons.spec"
    spec.write_text(MOONS.replace("epochs = 8", "epochs = 50")
                    .replace("monitor = valid.accuracy", "early_stop = early_stop(patience=2)"))
    out = tmp_path / "run"
    assert main(["run", str(spec), "--out", str(out)]) == 0
    lines = [l for l in capsys.readouterr().out.splitlines() if "early stop" in l]
    history = _history(out)
    best = min(history, key=lambda r: (r["valid.loss"], r["epoch"]))
    assert len(history) < 50 and len(history) == best["epoch"] + 2
    assert lines == [f"note: early stop after epoch {len(history)}: valid.loss did not improve for 2 epochs; "
                     f"best {best['valid.loss']:.4g} at epoch {int(best['epoch'])}"]
    assert json.loads((out / "metrics.json").read_text())["epoch"] == best["epoch"]


def test_progress_lines_show_elapsed_time_and_eta_and_log_every_is_settable(tmp_path, capsys):
    spec = tmp_path / "moons.spec"
    spec.write_text(MOONS)
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--set", "train.log_every=3"]) == 0
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch ") and "/8" in l]
    assert [l.split()[1] for l in lines] == ["3/8", "6/8", "8/8"]
    duration = r"\d+(\.\d)?s|\d+m\d\ds|\d+h\d\dm"
    assert all(re.search(rf"  elapsed ({duration})  eta ({duration})$", l) for l in lines[:-1]), lines
    assert re.search(rf"  elapsed ({duration})$", lines[-1]), lines[-1]


def test_plots_say_what_they_show(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    drawn = {}

    def record(fig, path, *args, **kwargs):
        ax = fig.axes[0]
        legend = ax.get_legend()
        drawn[Path(path).name] = (ax.get_title(), ax.get_xlabel(), ax.get_ylabel(),
                                  legend.get_title().get_text() if legend else None,
                                  [t.get_text() for t in legend.get_texts()] if legend else [],
                                  [line.get_label() for line in ax.get_lines()])
    monkeypatch.setattr(Figure, "savefig", record)
    spec = tmp_path / "moons.spec"
    spec.write_text(MOONS.replace("metrics = [accuracy]", "plot = [loss, accuracy, decision_boundary]"))
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert drawn["loss.png"] == ("loss: M (moons.spec)", "epoch", "loss (cross_entropy)", "",
                                 ["train", "valid"], ["train", "valid"])
    assert drawn["accuracy.png"] == ("accuracy: M (moons.spec)", "epoch", "accuracy", "", ["valid"], ["valid"])
    title, _, _, legend_title, legend, _ = drawn["decision_boundary.png"]
    assert title == "decision regions: M (moons.spec)"
    assert legend_title == "predicted region; points: train split" and legend == ["class 0", "class 1"]


def test_monitor_entry_is_checked(tmp_path, capsys):
    spec = tmp_path / "moons.spec"
    for monitor, message in [
        ("test.accuracy", "train.monitor: the test split is scored once, at the end, so it cannot be monitored"),
        ("valid.loss, early_stop = early_stop(monitor=valid.accuracy)",
         "train.monitor: is valid.loss but early_stop monitors valid.accuracy; set the monitor in one place"),
    ]:
        spec.write_text(MOONS.replace("monitor = valid.accuracy", f"monitor = {monitor}"))
        assert main(["check", str(spec)]) == 2
        assert f"{spec}:12:53: error: {message}" in capsys.readouterr().err
    spec.write_text(MOONS.replace("    valid = 20%\n", ""))
    assert main(["check", str(spec)]) == 2
    assert f"{spec}:11:53: error: monitor monitors valid.accuracy, but the data has no valid split" in \
        capsys.readouterr().err
