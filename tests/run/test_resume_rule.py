"""--resume continues the same run: the recorded --set values apply again, and any other change
to the configuration than train.epochs is refused (exit 2, each entry named) unless
--force, which restarts from the checkpoint's weights with the new settings."""
from __future__ import annotations

import json

import torch

from conftest import moons_spec
from specc.cli.main import main


def _run(capsys, *args):
    code = main(["run", *args, "--quiet"])
    return code, capsys.readouterr().err


def _epochs(out):
    return [row["epoch"] for row in torch.load(out / "last.pt", weights_only=True)["history"]]


def test_changed_lr_and_data_are_refused_with_both_entries_named(tmp_path, capsys):
    spec, out = moons_spec(tmp_path, epochs=1), tmp_path / "r"
    assert _run(capsys, str(spec), "--out", str(out))[0] == 0
    before = (out / "last.pt").read_bytes()
    code, err = _run(capsys, str(spec), "--out", str(out), "--resume", "--set", "optimizer.lr=0.5",
                     "--set", "data.train=circles(samples=100)")
    assert code == 2
    assert "data.train: moons(samples=600, noise=0.2) -> circles(samples=100)" in err
    assert "optimizer: Adam(lr=0.01) -> Adam(lr=0.5)" in err
    assert "Traceback" not in err
    assert (out / "last.pt").read_bytes() == before


def test_plain_resume_keeps_the_recorded_set_values(tmp_path, capsys):
    spec, out = moons_spec(tmp_path, epochs=3), tmp_path / "r"
    assert _run(capsys, str(spec), "--out", str(out), "--set", "train.epochs=1")[0] == 0
    code, err = _run(capsys, str(spec), "--out", str(out), "--resume")
    assert code == 0, err
    assert _epochs(out) == [1]           # still the 1-epoch run, not the spec's 3
    assert json.loads((out / "run.json").read_text())["sets"] == ["train.epochs=1"]


def test_a_larger_epochs_continues_the_run(tmp_path, capsys):
    spec, out = moons_spec(tmp_path, epochs=1), tmp_path / "r"
    assert _run(capsys, str(spec), "--out", str(out))[0] == 0
    code, err = _run(capsys, str(spec), "--out", str(out), "--resume", "--set", "train.epochs=2")
    assert code == 0, err
    assert _epochs(out) == [1, 2]
    assert "epochs = 2" in (out / "spec.spec").read_text()
    # and from the run folder's own resolved spec: the same run
    code, err = _run(capsys, str(out / "spec.spec"), "--out", str(out), "--resume", "--set", "train.epochs=3")
    assert code == 0, err
    assert _epochs(out) == [1, 2, 3]


def test_force_restarts_from_the_checkpoint_weights_with_the_new_settings(tmp_path, capsys):
    spec, out = moons_spec(tmp_path, epochs=1), tmp_path / "r"
    assert _run(capsys, str(spec), "--out", str(out))[0] == 0
    weights = torch.load(out / "last.pt", weights_only=True)["model"]
    # lr = 0: the new settings leave the weights exactly where the checkpoint had them
    code, err = _run(capsys, str(spec), "--out", str(out), "--resume", "--force", "--set", "optimizer.lr=0",
                     "--set", "train.epochs=2")
    assert code == 0, err
    assert err.strip().splitlines() == [
        f"note: the configuration changed (optimizer); restarting from the weights of {out / 'last.pt'} "
        "with the new settings"]
    state = torch.load(out / "last.pt", weights_only=True)
    assert [row["epoch"] for row in state["history"]] == [1, 2]
    assert all(torch.equal(weights[k], state["model"][k]) for k in weights)
    assert "Adam(lr=0)" in (out / "spec.spec").read_text()


def test_a_run_folder_without_a_record_keeps_the_spec_hash_rule(tmp_path, capsys):
    spec, out = moons_spec(tmp_path, epochs=1), tmp_path / "r"
    assert _run(capsys, str(spec), "--out", str(out))[0] == 0
    (out / "run.json").unlink()
    code, err = _run(capsys, str(spec), "--out", str(out), "--resume", "--set", "optimizer.lr=0.5")
    assert code == 0, err      # the spec text is the same: today's rule lets the new lr in
    spec.write_text(spec.read_text().replace("Linear(16)", "Linear(16) -> ReLU"))
    code, err = _run(capsys, str(spec), "--out", str(out), "--resume")
    assert code == 1 and "was written by a different spec" in err
