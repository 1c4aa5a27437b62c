"""Ctrl-C during a run saves last.pt; --resume finishes with the uninterrupted run's weights."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import torch

from conftest import moons_spec, specc


def _model(path):
    return torch.load(path, weights_only=True)["model"]


def test_sigint_then_resume_is_bitwise_equal(tmp_path):
    # enough epochs that the signal, sent soon after the first checkpoint, lands mid-run
    spec = moons_spec(tmp_path, epochs=40, seed=1)
    done = specc("run", str(spec), "--out", str(tmp_path / "straight"), "--quiet")
    assert done.returncode == 0, done.stderr

    out = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "specc", "run", str(spec), "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130), err
    if proc.returncode == 130:
        assert "--resume" in err
        state = torch.load(out / "last.pt", weights_only=True)
        assert state["epoch"] < 40
    resumed = specc("run", str(spec), "--out", str(out), "--resume", "--quiet")
    assert resumed.returncode == 0, resumed.stderr

    a, b = _model(tmp_path / "straight" / "last.pt"), _model(out / "last.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_refuses_another_spec_unless_forced(tmp_path):
    spec = moons_spec(tmp_path, epochs=1)
    assert specc("run", str(spec), "--out", str(tmp_path / "r"), "--quiet").returncode == 0
    spec.write_text(spec.read_text().replace("Linear(16)", "Linear(16) -> ReLU"))
    refused = specc("run", str(spec), "--out", str(tmp_path / "r"), "--resume", "--quiet")
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    assert "model MoonNet" in refused.stderr and "-> ReLU" in refused.stderr


def test_out_folder_is_never_overwritten_without_force(tmp_path):
    spec = moons_spec(tmp_path, epochs=1)
    assert specc("run", str(spec), "--out", str(tmp_path / "r"), "--quiet").returncode == 0
    again = specc("run", str(spec), "--out", str(tmp_path / "r"), "--quiet")
    assert again.returncode == 1
    assert "already holds a run" in again.stderr
    assert specc("run", str(spec), "--out", str(tmp_path / "r"), "--quiet", "--force").returncode == 0
