"""``specc --version``, ``specc config``, ``specc summary``'s width, and ``--device`` mistakes,
through the real CLI."""
from __future__ import annotations

from pathlib import Path
import re
import subprocess
import sys

import pytest
import torch

import specc
from specc.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SPEC = """# two moons
data {
    train = moons(samples=40, noise=0.2)  # small
    batch = 8
}

model Net(x: float[2]) {
    return x -> Linear(4) -> ReLU -> Linear(2)
}

loss = cross_entropy
train { epochs = 1 }  # one pass
"""


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _spec(tmp_path: Path, text: str = SPEC, name: str = "s.spec") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ---------------------------------------------------------------- --version

def test_version_names_specc_and_torch():
    done = subprocess.run([sys.executable, "-m", "specc", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"specc {specc.__version__} (torch {torch.__version__})\n"


# ---------------------------------------------------------------- config

SETS = ["train.epochs=3", "data.batch=16", "optimizer.lr=0.05", "loss=cross_entropy(label_smoothing=0.1)",
        "data.valid=25%", "train.metrics=[accuracy]"]


def test_config_prints_the_spec_with_the_set_values_applied(tmp_path, capsys):
    code, out, err = _cli(capsys, "config", _spec(tmp_path), *[a for s in SETS for a in ("--set", s)])
    assert code == 0, err
    assert out == """# two moons
data {
    train = moons(samples=40, noise=0.2)  # small
    batch = 16
    valid = 25%
}

model Net(x: float[2]) {
    return x -> Linear(4) -> ReLU -> Linear(2)
}

loss = cross_entropy(label_smoothing=0.1)
train { epochs = 3, metrics = [accuracy] }  # one pass
optimizer = Adam(lr=0.05)
"""


def test_the_printed_config_checks_and_prints_itself(tmp_path, capsys):
    _, first, _ = _cli(capsys, "config", _spec(tmp_path), *[a for s in SETS for a in ("--set", s)])
    resolved = _spec(tmp_path, first, "resolved.spec")
    code, out, err = _cli(capsys, "check", resolved)
    assert code == 0 and out.startswith(f"ok {resolved}"), err
    code, again, err = _cli(capsys, "config", resolved)
    assert code == 0 and again == first, err


def test_config_without_set_prints_what_fmt_prints(tmp_path, capsys):
    path = _spec(tmp_path, SPEC.replace("batch = 8", "batch=8   "))
    _, formatted, _ = _cli(capsys, "fmt", path)
    code, out, err = _cli(capsys, "config", path)
    assert code == 0 and out == formatted, err


def test_config_reports_a_bad_set_value_at_it(tmp_path, capsys):
    code, out, err = _cli(capsys, "config", _spec(tmp_path), "--set", "train.epochs=three")
    assert code == 2 and out == "" and err.startswith("--set:1:14: error: train.epochs must be a whole number"), err


# ---------------------------------------------------------------- summary width

LONG = "layer_with_a_name_long_enough_to_pass_the_eighty_columns_of_a_terminal_by_far"
LONG_SPEC = f"""model Net(x: float[2]) {{
    {LONG}_1 = Linear(4)
    {LONG}_2 = Linear(4)
    return x -> {LONG}_1 -> {LONG}_2 -> Linear(2)
}}
"""


def test_summary_piped_shows_whole_names(tmp_path, capsys):
    code, out, err = _cli(capsys, "summary", _spec(tmp_path, LONG_SPEC))
    assert code == 0, err
    rows = [line for line in out.splitlines() if LONG in line]
    assert len(rows) == 2 and f"{LONG}_1 " in rows[0] and f"{LONG}_2 " in rows[1], out
    assert "…" not in out


def _on_terminal(capsys, monkeypatch, columns: int, *args: str) -> str:
    """``specc ARGS`` with stdout a terminal ``columns`` wide; its output without colours."""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, err = _cli(capsys, *args)
    assert code == 0, err
    return re.sub(r"\x1b\[[0-9;]*m", "", out)


def test_summary_on_a_narrow_terminal_folds_names_instead_of_cutting_them(tmp_path, capsys, monkeypatch):
    out = _on_terminal(capsys, monkeypatch, 60, "summary", _spec(tmp_path, LONG_SPEC))
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 60, out
    names = "".join(line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│"))
    assert f"{LONG}_1{LONG}_2linear_1" == names, out


def test_summary_wide_on_a_terminal_shows_whole_names(tmp_path, capsys, monkeypatch):
    out = _on_terminal(capsys, monkeypatch, 60, "summary", _spec(tmp_path, LONG_SPEC), "--wide")
    assert len([line for line in out.splitlines() if re.search(rf"{LONG}_[12] ", line)]) == 2, out


# ---------------------------------------------------------------- --device

def test_an_unknown_device_is_a_mistake_at_the_flag_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = _cli(capsys, "run", _spec(tmp_path), "--out", str(out), "--quiet", "--device", "gpu")
    assert code == 2 and err.startswith("--device:1:1: error: unknown device 'gpu'"), err
    assert err.splitlines()[1].strip() == "gpu" and "Traceback" not in err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_where_there_is_none_is_an_environment_error_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = _cli(capsys, "run", _spec(tmp_path), "--out", str(out), "--quiet", "--device", "cuda")
    assert code == 1 and err.startswith("specc: error: device cuda is not available"), err
    assert not out.exists()
