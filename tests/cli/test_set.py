"""``--set`` through the real CLI: a value that came from ``--set`` is positioned and quoted in
the ``--set`` text, whichever stage finds the mistake (validation, analysis, data loading, a
divergence while training); every bad value is reported in one run; sections the spec leaves
out can be set."""
from __future__ import annotations

from pathlib import Path
import re

import pytest

from specc.cli.main import main
from specc.syntax.sections import TrainOptions

TINY = """data {
    train = moons(samples=40, noise=0.2)
    batch = 8
}
model Net(x: float[2]) {
    return x -> Linear(4) -> ReLU -> Linear(2)
}
loss = cross_entropy
train { epochs = 1 }
"""
WITH_OPTIMIZER = TINY.replace("loss = cross_entropy\n", "loss = cross_entropy\noptimizer = Adam(lr=0.01)\n")
DIAGNOSTIC = re.compile(r"^(.+?):(\d+):(\d+): error: (.*)$", re.M)


def _spec(tmp_path: Path, text: str = WITH_OPTIMIZER) -> str:
    path = tmp_path / "s.spec"
    path.write_text(text)
    return str(path)


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _run(tmp_path, capsys, *sets: str, text: str = WITH_OPTIMIZER) -> tuple[int, str]:
    args = [a for s in sets for a in ("--set", s)]
    code, _, err = _cli(capsys, "run", _spec(tmp_path, text), "--out", str(tmp_path / "run"), "--quiet", *args)
    return code, err


def _one_error(err: str) -> tuple[int, int, str, str, str]:
    """(line, column, message, quoted line, caret line) of the only diagnostic, at --set."""
    found = DIAGNOSTIC.findall(err)
    assert len(found) == 1 and found[0][0] == "--set", err
    lines = err.splitlines()
    return int(found[0][1]), int(found[0][2]), found[0][3], lines[1].strip(), lines[2]


@pytest.mark.parametrize("value, column, words", [
    ("train.epochs=1.0", 14, "train.epochs must be a whole number, got 1.0"),
    ("train.epochs=three", 14, "train.epochs must be a whole number, got three"),
    ("train.epoch=3", 7, "unknown train setting 'epoch'"),
    ("data.batch=0", 12, "must be at least 1"),
])
def test_a_bad_value_is_positioned_and_quoted_in_the_set_text(tmp_path, capsys, value, column, words):
    code, err = _run(tmp_path, capsys, value)
    line, col, message, quoted, caret = _one_error(err)
    assert code == 2 and (line, col) == (1, column) and words in message, err
    assert quoted == value and caret == " " * 4 + " " * (column - 1) + "^", err
    assert not (tmp_path / "run").exists()


def test_a_missing_file_from_set_is_reported_at_the_set_value(tmp_path, capsys):
    code, err = _run(tmp_path, capsys, 'data.train=csv("nope.csv")')
    line, col, message, quoted, _ = _one_error(err)
    assert code == 2 and (line, col) == (1, 16) and "nope.csv" in message, err
    assert quoted == 'data.train=csv("nope.csv")'


def test_an_argument_the_optimizer_lacks_is_reported_at_the_set_value(tmp_path, capsys):
    code, err = _run(tmp_path, capsys, "optimizer.momentum=0.9")
    line, col, message, quoted, _ = _one_error(err)
    assert code == 2 and (line, col) == (1, 11) and "momentum" in message, err
    assert quoted == "optimizer.momentum=0.9"


def test_a_loss_that_does_not_fit_is_reported_at_the_set_value(tmp_path, capsys):
    code, _, err = _cli(capsys, "config", _spec(tmp_path), "--set", "loss=mse")
    line, col, message, quoted, _ = _one_error(err)
    assert code == 2 and (line, col) == (1, 6) and "mse wants a float target" in message, err
    assert quoted == "loss=mse"


def test_a_learning_rate_torch_refuses_is_reported_at_the_set_value(tmp_path, capsys):
    code, err = _run(tmp_path, capsys, "optimizer.lr=-1")
    _, _, message, quoted, _ = _one_error(err)
    assert code == 2 and "Invalid learning rate: -1" in message and quoted == "optimizer.lr=-1", err


def test_a_divergence_blames_the_learning_rate_given_by_set(tmp_path, capsys):
    code, err = _run(tmp_path, capsys, "optimizer.lr=1e30")
    line, col, message, quoted, _ = _one_error(err)
    assert code == 2 and (line, col) == (1, 14) and "became nan" in message, err
    assert quoted == "optimizer.lr=1e30"


def test_a_syntax_error_in_a_value_is_positioned_in_the_set_text(tmp_path, capsys):
    code, err = _run(tmp_path, capsys, "data.train=moons(samples=40")
    line, col, message, quoted, _ = _one_error(err)
    assert code == 2 and line == 1 and col == 27 and "end of file" in message, err
    assert "'(' opened at line 1, column 17 is never closed" in err


def test_every_bad_set_value_is_reported_in_one_run_in_order(tmp_path, capsys):
    sets = ["train.epochs=three", "model.x=1", "data.batch=(", "train.seed=-1", "train.epochs2=1"]
    code, err = _run(tmp_path, capsys, *sets)
    found = DIAGNOSTIC.findall(err)
    assert code == 2 and [f[0] for f in found] == ["--set"] * 5, err
    words = ["got three", "cannot change 'model'", "end of file", "train.seed", "unknown train setting 'epochs2'"]
    assert all(w in f[3] for w, f in zip(words, found)), err
    quoted = [line.strip() for line in err.splitlines() if line.startswith("    ") and line.strip() != "^"]
    assert quoted == sets, err


@pytest.mark.parametrize("value, words", [
    ("epochs", "--set takes target=value"),
    ("\ntrain.epochs=5", "--set takes target=value"),
    ("data=1", "one entry of data at a time"),
    ("schedule.gamma=0.5", "the spec has no schedule to change"),
    ("train.epochs=5\nmodel M(x: float[1]) { return x }", "a --set value is one expression"),
])
def test_a_malformed_set_is_one_positioned_message(tmp_path, capsys, value, words):
    code, err = _run(tmp_path, capsys, value)
    found = DIAGNOSTIC.findall(err)
    assert code == 2 and len(found) == 1 and found[0][0] == "--set" and words in found[0][3], err


def _config(tmp_path, capsys, text: str, *sets: str) -> str:
    code, out, err = _cli(capsys, "config", _spec(tmp_path, text), *[a for s in sets for a in ("--set", s)])
    assert code == 0, err
    return out


def test_set_optimizer_lr_without_an_optimizer_line_starts_from_the_default(tmp_path, capsys):
    out = _config(tmp_path, capsys, TINY, "optimizer.lr=0.05")
    assert "optimizer = Adam(lr=0.05)\n" in out
    code, err = _run(tmp_path, capsys, "optimizer.lr=0.05", text=TINY)
    assert code == 0, err


def test_set_replaces_whole_entries_and_adds_missing_sections(tmp_path, capsys):
    text = TINY.replace("train { epochs = 1 }\n", "")
    out = _config(tmp_path, capsys, text, "optimizer=SGD(lr=0.1)", "loss=nll", "train.epochs=3",
                  "schedule=StepLR(step_size=2)", "schedule.gamma=0.5")
    assert "optimizer = SGD(lr=0.1)\n" in out and "loss = nll\n" in out and "cross_entropy" not in out
    assert "train { epochs = 3 }\n" in out and "schedule = StepLR(step_size=2, gamma=0.5)\n" in out


@pytest.mark.skipif("log_every" not in TrainOptions.model_fields, reason="train.log_every comes with the trainer")
def test_set_reaches_train_log_every(tmp_path, capsys):
    assert "log_every = 5" in _config(tmp_path, capsys, TINY, "train.log_every=5")
