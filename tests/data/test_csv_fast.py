"""CSV sources at numpy speed, with the csv module's results and messages.

A plain CSV (no quotes in its data lines) is read by ``numpy.loadtxt`` after one pass that
checks every line's field count; anything else, and every error, goes through the ``csv``
module. Each case here is loaded both ways and must give the same tensors bit for bit.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from specc.catalog import datafiles
from specc.catalog.sources import SourceError, schema_of
from specc.cli.main import main
from specc.data.load import load_source

CASES = {
    "class_indices": ("a,b,y\n1,2,0\n3.5,-4e-3,2\n0.1,16777217,1\n", {}),
    "string_labels": ("a,b,kind\n1,2,zebra\n3,4,ant\n5,6.5, moth \n7,8,ant\n", {"target": "kind"}),
    "regression": ("x,y\n1,0.5\n2,-1.5\n3,1e40\n", {}),
    "blank_lines_crlf_bom": ("\ufeffa,b,y\r\n\r\n1,2,0\r\n\n 3 , 4 ,1\r\n", {}),
    "features_subset": ("a,b,c,y\n1,2,3,0\n4,5,6,1\n", {"features": ["c", "a"], "target": "y"}),
    "semicolons": ("a;b;y\n1.5;2;0\n3;4;1\n", {"delimiter": ";"}),
    "quoted_header": ('"a","b","y"\n1,2,0\n3,4,1\n', {}),
    "quoted_labels": ('a,b,y\n1,2,"ant"\n3,4,"zebra, striped"\n5,6,ant\n', {}),
    "quoted_numbers": ('a,b,y\n"1",2,0\n3,"4.5",1\n', {}),
    "underscored_and_unicode_digits": ("a,b,y\n1_0,2,0\n\u0663,4,1\n", {}),
    "whitespace_line": ("a,b,y\n1,2,0\n   \n3,4,1\n", {}),
}


def reference(monkeypatch, path: Path, args: dict):
    """The same load with the numpy path switched off: the csv module reads every line."""
    def refuse(*_):
        raise datafiles._NotPlain()
    with monkeypatch.context() as m:
        m.setattr(datafiles, "_parse_plain", refuse)
        return load_source("csv", {"path": str(path), **args})


@pytest.mark.parametrize("name", CASES)
def test_both_ways_give_the_same_table(tmp_path, monkeypatch, name):
    text, args = CASES[name]
    path = tmp_path / f"{name}.csv"
    path.write_bytes(text.encode("utf-8"))
    fast, slow = load_source("csv", {"path": str(path), **args}), reference(monkeypatch, path, args)
    assert fast.fields["x"].dtype == torch.float32 and fast.fields["x"].shape == slow.fields["x"].shape
    assert torch.equal(fast.fields["x"].nan_to_num(), slow.fields["x"].nan_to_num())
    assert torch.equal(fast.fields["x"].isnan(), slow.fields["x"].isnan())
    assert torch.equal(fast.fields["y"], slow.fields["y"]) and fast.fields["y"].dtype == slow.fields["y"].dtype
    assert fast.class_names == slow.class_names


def test_a_value_that_is_not_finite_is_named_by_both_ways(tmp_path, monkeypatch):
    path = tmp_path / "inf_and_nan.csv"
    path.write_text("a,b,y\n1,-inf,0\nnan,1,1\n", encoding="utf-8")
    for load in (lambda: load_source("csv", {"path": str(path)}), lambda: reference(monkeypatch, path, {})):
        with pytest.raises(SourceError, match=r"row 1 \(line 2\): column 'b' holds '-inf'; features must be finite"):
            load()


def test_string_labels_and_quoted_fields(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('a,b,y\n1,2,"ant"\n3,4,"zebra, striped"\n5,6,ant\n', encoding="utf-8")
    t = load_source("csv", {"path": str(path)})
    assert t.class_names == ["ant", "zebra, striped"]
    assert t.fields["y"].tolist() == [0, 1, 0]
    assert t.fields["x"].tolist() == [[1, 2], [3, 4], [5, 6]]


def test_a_plain_csv_is_not_read_row_by_row(tmp_path, monkeypatch):
    path = tmp_path / "plain.csv"
    path.write_text("a,b,label\n" + "".join(f"{i},{i / 4},{'cat' if i % 3 else 'dog'}\n" for i in range(200)))

    def no_rows(*_):
        raise AssertionError("a plain CSV went through the csv module's row loop")
    monkeypatch.setattr(datafiles, "read_csv", no_rows)
    s = schema_of("csv", {"path": str(path)})
    t = load_source("csv", {"path": str(path)})
    assert (s.classes, s.class_names, s.features) == (2, ["cat", "dog"], 2)
    assert t.fields["x"].shape == (200, 2) and t.fields["x"][5].tolist() == [5.0, 1.25]


@pytest.mark.parametrize("text, words", [
    ("a,b,y\n1,2,0\n3,x,1\n", "row 2 (line 3): column 'b' holds 'x', not a number"),
    ("a,b,y\n1,2,0\n3,4,\n", "row 2 (line 3): column 'y' is empty"),
    ("a,b,y\n1,2,0\n\n3,4\n", "row 2 (line 4): expected 3 fields like the header, got 2"),
    ("a,b,y\n1,2,0\n3,4,1,5\n", "row 2 (line 3): expected 3 fields like the header, got 4"),
    ("a,a,y\n1,2,0\n", "the header names column 'a' twice"),
    ("a,b,y\n", "has a header but no data rows"),
    ("", "is empty: a header row is required"),
])
def test_errors_keep_their_words(tmp_path, text, words):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError) as err:
        load_source("csv", {"path": str(path)})
    assert words in err.value.message and str(path) in err.value.message


SPEC = """data {
    train = csv("points.csv", target="y")
    batch = 2
}
model Net(x: float[2]) {
    return x -> Linear(2)
}
loss = cross_entropy
optimizer = SGD(lr=0.1)
train { epochs = 1 }
"""


def test_check_reads_the_target_and_run_names_the_bad_cell(tmp_path, capsys):
    (tmp_path / "points.csv").write_text("a,b,y\n1,2,0\n3,x,1\n5,6,1\n")
    spec = tmp_path / "net.spec"
    spec.write_text(SPEC)
    assert main(["check", str(spec)]) == 0                 # the header and the target column only
    assert capsys.readouterr().out.startswith("ok ")
    assert main(["run", str(spec), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{spec}:2:13: error: {tmp_path / 'points.csv'}, row 2 (line 3): column 'b' holds 'x', not a number" in err
