"""The run folder is self-contained: run.json, source.spec, spec.spec (resolved: --set applied,
data paths absolute, imports copied), written before training; `specc run <run>/spec.spec`
reproduces the run with the spec's folder gone."""
from __future__ import annotations

import json
from pathlib import Path
import shutil

import torch

from specc.cli.main import main

REPO = Path(__file__).resolve().parents[2]

SPEC = """# iris with an imported layer
import "layers.py" as my

data {
    train = csv("data/iris.csv", target="species")
    valid = 25%
    batch = 16
}
model Iris(x: float[4]) { return x -> my.MyLinear(4, 8) -> ReLU -> Linear(data.classes) }
loss = cross_entropy
optimizer = Adam(lr=0.01)
train { epochs = 5, metrics = [accuracy] }
"""


def _project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    (proj / "data").mkdir(parents=True)
    shutil.copy(REPO / "specs" / "layers.py", proj / "layers.py")
    shutil.copy(REPO / "specs" / "data" / "iris_like.csv", proj / "data" / "iris.csv")
    (proj / "iris.spec").write_text(SPEC)
    return proj


def _history(out: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"}
            for row in torch.load(out / "last.pt", weights_only=True)["history"]]


def test_the_record_holds_the_resolved_configuration(tmp_path, capsys):
    proj = _project(tmp_path)
    out = tmp_path / "runs" / "a"
    assert main(["run", str(proj / "iris.spec"), "--out", str(out), "--set", "train.epochs=1", "--quiet"]) == 0
    record = json.loads((out / "run.json").read_text())
    assert (out / "source.spec").read_text() == SPEC
    assert (out / "layers.py").read_text() == (proj / "layers.py").read_text()
    resolved = (out / "spec.spec").read_text()
    assert resolved.startswith("# iris with an imported layer\nimport \"layers.py\" as my\n")
    assert f'"{proj / "data" / "iris.csv"}"' in resolved and 'target="species"' in resolved   # path made absolute
    assert "epochs = 1" in resolved
    assert {k: record[k] for k in ("format", "spec_path", "sets", "model", "seed", "device", "checkpoint")} == {
        "format": 1, "spec_path": str(proj / "iris.spec"), "sets": ["train.epochs=1"], "model": "Iris",
        "seed": 0, "device": "cpu", "checkpoint": str(out.resolve())}
    prep = record["preprocessing"]
    assert prep["classes"] == ["setosa", "versicolor", "virginica"]
    assert prep["columns"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert prep["inputs"] == {"x": {"dtype": "float", "shape": [4]}}
    assert (prep["task"], prep["target"]) == ("classification", "y")


def test_running_the_resolved_spec_reproduces_the_run_without_the_spec_folder(tmp_path, capsys):
    proj = _project(tmp_path)
    out = tmp_path / "runs" / "a"
    assert main(["run", str(proj / "iris.spec"), "--out", str(out), "--set", "train.epochs=2", "--quiet"]) == 0
    (proj / "iris.spec").unlink()
    (proj / "layers.py").unlink()
    again = tmp_path / "runs" / "b"
    assert main(["run", str(out / "spec.spec"), "--out", str(again), "--quiet"]) == 0
    assert _history(again) == _history(out)
    assert len(_history(out)) == 2


def test_a_damaged_run_folder_is_one_message_naming_the_file(tmp_path, capsys):
    proj = _project(tmp_path)
    out = tmp_path / "runs" / "a"
    assert main(["run", str(proj / "iris.spec"), "--out", str(out), "--set", "train.epochs=1", "--quiet"]) == 0
    capsys.readouterr()
    values = ["--values", "[[5.0, 3.7, 1.7, 0.2]]"]
    assert main(["predict", str(out), *values]) == 0
    assert capsys.readouterr().out.strip() in ("setosa", "versicolor", "virginica")

    record = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**record, "format": 99}))
    assert main(["predict", str(out), *values]) == 2
    assert f"{out / 'run.json'}:1:1: error: run.json has format 99, newer than this specc reads (1)" in \
        capsys.readouterr().err

    (out / "run.json").write_text("{\"format\": 1,")
    assert main(["evaluate", str(out)]) == 2
    assert "run.json is not valid JSON" in capsys.readouterr().err

    (out / "run.json").write_text(json.dumps(record))
    (out / "spec.spec").unlink()
    assert main(["predict", str(out), *values]) == 2
    assert f"{out / 'spec.spec'}:1:1: error: the run folder has no spec.spec" in capsys.readouterr().err

    assert main(["predict", str(tmp_path / "nowhere"), *values]) == 2
    assert "no run folder" in capsys.readouterr().err

    shutil.copy(out / "source.spec", out / "spec.spec")  # a spec.spec again (relative paths do not matter here)
    (out / "best.pt").unlink()
    assert main(["predict", str(out), *values]) == 2
    assert f"{out / 'best.pt'}:1:1: error: no best weights: {out / 'best.pt'} does not exist" in \
        capsys.readouterr().err
