"""Large specs: checking stays linear, and what is too large is refused early, at its place.

No timings here (the machine is shared): the oracles are what the mechanisms promise. The
cyclic garbage collector, whose full passes made checking a long spec quadratic, does not run
while a spec is parsed and checked; a spec longer than the parser takes is refused before it is
parsed; a model that runs more operations than specc accepts is refused at the statement that
passes the bound. Figures are in bench/compile_scaling.py.
"""
from __future__ import annotations

import gc

import pytest

import specc
from specc.analysis.lower import MAX_NODES
from specc.cli.main import main
from specc.errors import SpecError
from specc.syntax.spec import MAX_CHARS


def statements(n: int, stage: str = "Linear(4)") -> str:
    lines = "".join(f"    h = h -> {stage}\n" for _ in range(n))
    return f"model M(x: float[4]) {{\n    h = x\n{lines}    return h\n}}\n"


def test_the_collector_does_not_run_while_a_spec_is_parsed_and_checked():
    """It used to run hundreds of times here, with full passes over every live object."""
    specc.check(specc.load(statements(3)))      # imports what checking needs
    text = statements(3000)
    runs = []
    callback = lambda phase, info: runs.append(info["generation"]) if phase == "start" else None  # noqa: E731
    gc.callbacks.append(callback)
    try:
        checked = specc.check(specc.load(text))
    finally:
        gc.callbacks.remove(callback)
    assert len(checked.graph.layers) == 3000
    assert 2 not in runs and len(runs) <= 2, runs   # at most one young pass as each of load and check ends
    assert gc.isenabled()


def test_a_caller_that_turned_the_collector_off_keeps_it_off():
    gc.disable()
    try:
        specc.check(specc.load(statements(3)))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_spec_longer_than_the_parser_takes_is_refused_where_it_passes_the_limit(tmp_path, capsys):
    text = statements(MAX_CHARS // 20)
    assert len(text) > MAX_CHARS
    line = text.count("\n", 0, MAX_CHARS) + 1
    column = MAX_CHARS - text.rfind("\n", 0, MAX_CHARS)
    path = tmp_path / "huge.spec"
    path.write_text(text)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:{line}:{column}: error: the spec is longer than the 1,000,000 characters"), err
    assert 'csv("...")' in err


def test_a_spec_at_the_limit_is_parsed():
    text = statements(10)
    text += "#" * (MAX_CHARS - len(text))
    assert len(text) == MAX_CHARS
    assert specc.check(specc.load(text)).model == "M"


def test_a_model_past_the_operation_bound_is_refused_at_the_statement_that_passes_it():
    per_statement = 10_000
    n = MAX_NODES // per_statement + 2
    lines = "".join(f"    h = h -> ReLU * {per_statement}\n" for _ in range(n))
    text = f"model M(x: float[4]) {{\n    h = x\n{lines}    return h\n}}\n"
    with pytest.raises(SpecError) as info:
        specc.check(specc.load(text))
    (d,) = info.value.diagnostics
    assert (d.span.line, d.span.column) == (2 + MAX_NODES // per_statement + 1, 5)
    assert "more than the 100,000 operations" in d.message
