"""Watching a run: history.csv grows every epoch; TensorBoard scalars (`--log tensorboard` or
`train { log = tensorboard }`); a missing tensorboard package is one message and exit 1."""
from __future__ import annotations

import csv
import subprocess
import sys

import pytest

import specc
from specc.cli.main import main

from conftest import moons_spec


def _rows(path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_history_csv_holds_every_finished_epoch_while_the_run_goes_on(tmp_path):
    out = tmp_path / "run"
    seen = []

    class Watch:  # at the first step of each epoch, read the file as another program would
        def on_step(self, epoch, step):
            if step == 1:
                seen.append(len(_rows(out / "history.csv")) if (out / "history.csv").exists() else 0)

    result = specc.train(str(moons_spec(tmp_path, epochs=4)), out=str(out), hooks=[Watch()])
    assert seen == [0, 1, 2, 3]
    rows = _rows(out / "history.csv")
    assert [float(r["valid.loss"]) for r in rows] == [r["valid.loss"] for r in result.history]


def _scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_log_tensorboard_writes_the_history_as_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    assert main(["run", str(moons_spec(tmp_path, epochs=3)), "--out", str(out), "--log", "tensorboard",
                 "--quiet"]) == 0
    scalars = _scalars(out / "tensorboard")
    assert set(scalars) == {"loss/train", "loss/valid", "accuracy/valid", "lr", "epoch_seconds"}
    rows = _rows(out / "history.csv")
    for tag, key in [("loss/train", "train.loss"), ("loss/valid", "valid.loss"),
                     ("accuracy/valid", "valid.accuracy"), ("lr", "lr"), ("epoch_seconds", "seconds")]:
        assert [step for step, _ in scalars[tag]] == [1, 2, 3]
        assert [v for _, v in scalars[tag]] == pytest.approx([float(r[key]) for r in rows], rel=1e-6)


def test_train_log_entry_is_the_same_as_the_option(tmp_path):
    pytest.importorskip("tensorboard")
    spec = moons_spec(tmp_path, epochs=1)
    spec.write_text(spec.read_text().replace("metrics = [accuracy]", "metrics = [accuracy], log = tensorboard"))
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert "loss/valid" in _scalars(tmp_path / "run" / "tensorboard")


def test_missing_tensorboard_is_one_message_with_the_pip_command(tmp_path):
    code = ("import sys; sys.modules['tensorboard'] = None; sys.modules['torch.utils.tensorboard'] = None\n"
            "from specc.cli.main import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "run", str(moons_spec(tmp_path, epochs=1)),
                           "--out", str(tmp_path / "run"), "--log", "tensorboard"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert done.stderr == ("specc: error: train.log = tensorboard needs the tensorboard package, which is not "
                           "installed\nhint: pip install 'specc[logging]'\n")
    assert "epoch 1/1" not in done.stdout   # refused before the first epoch
