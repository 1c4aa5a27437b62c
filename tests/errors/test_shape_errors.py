"""Specs that parse but are wrong: a shape, a type or a name. Each file in ``shape/`` holds one
mistake, and its header says where the first diagnostic must point and what it must say::

    # expect: LINE:COL word "a phrase with spaces" ...

Every word (or quoted phrase) must appear, case-insensitively, in the first diagnostic's message
or hint; for a shape mismatch the phrases are both shapes as the message prints them. Each file
goes through the API (``specc.check``) and through the CLI (``python -m specc check``), which must
exit 2 with ``path:LINE:COL: error:`` and no traceback.
"""
from __future__ import annotations

from pathlib import Path
import re
import shlex
import subprocess
import sys

import pytest

import specc
from specc.errors import SpecError

HERE = Path(__file__).parent
CASES = sorted((HERE / "shape").glob("*.spec"))
HEADER = re.compile(r"# expect: (\d+):(\d+) (.+)")


def expectation(path: Path) -> tuple[int, int, list[str]]:
    m = HEADER.fullmatch(path.read_text(encoding="utf-8").split("\n", 1)[0])
    assert m, f"{path.name}: the first line must be '# expect: LINE:COL words'"
    return int(m.group(1)), int(m.group(2)), shlex.split(m.group(3))


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_first_diagnostic_through_the_api(path):
    line, column, words = expectation(path)
    with pytest.raises(SpecError) as info:
        specc.check(specc.load(path))
    first = info.value.diagnostics[0]
    text = f"{first.message} {first.hint or ''}".lower()
    assert (first.span.line, first.span.column) == (line, column), text
    assert [w for w in words if w.lower() not in text] == [], text
    assert first.path == str(path)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_first_diagnostic_through_the_cli(path):
    line, column, _ = expectation(path)
    proc = subprocess.run([sys.executable, "-m", "specc", "check", str(path)], capture_output=True, text=True,
                          timeout=120, cwd=HERE)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"{path}:{line}:{column}: error: "), proc.stderr


def test_a_correct_spec_passes_both_ways(tmp_path):
    """Control: the same checks accept a spec without a mistake."""
    path = tmp_path / "ok.spec"
    path.write_text("model Net(x: float[784]) {\n    h = x -> Linear(30)\n    return h -> Linear(10)\n}\n")
    assert specc.check(specc.load(path)).model == "Net"
    proc = subprocess.run([sys.executable, "-m", "specc", "check", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert (proc.returncode, proc.stderr) == (0, "")
