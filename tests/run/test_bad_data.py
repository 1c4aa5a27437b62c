"""Bad data is a positioned error with exit code 2: `path:line:col: error: ...`, no traceback."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import specc

MODEL = """
model Net(x: float[2]) {
    return x -> Linear(3)
}
loss = cross_entropy
"""


def write(tmp_path: Path, data: str, model: str = MODEL) -> Path:
    spec = tmp_path / "bad.spec"
    spec.write_text(f"data {{\n    train = {data}\n}}\n{model}")
    return spec


def expect(result, spec: Path, line: int, col: int, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{spec}:{line}:{col}: error:" in result.stderr, result.stderr
    for w in words:
        assert w.lower() in result.stderr.lower(), (w, result.stderr)


def make_csv(tmp_path: Path, text: str) -> None:
    (tmp_path / "points.csv").write_text(text)


@pytest.mark.parametrize("command", ["check", "run"])
def test_missing_file(tmp_path, command):
    spec = write(tmp_path, 'csv("nowhere.csv", target="label")')
    expect(specc(command, str(spec), "--out", str(tmp_path / "o")) if command == "run" else specc(command, str(spec)),
           spec, 2, 17, "nowhere.csv")


def test_missing_column(tmp_path):
    make_csv(tmp_path, "a,b,label\n1,2,x\n3,4,y\n")
    spec = write(tmp_path, 'csv("points.csv", target="lable")')
    expect(specc("check", str(spec)), spec, 2, 38, "lable", "did you mean", "label")


def test_csv_row_with_wrong_field_count(tmp_path):
    make_csv(tmp_path, "a,b,label\n1,2,x\n3,4\n")
    spec = write(tmp_path, 'csv("points.csv", target="label")')
    expect(specc("check", str(spec)), spec, 2, 17, "points.csv", "row")


def test_class_folder_without_files(tmp_path):
    for name in ("cats", "dogs"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
    from PIL import Image
    Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / "cats" / "a.png")
    spec = write(tmp_path, 'image_folder("imgs", size=[8, 8])',
                 "model Net(x: float[3, 8, 8]) {\n    return x -> Flatten -> Linear(2)\n}\nloss = cross_entropy\n")
    expect(specc("check", str(spec)), spec, 2, 26, "dogs")


def test_image_that_does_not_decode(tmp_path):
    for name in ("cats", "dogs"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
    from PIL import Image
    Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / "cats" / "a.png")
    (tmp_path / "imgs" / "dogs" / "b.png").write_bytes(b"not an image at all")
    spec = write(tmp_path, 'image_folder("imgs", size=[8, 8])',
                 "model Net(x: float[3, 8, 8]) {\n    return x -> Flatten -> Linear(2)\n}\nloss = cross_entropy\n")
    result = specc("run", str(spec), "--out", str(tmp_path / "o"), "--quiet")
    assert result.returncode == 2, result.stderr
    assert "b.png" in result.stderr
    assert f"{spec}:2:" in result.stderr
    assert "Traceback" not in result.stderr


def test_loss_that_does_not_fit_the_output(tmp_path):
    spec = write(tmp_path, "moons(samples=100)")   # 2 classes, the model returns 3 scores
    expect(specc("check", str(spec)), spec, 8, 8, "cross_entropy", "(B, 3)", "data.classes")


# ---- values that are not finite: an error at load, not "loss became nan" -------------------

GENERATED = """
model Net(x: float[1]) {
    return x -> Linear(1)
}
loss = mse
train { epochs = 1 }
"""


@pytest.mark.parametrize("text, col", [("3,nan,1", "b"), ("3,inf,1", "b"), ("-inf,4,1", "a")])
def test_csv_feature_that_is_not_finite(tmp_path, text, col):
    """``check`` reads a CSV's header and target column only; the load names the bad cell."""
    make_csv(tmp_path, f"a,b,label\n1,2,0\n{text}\n5,6,2\n")
    spec = write(tmp_path, 'csv("points.csv", target="label")')
    assert specc("check", str(spec)).returncode == 0
    result = specc("run", str(spec), "--out", str(tmp_path / "o"), "--quiet")
    expect(result, spec, 2, 13, "points.csv, row 2 (line 3)", f"column '{col}'", "finite")
    assert "learning rate" not in result.stderr


def test_csv_regression_target_that_is_nan(tmp_path):
    make_csv(tmp_path, "a,b,y\n1,2,0.5\n3,4,nan\n")
    spec = write(tmp_path, 'csv("points.csv", target="y")', GENERATED.replace("float[1]", "float[2]"))
    expect(specc("check", str(spec)), spec, 2, 38, "row 2 (line 3)", "column 'y'", "finite")


@pytest.mark.parametrize("field, col, words", [
    ("y = log(x - 2)", 57, ["gives nan for example", "data must be finite"]),
    ("y = sqrt(x - 5) * 2", 57, ["gives nan"]),
    ("y = exp(x * 1000)", 57, ["gives inf"]),
    ("y = x / 0", 57, ["division by zero"]),
    ("y = x + 1 / 0", 61, ["division by zero"]),
    ("y = x / (x - x)", 57, ["division by zero"]),
])
def test_generated_field_that_is_not_finite(tmp_path, field, col, words):
    spec = write(tmp_path, f"generate(samples=50, x = uniform(0, 4), {field})", GENERATED)
    result = specc("run", str(spec), "--out", str(tmp_path / "o"), "--quiet")
    expect(result, spec, 2, col, *words)
    assert "learning rate" not in result.stderr


def test_transform_that_is_not_finite(tmp_path):
    spec = write(tmp_path, "generate(samples=50, x = uniform(-1, 1), y = 2 * x)\n    transform = log(x)", GENERATED)
    expect(specc("run", str(spec), "--out", str(tmp_path / "o"), "--quiet"), spec, 3, 17, "gives nan")


@pytest.mark.parametrize("call, rule", [
    ("uniform(1, 0)", "low must not be above high"),
    ("normal(0, -1)", "std must be at least 0"),
    ("randint(3, 3)", "low must be below high"),
])
def test_generator_bounds_are_checked(tmp_path, call, rule):
    spec = write(tmp_path, f"generate(samples=50, x = {call}, y = uniform(0, 1))", GENERATED)
    expect(specc("check", str(spec)), spec, 2, 38, rule)
