"""Property tests of the front end: whatever text comes in, the parser answers with a Spec or a
SpecError (never another exception, never a position outside the file), and ``specc fmt``
keeps the AST and is idempotent on every text that parses.

The default run is quick (about 200 examples in all); ``pytest -m fuzz`` runs the same
properties under the ``fuzz`` hypothesis profile with many more examples.
"""
from __future__ import annotations

from pathlib import Path
import re

from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark
import pytest

from specc.errors import SpecError
from specc.syntax.fmt import format_spec
from specc.syntax.parser import comments, grammar_path
from specc.syntax.spec import parse_spec

HERE = Path(__file__).parent
CORPUS = [p.read_text(encoding="utf-8") for p in sorted([
    *(HERE / "language_examples").glob("*.spec"), *(HERE / "fmt_cases").glob("*.spec"),
    *(HERE.parent.parent / "specs").glob("*.spec")])]

_COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck))
settings.register_profile("fuzz", max_examples=5000, **_COMMON)


def quick(n: int, test):
    return settings(max_examples=n, **_COMMON)(test)


def fuzz(test):
    return pytest.mark.fuzz(settings(settings.get_profile("fuzz"))(test))


# ---------------------------------------------------------------- oracles
def check_text(text: str) -> None:
    """Parse ``text``: a SpecError with in-file positions, or a spec that formats stably."""
    try:
        parse_spec(text)
    except SpecError as err:
        lines = text.count("\n") + 1
        for d in err.diagnostics:
            assert 1 <= d.span.line <= lines + 1 and d.span.column >= 1, (d, text)
        return
    check_format(text)


def check_format(text: str) -> None:
    out = format_spec(text)
    assert parse_spec(out).model_dump() == parse_spec(text).model_dump(), out
    assert format_spec(out) == out
    assert [c.text for c in comments(text) if c.text not in out] == [], out


# ---------------------------------------------------------------- (a) texts from the grammar
def _padded(strategy):
    """Tokens are drawn and concatenated: pad them so neighbours do not lex as one."""
    return strategy.map(lambda s: f" {s} ")


_NAME = _padded(st.sampled_from(["x", "h", "_", "Linear", "ReLU", "cat", "mean", "dim", "Net", "a_1", "T0",
                                  "seq", "float", "long", "epochs", "moons", "cuda", "accuracy"]))
_STRING = st.lists(st.one_of(st.characters(codec="utf-8", exclude_characters='"\\\r\n'),
                             st.sampled_from(['\\"', "\\\\", "\\n", "\\t", "\\q"])), max_size=8).map(
    lambda parts: '"' + "".join(parts) + '"')
_NUMBER_TEXT = st.one_of(st.integers(0, 10**6).map(str), st.from_regex(r"0\d{1,3}", fullmatch=True),
                         st.just("9" * 5000))
_EXPLICIT = {
    "NAME": _NAME,
    "INT": _padded(_NUMBER_TEXT),
    "FLOAT": _padded(st.one_of(st.floats(0, 1e6).map(repr).filter(lambda s: "e" not in s and "inf" not in s),
                               st.sampled_from(["1e-3", "2.5E4", "1e999"]))),
    "PERCENT": _padded(st.sampled_from(["20%", "0%", "100%", "12.5%", "9" * 400 + "%"])),
    "STRING": _padded(_STRING),
    "_NL": st.sampled_from(["\n", "\n\n", "  # note\n", "\n    # own line\n  ", "\r\n"]),
    "__IGNORE_0": st.sampled_from([" ", "\t", "  \x0c"]),
}
_LARK = Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", start="start")
# Keywords and punctuation are fixed strings: just() is much cheaper than drawing from their regex.
for _t in _LARK.terminals:
    if _t.pattern.type == "str":
        _EXPLICIT.setdefault(_t.name, st.just(f" {_t.pattern.value} " if _t.pattern.value.isalpha()
                                               else _t.pattern.value))
MODEL = "model Net(x: float[2]) {\n    return x\n}\n"


def grammar_texts(start: str = "start"):
    """Texts derived from the grammar rule ``start``, with our strategies for its terminals."""
    _, rules, _ = _LARK.grammar.compile([start], ())
    used = {s.name for r in rules for s in r.expansion}
    return from_lark(_LARK, start=start, explicit={k: v for k, v in _EXPLICIT.items() if k in used})


def whole_files():
    """Texts from the grammar's start rule, half of them given a model so that more parse."""
    return st.tuples(grammar_texts(), st.sampled_from(["\n" + MODEL, ""])).map("".join)


def items():
    """A generated model plus items that, unlike data/train, need no validation to pass."""
    kinds = ["block_def", "import_stmt", "loss_def", "optimizer_def", "schedule_def", "model_def"]
    return st.tuples(grammar_texts("model_def"), st.lists(st.one_of(*map(grammar_texts, kinds)), max_size=2)).map(
        lambda parts: "\n".join([parts[0], *parts[1]]) + "\n")


# ---------------------------------------------------------------- (b) mutated real specs
ODD = ["\u2028", "\x0b", "\x0c", "\ufeff", "\u00a0", "é", "→", "\U0001f600", "\x00", "\r", "\t", "\\",
       '"', "#", "(", ")", "[", "]", "{", "}", ",", ";", ":", ".", "..", "...", "->", "=", "%", "-",
       "9" * 5000, "1e999", "9" * 400 + "%", "0.", ".5", "model", "return", "data"]
_TOKEN = r"\w+|[^\w\s]"


def _flip(draw, text):
    i = draw(st.integers(0, max(len(text) - 1, 0)))
    return text[:i] + draw(st.characters(codec="utf-8")) + text[i + 1:]


def _delete_token(draw, text):
    tokens = list(re.finditer(_TOKEN, text))
    if not tokens:
        return text
    m = tokens[draw(st.integers(0, len(tokens) - 1))]
    return text[:m.start()] + text[m.end():]


def _swap_lines(draw, text):
    lines = text.split("\n")
    i, j = (draw(st.integers(0, len(lines) - 1)) for _ in range(2))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _duplicate(draw, text):
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    j = draw(st.integers(i, min(i + 4, len(lines))))
    return "\n".join(lines[:j] + lines[i:j] + lines[j:])


def _insert(draw, text):
    i = draw(st.integers(0, len(text)))
    return text[:i] + draw(st.sampled_from(ODD)) + text[i:]


def _comment(draw, text):
    """A trailing comment at the end of a line, or an own-line comment between two lines."""
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    n = draw(st.integers(0, 99))
    if draw(st.booleans()):
        lines[i] += f"  # t{n}"
    else:
        lines.insert(i, " " * draw(st.integers(0, 8)) + f"# o{n}")
    return "\n".join(lines)


MUTATIONS = [_flip, _delete_token, _swap_lines, _duplicate, _insert, _comment, _comment]


@st.composite
def mutated_specs(draw):
    text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 3))):
        text = draw(st.sampled_from(MUTATIONS))(draw, text)
    return text


# ---------------------------------------------------------------- (b2) version 1.1 control flow
_STAGES = st.sampled_from(["Linear(64)", "ReLU", "Conv2d(64, 3, stride=2, padding=1, bias=false)", "BatchNorm2d",
                           "Dropout(0.5)", "mean(dim=1)", "(Linear(8) -> ReLU) * 2", "h"])
_VALUES = st.sampled_from(["a > 1", "not a == 2", "a != 1 or b", "(a < b) == c", "a and b or not c",
                           "-a ** 2 >= 3 - b", "x -> f > 0", "not (a or b) and c", "(x -> f) + 1 <= y -> g",
                           "[a < b, not c]", "f(a == b, k=c >= 2)", "a or (b and c)"])


@st.composite
def control_texts(draw):
    """Model bodies of if/else if/else, nested for loops, comparisons and long pipelines, their
    lines continued after operators and before '->' at random."""
    def pipeline():
        stages = draw(st.lists(_STAGES, min_size=1, max_size=14))
        text = " -> ".join(["x", *stages])
        if draw(st.booleans()):
            text += f" {draw(st.sampled_from(['==', '<', '>=']))} 0"
        return text

    def statements(depth):
        out = []
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(["assign", "assign", "if", "for"] if depth < 3 else ["assign"]))
            if kind == "assign":
                out.append(f"h = {draw(st.one_of(_VALUES, st.builds(lambda: pipeline())))}")
            elif kind == "if":
                text = f"if {draw(_VALUES)} {{\n{statements(depth + 1)}\n}}"
                for _ in range(draw(st.integers(0, 2))):
                    text += draw(st.sampled_from([" else if ", "\nelse if "])) + \
                        f"{draw(_VALUES)} {{\n{statements(depth + 1)}\n}}"
                if draw(st.booleans()):
                    text += draw(st.sampled_from([" else ", "\n  # c\nelse "])) + f"{{ {statements(3)} }}"
                out.append(text)
            else:
                over = draw(st.sampled_from(["[(64, 1), (128, 2)]", "1..6", "stages", "(a, b)", "[]"]))
                names = draw(st.sampled_from(["i", "a, b", "(a, b), c"]))
                out.append(f"for {names} in {over} {{\n{statements(depth + 1)}\n}}")
        return "\n".join(out)

    body = statements(0)
    body = body.replace(" -> ", draw(st.sampled_from([" -> ", "\n    -> ", " ->\n  # between\n  "])))
    body = body.replace(" or ", draw(st.sampled_from([" or ", " or\n    "])))
    return f"model Net(x: float[2]) {{\n{body}\nreturn x\n}}\n"


# ---------------------------------------------------------------- (c) formatting what parses
def check_layout(text: str, newline: str, indent: str) -> None:
    check_format(text.replace("    ", indent).replace("\n", newline))


LAYOUTS = (st.sampled_from(CORPUS), st.sampled_from(["\n", "\r\n"]), st.sampled_from(["    ", "\t", "  "]))

test_grammar_texts = quick(40, given(whole_files())(check_text))
test_generated_items = quick(30, given(items())(check_text))
test_mutated_specs = quick(110, given(mutated_specs())(check_text))
test_layout_variants = quick(20, given(*LAYOUTS)(check_layout))


def check_control(text: str) -> None:
    parse_spec(text)              # every generated text is valid syntax
    check_format(text)
    # a long pipeline is broken before its '->': no line holds a stage after one over the limit
    assert all(len(line.split(" -> ")[0]) <= 100 for line in format_spec(text).split("\n"))


test_control_flow_formats_stably = quick(60, given(control_texts())(check_control))

test_grammar_texts_fuzz = fuzz(given(whole_files())(check_text))
test_generated_items_fuzz = fuzz(given(items())(check_text))
test_mutated_specs_fuzz = fuzz(given(mutated_specs())(check_text))
test_control_flow_fuzz = fuzz(given(control_texts())(check_control))


def test_the_corpus_is_there():
    assert len(CORPUS) >= 20
