"""Whole-pipeline fuzzing: whatever spec comes in, specc answers with a result or a SpecError.

Each spec goes through ``specc.load`` -> ``check`` -> ``build`` -> ``to_source`` and, when its
data is tiny, one epoch of ``specc.train`` (see :func:`fuzzkit.push`). The property: no
exception but :class:`specc.SpecError` comes out, and every diagnostic has
``1 <= line <= lines + 1`` and ``column >= 1``.

The quick profile (the default test run) is derandomized and database-free, so CI sees the
same examples every time. The long profile runs with ``pytest -m fuzz``; it draws fresh
examples each run, ``SPECC_FUZZ_EXAMPLES`` per test (default 2000), and writes stage counts
to ``$SPECC_FUZZ_REPORT`` (a JSON file) when that is set.
"""
from __future__ import annotations

from collections import Counter
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
import pytest

from fuzzkit import (SPECIAL_PATHS, SPECIAL_TEMPLATES, fuzz_examples, model_specs, mutated_specs, prepare, push,
                     record_stages, special_path_specs)

QUICK = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
LONG = {**QUICK, "derandomize": False}
REACHED = ("checked", "train", "trained")


def _stages(folder: Path, examples: int, profile: dict, specs) -> Counter:
    """Push ``examples`` spec files drawn from ``specs`` (a strategy of bytes); count the stages."""
    stages: Counter = Counter()
    prepare(folder)

    @settings(max_examples=examples, **profile)
    @given(specs)
    def one(raw: bytes) -> None:
        stages[push(raw, folder).stage] += 1

    one()
    return stages


def _generated(folder: Path, examples: int, profile: dict) -> Counter:
    return _stages(folder, examples, profile, model_specs().map(lambda text: text.encode("utf-8")))


def _mutated(folder: Path, examples: int, profile: dict) -> Counter:
    return _stages(folder, examples, profile, mutated_specs())


def test_generated_specs_go_through_the_whole_pipeline(tmp_path):
    stages = _generated(tmp_path, 40, QUICK)
    assert sum(stages.values()) == 40
    # The generator is built to produce valid specs: most must check, many must train.
    assert sum(stages[s] for s in REACHED) >= 20, stages
    assert stages["trained"] >= 10, stages


def test_mutated_specs_fail_only_with_positioned_spec_errors(tmp_path):
    stages = _mutated(tmp_path, 150, QUICK)
    assert sum(stages.values()) == 150
    assert stages["load"] < 150, stages  # some mutations survive parsing and reach the checks


# Hand-picked hostile inputs, as bytes read through read_spec_file.
VALID = (b'data {\n    train = moons(samples=40, noise=0.2)\n}\nmodel Net(x: float[2]) {\n'
         b'    return x -> Linear(4) -> ReLU -> Linear(2)\n}\nloss = cross_entropy\n')
EDGE_CASES = {
    "empty": b"",
    "only_bom": b"\xef\xbb\xbf",
    "bom_valid": b"\xef\xbb\xbf" + VALID,
    "crlf": VALID.replace(b"\n", b"\r\n"),
    "cr_only": VALID.replace(b"\n", b"\r"),
    "nul_in_name": VALID.replace(b"Net", b"N\x00et"),
    "nul_at_end": VALID + b"\x00",
    "lone_high_surrogate": VALID.replace(b"Linear(4)", b"Linear(4) \xed\xa0\x80"),
    "lone_low_surrogate_in_string": VALID.replace(b"moons(", b'moons("\xed\xbf\xbf", '),
    "invalid_utf8_line3": VALID.replace(b"model", b"mod\xffel"),
    "overlong_slash": VALID + b"\xc0\xaf",
    "truncated_multibyte": VALID + b"# \xe2\x82",
    "rtl_override_in_comment": VALID + "# \u202e}\u202c evil\n".encode(),
    "rtl_mark_in_name": VALID.replace(b"Net", "Ne\u200ft".encode()),
    "arabic_name": VALID.replace(b"Net", "\u0645\u062f\u0644".encode()),
    "line_separator": VALID.replace(b"\n}\nloss", "\n}\u2028loss".encode()),
    "form_feed_lines": b"\x0c\n" * 3 + VALID + b"\x0c\x0b\x1c\x1d\x1e\x85\n" + b"model ! {\n",
    "unicode_digits": VALID.replace(b"Linear(4)", "Linear(\u0664)".encode()),
    "fullwidth_paren": VALID.replace(b"Linear(4)", "Linear\uff084\uff09".encode()),
    "emoji_string": VALID.replace(b"moons(", 'moons("\U0001f600", '.encode()),
    "huge_int": VALID.replace(b"Linear(4)", b"Linear(" + b"9" * 5000 + b")"),
    "huge_samples": VALID.replace(b"samples=40", b"samples=1000000000000"),
    "negative_samples": VALID.replace(b"samples=40", b"samples=-40"),
    "huge_linear": VALID.replace(b"Linear(4)", b"Linear(1000000000000)"),
    "huge_power": VALID.replace(b"Linear(4)", b"Linear(10 ** 12)"),
    "float_overflow": VALID.replace(b"noise=0.2", b"noise=1e999"),
    "long_name": VALID.replace(b"Net", b"N" * 100_000),
    "deep_parens": VALID.replace(b"x -> Linear(4)", b"(" * 5000 + b"x" + b")" * 5000 + b" -> Linear(4)"),
    "deep_brackets": VALID.replace(b"noise=0.2", b"noise=" + b"[" * 5000 + b"]" * 5000),
    "deep_negation": VALID.replace(b"x -> Linear(4)", b"-" * 5000 + b"x -> Linear(4)"),
    "deep_braces": b"{" * 5000,
    "many_models": b"".join(b"model M%d(x: float[2]) { return x }\n" % i for i in range(300)),
    "long_pipeline": VALID.replace(b"-> ReLU", b"-> ReLU" * 3000),
    "swapped_sections": VALID.split(b"\n}\n")[1] + b"\n}\n" + VALID.split(b"\n}\n")[0] + b"\n}\n",
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_hostile_bytes_give_a_result_or_a_positioned_spec_error(tmp_path, name):
    outcome = push(EDGE_CASES[name], tmp_path)
    assert outcome.stage in ("load", "check", "checked", "trained"), outcome


@pytest.mark.parametrize("name", ["bom_valid", "crlf", "cr_only"])
def test_harmless_variants_of_a_valid_spec_still_train(tmp_path, name):
    assert push(EDGE_CASES[name], tmp_path).stage == "trained"


def test_a_bidi_override_in_a_comment_is_refused_where_it_stands(tmp_path):
    err = push(EDGE_CASES["rtl_override_in_comment"], tmp_path).error
    assert err is not None and (err.line, err.column) == (8, 3)
    assert "U+202E" in err.diagnostics[0].message


# What each special path is; the folders, the listing and the symlink loop are only pushed.
KINDS = {"pipe.csv": "is a FIFO, not a", "pipe.py": "is a FIFO, not a", "pipe_folder": "is a FIFO, not a",
         "pipe.png": "is a FIFO, not a", "zero.csv": "is a character device, not a",
         "zero.py": "is a character device, not a", "/dev/zero": "is a character device, not a",
         "/dev/null": "is a character device, not a", "/dev/urandom": "is a character device, not a"}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("path", SPECIAL_PATHS)
def test_sources_and_imports_on_fifos_and_devices_are_refused(tmp_path, path):
    prepare(tmp_path)
    for template in SPECIAL_TEMPLATES:
        outcome = push(template.format(p=path).encode(), tmp_path)
        if path in KINDS:
            assert outcome.error is not None and KINDS[path] in str(outcome.error), (template, outcome)


@pytest.mark.fuzz
def test_long_generated(tmp_path):
    n = fuzz_examples(2000)
    stages = _generated(tmp_path, n, LONG)
    record_stages("generated", stages)
    assert sum(stages.values()) == n


@pytest.mark.fuzz
def test_long_mutated(tmp_path):
    n = fuzz_examples(2000)
    stages = _mutated(tmp_path, n, LONG)
    record_stages("mutated", stages)
    assert sum(stages.values()) == n


@pytest.mark.fuzz
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_long_special_paths(tmp_path):
    n = fuzz_examples(2000)
    stages = _stages(tmp_path, n, LONG, special_path_specs())
    record_stages("special_paths", stages)
    assert sum(stages.values()) == n
