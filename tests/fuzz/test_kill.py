"""Crash safety of real runs: ``python -m specc run`` killed at random moments.

A tiny moons spec trains for many short epochs with checkpoint throttling off
(``SPECC_TUNING=-throttled_checkpoints``), so ``last.pt`` is rewritten many times a second
and kills land in the middle of writes. The test SIGKILLs the run at seeded random moments (each after the process has
written at least one checkpoint of its own), and every time checks that ``last.pt`` loads with
``torch.load(weights_only=True)`` and that ``specc run --resume`` then succeeds. One run folder
serves every kill: each killed run resumes the previous one.

Each kill costs two process starts (the killed run, the resume that must succeed), so the
20-kill test is ``slow`` (``pytest -m slow tests/fuzz/test_kill.py``); a 5-kill version runs by
default.
"""
from __future__ import annotations

import os
from pathlib import Path
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from specc.training import checkpoint

SPEC = """
data {
    train = moons(samples=40, noise=0.2)
    batch = 8
}
model KillNet(x: float[2]) {
    return x -> Linear(8) -> ReLU -> Dropout(0.1) -> Linear(2)
}
loss = cross_entropy
optimizer = Adam(lr=0.01)
train { epochs = 3, seed = 1 }
"""
FOREVER = "train.epochs=1000000"
WAIT_S = 300  # a run that writes no checkpoint in this time is a failure, not a slow machine


def _specc(*args: str) -> list[str]:
    return [sys.executable, "-m", "specc", *args]


def _env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "SPECC_TUNING": "-throttled_checkpoints"}


def _stamp(path: Path):
    """Identifies one version of a file (``os.replace`` gives each a new inode)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _start(spec: Path, out: Path, resume: bool) -> subprocess.Popen:
    args = ["run", str(spec), "--out", str(out), "--quiet", "--set", FOREVER] + (["--resume"] if resume else [])
    return subprocess.Popen(_specc(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())


def _wait_for_new_checkpoint(proc: subprocess.Popen, last: Path) -> None:
    """Block until ``proc`` has replaced ``last`` at least once."""
    before = _stamp(last)
    deadline = time.monotonic() + WAIT_S
    while _stamp(last) in (before, None):
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) before writing a checkpoint:\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no checkpoint written")
        time.sleep(0.005)


def _load(last: Path) -> dict:
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert isinstance(state, dict) and state["format"] == checkpoint.FORMAT
    assert len(state["model"]) == 4 and all(torch.isfinite(t).all() for t in state["model"].values())
    return state


def kill_and_resume(tmp_path: Path, kills: int, seed: int) -> list[int]:
    """Kill ``kills`` runs at random moments; return the epoch found in last.pt after each."""
    rng = random.Random(seed)
    spec = tmp_path / "kill.spec"
    spec.write_text(SPEC)
    out = tmp_path / "run"
    last = out / "last.pt"
    epochs = []
    for i in range(kills):
        proc = _start(spec, out, resume=i > 0)
        _wait_for_new_checkpoint(proc, last)
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        state = _load(last)  # the previous checkpoint or the new one, never a torn file
        assert not epochs or state["epoch"] >= epochs[-1], (epochs, state["epoch"])
        # Resuming succeeds and trains one more epoch from what the kill left.
        target = state["epoch"] + 1
        done = subprocess.run(_specc("run", str(spec), "--out", str(out), "--resume", "--quiet",
                                     "--set", f"train.epochs={target}"),
                              capture_output=True, text=True, env=_env(), timeout=WAIT_S)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        resumed = _load(last)
        assert resumed["epoch"] == target and resumed["step_in_epoch"] == 0
        epochs.append(resumed["epoch"])
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, leftovers  # a resume clears what killed writes left behind
    return epochs


def test_sigkill_at_5_random_moments_leaves_a_loadable_resumable_checkpoint(tmp_path):
    epochs = kill_and_resume(tmp_path, kills=5, seed=0)
    assert len(epochs) == 5 and epochs == sorted(epochs)


@pytest.mark.slow
def test_sigkill_at_20_random_moments_leaves_a_loadable_resumable_checkpoint(tmp_path):
    epochs = kill_and_resume(tmp_path, kills=20, seed=1)
    assert len(epochs) == 20 and epochs == sorted(epochs)


@pytest.mark.parametrize("sig", [signal.SIGTERM])  # SIGINT: tests/run/test_resume.py
def test_sigterm_stops_cleanly_with_a_checkpoint(tmp_path, sig):
    spec = tmp_path / "kill.spec"
    spec.write_text(SPEC)
    out = tmp_path / "run"
    proc = _start(spec, out, resume=False)
    _wait_for_new_checkpoint(proc, out / "last.pt")
    time.sleep(random.Random(int(sig)).uniform(0.0, 0.2))
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode in (0, 130), (proc.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    if proc.returncode == 130:
        assert "interrupted: last.pt saved" in stderr, stderr
    state = _load(out / "last.pt")
    assert state["epoch"] >= 1
    done = subprocess.run(_specc("run", str(spec), "--out", str(out), "--resume", "--quiet",
                                 "--set", f"train.epochs={state['epoch'] + 1}"),
                          capture_output=True, text=True, env=_env(), timeout=WAIT_S)
    assert done.returncode == 0, done.stderr
