"""Malformed specs: each must fail with a SpecError whose first diagnostic is where the file's
header says (``# expect: LINE:COL words...``) and whose message or hint holds every word.

Inputs that are not sensible to commit (invalid UTF-8, NUL bytes, 10,000-deep nesting) are
generated into tmp_path by the tests below.
"""
from __future__ import annotations

from pathlib import Path
import re
import subprocess
import sys

import pytest

from specc.errors import SpecError
from specc.syntax.spec import parse_spec, read_spec_file

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
BAD = sorted((HERE / "bad").glob("*.spec"))
HEADER = re.compile(r"# expect: (\d+):(\d+) (.+)")
MODEL = "model Net(x: float[2]) {\n    return x\n}\n"


def expectation(path: Path) -> tuple[int, int, list[str]]:
    m = HEADER.fullmatch(path.read_text(encoding="utf-8").split("\n", 1)[0])
    assert m, f"{path.name}: the first line must be '# expect: LINE:COL words'"
    return int(m.group(1)), int(m.group(2)), m.group(3).split()


def assert_first_diagnostic(path: Path, line: int, column: int, words: list[str]) -> SpecError:
    with pytest.raises(SpecError) as info:
        read_spec_file(path)
    first = info.value.diagnostics[0]
    text = f"{first.message} {first.hint or ''}".lower()
    assert (first.span.line, first.span.column) == (line, column), text
    assert [w for w in words if w.lower() not in text] == [], text
    assert first.path == str(path)
    return info.value


def test_the_corpus_is_large_enough():
    assert len(BAD) >= 45


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_spec(path):
    assert_first_diagnostic(path, *expectation(path))


# name, bytes, line, column, words
GENERATED = [
    ("empty", b"", 1, 1, ["at least one model"]),
    ("invalid_utf8", MODEL.encode().replace(b"return x", b"return x \xff"), 2, 14, ["utf-8", "0xff"]),
    ("truncated_utf8", MODEL.encode() + b"# caf\xc3", 4, 6, ["utf-8"]),
    ("latin1", b"# caf\xe9\n" + MODEL.encode(), 1, 6, ["utf-8", "0xe9"]),
    ("nul_bytes", MODEL.encode().replace(b"Net", b"N\x00et"), 1, 8, ["nul", "binary"]),
    ("binary_junk", bytes(range(256)) * 4, 3, 115, ["utf-8", "0x80"]),  # \n and \r each end a line
    ("control_characters", bytes(range(128)) * 4, 1, 1, ["nul", "binary"]),
    ("deep_parentheses", ("model Net(x: float[2]) {\n    return " + "(x + " * 10_000 + "x" + ")" * 10_000
                          + "\n}\n").encode(), 2, None, ["nested too deeply"]),
    ("deep_calls", ("model Net(x: float[2]) {\n    return " + "f(" * 10_000 + "x" + ")" * 10_000
                    + "\n}\n").encode(), 2, None, ["nested too deeply"]),
    ("deep_lists", ("model Net(x: float[2]) {\n    return " + "[" * 10_000 + "x" + "]" * 10_000
                    + "\n}\n").encode(), 2, None, ["nested too deeply"]),
    ("long_sum", ("model Net(x: float[2]) {\n    return " + " + ".join(["1"] * 10_000)
                  + "\n}\n").encode(), 2, None, ["nested too deeply"]),
    ("long_chain_of_powers", ("model Net(x: float[2]) {\n    return " + " ** ".join(["x"] * 10_000)
                              + "\n}\n").encode(), 2, None, ["nested too deeply"]),
]


@pytest.mark.parametrize("name, raw, line, column, words", GENERATED, ids=[g[0] for g in GENERATED])
def test_generated_bad_input(tmp_path, name, raw, line, column, words):
    path = tmp_path / f"{name}.spec"
    path.write_bytes(raw)
    with pytest.raises(SpecError) as info:
        read_spec_file(path)
    first = info.value.diagnostics[0]
    text = f"{first.message} {first.hint or ''}".lower()
    assert first.span.line == line and first.span.column == (column or first.span.column) >= 1, text
    assert [w for w in words if w not in text] == [], text


def test_redundant_parentheses_nest_harmlessly():
    deep = MODEL.replace("return x", "return " + "(" * 10_000 + "x" + ")" * 10_000)
    assert parse_spec(deep).model_dump() == parse_spec(MODEL).model_dump()


def test_a_long_valid_pipeline_is_fine():
    spec = parse_spec(MODEL.replace("return x", "return x" + " -> ReLU" * 1_000))
    assert len(spec.models["Net"].body[0].values[0].stages) == 1_001


@pytest.mark.skipif(not (ROOT / "specc" / "cli" / "main.py").exists(), reason="the CLI is not written yet")
def test_cli_check_reports_every_bad_file():
    """One ``specc check`` over the whole corpus (it goes on after a failing file)."""
    run = subprocess.run([sys.executable, "-m", "specc", "check", *map(str, BAD)], cwd=ROOT,
                         capture_output=True, text=True, encoding="utf-8", timeout=120)
    output = run.stdout + run.stderr
    assert run.returncode == 2, output[-2000:]
    assert "Traceback" not in output
    for path in BAD:
        line, column, _ = expectation(path)
        assert f"{path}:{line}:{column}: error:" in output, path.name


@pytest.mark.skipif(not (ROOT / "specc" / "cli" / "main.py").exists(), reason="the CLI is not written yet")
def test_cli_check_on_generated_input(tmp_path):
    paths = []
    for name, raw, line, column, _ in GENERATED:
        paths.append((tmp_path / f"{name}.spec", line, column))
        paths[-1][0].write_bytes(raw)
    run = subprocess.run([sys.executable, "-m", "specc", "check", *(str(p) for p, _, _ in paths)], cwd=ROOT,
                         capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=120)
    output = run.stdout + run.stderr
    assert run.returncode == 2 and "Traceback" not in output, output[-2000:]
    for path, line, column in paths:
        assert re.search(rf"{re.escape(str(path))}:{line}:{column or '[0-9]+'}: error:", output), path.name
