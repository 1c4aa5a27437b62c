"""The speed settings that ``specc.train`` applies (fused optimizer, direct loss, wide
evaluation batches) change nothing but float rounding, and SPECC_TUNING switches them."""
from __future__ import annotations

from dataclasses import replace
import os

import pytest
import torch

import specc
from specc.training.tuning import Tuning
from conftest import moons_spec, specc as run_cli


def _train(tmp_path, name, tuning):
    return specc.train(specc.load(moons_spec(tmp_path, epochs=2)), out=tmp_path / name,
                       tuning=tuning)


def test_direct_loss_and_wide_eval_change_only_the_evaluation_rounding(tmp_path):
    on = _train(tmp_path, "on", Tuning())
    off = _train(tmp_path, "off", replace(Tuning(), direct_loss=False, wide_eval=False))
    assert [r["train.loss"] for r in on.history] == [r["train.loss"] for r in off.history]
    for a, b in zip(on.history, off.history):
        assert a["valid.loss"] == pytest.approx(b["valid.loss"], abs=1e-6)
        assert a["valid.accuracy"] == b["valid.accuracy"]
    for p, q in zip(on.model.parameters(), off.model.parameters()):
        assert torch.equal(p, q)


def test_fused_optimizer_is_the_same_update_up_to_rounding(tmp_path):
    fused = _train(tmp_path, "fused", Tuning())
    plain = _train(tmp_path, "plain", replace(Tuning(), fused_optimizer=False))
    for a, b in zip(fused.history, plain.history):
        assert a["train.loss"] == pytest.approx(b["train.loss"], abs=1e-5)
    for p, q in zip(fused.model.parameters(), plain.model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-4)


def test_a_bad_specc_tuning_is_a_plain_error(tmp_path, monkeypatch):
    monkeypatch.setitem(os.environ, "SPECC_TUNING", "-turbo")
    spec = moons_spec(tmp_path, epochs=1)
    result = run_cli("run", str(spec), "--out", str(tmp_path / "run"), "--quiet")
    assert result.returncode == 1
    assert "SPECC_TUNING" in result.stderr and "'-turbo'" in result.stderr


def test_a_run_resumed_with_fused_step_off_ends_as_the_uninterrupted_one(tmp_path, monkeypatch):
    """``specc run`` steps the fused Adam directly; a checkpoint it writes resumes bitwise with
    SPECC_TUNING=-fused_step (torch.optim's own step). (Both directions, with schedules:
    tests/training/test_fastopt.py.)"""
    from specc.cli.main import main

    spec = moons_spec(tmp_path, epochs=3)
    assert main(["run", str(spec), "--out", str(tmp_path / "whole"), "--quiet"]) == 0
    out = tmp_path / "split"
    assert main(["run", str(spec), "--out", str(out), "--quiet", "--set", "train.epochs=1"]) == 0
    monkeypatch.setenv("SPECC_TUNING", "-fused_step")
    assert main(["run", str(spec), "--out", str(out), "--quiet", "--resume", "--set", "train.epochs=3"]) == 0
    whole, resumed = (torch.load(d / "last.pt", weights_only=True) for d in (tmp_path / "whole", out))
    for k in whole["model"]:
        assert torch.equal(whole["model"][k], resumed["model"][k]), k
    for name, entry in whole["optimizer"]["state"].items():
        assert all(torch.equal(v, resumed["optimizer"]["state"][name][k]) for k, v in entry.items())
    assert (tmp_path / "whole" / "metrics.json").read_text() == (out / "metrics.json").read_text()
