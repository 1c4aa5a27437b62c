"""Lexical rules through the CLI: every line end counts as one, numbers are ASCII digits, and
bidirectional control characters are refused where they stand (docs/language.md section 1)."""
from __future__ import annotations

from pathlib import Path

import pytest

from specc.cli.main import main


def check(tmp_path: Path, capsys, raw: bytes) -> tuple[int, str, Path]:
    path = tmp_path / "lex.spec"
    path.write_bytes(raw)
    code = main(["check", str(path)])
    return code, capsys.readouterr().err, path


@pytest.mark.parametrize("end", [b"\r", b"\r\n", b"\n"])
def test_every_line_end_counts_as_a_line(tmp_path, capsys, end):
    lines = [b"model M(x: float[2]) {", b"    h = x", b"    return h -> Linear(2) -> Bogus", b"}", b""]
    code, err, path = check(tmp_path, capsys, end.join(lines))
    assert code == 2
    assert f"{path}:3:30: error: unknown name 'Bogus'" in err, err
    assert "    return h -> Linear(2) -> Bogus\n" in err  # the source line, without the rest of the file


def test_cr_only_file_checks_and_formats(tmp_path, capsys):
    path = tmp_path / "ok.spec"
    path.write_bytes(b"model M(x: float[2]) {\r    h = x  # note\r    return h -> Linear(2)\r}\r")
    assert main(["check", str(path)]) == 0
    assert main(["fmt", str(path)]) == 0
    assert capsys.readouterr().out.endswith("model M(x: float[2]) {\n    h = x  # note\n    return h -> Linear(2)\n}\n")


def test_invalid_utf8_after_cr_line_ends_is_placed_on_its_line(tmp_path, capsys):
    code, err, path = check(tmp_path, capsys, b"model M(x: float[2]) {\r    return x\r}\r# caf\xff\r")
    assert code == 2 and f"{path}:4:6: error: the file is not valid UTF-8 (byte 0xff)" in err, err


@pytest.mark.parametrize("digits, col", [("\u0661\u0660", 24), ("1\u0660", 25), ("\uff11", 24), ("2.\u0665", 26)])
def test_only_ascii_digits_are_numbers(tmp_path, capsys, digits, col):
    code, err, path = check(tmp_path, capsys, f"model M(x: float[2]) {{\n    return x -> Linear({digits})\n}}\n".encode())
    assert code == 2
    assert f"{path}:2:{col}: error: unexpected character" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("char", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f"])
@pytest.mark.parametrize("where, line, col", [
    ("model M(x: float[2]) {{\n    return x -> Linear(2)  # admin {c} only\n}}\n", 2, 36),
    ('data {{\n    train = csv("a{c}.csv")\n}}\nmodel M(x: float[2]) {{ return x }}\n', 2, 19),
])
def test_bidi_controls_are_refused_where_they_stand(tmp_path, capsys, char, where, line, col):
    code, err, path = check(tmp_path, capsys, where.format(c=char).encode())
    assert code == 2
    assert f"{path}:{line}:{col}: error: the file holds the bidirectional control character U+{ord(char):04X}" in err


# ---------------------------------------------------------------- line continuation (10.11)
@pytest.mark.parametrize("end", [b"\r\n", b"\n"])
def test_continued_lines_keep_exact_positions(tmp_path, capsys, end):
    lines = [b"model M(x: float[2]) {", b"    h = x ->", b"        # between", b"        Linear(4) *",
             b"        2", b"", b"        -> Bogus", b"    return h", b"}", b""]
    code, err, path = check(tmp_path, capsys, end.join(lines))
    assert code == 2
    assert f"{path}:7:12: error: unknown name 'Bogus'" in err, err


def test_else_on_the_line_after_the_brace(tmp_path, capsys):
    code, err, _ = check(tmp_path, capsys, b"model M(x: float[2]) {\n    if 1 > 2 {\n        h = x\n    }\n"
                                          b"    # why\n    else {\n        h = -x\n    }\n    return h\n}\n")
    assert code == 0, err


@pytest.mark.parametrize("name", [b"elsewhere", b"else_", b"or_", b"format"])
def test_a_name_that_starts_like_a_keyword_is_a_new_statement(tmp_path, capsys, name):
    raw = b"model M(x: float[2]) {\n    if true {\n        h = x\n    }\n    " + name + b" = x ->\n        Bogus\n    return h\n}\n"
    code, err, path = check(tmp_path, capsys, raw)
    assert code == 2 and f"{path}:6:9: error: unknown name 'Bogus'" in err, err


def test_a_keyword_before_equals_is_named(tmp_path, capsys):
    code, err, path = check(tmp_path, capsys, b"model M(x: float[2]) {\n    in = x\n    return x\n}\n")
    assert code == 2 and f"{path}:2:5: error: 'in' is a keyword and cannot be used as a variable" in err, err
