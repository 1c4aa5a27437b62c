"""Loading sources into Tables: values, determinism, and agreement with the schema."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from specc.catalog.sources import SourceError, encoder_schema, schema_of, source_texts
from specc.data.encode import apply_encoder, encode_bag_of_words, encode_tokens
from specc.data.images import ImageFiles
from specc.data.load import load_source, load_tensors, open_source
from specc.data.toys import INDICATOR_RATE, indicator_tokens

DTYPES = {"float": torch.float32, "long": torch.long}


def assert_matches(schema, table):
    """Every schema field has the loaded dtype and per-example shape ("seq" matches any)."""
    assert set(schema.fields) == set(table.names)
    for name, t in schema.fields.items():
        if name in table.texts:
            assert str(t) == "str"
            continue
        value = table.fields[name]
        assert value.dtype == DTYPES[t.dtype], name
        assert len(value.shape) == 1 + len(t.shape), name
        for dim, got in zip(t.shape, value.shape[1:]):
            assert dim == "seq" or dim == got, (name, t, value.shape)
    if schema.class_names is not None:
        assert table.class_names == schema.class_names


def test_moons_shapes_dtypes_and_seeds():
    a = load_source("moons", {"samples": 101, "noise": 0.2}, seed=3)
    assert a.fields["x"].shape == (101, 2) and a.fields["x"].dtype == torch.float32
    assert a.fields["y"].shape == (101,) and a.fields["y"].dtype == torch.long
    assert torch.bincount(a.fields["y"]).tolist() == [50, 51]
    b = load_source("moons", {"samples": 101, "noise": 0.2}, seed=3)
    c = load_source("moons", {"samples": 101, "noise": 0.2}, seed=4)
    assert torch.equal(a.fields["x"], b.fields["x"]) and torch.equal(a.fields["y"], b.fields["y"])
    assert not torch.equal(a.fields["x"], c.fields["x"])
    assert_matches(schema_of("moons", {}), a)


def _rows(x, y):
    return sorted((round(float(p), 5), round(float(q), 5), int(c)) for (p, q), c in zip(x, y))


@pytest.mark.parametrize("name, extra", [("moons", {}), ("circles", {"factor": 0.3})])
def test_noise_free_toys_equal_sklearn_point_sets(name, extra):
    from sklearn import datasets

    ours = load_source(name, {"samples": 51, "noise": 0.0, **extra}, seed=0)
    maker = getattr(datasets, f"make_{name}")
    x, y = maker(n_samples=51, noise=None, shuffle=False, **extra)
    assert _rows(ours.fields["x"], ours.fields["y"]) == _rows(x, y)


def test_blobs_classes_and_spread():
    t = load_source("blobs", {"samples": 3001, "centers": 3, "features": 4, "std": 0.5}, seed=1)
    assert t.fields["x"].shape == (3001, 4)
    assert torch.bincount(t.fields["y"]).tolist() == [1001, 1000, 1000]
    for c in range(3):
        spread = t.fields["x"][t.fields["y"] == c].std(0)
        assert torch.allclose(spread, torch.full((4,), 0.5), atol=0.05)


def test_sequences_tokens_lengths_and_signal():
    t = load_source("sequences", {"samples": 400, "vocab": 100, "length": (5, 20),
                                  "classes": 2}, seed=0)
    tokens, lengths = t.fields["tokens"], t.lengths["tokens"]
    assert tokens.shape[1] == int(lengths.max()) and 5 <= int(lengths.min())
    inside = torch.arange(tokens.shape[1]) < lengths.unsqueeze(1)
    assert bool((tokens[inside] >= 1).all() and (tokens[inside] < 100).all())
    assert bool((tokens[~inside] == 0).all())
    marks = indicator_tokens(100, 2)
    for c in range(2):
        own = torch.isin(tokens[t.fields["y"] == c], marks[c])
        rate = own.sum() / inside[t.fields["y"] == c].sum()
        assert rate > INDICATOR_RATE  # the class signal is present
    assert_matches(schema_of("sequences", {"vocab": 100}), t)


def test_digits():
    t = load_source("digits", {})
    assert t.fields["x"].shape == (1797, 64) and float(t.fields["x"].max()) == 16.0
    assert_matches(schema_of("digits", {}), t)


def test_csv_string_targets_become_sorted_indices(tmp_path):
    (tmp_path / "f.csv").write_text("a,b,kind\n1,2,zebra\n3,4,ant\n5,6.5,moth\n7,8,ant\n")
    t = load_source("csv", {"path": "f.csv", "target": "kind"}, tmp_path)
    assert t.class_names == ["ant", "moth", "zebra"]
    assert t.fields["y"].tolist() == [2, 0, 1, 0]
    assert t.fields["x"].tolist() == [[1, 2], [3, 4], [5, 6.5], [7, 8]]
    assert_matches(schema_of("csv", {"path": "f.csv", "target": "kind"}, tmp_path), t)


def test_csv_regression_target(tmp_path):
    (tmp_path / "r.csv").write_text("x,y\n1,0.5\n2,1.5\n")
    t = load_source("csv", {"path": "r.csv"}, tmp_path)
    assert t.fields["y"].tolist() == [[0.5], [1.5]]
    assert_matches(schema_of("csv", {"path": "r.csv"}, tmp_path), t)


def make_images(root: Path, classes=("zebra", "cat", "dog"), per=2) -> dict[str, tuple]:
    """Uniformly coloured images of different sizes; returns each class's colour."""
    colours = {}
    for k, cls in enumerate(classes):
        colours[cls] = (40 * k + 20, 200 - 50 * k, 100)
        (root / cls).mkdir(parents=True)
        for i in range(per):
            Image.new("RGB", (10 + 3 * i, 7 + i), colours[cls]).save(root / cls / f"{i}.png")
    return colours


def test_image_folder_sorted_classes_shapes_and_values(tmp_path):
    colours = make_images(tmp_path / "img")
    t = load_source("image_folder", {"path": "img", "size": [6, 5]}, tmp_path)
    assert t.class_names == ["cat", "dog", "zebra"]
    assert t.fields["x"].shape == (6, 3, 6, 5) and t.fields["y"].tolist() == [0, 0, 1, 1, 2, 2]
    for i, cls in enumerate(["cat", "cat", "dog", "dog", "zebra", "zebra"]):
        expected = torch.tensor(colours[cls], dtype=torch.float32).div(255).view(3, 1, 1)
        assert torch.allclose(t.fields["x"][i], expected.expand(3, 6, 5), atol=1e-5)
    assert_matches(schema_of("image_folder", {"path": "img", "size": [6, 5]}, tmp_path), t)
    g = load_source("image_folder", {"path": "img", "grayscale": True, "size": 4}, tmp_path)
    assert g.fields["x"].shape == (6, 1, 4, 4)


def test_image_normalize(tmp_path):
    make_images(tmp_path / "img")
    plain = load_source("image_folder", {"path": "img"}, tmp_path).fields["x"]
    norm = load_source("image_folder", {"path": "img", "normalize": [[0.5, 0.4, 0.3],
                                                                     [0.2, 0.2, 0.1]]},
                       tmp_path).fields["x"]
    mean = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)
    std = torch.tensor([0.2, 0.2, 0.1]).view(1, 3, 1, 1)
    assert torch.allclose(norm, (plain - mean) / std, atol=1e-5)


def test_undecodable_image_names_the_file(tmp_path):
    make_images(tmp_path / "img")
    bad = tmp_path / "img" / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    with pytest.raises(SourceError) as err:
        load_source("image_folder", {"path": "img"}, tmp_path)
    assert str(bad) in err.value.message and err.value.arg == "path"


def test_empty_class_folder_is_an_error(tmp_path):
    make_images(tmp_path / "img")
    (tmp_path / "img" / "empty").mkdir()
    with pytest.raises(SourceError, match="empty has no image files"):
        load_source("image_folder", {"path": "img"}, tmp_path)


def test_image_csv_matches_folder(tmp_path):
    make_images(tmp_path / "img", per=1)
    (tmp_path / "list.csv").write_text("file,kind\nzebra/0.png,z\ncat/0.png,c\n")
    args = {"csv": "list.csv", "images": "img", "column": "file", "target": "kind", "size": 3}
    t = load_source("image_csv", args, tmp_path)
    assert t.class_names == ["c", "z"] and t.fields["y"].tolist() == [1, 0]
    assert t.fields["x"].shape == (2, 3, 3, 3)
    assert_matches(schema_of("image_csv", args, tmp_path), t)


def test_open_source_streams_over_budget(tmp_path):
    make_images(tmp_path / "img")
    files = open_source("image_folder", {"path": "img"}, tmp_path, budget=100)
    assert isinstance(files, ImageFiles) and len(files) == 6
    table = open_source("image_folder", {"path": "img"}, tmp_path)
    assert torch.equal(files[3]["x"], table.fields["x"][3])


def make_news(root: Path) -> None:
    for cls, docs in {"space": ["The rocket reached orbit.", "Orbit, orbit, MOON!"],
                      "sport": ["The pitcher threw; the batter hit.", ""]}.items():
        (root / cls).mkdir(parents=True)
        for i, d in enumerate(docs):
            (root / cls / f"{i}.txt").write_text(d)


def test_text_folder_and_bag_of_words_agree_with_schema(tmp_path):
    make_news(tmp_path / "news")
    args = {"path": "news"}
    t = load_source("text_folder", args, tmp_path)
    assert t.texts["text"][1] == "Orbit, orbit, MOON!" and t.fields["y"].tolist() == [0, 0, 1, 1]
    base = schema_of("text_folder", args, tmp_path)
    assert_matches(base, t)
    encoded, vocab = apply_encoder(t, "bag_of_words", {})
    schema = encoder_schema("bag_of_words", {}, base, source_texts("text_folder", args, tmp_path))
    assert_matches(schema, encoded)
    assert len(vocab) == schema.vocab == 9
    assert vocab[:2] == ["orbit", "the"]  # most frequent first
    assert encoded.fields["x"][1, vocab.index("orbit")] == 2
    assert encoded.fields["x"].sum(1).tolist() == [4, 3, 6, 0]


def test_encode_tokens_pad_unknown_and_max_len():
    texts = ["a b c a", "b", "z z", ""]
    tokens, lengths, vocab = encode_tokens(texts, max_vocab=5, max_len=3)
    assert vocab == ["<pad>", "<unk>", "a", "b", "z"]  # c is the rarest word: unknown
    assert lengths.tolist() == [3, 1, 2, 1]
    assert tokens.tolist() == [[2, 3, 1], [3, 0, 0], [4, 4, 0], [1, 0, 0]]
    x, bag = encode_bag_of_words(["b a b"], vocab=["b", "q"])
    assert x.tolist() == [[2.0, 0.0]] and bag == ["b", "q"]


def test_load_tensors_and_generate():
    t = load_tensors({"x": [[0, 1], [1, 0]], "y": [1, 0]})
    assert t.fields["x"].dtype == torch.float32 and t.fields["y"].dtype == torch.long
    r = load_tensors({"x": [1, 2, 3], "y": [0.5, 1, 2]})
    assert r.fields["x"].shape == (3, 1) and r.fields["y"].tolist() == [[0.5], [1.0], [2.0]]
    with pytest.raises(SourceError, match="evaluated by the spec compiler"):
        load_source("generate", {"samples": 3, "x": None})
