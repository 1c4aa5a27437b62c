"""The run record: what a run folder says about the run that made it (torch-free).

A run folder holds, from the start of the run on (docs/run-folder.md):

``source.spec``  the spec text as its user wrote it
``spec.spec``    the resolved configuration: the canonical spec after ``--set``, data paths
                 absolute, imported Python files copied next to it (``specc run spec.spec``
                 reproduces the run from anywhere)
``run.json``     a :class:`RunRecord`: versions, the spec's path and hash, the ``--set`` list,
                 model, seed, device, checkpoint folder, and the :class:`Preprocessing` that
                 inference re-applies to raw inputs
``vocab.json``   the vocabulary of a text encoder, when there is one

Everything is plain JSON or spec text; nothing is pickled. Reading a folder that lacks a file,
holds malformed JSON or comes from a newer format is a SpecError naming the file.

:func:`flatten` turns a Spec into ``{"data.train": text, "optimizer": text, "model Net": text,
...}``; :func:`config_changes` compares two of them under the resume rule.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, ValidationError

from .catalog.datafiles import resolve
from .catalog.source_base import as_size
from .catalog.sources import SOURCES
from .errors import Diagnostic, Span, SpecError
from .syntax import ast
from .syntax.fmt import _Expressions, _Formatter, format_resolved
from .syntax.spec import Spec, parse_spec
from .types import StrType, TensorType

FORMAT = 1
RECORD, SOURCE, RESOLVED, VOCAB = "run.json", "source.spec", "spec.spec", "vocab.json"

PATH_ARGS = {"csv": ("path",), "image_folder": ("path",), "image_csv": ("csv", "images"),
             "text_folder": ("path",), "text_file": ("path",)}
"""The source arguments that name files, made absolute in ``spec.spec``."""

RESUMABLE_KEYS = frozenset({"train.epochs", "train.log", "train.log_every", "train.plot", "train.devices",
                            "train.backend", "train.compile"})
"""Entries a resumed run may change: where the run ends (more epochs to go on, or fewer to stop
sooner: an epoch computes the same either way), what the run shows, how many processes share it
(the batches are global: docs/distributed.md) and how it is compiled (the same math, the same
checkpoints), not what it computes."""


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldInfo(_Plain):
    """The type of one example of a field: ``dtype`` is float, long, int, bool or str (text)."""

    dtype: str
    shape: list[int | str] = []

    @classmethod
    def of(cls, t) -> "FieldInfo":
        return cls(dtype="str") if isinstance(t, StrType) else cls(dtype=t.dtype, shape=list(t.shape))

    def type(self):
        return StrType() if self.dtype == "str" else TensorType(self.dtype, tuple(self.shape))


class Encoding(_Plain):
    name: str                 # bag_of_words or tokens
    args: dict[str, Any]


class Transform(_Plain):
    field: str
    expr: str                 # spec text, e.g. "x / 16"

    def expression(self) -> ast.Expr:
        """The expression, parsed back from its spec text."""
        spec = parse_spec(f"model M(x: float[1]) {{ return x }}\ndata {{ train = moons(), transform = {self.expr} }}\n")
        return spec.data_options.transform


class StreamSettings(_Plain):
    """``text_file``: what a token is and how many the model reads (the vocabulary is vocab.json)."""

    level: Literal["char", "byte", "word"]
    block: int


class ImageSettings(_Plain):
    size: list[int]           # [height, width]
    mode: Literal["RGB", "L"]
    normalize: Optional[list] = None


class Preprocessing(_Plain):
    """What turns raw inputs into what the model was trained on, and its outputs into answers."""

    source: str                              # the train source: csv, image_folder, moons, ...
    inputs: dict[str, FieldInfo]             # the model's inputs, in signature order
    target: Optional[str]
    fields: dict[str, FieldInfo]             # every field after encode and transform
    task: Literal["classification", "regression", "next_token"]
    classes: Optional[list[str]] = None      # class names in class-index order
    heads: dict[str, Optional[str]] = {}     # several outputs: each one's name -> its class field, or None
    classes_of: dict[str, list[str]] = {}    # class names per class-index field (several targets)
    data_attrs: dict[str, Optional[int]]     # data.classes, data.vocab, data.features
    columns: Optional[list[str]] = None      # csv: the feature columns, in order
    delimiter: Optional[str] = None
    encode: Optional[Encoding] = None
    vocab_file: Optional[str] = None
    transform: Optional[Transform] = None
    image: Optional[ImageSettings] = None
    stream: Optional[StreamSettings] = None
    pad: float = 0
    batch: Optional[int] = None
    loss: str = ""
    threshold: float = 0.0                   # binary outputs: above it is class 1


class RunRecord(_Plain):
    format: int = FORMAT
    specc: str
    torch: str
    spec_path: Optional[str]
    spec_hash: str
    sets: list[str]
    model: str
    seed: int
    device: str
    checkpoint: str
    imports: dict[str, str] = {}             # alias -> the copied file in the run folder
    preprocessing: Preprocessing


# ---------------------------------------------------------------- reading

def _bad(path: Path, message: str, hint: str | None = None) -> SpecError:
    return SpecError(Diagnostic(message, Span(), hint, "E900", str(path)))


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _bad(path, f"the run folder has no {path.name} ({what})",
                   "is this a run folder made by specc run? (older runs have no record)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, f"cannot read {path.name}: {getattr(exc, 'strerror', None) or exc}") from None


def _read_json(path: Path, what: str):
    try:
        return json.loads(_read_text(path, what))
    except json.JSONDecodeError as exc:
        raise _bad(path, f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                   "the file is damaged; train the run again") from None


def read_record(run_dir: Path) -> RunRecord:
    """The run.json of ``run_dir``; SpecError naming the file if it is missing or malformed."""
    path = Path(run_dir) / RECORD
    if not Path(run_dir).is_dir():
        raise _bad(Path(run_dir), f"no run folder {run_dir}", "pass the folder specc run wrote (runs/<spec>/<time>)")
    data = _read_json(path, "the run record")
    if not isinstance(data, dict):
        raise _bad(path, f"{path.name} holds {type(data).__name__}, not a run record")
    if isinstance(data.get("format"), int) and data["format"] > FORMAT:
        raise _bad(path, f"{path.name} has format {data['format']}, newer than this specc reads ({FORMAT})",
                   "upgrade specc to read this run")
    try:
        return RunRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _bad(path, f"{path.name} is not a run record: {where}: {first['msg']}",
                   "the file is damaged or from another program") from None


def read_resolved(run_dir: Path) -> Spec:
    """The run's spec.spec, parsed (its imports resolve to the copies in the run folder)."""
    path = Path(run_dir) / RESOLVED
    return parse_spec(_read_text(path, "the resolved configuration"), str(path))


def read_vocab(run_dir: Path, record: RunRecord) -> list[str] | None:
    name = record.preprocessing.vocab_file
    if name is None:
        return None
    path = Path(run_dir) / name
    vocab = _read_json(path, "the vocabulary")
    if not isinstance(vocab, list) or not all(isinstance(w, str) for w in vocab):
        raise _bad(path, f"{path.name} is not a vocabulary (a JSON list of words)")
    return vocab


def has_record(run_dir: Path) -> bool:
    return (Path(run_dir) / RECORD).is_file()


# ---------------------------------------------------------------- writing

def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file of this process, so ``path`` is
    never torn, even by another process writing it at the same time."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def preprocessing(checked, columns: list[str] | None, has_vocab: bool, loss: str,
                  threshold: float) -> Preprocessing:
    """The facts inference needs, from a checked spec (``columns``: a csv's feature names)."""
    plan = checked.data
    schema = plan.schema
    fields = {k: FieldInfo.of(t) for k, t in schema.fields.items()}
    target = fields.get(checked.target) if checked.target else None
    classification = schema.classes is not None and target is not None and target.dtype == "long"
    classes = schema.class_names or [str(i) for i in range(schema.classes)] if classification else None
    args = plan.train.args
    stream = StreamSettings(level=args["level"], block=args["block"]) if plan.train.name == "text_file" else None
    classes_of = {f: names for f in dict.fromkeys([*schema.classes_of, *checked.heads.values()]) if f is not None
                  for names in [_class_names(schema, f, checked.target)] if names is not None}
    task = "next_token" if stream else "classification" if classification else "regression"
    image = None
    if plan.train.name in ("image_folder", "image_csv"):
        h, w = as_size(args["size"])
        image = ImageSettings(size=[h, w], mode="L" if args["grayscale"] else "RGB", normalize=args["normalize"])
    return Preprocessing(
        source=plan.train.name, inputs={name: fields[name] for name in checked.inputs}, target=checked.target,
        fields=fields, task=task, classes=classes, heads=checked.heads, classes_of=classes_of,
        data_attrs={"classes": schema.classes, "vocab": schema.vocab, "features": schema.features},
        columns=columns, delimiter=args.get("delimiter") if plan.train.name == "csv" else None,
        encode=Encoding(name=plan.encode[0], args=plan.encode[1]) if plan.encode else None,
        vocab_file=VOCAB if has_vocab else None,
        transform=Transform(field=plan.transform[0], expr=_Expressions()(plan.transform[1]))
        if plan.transform else None,
        image=image, stream=stream, pad=plan.pad, batch=plan.batch, loss=loss, threshold=threshold)


def _class_names(schema, name: str, target: str | None) -> list[str] | None:
    """The class names of a class-index field: a csv target column's own, or the data's."""
    if name in schema.classes_of:
        return schema.classes_of[name]
    if name == target and schema.classes is not None:
        return schema.class_names or [str(i) for i in range(schema.classes)]
    return None


def write_run_folder(run_dir: Path, spec: Spec, record: RunRecord, vocab: list[str] | None,
                     source: bool = True) -> None:
    """spec.spec (with the imported files copied), run.json, vocab.json, and unless
    ``source`` is False (a resumed run keeps its own) source.spec."""
    run_dir = Path(run_dir)
    text, copies = resolved_text(spec, run_dir)
    for alias, src in copies.items():
        write_atomic(run_dir / record.imports[alias], Path(src).read_text(encoding="utf-8"))
    if source:
        write_atomic(run_dir / SOURCE, spec.source)
    write_atomic(run_dir / RESOLVED, text)
    if vocab is not None:
        write_atomic(run_dir / VOCAB, json.dumps(vocab, ensure_ascii=False) + "\n")
    write_atomic(run_dir / RECORD, record.model_dump_json(indent=2) + "\n")


def import_names(spec: Spec) -> dict[str, str]:
    """alias -> the file name an imported Python file gets in the run folder."""
    names: dict[str, str] = {}
    for item in spec.imports:
        if item.path is not None:
            name = Path(item.path).name
            names[item.alias] = name if name not in names.values() else f"{item.alias}_{name}"
    return names


def resolved_text(spec: Spec, run_dir: Path | None = None) -> tuple[str, dict[str, Path]]:
    """The canonical text of ``spec`` as it reads from ``run_dir``: file paths of sources and
    ``train.checkpoint`` absolute; path imports pointing at copies named by
    :func:`import_names` (returned as alias -> the original file)."""
    base = spec.base_dir
    names = import_names(spec)
    copies: dict[str, Path] = {}
    items = []
    for item in spec.items:
        if item.kind == "data":
            entries = [e.model_copy(update={"value": _absolute_source(e.value, base)})
                       if e.key in ("train", "valid", "test") else e for e in item.entries]
            item = item.model_copy(update={"entries": entries})
        elif item.kind == "train":
            entries = [e.model_copy(update={"value": _absolute(e.value, base)})
                       if e.key == "checkpoint" else e for e in item.entries]
            item = item.model_copy(update={"entries": entries})
        elif item.kind == "import" and item.path is not None:
            copies[item.alias] = (base / item.path).resolve()
            if run_dir is not None:
                item = item.model_copy(update={"path": names[item.alias]})
        items.append(item)
    return format_resolved(Spec(items=items, path=spec.path, source=spec.source)), copies


def _absolute(e, base: Path):
    if isinstance(e, ast.String):
        return e.model_copy(update={"value": str(resolve(e.value, base).resolve())})
    return e


def _absolute_source(call, base: Path):
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.func.id not in PATH_ARGS:
        return call
    wanted = PATH_ARGS[call.func.id]
    names = [a.name for a in SOURCES[call.func.id].args]
    args = [_absolute(a, base) if i < len(names) and names[i] in wanted else a for i, a in enumerate(call.args)]
    kwargs = [k.model_copy(update={"value": _absolute(k.value, base)}) if k.name in wanted else k
              for k in call.kwargs]
    return call.model_copy(update={"args": args, "kwargs": kwargs})


def spec_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- comparing configurations

def flatten(spec: Spec) -> dict[str, str]:
    """One entry per setting, as spec text: ``data.<key>``, ``train.<key>``, ``loss``,
    ``optimizer``, ``schedule``, ``model <Name>``, ``block <Name>``, and ``import <alias>``
    (a path import by the hash of the file's content)."""
    fmt = _Formatter("")
    expr = _Expressions()
    out: dict[str, str] = {}
    for item in spec.items:
        if item.kind in ("data", "train"):
            out.update({f"{item.kind}.{e.key}": expr(e.value) for e in item.entries})
        elif item.kind in ("loss", "optimizer", "schedule"):
            out[item.kind] = expr(item.value)
        elif item.kind in ("model", "block"):
            out[f"{item.kind} {item.name}"] = "\n".join(fmt.node(item, 0))
        elif item.kind == "import":
            if item.path is None:
                out[f"import {item.alias}"] = item.module
            else:
                file = spec.base_dir / item.path
                content = file.read_bytes() if file.is_file() else b""
                out[f"import {item.alias}"] = "file " + hashlib.sha256(content).hexdigest()[:16]
    out["train.epochs"] = str(spec.train_options.epochs)   # written or not
    return out


def config_changes(old: dict[str, str], new: dict[str, str]) -> list[tuple[str, str, str]]:
    """``(key, old, new)`` for every entry that differs, less those a resume may change
    (:data:`RESUMABLE_KEYS`). A missing entry reads ``(unset)``."""
    changes = []
    for key in [*old, *(k for k in new if k not in old)]:
        before, after = old.get(key, "(unset)"), new.get(key, "(unset)")
        if before != after and key not in RESUMABLE_KEYS:
            changes.append((key, before, after))
    return changes


def merge_sets(old: list[str], new: list[str]) -> list[str]:
    """The recorded ``--set`` list with ``new`` applied: one entry per key, the latest value."""
    merged: dict[str, str] = {}
    for text in [*old, *new]:
        key = text.split("=", 1)[0].strip()
        merged.pop(key, None)
        merged[key] = text
    return list(merged.values())
