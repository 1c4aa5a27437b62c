"""Loading a source into a :class:`~specc.data.table.Table` (torch).

``load_source(name, args, base_dir, seed)`` covers every source of LANGUAGE.md section 4
except ``generate`` (whose fields the caller evaluates from expressions and wraps with
:meth:`Table.from_tensors`); ``tensors`` is :func:`load_tensors`. Arguments are checked
with the same table as the schema (:mod:`specc.catalog.sources`), files are found with the
same helpers, so what loads always matches what ``specc check`` reported.

scikit-learn (``digits``) and Pillow (images) are imported only by the loaders that need
them. ``seed`` only matters for the synthetic sources; file sources load deterministically.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from specc.catalog.datafiles import Labelled, parse_csv, read_text, resolve
from specc.catalog.source_base import SourceError
from specc.catalog.sources import (bind_args, csv_target_fields, image_files, image_schema, schema_of,
                                   tensors_schema, text_file_tokens, text_files)
from specc.catalog.text import stream_vocab
from specc.data import toys
from specc.data.images import STREAM_BUDGET, ImageFiles
from specc.data.table import Table
from specc.errors import missing_dependency

Loader = Callable[[dict, Path, int], Table]


def _target_tensor(kind: str, values) -> torch.Tensor:
    """Targets as the model sees them: ``float [N, 1]`` for numbers, ``long [N]`` for classes."""
    if kind == "float":
        return torch.tensor(values, dtype=torch.float32).unsqueeze(1)
    return torch.tensor(values, dtype=torch.long)


def _targets(found: Labelled) -> torch.Tensor:
    return _target_tensor(found.kind, found.labels)


def _csv(a: dict, base_dir: Path, seed: int) -> Table:
    parsed = parse_csv(resolve(a["path"], base_dir), a["target"], a["features"], a["delimiter"])
    named = csv_target_fields(a["target"], list(parsed.targets))
    targets = {name: _target_tensor(parsed.targets[c].kind, parsed.targets[c].values) for name, c in named.items()}
    first = next((t for t in parsed.targets.values() if t.kind != "float"), parsed.target)
    classes_of = {name: parsed.targets[c].class_names for name, c in named.items()
                  if isinstance(a["target"], list) and parsed.targets[c].class_names is not None}
    return Table({"x": torch.from_numpy(parsed.features), **targets}, class_names=first.class_names,
                 feature_names=parsed.feature_names, classes_of=classes_of)


def _digits(a: dict, base_dir: Path, seed: int) -> Table:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise missing_dependency("sklearn", "the digits() source") from None

    d = load_digits()
    return Table({"x": torch.tensor(d.data, dtype=torch.float32),
                  "y": torch.tensor(d.target, dtype=torch.long)},
                 class_names=[str(c) for c in range(10)])


def image_dataset(name: str, args: Mapping[str, Any], base_dir: Path | str) -> ImageFiles:
    """The files of ``image_folder``/``image_csv`` as a lazily decoding Dataset."""
    a, found = image_files(name, bind_args(name, (), args), Path(base_dir))
    image_schema(a, found)  # the checks specc check makes (normalize vs channels)
    return ImageFiles(found.files, _targets(found), a["size"], a["grayscale"], a["normalize"],
                      found.class_names, "path" if name == "image_folder" else "csv")


def _images(name: str) -> Loader:
    def load(a: dict, base_dir: Path, seed: int) -> Table:
        return image_dataset(name, a, base_dir).to_table()
    return load


def _text_folder(a: dict, base_dir: Path, seed: int) -> Table:
    _, found = text_files(a, base_dir)
    y = torch.tensor(found.labels, dtype=torch.long)
    return Table({"y": y}, texts={"text": [read_text(f) for f in found.files]},
                 class_names=found.class_names)


def text_file_table(a: dict, base_dir: Path, vocab: list[str] | None = None) -> Table:
    """``text_file``: the text cut into non-overlapping blocks, in text order; ``y`` is ``x``
    one token later. ``vocab`` (a train text's, for a held-out text) must cover the text."""
    _, tokens = text_file_tokens(a, base_dir)
    vocab = vocab or stream_vocab(tokens, a["level"])
    index = {t: i for i, t in enumerate(vocab)}
    unknown = next((t for t in tokens if t not in index), None)
    if unknown is not None:
        raise SourceError(f"text_file(): {Path(a['path']).name} has the token {unknown!r}, which the train "
                          "text does not have", arg="path",
                          hint="the vocabulary is the train text's: hold out a fraction of it instead (valid = 10%)")
    ids = torch.tensor([index[t] for t in tokens], dtype=torch.long)
    block = a["block"]
    n = (len(ids) - 1) // block
    return Table({"x": ids[:n * block].view(n, block), "y": ids[1:n * block + 1].view(n, block)},
                 vocab=vocab, ordered=True)


def _toy(make: Callable[..., Table], name: str, *keys: str) -> Loader:
    def load(a: dict, base_dir: Path, seed: int) -> Table:
        schema_of(name, a)  # the argument and size checks that specc check makes
        return make(*(a[k] for k in keys), seed=seed)
    return load


LOADERS: dict[str, Loader] = {
    "moons": _toy(toys.moons, "moons", "samples", "noise"),
    "circles": _toy(toys.circles, "circles", "samples", "noise", "factor"),
    "blobs": _toy(toys.blobs, "blobs", "samples", "centers", "features", "std"),
    "csv": _csv,
    "digits": _digits,
    "image_folder": _images("image_folder"),
    "image_csv": _images("image_csv"),
    "text_folder": _text_folder,
    "sequences": _toy(toys.sequences, "sequences", "samples", "vocab", "length", "classes"),
    "tensors": lambda a, base_dir, seed: load_tensors(a),
    "text_file": lambda a, base_dir, seed: text_file_table(a, base_dir),
}


def load_source(name: str, args: Mapping[str, Any], base_dir: Path | str = ".",
                seed: int = 0) -> Table:
    """Load source ``name`` with keyword ``args`` (paths relative to ``base_dir``).

    Raises:
        SourceError: bad arguments, missing or malformed files (see the catalogue), or a
            source that the caller must build itself (``generate``).
    """
    a = bind_args(name, (), args)
    if name not in LOADERS:
        raise SourceError(f"{name}() is evaluated by the spec compiler, not loaded from a "
                          f"source table")
    table = LOADERS[name](a, Path(base_dir), seed)
    table.lint()
    return table


def open_source(name: str, args: Mapping[str, Any], base_dir: Path | str = ".", seed: int = 0,
                budget: int = STREAM_BUDGET) -> Table | ImageFiles:
    """Like :func:`load_source`, but an image source whose decoded size exceeds ``budget``
    bytes comes back as an :class:`ImageFiles` Dataset to stream with StreamingBatches."""
    if name in ("image_folder", "image_csv"):
        files = image_dataset(name, args, base_dir)   # scans the files once, for both ways
        if files.decoded_bytes() > budget:
            return files
        table = files.to_table()
        table.lint()
        return table
    return load_source(name, args, base_dir, seed)


def load_tensors(values: Mapping[str, Any]) -> Table:
    """Inline ``tensors(...)`` fields as a Table, typed by :func:`tensors_schema`.

    Class-index fields become ``long [N]``; other flat lists ``float [N, 1]``; nested lists
    ``float [N, ...]``.
    """
    schema = tensors_schema(values)
    fields = {}
    for name, value in values.items():
        t = schema.fields[name]
        if t.dtype == "long":
            fields[name] = torch.tensor(value, dtype=torch.long)
        else:
            fields[name] = torch.tensor(value, dtype=torch.float32).reshape(-1, *t.shape)
    return Table.from_tensors(fields)
