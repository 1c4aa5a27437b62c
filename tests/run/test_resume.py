"""Ctrl-C during a run saves last.pt; --resume finishes with the uninterrupted run's weights."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest
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
    # the result is the same best epoch, with the same numbers
    assert json.loads((out / "metrics.json").read_text()) == \
        json.loads((tmp_path / "straight" / "metrics.json").read_text())


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


# ---------------------------------------------------------------- what a resume validates

# Net1 and Net2 have the same parameter names and shapes, registered in another order: loaded
# by position, Net1's Adam state would land on parameters of other sizes (the fused kernel
# then writes out of bounds). Keyed by name it lands where it belongs.
TWO_MODELS = """data {
    train = moons(samples=40, noise=0.2)
    batch = 8
}
model Net1(x: float[2]) {
    a = x -> Linear(4)
    b = x -> LayerNorm(2)
    return cat(a, b) -> Linear(2)
}
model Net2(x: float[2]) {
    b = x -> LayerNorm(2)
    a = x -> Linear(4)
    return cat(a, b) -> Linear(2)
}
loss = cross_entropy
optimizer = Adam(lr=0.01)
train { epochs = EPOCHS, model = Net1 }
"""
DIAGNOSTIC = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<message>.*)$", re.M)


def _two_models(tmp_path, epochs=1):
    path = tmp_path / "two.spec"
    path.write_text(TWO_MODELS.replace("EPOCHS", str(epochs)))
    return path


def _line_of(path, text):
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _spec_error(done, path, line):
    """Exit 2 and one diagnostic at ``line`` of ``path``; its message."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    found = DIAGNOSTIC.findall(done.stderr)
    assert len(found) == 1 and found[0][0] == str(path) and int(found[0][1]) == line, done.stderr
    assert "Traceback" not in done.stderr
    return found[0][3]


def test_resume_of_another_model_of_the_spec_is_refused_at_that_model(tmp_path):
    spec, out = _two_models(tmp_path), tmp_path / "r"
    assert specc("run", str(spec), "--out", str(out), "--quiet").returncode == 0
    before = (out / "last.pt").read_bytes()
    done = specc("run", str(spec), "--out", str(out), "--resume", "--quiet", "--set", "train.model=Net2")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("--set:1:7: error: --resume continues the same run, but the configuration "
                                  "differs from the recorded one: train.model: Net1 -> Net2"), done.stderr
    assert (out / "last.pt").read_bytes() == before


def test_a_checkpoint_of_another_model_is_refused_at_that_model(tmp_path):
    """A run folder without a record (older specc): the checkpoint's own model name decides."""
    spec, out = _two_models(tmp_path), tmp_path / "r"
    assert specc("run", str(spec), "--out", str(out), "--quiet").returncode == 0
    for name in ("run.json", "spec.spec", "source.spec"):
        (out / name).unlink()
    before = (out / "last.pt").read_bytes()
    done = specc("run", str(spec), "--out", str(out), "--resume", "--quiet", "--set", "train.model=Net2")
    message = _spec_error(done, spec, _line_of(spec, "model Net2"))
    assert "written by model Net1; this run trains Net2" in message
    assert (out / "last.pt").read_bytes() == before


def test_swapped_statements_resumed_with_force_continue_by_parameter_name(tmp_path):
    spec, out = _two_models(tmp_path), tmp_path / "r"
    assert specc("run", str(spec), "--out", str(out), "--quiet").returncode == 0
    swapped = tmp_path / "swapped.spec"    # Net1 with its two statements swapped: another spec
    swapped.write_text(TWO_MODELS.replace("EPOCHS", "3").replace("model = Net1", "model = Net2"))
    for name in ("run.json", "spec.spec", "source.spec"):   # resumed as a run of older specc
        (out / name).unlink()
    resumed = specc("run", str(swapped), "--out", str(out), "--resume", "--force", "--quiet",
                    "--set", "train.model=Net2")
    assert resumed.returncode == 0, resumed.stderr
    straight = specc("run", str(_two_models(tmp_path, epochs=3)), "--out", str(tmp_path / "s"), "--quiet")
    assert straight.returncode == 0, straight.stderr
    a, b = _model(out / "last.pt"), _model(tmp_path / "s" / "last.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    state = torch.load(out / "last.pt", weights_only=True)["optimizer"]["state"]
    assert {name: tuple(s["exp_avg"].shape) for name, s in state.items()} == \
        {name: tuple(t.shape) for name, t in a.items()}


def _damage(path, change):
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


def test_optimizer_state_of_another_size_is_refused_before_it_reaches_the_kernel(tmp_path):
    spec, out = _two_models(tmp_path), tmp_path / "r"
    assert specc("run", str(spec), "--out", str(out), "--quiet").returncode == 0

    def small_exp_avg(state):
        state["optimizer"]["state"]["linear_1.weight"]["exp_avg"] = torch.zeros(3)

    _damage(out / "last.pt", small_exp_avg)
    done = specc("run", str(spec), "--out", str(out), "--resume", "--quiet", "--set", "train.epochs=2")
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert done.stderr.startswith(f"specc: error: {out / 'last.pt'} optimizer state of linear_1.weight: "
                                  "exp_avg: a float32 tensor of shape (3,), not float32 (4, 2)"), done.stderr
    assert "hint: the file is damaged" in done.stderr and "Traceback" not in done.stderr


# (change to last.pt, words of the one-line message): each is a damaged file, exit 1.
DAMAGED = {
    "epoch_string": (lambda s: s.update(epoch="1"), "epoch is str '1', not a whole number"),
    "epoch_float": (lambda s: s.update(epoch=1.0), "epoch is float 1.0, not a whole number"),
    "epoch_beyond_history": (lambda s: s.update(epoch=2), "history is not a list of 2 rows"),
    "negative_step": (lambda s: s.update(global_step=-1), "global_step is -1, out of range"),
    "huge_step": (lambda s: s.update(global_step=10 ** 30), "global_step is " + str(10 ** 30)),
    "adam_step_huge": (lambda s: s["optimizer"]["state"]["linear_2.bias"].update(step=torch.tensor(1e30)),
                       "step is 1e+30, but the run made 5 steps"),
    "adam_step_nan": (lambda s: s["optimizer"]["state"]["linear_2.bias"].update(step=torch.tensor(float("nan"))),
                      "non-finite"),
    "missing_history": (lambda s: s.pop("history"), "has no 'history' field"),
    "lr_string": (lambda s: s["optimizer"]["param_groups"][0].update(lr="fast"), "lr: str 'fast', not a number"),
    "rng_short": (lambda s: s["rng"].update(cpu=torch.zeros(3, dtype=torch.uint8)), "rng cpu"),
    "history_text": (lambda s: s["history"][0].update({"train.loss": "low"}), "'train.loss' is str 'low'"),
    "weights_nan": (lambda s: s["model"]["linear_2.bias"].fill_(float("nan")), "model linear_2.bias"),
    "partial_without_batches": (lambda s: s.update(step_in_epoch=2), "stopped after batch 2, but partial"),
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_checkpoint_field_is_one_message_naming_it(tmp_path, capsys, name):
    from specc.cli.main import main

    change, words = DAMAGED[name]
    spec, out = _two_models(tmp_path), tmp_path / "r"
    assert main(["run", str(spec), "--out", str(out), "--quiet"]) == 0
    _damage(out / "last.pt", change)
    capsys.readouterr()
    code = main(["run", str(spec), "--out", str(out), "--resume", "--quiet", "--set", "train.epochs=2"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"specc: error: {out / 'last.pt'} ") and words in err, err
    assert "hint: the file is damaged" in err and len(err.strip().splitlines()) == 2, err


def test_a_step_beyond_this_runs_batches_points_at_the_batch_size(tmp_path):
    spec, out = _two_models(tmp_path), tmp_path / "r"
    assert specc("run", str(spec), "--out", str(out), "--quiet").returncode == 0
    _damage(out / "last.pt", lambda s: s.update(step_in_epoch=10 ** 6))   # once a ZeroDivisionError
    done = specc("run", str(spec), "--out", str(out), "--resume", "--quiet")
    message = _spec_error(done, spec, _line_of(spec, "batch = 8"))
    assert "stopped after batch 1000000 of an epoch, but this run's epochs have 5 batches" in message
