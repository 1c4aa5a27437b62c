"""The data sources of the language (LANGUAGE.md section 4) as one table, without torch.

``SOURCES[name]`` is a :class:`SourceInfo`: the source's arguments (positional order,
defaults, checks) and ``schema(args, base_dir) -> Schema``, which says what fields the source
yields, how many classes, the vocabulary and the feature width -- all computed from the
arguments and, for file-backed sources, by reading file listings and CSV text. Loading the
data is :func:`specc.data.load.load_source`'s job; both go through
:mod:`specc.catalog.datafiles`, so they agree.

Defaults chosen here (the language leaves them open):

===============  ==========================================================================
moons            samples=1000, noise=0.1
circles          samples=1000, noise=0.1, factor=0.5
blobs            samples=1000, centers=3, features=2, std=1.0 (centres uniform in [-10, 10])
generate         samples (required); every other keyword is a field (typed by the caller)
tensors          every keyword is a field of inline values
csv              path (required), target=last column, features=every other column,
                 delimiter=","
digits           no arguments
image_folder     path (required), size=[28, 28], grayscale=false, normalize=none
image_csv        csv (required), images=the CSV's folder, column="filename",
                 target="label", size=[28, 28], grayscale=false, normalize=none
text_folder      path (required), categories=every subfolder in sorted order
sequences        samples=1000, vocab=1000, length=10..50, classes=2
text_file        path (required), block=128, level=char
===============  ==========================================================================

Every user mistake raises :class:`SourceError` with ``arg`` naming the argument at fault.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from specc.catalog.datafiles import (Labelled, parse_csv, read_data, read_text, resolve, scan_image_csv,
                                     scan_image_folder, scan_text_folder)
from specc.catalog.source_base import (MAX_SAMPLES, REQUIRED, Arg, Schema, SourceError,
                                       SourceInfo, as_range, as_size, bind, boolean,
                                       check_samples, int_at_least, int_range, mean_std,
                                       non_negative, one_char, optional, positive, positive_int,
                                       size2, string, string_list, string_or_names, unit_interval_open)
from specc.catalog.text import (ENCODERS, LEVELS, check_stream, encoder_schema, one_of, stream_vocab,
                                text_file_schema, text_stream, tokenize)
from specc.errors import did_you_mean
from specc.types import StrType, TensorType

__all__ = ["SOURCES", "ENCODERS", "REQUIRED", "MAX_SAMPLES", "Arg", "Schema", "SourceError",
           "SourceInfo", "bind_args", "schema_of", "tensors_schema", "generate_schema",
           "encoder_schema", "source_texts", "tokenize", "image_files", "image_schema",
           "text_files", "text_file_tokens"]

X2 = TensorType("float", (2,))
CLASS = TensorType("long", ())
REGRESSION = TensorType("float", (1,))

SAMPLES = Arg("samples", 1000, positive_int, "number of examples")
NOISE = Arg("noise", 0.1, non_negative, "standard deviation of the gaussian noise")


def _toy(name: str, classes_arg: str | None = None) -> Callable[[dict, Any], Schema]:
    """Schema of a 2-D toy set; blobs takes its width and class count from its arguments."""
    def schema(args: dict, base_dir: Path | None = None) -> Schema:
        a = bind(name, SOURCES[name].args, [], args)
        width = a.get("features", 2)
        check_samples(name, a["samples"], 4 * width + 8)
        classes = a[classes_arg] if classes_arg else 2
        return Schema({"x": TensorType("float", (width,)), "y": CLASS}, classes, None, None, width)
    return schema


def _digits_schema(args: dict, base_dir: Path | None = None) -> Schema:
    bind("digits", (), [], args)
    return Schema({"x": TensorType("float", (64,)), "y": CLASS}, 10,
                  [str(d) for d in range(10)], None, 64)


def _sequences_schema(args: dict, base_dir: Path | None = None) -> Schema:
    a = bind("sequences", SOURCES["sequences"].args, [], args)
    lo, hi = as_range(a["length"])
    check_samples("sequences", a["samples"], 8 * hi + 16, arg="length" if hi > a["samples"] else "samples")
    if a["vocab"] < a["classes"] + 1:
        raise SourceError(f"sequences(): vocab={a['vocab']} leaves no room for {a['classes']} "
                          f"classes; vocab must be at least classes + 1 (id 0 is padding)",
                          arg="vocab")
    return Schema({"tokens": TensorType("long", ("seq",)), "y": CLASS}, a["classes"], None,
                  a["vocab"], None)


def text_file_tokens(args: dict, base_dir: Path) -> tuple[dict, list[str]]:
    """Bound arguments and the token stream of a ``text_file`` (at least one block of it)."""
    a = bind("text_file", SOURCES["text_file"].args, [], args)
    path = resolve(a["path"], base_dir)
    tokens = text_stream(read_data(path, "text", "path"), a["level"])
    check_stream(tokens, a["block"], path.name)
    return a, tokens


def _text_file_schema(args: dict, base_dir: Path) -> Schema:
    a, tokens = text_file_tokens(args, base_dir)
    return text_file_schema(a["block"], len(stream_vocab(tokens, a["level"])))


def csv_target_fields(target, columns: Sequence[str]) -> dict[str, str]:
    """Field name -> target column: ``y`` for one target (version 1), else each column under
    its own name (``target=["kind", "size"]``), which must be a name a spec can write."""
    if not isinstance(target, list):
        return {"y": columns[0]}
    for column in columns:
        if not column.isidentifier() or column == "x":
            raise SourceError(f"csv(): the target column {column!r} becomes a field of that name, so it must be "
                              "a plain name other than x", arg="target", hint="rename the column in the CSV header")
    return {c: c for c in columns}


def _csv_schema(args: dict, base_dir: Path) -> Schema:
    a = bind("csv", SOURCES["csv"].args, [], args)
    table = parse_csv(resolve(a["path"], base_dir), a["target"], a["features"], a["delimiter"], read_features=False)
    width = len(table.feature_names)
    fields = {"x": TensorType("float", (width,))}
    classes_of = {}
    for name, column in csv_target_fields(a["target"], list(table.targets)).items():
        t = table.targets[column]
        fields[name] = REGRESSION if t.kind == "float" else CLASS
        if t.kind != "float":
            classes_of[name] = t.class_names or [str(i) for i in range(t.classes)]
    first = next((table.targets[c] for c in table.targets if table.targets[c].kind != "float"), table.target)
    return Schema(fields, first.classes, first.class_names, None, width,
                  classes_of if isinstance(a["target"], list) else {})


def image_schema(a: dict, found: Labelled) -> Schema:
    """The schema of an image source from its bound arguments and labelled files."""
    h, w = as_size(a["size"])
    channels = 1 if a["grayscale"] else 3
    norm = a["normalize"]
    if norm is not None and isinstance(norm[0], (list, tuple)) and len(norm[0]) != channels:
        raise SourceError(f"normalize has {len(norm[0])} values per list but the images have "
                          f"{channels} channel(s)", arg="normalize")
    y = REGRESSION if found.kind == "float" else CLASS
    return Schema({"x": TensorType("float", (channels, h, w)), "y": y}, found.classes,
                  found.class_names, None, None)


def image_files(name: str, args: dict, base_dir: Path) -> tuple[dict, Labelled]:
    """Bound arguments and the labelled file list of ``image_folder`` or ``image_csv``."""
    a = bind(name, SOURCES[name].args, [], args)
    h, w = as_size(a["size"])
    # a large folder streams from disk, but every decoded image is held in memory
    check_samples(name, 1, 4 * (1 if a["grayscale"] else 3) * h * w, arg="size")
    if name == "image_folder":
        return a, scan_image_folder(resolve(a["path"], base_dir))
    csv_path = resolve(a["csv"], base_dir)
    images = resolve(a["images"], base_dir) if a["images"] is not None else csv_path.parent
    return a, scan_image_csv(csv_path, images, a["column"], a["target"])


def _image_folder_schema(args: dict, base_dir: Path) -> Schema:
    return image_schema(*image_files("image_folder", args, base_dir))


def _image_csv_schema(args: dict, base_dir: Path) -> Schema:
    return image_schema(*image_files("image_csv", args, base_dir))


def text_files(args: dict, base_dir: Path) -> tuple[dict, Labelled]:
    a = bind("text_folder", SOURCES["text_folder"].args, [], args)
    return a, scan_text_folder(resolve(a["path"], base_dir), a["categories"])


def _text_folder_schema(args: dict, base_dir: Path) -> Schema:
    _, found = text_files(args, base_dir)
    return Schema({"text": StrType(), "y": CLASS}, found.classes, found.class_names)


def source_texts(name: str, args: dict, base_dir: Path) -> list[str]:
    """The documents of a text source, in example order (for :func:`encoder_schema`)."""
    if name != "text_folder":
        raise SourceError(f"{name}() yields no text to encode; text comes from text_folder")
    _, found = text_files(args, base_dir)
    return [read_text(f) for f in found.files]


# ---- inline and generated fields -----------------------------------------------------------

def _nested_shape(value: Any, field: str) -> tuple[tuple[int, ...], bool]:
    """The shape of a rectangular nested list of numbers and whether all are whole numbers."""
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return (), isinstance(value, int) and not isinstance(value, bool)
    if not isinstance(value, (list, tuple)) or not value:
        raise SourceError(f"tensors(): {field} must be a non-empty list of numbers or of "
                          f"equal-length lists; found {value!r}", arg=field)
    parts = [_nested_shape(v, field) for v in value]
    inner = parts[0][0]
    if any(p[0] != inner for p in parts):
        raise SourceError(f"tensors(): {field} is ragged: its rows have different lengths",
                          arg=field)
    return (len(value), *inner), all(p[1] for p in parts)


def _flatten(value: Any) -> list:
    return [x for v in value for x in _flatten(v)] if isinstance(value, (list, tuple)) else [value]


def tensors_schema(values: Mapping[str, Any]) -> Schema:
    """Types of inline fields given as nested lists (the first axis is the example axis).

    Rule: a field named ``y`` holding a flat list of whole numbers >= 0 is class indices
    (``long``, ``classes`` = largest + 1); every other field is ``float``. A flat list is one
    number per example: ``float[1]``; ``[[...], ...]`` of width k is ``float[k]``. A value that
    is already a :class:`TensorType` (computed by the caller) is taken as it is.
    """
    if not values:
        raise SourceError("tensors() needs at least one field, e.g. tensors(x=[[0, 1]], y=[1])")
    fields: dict[str, TensorType] = {}
    counts: dict[str, int] = {}
    classes = None
    for name, value in values.items():
        if isinstance(value, TensorType):
            fields[name] = value
            continue
        shape, whole = _nested_shape(value, name)
        if not shape:
            raise SourceError(f"tensors(): {name} must be a list with one entry per example; "
                              f"got the single number {value!r}", arg=name)
        counts[name] = shape[0]
        if name == "y" and len(shape) == 1 and whole and min(_flatten(value)) >= 0:
            fields[name] = CLASS
            classes = max(_flatten(value)) + 1
        else:
            fields[name] = TensorType("float", shape[1:] or (1,))
    if len(set(counts.values())) > 1:
        listing = ", ".join(f"{k} has {n}" for k, n in counts.items())
        raise SourceError(f"tensors(): every field needs the same number of examples; {listing}",
                          arg=max(counts, key=counts.get))
    return _typed_schema(fields, classes)


def _typed_schema(fields: dict[str, TensorType], classes: int | None) -> Schema:
    x = fields.get("x")
    features = x.shape[0] if (x is not None and x.dtype == "float" and len(x.shape) == 1
                              and isinstance(x.shape[0], int)) else None
    return Schema(dict(fields), classes, None, None, features)


def _example_bytes(t: TensorType) -> int:
    """Bytes of one example of ``t``: the product of every dim, times the element's size."""
    n = 8 if t.dtype == "long" else 4
    for d in t.shape:
        n *= d if isinstance(d, int) else 1
    return n


def generate_schema(args: dict, base_dir: Path | None = None) -> Schema:
    """``generate(samples, x=..., ...)``: ``args`` maps each field to its TensorType.

    The caller evaluates the field expressions' shapes; this checks ``samples`` and that
    there is at least one field, then reports the fields as given.
    """
    a = bind("generate", SOURCES["generate"].args, [], args, extra_fields=True)
    fields = {k: v for k, v in a.items() if k != "samples"}
    if not fields:
        raise SourceError("generate() needs at least one field, e.g. x=uniform(-1, 1)")
    bad = [k for k, v in fields.items() if not isinstance(v, TensorType)]
    if bad:
        raise TypeError(f"generate_schema expects TensorType values; got {bad}")
    sizes = {k: _example_bytes(t) for k, t in fields.items()}
    check_samples("generate", a["samples"], sum(sizes.values()), arg=max(sizes, key=sizes.get))
    return _typed_schema(fields, None)


def _tensors_source_schema(args: dict, base_dir: Path | None = None) -> Schema:
    return tensors_schema(args)


# ---- the table -----------------------------------------------------------------------------

SIZE = Arg("size", [28, 28], size2, "image [height, width] after resizing")
GRAY = Arg("grayscale", False, boolean, "one channel instead of three")
NORMALIZE = Arg("normalize", None, mean_std, "[mean, std] applied after scaling to [0, 1]")

SOURCES: dict[str, SourceInfo] = {s.name: s for s in (
    SourceInfo("moons", (SAMPLES, NOISE), _toy("moons"),
               "two interleaving half circles: x: float[2], y: long (2 classes)"),
    SourceInfo("circles", (SAMPLES, NOISE,
                           Arg("factor", 0.5, unit_interval_open, "inner radius / outer radius")),
               _toy("circles"), "a small circle inside a large one: x: float[2], y: long"),
    SourceInfo("blobs", (SAMPLES, Arg("centers", 3, positive_int, "number of clusters"),
                         Arg("features", 2, positive_int, "dimensions"),
                         Arg("std", 1.0, positive, "cluster standard deviation")),
               _toy("blobs", "centers"), "gaussian clusters: x: float[features], y: long"),
    SourceInfo("generate", (Arg("samples", REQUIRED, positive_int, "number of examples"),),
               generate_schema, "fields from expressions, each float[1] unless shaped",
               extra_fields=True),
    SourceInfo("tensors", (), _tensors_source_schema, "small inline data", extra_fields=True),
    SourceInfo("csv", (Arg("path", REQUIRED, string, "the CSV file"),
                       Arg("target", None, optional(string_or_names), "target column, or a list of them "
                           "(default: the last column)"),
                       Arg("features", None, optional(string_list), "feature columns"),
                       Arg("delimiter", ",", one_char, "field separator")),
               _csv_schema, "a CSV with a header: x: float[features], y", files=True),
    SourceInfo("digits", (), _digits_schema, "scikit-learn's 8x8 digits: x: float[64] (0..16)"),
    SourceInfo("image_folder", (Arg("path", REQUIRED, string, "folder of class folders"),
                                SIZE, GRAY, NORMALIZE),
               _image_folder_schema, "one subfolder per class: x: float[c, h, w], y: long",
               files=True),
    SourceInfo("image_csv", (Arg("csv", REQUIRED, string, "CSV listing files and labels"),
                             Arg("images", None, optional(string), "image folder"),
                             Arg("column", "filename", string, "file name column"),
                             Arg("target", "label", string, "label column"),
                             SIZE, GRAY, NORMALIZE),
               _image_csv_schema, "images listed in a CSV: x: float[c, h, w], y", files=True),
    SourceInfo("text_folder", (Arg("path", REQUIRED, string, "folder of category folders"),
                               Arg("categories", None, optional(string_list),
                                   "category folders to use, in class order")),
               _text_folder_schema, "one document per file: text: str, y: long", files=True),
    SourceInfo("text_file", (Arg("path", REQUIRED, string, "the text"),
                             Arg("block", 128, positive_int, "tokens per example"),
                             Arg("level", "char", one_of(*LEVELS), "what a token is: char | byte | word")),
               _text_file_schema, "one text in blocks: x: long[block], y: long[block] (x shifted by one)",
               files=True),
    SourceInfo("sequences", (SAMPLES, Arg("vocab", 1000, int_at_least(2), "token ids 1..vocab-1 (0 pads)"),
                             Arg("length", (10, 50), int_range, "sequence length lo..hi"),
                             Arg("classes", 2, int_at_least(2), "number of classes")),
               _sequences_schema, "variable-length token sequences: tokens: long[seq], y: long"),
)}


def bind_args(name: str, positional: Sequence[Any] = (), keywords: Mapping[str, Any] | None = None
              ) -> dict[str, Any]:
    """Check a source call ``name(positional..., **keywords)``; returns all arguments by name.

    Raises SourceError for an unknown source (did-you-mean), unknown or missing arguments and
    bad values; see :func:`specc.catalog.source_base.bind`.
    """
    if name not in SOURCES:
        raise SourceError(f"unknown data source '{name}'",
                          hint=did_you_mean(name, SOURCES) or f"sources are {', '.join(SOURCES)}")
    info = SOURCES[name]
    return bind(name, info.args, list(positional), dict(keywords or {}), info.extra_fields)


def schema_of(name: str, args: Mapping[str, Any], base_dir: Path | str = ".") -> Schema:
    """``SOURCES[name].schema`` after binding ``args`` by name (unknown source: SourceError)."""
    bound = bind_args(name, (), args)
    return SOURCES[name].schema(bound, Path(base_dir))
