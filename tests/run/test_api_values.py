"""``specc.train(spec, **overrides)`` writes Python values in spec syntax: lists, tuples, bools,
None, numbers, strings and nested values reach the spec as the values they are."""
from __future__ import annotations

import pytest

import specc
from specc.run import overrides_to_sets, spec_text

from conftest import moons_spec


@pytest.mark.parametrize("value, text", [
    (True, "true"), (False, "false"), (None, "none"), (3, "3"), (-2.5, "-2.5"), (1e-05, "1e-05"),
    ("accuracy", "accuracy"), ("valid.loss", "valid.loss"), ("cuda:1", '"cuda:1"'),
    ("runs/my ckpt", '"runs/my ckpt"'), ('say "hi"\n', '"say \\"hi\\"\\n"'),
    (["accuracy", "f1"], "[accuracy, f1]"), ((1,), "(1,)"), ((2, 3), "(2, 3)"), ([], "[]"),
    ([[1, 2], (3, [True, None])], "[[1, 2], (3, [true, none])]"),
])
def test_python_values_in_spec_syntax(value, text):
    assert spec_text(value) == text


@pytest.mark.parametrize("value", [{"a": 1}, float("nan"), float("inf"), object()])
def test_values_without_a_spec_form_are_refused(value):
    with pytest.raises(ValueError, match="cannot be written in a spec"):
        spec_text(value)


def test_train_takes_python_lists_bools_and_strings(tmp_path):
    spec = specc.load(moons_spec(tmp_path, epochs=3))
    assert overrides_to_sets({"metrics": ["accuracy"], "data_shuffle": False}) == \
        ["train.metrics=[accuracy]", "data.shuffle=false"]
    result = specc.train(spec, out=tmp_path / "run", epochs=1, metrics=["accuracy"], data_shuffle=False,
                         plot=[], device="cpu", checkpoint=str(tmp_path / "my ckpt"))
    assert set(result.metrics["valid"]) == {"loss", "accuracy"}
    assert len(result.history) == 1
    assert (tmp_path / "my ckpt" / "last.pt").is_file()
