"""``specc fmt``: canonical files come back unchanged, messy ones become their ``.expected``,
and every real spec keeps its AST and is a fixed point after one pass."""
from __future__ import annotations

from pathlib import Path

import pytest

from specc.errors import SpecError
from specc.syntax.fmt import format_spec, quote
from specc.syntax.spec import parse_spec

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CASES = HERE / "fmt_cases"
IDENTITY = sorted(p for p in CASES.glob("*.spec") if not p.name.startswith("messy_"))
MESSY = sorted(CASES.glob("messy_*.spec"))
EXAMPLES = sorted((HERE / "language_examples").glob("*.spec"))
SPECS = sorted((ROOT / "specs").glob("*.spec"))


def dump(text: str) -> dict:
    return parse_spec(text).model_dump()


def assert_round_trip(text: str) -> str:
    out = format_spec(text)
    assert dump(out) == dump(text)
    assert format_spec(out) == out
    return out


def test_the_corpora_are_there():
    assert len(IDENTITY) >= 6 and len(MESSY) >= 3 and len(EXAMPLES) >= 15


@pytest.mark.parametrize("path", IDENTITY, ids=lambda p: p.name)
def test_canonical_files_are_unchanged(path):
    text = path.read_text(encoding="utf-8")
    assert format_spec(text) == text


@pytest.mark.parametrize("path", MESSY, ids=lambda p: p.name)
def test_messy_files_become_expected(path):
    expected = path.with_suffix(".expected").read_text(encoding="utf-8")
    assert assert_round_trip(path.read_text(encoding="utf-8")) == expected


@pytest.mark.parametrize("path", EXAMPLES + SPECS + MESSY, ids=lambda p: p.name)
def test_round_trip_keeps_the_ast_and_is_idempotent(path):
    assert_round_trip(path.read_text(encoding="utf-8"))


LIBRARY = sorted((ROOT / "tests" / "compile" / "specs").glob("*.spec"))


@pytest.mark.parametrize("path", EXAMPLES + SPECS + LIBRARY, ids=lambda p: p.name)
def test_formatted_lines_fit_in_100_columns(path):
    out = assert_round_trip(path.read_text(encoding="utf-8"))
    assert max(len(line) for line in out.split("\n")) <= 100


def test_a_long_call_opens_its_arguments_on_the_next_lines():
    net = "model Net(x: float[2]) {\n    return x -> Linear(2)\n}\n"
    fits = ", ".join(f"a{i}=1" for i in range(7))   # together 90 columns: the call itself is 101
    out = assert_round_trip(f"data {{ train = moons({fits}, {fits.replace('a', 'b')}) }}\n" + net)
    assert out == f"data {{\n    train = moons(\n        {fits}, {fits.replace('a', 'b')}\n    )\n}}\n\n" + net
    many = [f"a{i}=1" for i in range(30)]
    out = assert_round_trip(f"data {{\n    train = moons({', '.join(many)})\n}}\n" + net)
    assert out == "data {\n    train = moons(\n" + ",\n".join(f"        {a}" for a in many) + "\n    )\n}\n\n" + net


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_language_examples_parse(path):
    spec = parse_spec(path.read_text(encoding="utf-8"), str(path))
    assert spec.models, "every example has a model"


def test_comments_are_all_kept():
    for path in IDENTITY + MESSY + EXAMPLES:
        text = path.read_text(encoding="utf-8")
        out = format_spec(text)
        for line in text.splitlines():
            if "#" in line and '"' not in line:
                assert line[line.index("#"):].rstrip() in out, (path.name, line)


MODEL = "model M(x: float[2]) {{\n    return {}\n}}\n"


@pytest.mark.parametrize("written, canonical", [
    ("(a + b) * c", "(a + b) * c"),
    ("a + (b * c)", "a + b * c"),
    ("a - (b - c)", "a - (b - c)"),
    ("(a - b) - c", "a - b - c"),
    ("-(a ** 2)", "-a ** 2"),
    ("(-a) ** 2", "(-a) ** 2"),
    ("a ** (b ** c)", "a ** b ** c"),
    ("(a ** b) ** c", "(a ** b) ** c"),
    ("a ** (-b)", "a ** -b"),
    ("(Linear(100) -> ReLU) * 3", "(Linear(100) -> ReLU) * 3"),
    ("a -> (b -> c)", "a -> (b -> c)"),
    ("(a -> b) -> c", "a -> b -> c"),
    ("(a + b)(x)", "(a + b)(x)"),
    ("(-a).b", "(-a).b"),
    ("(f(x))[0]", "f(x)[0]"),
    ("((((x))))", "x"),
    ("a//b@c", "a // b @ c"),
    ("f(k = 1, 2)", "f(2, k=1)"),
    ("t[ : , - 1 ]", "t[:, -1]"),
    ("t[1:2:]", "t[1:2]"),
    ("(x ,)", "(x,)"),
    ("[ ]", "[]"),
    ("1E5 + 007 + 20.5%", "1E5 + 007 + 20.5%"),
    ('"tab\there"', '"tab\\there"'),
])
def test_minimal_parentheses_and_spacing(written, canonical):
    assert assert_round_trip(MODEL.format(written)) == MODEL.format(canonical)


def test_crlf_tabs_and_blank_runs():
    text = "model M(x: float[2]) {\r\n\th = x\r\n\r\n\r\n\r\n\treturn h  # end\r\n}\r\n"
    assert assert_round_trip(text) == "model M(x: float[2]) {\n    h = x\n\n    return h  # end\n}\n"


def test_device_name_prints_as_written():
    text = "model M(x: float[2]) {\n    return x\n}\n\ntrain { device = cuda:1 }\n"
    assert format_spec(text) == text


def test_long_one_line_section_is_split():
    entries = "seed = 0, metrics = [accuracy, top5, f1, precision, recall, mae, rmse, r2], plot = [loss, fit]"
    text = f"model M(x: float[2]) {{ return x }}\ntrain {{ epochs = 1, {entries} }}\n"
    out = assert_round_trip(text)
    assert "train {\n    epochs = 1\n    seed = 0\n" in out


def test_quote_escapes():
    assert quote('a"b\\c\nd\te') == '"a\\"b\\\\c\\nd\\te"'


def test_format_spec_reports_syntax_errors():
    with pytest.raises(SpecError) as info:
        format_spec("model M(x: float[2]) {\n    return x *\n}\n", "bad.spec")
    # a line ending with an operator continues, so the value is missing at the '}'
    assert info.value.path == "bad.spec" and info.value.line == 3
