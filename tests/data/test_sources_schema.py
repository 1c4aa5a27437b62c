"""The torch-free source table: argument binding, schemas, and errors naming the argument."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from specc.catalog.sources import (SOURCES, MAX_SAMPLES, Schema, SourceError, bind_args,
                                   encoder_schema, generate_schema, schema_of, source_texts,
                                   tensors_schema, tokenize)
from specc.types import StrType, TensorType

ROOT = Path(__file__).resolve().parents[2]
LONG = TensorType("long", ())


def test_every_language_source_is_in_the_table():
    assert set(SOURCES) == {"moons", "circles", "blobs", "generate", "tensors", "csv", "digits",
                            "image_folder", "image_csv", "text_folder", "sequences", "text_file"}


def test_import_leaves_array_libraries_out():
    code = ("import sys, specc.catalog.sources, specc.catalog.text\n"
            "bad = [m for m in ('torch', 'numpy', 'sklearn', 'PIL') if m in sys.modules]\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_defaults_are_filled():
    a = bind_args("moons")
    assert a == {"samples": 1000, "noise": 0.1}
    assert bind_args("circles")["factor"] == 0.5
    assert bind_args("blobs") == {"samples": 1000, "centers": 3, "features": 2, "std": 1.0}
    assert bind_args("sequences") == {"samples": 1000, "vocab": 1000, "length": (10, 50),
                                      "classes": 2}
    assert bind_args("image_folder", ["imgs"])["size"] == [28, 28]


def test_toy_schemas():
    assert schema_of("moons", {}) == Schema({"x": TensorType("float", (2,)), "y": LONG}, 2,
                                            None, None, 2)
    s = schema_of("blobs", {"centers": 4, "features": 7})
    assert (s.fields["x"], s.classes, s.features) == (TensorType("float", (7,)), 4, 7)
    s = schema_of("sequences", {"vocab": 50, "classes": 3})
    assert s.fields["tokens"] == TensorType("long", ("seq",))
    assert (s.vocab, s.classes) == (50, 3)
    assert schema_of("digits", {}).fields["x"] == TensorType("float", (64,))


@pytest.mark.parametrize("name, args, arg, text", [
    ("moons", {"sample": 10}, "sample", "did you mean 'samples'?"),
    ("moons", {"samples": 0}, "samples", "whole number >= 1"),
    ("moons", {"noise": -0.5}, "noise", "number >= 0"),
    ("moons", {"samples": True}, "samples", "whole number"),
    ("circles", {"factor": 1.5}, "factor", "[0, 1)"),
    ("sequences", {"length": (30, 10)}, "length", "lo..hi"),
    ("sequences", {"vocab": 2, "classes": 2}, "vocab", "classes + 1"),
    ("moons", {"samples": MAX_SAMPLES + 1}, "samples", "GiB"),
])
def test_bad_arguments_name_the_argument(name, args, arg, text):
    with pytest.raises(SourceError) as err:
        schema_of(name, args)
    assert err.value.arg == arg
    assert text in err.value.message + (err.value.hint or "")


def test_unknown_source_and_missing_required():
    with pytest.raises(SourceError) as err:
        bind_args("mooons")
    assert err.value.hint == "did you mean 'moons'?"
    with pytest.raises(SourceError, match="needs the argument 'path'"):
        bind_args("csv")
    with pytest.raises(SourceError, match="two values for 'path'"):
        bind_args("csv", ["a.csv"], {"path": "b.csv"})


def test_absurd_size_reports_estimate():
    with pytest.raises(SourceError) as err:
        schema_of("moons", {"samples": 10**9})
    assert "14.9 GiB" in err.value.message


# ---- csv -----------------------------------------------------------------------------------

def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_csv_string_target_sorted_classes(tmp_path):
    write(tmp_path / "f.csv", "a,b,kind\n1,2,zebra\n3,4,ant\n5,6,moth\n")
    s = schema_of("csv", {"path": "f.csv", "target": "kind"}, tmp_path)
    assert s.fields == {"x": TensorType("float", (2,)), "y": LONG}
    assert (s.classes, s.class_names, s.features) == (3, ["ant", "moth", "zebra"], 2)


def test_csv_target_typing(tmp_path):
    write(tmp_path / "i.csv", "a,y\n1,0\n2,4\n")
    write(tmp_path / "f.csv", "a,y\n1,0.5\n2,4\n")
    write(tmp_path / "n.csv", "a,y\n1,-1\n2,4\n")
    assert schema_of("csv", {"path": "i.csv"}, tmp_path).classes == 5  # last column, max + 1
    for name in ("f.csv", "n.csv"):
        s = schema_of("csv", {"path": name}, tmp_path)
        assert (s.fields["y"], s.classes) == (TensorType("float", (1,)), None)


def test_csv_features_subset(tmp_path):
    write(tmp_path / "f.csv", "a,b,c,y\n1,2,3,0\n")
    s = schema_of("csv", {"path": "f.csv", "target": "y", "features": ["c", "a"]}, tmp_path)
    assert s.fields["x"] == TensorType("float", (2,))


def test_csv_missing_column_did_you_mean(tmp_path):
    write(tmp_path / "f.csv", "width,height,label\n1,2,a\n")
    with pytest.raises(SourceError) as err:
        schema_of("csv", {"path": "f.csv", "target": "labl"}, tmp_path)
    assert err.value.arg == "target"
    assert "no column 'labl'" in err.value.message
    assert err.value.hint == "did you mean 'label'?"
    with pytest.raises(SourceError) as err:
        schema_of("csv", {"path": "f.csv", "features": ["widht"]}, tmp_path)
    assert (err.value.arg, err.value.hint) == ("features", "did you mean 'width'?")


def test_csv_wrong_field_count_names_row(tmp_path):
    write(tmp_path / "f.csv", "a,b,y\n1,2,0\n3,4,1\n5,6\n")
    with pytest.raises(SourceError) as err:
        schema_of("csv", {"path": "f.csv"}, tmp_path)
    assert err.value.arg == "path"
    assert "f.csv, row 3 (line 4)" in err.value.message
    assert "expected 3 fields" in err.value.message and "got 2" in err.value.message


def test_csv_missing_file_and_non_numeric_feature(tmp_path):
    with pytest.raises(SourceError) as err:
        schema_of("csv", {"path": "nope.csv"}, tmp_path)
    assert err.value.arg == "path" and str(tmp_path / "nope.csv") in err.value.message
    # the schema reads the header and the target column only; loading finds the bad cell
    from specc.data.load import load_source
    write(tmp_path / "f.csv", "a,b,y\n1,x,0\n")
    assert schema_of("csv", {"path": "f.csv"}, tmp_path).fields["x"] == TensorType("float", (2,))
    with pytest.raises(SourceError, match=r"row 1 \(line 2\): column 'b' holds 'x'"):
        load_source("csv", {"path": "f.csv"}, tmp_path)


# ---- folders -------------------------------------------------------------------------------

def test_image_folder_schema_sorted_classes(tmp_path):
    for cls in ("zebra", "cat", "dog"):
        write(tmp_path / "img" / cls / "a.png", "not read by the schema")
    s = schema_of("image_folder", {"path": "img", "size": [12, 10]}, tmp_path)
    assert s.class_names == ["cat", "dog", "zebra"] and s.classes == 3
    assert s.fields["x"] == TensorType("float", (3, 12, 10))
    s = schema_of("image_folder", {"path": "img", "grayscale": True, "size": 8}, tmp_path)
    assert s.fields["x"] == TensorType("float", (1, 8, 8))


def test_image_folder_errors(tmp_path):
    with pytest.raises(SourceError) as err:
        schema_of("image_folder", {"path": "missing"}, tmp_path)
    assert err.value.arg == "path" and "folder not found" in err.value.message
    write(tmp_path / "img" / "cat" / "a.png", "x")
    write(tmp_path / "img" / "dog" / "notes.txt", "not an image")
    with pytest.raises(SourceError) as err:
        schema_of("image_folder", {"path": "img"}, tmp_path)
    assert "class folder" in err.value.message and str(tmp_path / "img" / "dog") in err.value.message
    (tmp_path / "img" / "dog" / "notes.txt").rename(tmp_path / "img" / "dog" / "b.PNG")
    with pytest.raises(SourceError) as err:
        schema_of("image_folder", {"path": "img", "normalize": [[0.5], [0.2]]}, tmp_path)
    assert err.value.arg == "normalize"


def test_image_csv_missing_listed_file(tmp_path):
    write(tmp_path / "imgs" / "a.png", "x")
    write(tmp_path / "list.csv", "filename,label\nimgs/a.png,cat\nimgs/b.png,dog\n")
    with pytest.raises(SourceError) as err:
        schema_of("image_csv", {"csv": "list.csv"}, tmp_path)
    assert "row 2 (line 3)" in err.value.message and "b.png" in err.value.message
    write(tmp_path / "list.csv", "filename,label\nimgs/a.png,cat\n")
    s = schema_of("image_csv", {"csv": "list.csv"}, tmp_path)
    assert s.class_names == ["cat"]


def make_texts(root: Path) -> None:
    write(root / "space" / "1.txt", "The rocket reached orbit.")
    write(root / "space" / "2.txt", "Orbit, orbit, MOON!")
    write(root / "sport" / "1.txt", "The pitcher threw; the batter hit.")


def test_text_folder_schema_and_categories(tmp_path):
    make_texts(tmp_path / "news")
    s = schema_of("text_folder", {"path": "news"}, tmp_path)
    assert s.fields == {"text": StrType(), "y": LONG}
    assert s.class_names == ["space", "sport"]
    s = schema_of("text_folder", {"path": "news", "categories": ["sport", "space"]}, tmp_path)
    assert s.class_names == ["sport", "space"]
    with pytest.raises(SourceError) as err:
        schema_of("text_folder", {"path": "news", "categories": ["spaec"]}, tmp_path)
    assert (err.value.arg, err.value.hint) == ("categories", "did you mean 'space'?")


def test_encoder_schema_vocab(tmp_path):
    make_texts(tmp_path / "news")
    base = schema_of("text_folder", {"path": "news"}, tmp_path)
    texts = source_texts("text_folder", {"path": "news"}, tmp_path)
    words = {w for t in texts for w in tokenize(t)}
    bag = encoder_schema("bag_of_words", {}, base, texts)
    assert bag.vocab == len(words) == bag.features
    assert bag.fields == {"y": LONG, "x": TensorType("float", (len(words),))}
    assert encoder_schema("bag_of_words", {"max_vocab": 3}, base, texts).vocab == 3
    tok = encoder_schema("tokens", {"max_vocab": 5}, base, texts)
    assert tok.vocab == 5 and tok.fields["tokens"] == TensorType("long", ("seq",))
    assert encoder_schema("tokens", {}, base, texts).vocab == len(words) + 2
    with pytest.raises(SourceError) as err:
        encoder_schema("bag_of_word", {}, base, texts)
    assert err.value.hint == "did you mean 'bag_of_words'?"


def test_tokenize_rule():
    assert tokenize("Don't panic, NASA! 42x_y") == ["don", "t", "panic", "nasa", "42x", "y"]


# ---- inline and generated ------------------------------------------------------------------

def test_tensors_schema_rules():
    s = tensors_schema({"x": [[0, 1], [1, 0], [1, 1]], "y": [0, 2, 1]})
    assert s.fields == {"x": TensorType("float", (2,)), "y": LONG}
    assert (s.classes, s.features) == (3, 2)
    s = tensors_schema({"x": [1, 2], "y": [0.5, 1.5]})
    assert s.fields == {"x": TensorType("float", (1,)), "y": TensorType("float", (1,))}
    assert tensors_schema({"x": [[[1, 2]], [[3, 4]]]}).fields["x"] == TensorType("float", (1, 2))


def test_tensors_schema_errors():
    with pytest.raises(SourceError) as err:
        tensors_schema({"x": [[1, 2], [3]]})
    assert err.value.arg == "x" and "ragged" in err.value.message
    with pytest.raises(SourceError) as err:
        tensors_schema({"x": [[1], [2], [3]], "y": [0, 1]})
    assert "same number of examples" in err.value.message


def test_generate_schema_passes_types():
    x = TensorType("float", (3,))
    s = generate_schema({"samples": 10, "x": x, "y": TensorType("float", (1,))})
    assert s.fields["x"] == x and s.features == 3
    with pytest.raises(SourceError, match="at least one field"):
        generate_schema({"samples": 10})
