"""Files a run writes: metrics.json, history.csv, and the plots."""
import csv
import json
import sys

import pytest
import torch
import torch.nn.functional as F

from specc.training.config import TrainConfig
from specc.training.outputs import split_metrics

from trainkit import line_data, mlp, run, separable

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")


def opens(path):
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as im:
        im.load()
        return im.format, getattr(im, "n_frames", 1)


def test_metrics_json_and_history_csv(tmp_path):
    result = run(mlp(), config=TrainConfig(device="cpu", epochs=2, metrics=["accuracy"]),
                 out_dir=tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == {"epoch": result.epoch, "chosen": "best valid.loss", **result.metrics,
                       "last": {"epoch": 2, **result.last}}
    assert set(result.metrics) == {"train", "valid"}
    assert set(metrics["valid"]) == {"loss", "accuracy"}
    with (tmp_path / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["valid.accuracy"]) == pytest.approx(result.history[1]["valid.accuracy"])


def test_non_finite_values_become_null():
    assert split_metrics({"epoch": 1, "valid.loss": float("nan"), "lr": 0.1}) == {
        "valid": {"loss": None}}


def test_classifier_plots(tmp_path):
    x, y = separable(200)
    result = run(mlp(), (x, y), out_dir=tmp_path, plot_data=(x, y),
                 config=TrainConfig(device="cpu", epochs=2, plot=["loss", "decision_boundary"]))
    assert opens(tmp_path / "loss.png")[0] == "PNG"
    assert opens(tmp_path / "decision_boundary.png")[0] == "PNG"
    assert sorted(p.name for p in result.plots) == ["decision_boundary.png", "loss.png"]
    assert result.notes == []


def test_regression_fit_plot_and_animation(tmp_path):
    x, y = line_data()
    model = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    result = run(model, (x, y), out_dir=tmp_path, plot_data=(x, y), loss_fn=F.mse_loss,
                 config=TrainConfig(device="cpu", epochs=4, plot=["loss", "fit"]))
    assert opens(tmp_path / "fit.png")[0] == "PNG"
    assert opens(tmp_path / "fit.gif") == ("GIF", 4)  # one frame per epoch
    assert {p.name for p in result.plots} == {"loss.png", "fit.png", "fit.gif"}


def test_inapplicable_plot_is_skipped_with_a_note(tmp_path):
    x, y = line_data()
    result = run(torch.nn.Linear(1, 1), (x, y), out_dir=tmp_path, plot_data=(x, y),
                 loss_fn=F.mse_loss,
                 config=TrainConfig(device="cpu", epochs=1, plot=["decision_boundary"]))
    assert not (tmp_path / "decision_boundary.png").exists()
    assert result.notes == ["plot skipped: decision_boundary: needs a 2-D float input [N, 2]. "
                            "Received: x (128, 1) float32"]


def test_missing_matplotlib_skips_plots_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    result = run(mlp(), out_dir=tmp_path, config=TrainConfig(device="cpu", epochs=1, plot=["loss"]))
    assert not (tmp_path / "loss.png").exists()
    assert "matplotlib is not installed" in result.notes[0]
    assert (tmp_path / "metrics.json").is_file()
