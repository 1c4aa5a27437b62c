"""``format_resolved``: a spec with its ``--set`` values applied, as canonical text that parses
back to the same AST; and the spans of ``--set`` nodes, which point into the ``--set`` text."""
from __future__ import annotations

from pathlib import Path

import pytest

import specc
from specc.syntax.fmt import format_resolved, format_spec
from specc.syntax.overrides import apply_overrides
from specc.syntax.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.spec"))
SETS = ["train.epochs=2", "optimizer.lr=0.5", "train.seed=7"]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_without_overrides_it_is_fmt(path):
    spec = specc.load(path)
    assert format_resolved(spec) == format_spec(spec.source)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_with_overrides_it_parses_back_to_the_overridden_spec(path):
    spec = apply_overrides(specc.load(path), SETS)
    text = format_resolved(spec)
    assert parse_spec(text).model_dump() == spec.model_dump()
    assert format_spec(text) == text
    assert "epochs = 2" in text and "lr=0.5" in text and "seed = 7" in text


def test_a_replaced_entry_keeps_its_place_and_comments_an_added_one_comes_last():
    spec = parse_spec("""data {
    train = moons()  # the data

    batch = 8  # small
    # the seed
    seed = 1
}
model Net(x: float[2]) { return x -> Linear(2) }
# the loss
loss = cross_entropy  # scores
optimizer = Adam(lr=0.01)  # adam
""")
    sets = ["data.batch=4", "data.batch=16", "data.valid=10%", "train.epochs=3", "loss=nll", "optimizer.lr=0.1"]
    text = format_resolved(apply_overrides(spec, sets))
    assert text == """data {
    train = moons()  # the data

    batch = 16  # small
    # the seed
    seed = 1
    valid = 10%
}

model Net(x: float[2]) {
    return x -> Linear(2)
}

# the loss
loss = nll  # scores
optimizer = Adam(lr=0.1)  # adam
train { epochs = 3 }
"""


def test_a_mistake_from_set_is_a_diagnostic_at_the_set_text():
    spec = parse_spec("model Net(x: float[2]) { return x -> Linear(2) }\n")
    with pytest.raises(specc.SpecError) as caught:
        apply_overrides(spec, ["train.epochs=0"])
    d = caught.value.diagnostics[0]
    assert (d.path, d.span.line, d.span.column) == ("--set", 1, 14)
    assert d.span.origin.text == "train.epochs=0" and d.span.text("") == "0"
    assert str(caught.value).splitlines()[1:3] == ["    train.epochs=0", "                 ^"]
