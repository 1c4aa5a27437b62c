"""A trained run, from its folder alone: :func:`load_run`, then ``predict`` and ``evaluate``.

The model is rebuilt from the run's ``spec.spec`` with the data facts recorded in
``run.json`` (so neither the spec folder nor the data need exist), and given the weights of
``best.pt``. Raw inputs go through the run's own preprocessing: the CSV feature columns by
name, image decoding (mode, size, normalize), the text encoder with the recorded vocabulary,
and the data transform. Every mistake in an input is a SpecError naming the file (and the
row, column or example): exit 2 in the CLI.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import torch

from .analysis.check import CheckedSpec, check
from .analysis.context import DataFacts
from .analysis.imports import loaded_modules
from .catalog.datafiles import IMAGE_EXTENSIONS, files_under, quote_field
from .files import FileProblem, check_file, read_file
from .catalog.data_exprs import ExprProblem
from .catalog.source_base import SourceError
from .catalog.sources import bind_args
from .catalog.text import text_stream
from .compile.fx_build import build
from .data.batches import InMemoryBatches
from .data.encode import apply_encoder
from .data.expr import generate
from .data.images import decode_image
from .data.load import load_source
from .data.plan import apply_transform, load_splits
from .data.table import Table
from .errors import Diagnostic, RunError, Span, SpecError
from .record import PATH_ARGS, RunRecord, read_record, read_resolved, read_vocab
from .run import config_from, feed, held_out_batches, loss_function, resolve_run_device, scoring, tuning_from_env
from .syntax import ast
from .syntax.sections import literal
from .syntax.spec import Spec, parse_spec
from .training import checkpoint
from .training.device import ThreadScope, mixed_precision
from .training.errors import ResumeError, TrainError
from .training.config import monitor_key
from .training.metrics import SplitMeter
from .training.trainer import metric_names

KINDS = {"csv": "csv", "image_folder": "image", "image_csv": "image", "text_folder": "text", "text_file": "stream"}
"""The raw inputs a run takes, by its train source; every other source takes values."""

CHUNK = 256
"""Examples per batch when neither --batch nor the spec says."""


def _bad(where: str, message: str, hint: str | None = None) -> SpecError:
    return SpecError(Diagnostic(message, Span(), hint, "E910", str(where)))


@dataclass
class Run:
    """A run folder loaded for inference (see :func:`load_run`)."""

    path: Path
    record: RunRecord
    spec: Spec                      # the resolved configuration (spec.spec)
    checked: CheckedSpec
    model: torch.nn.Module          # best weights, eval mode
    device: torch.device
    best_epoch: int
    vocab: list[str] | None = None
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    @property
    def classes(self) -> list[str] | None:
        """The class names in class-index order; for a ``text_file`` run, its tokens; None for a
        model of several outputs (each has its own, ``record.preprocessing.classes_of``)."""
        if self.record.preprocessing.heads:
            return None
        return self.vocab if self.record.preprocessing.task == "next_token" else self.record.preprocessing.classes

    @property
    def kind(self) -> str:
        return KINDS.get(self.record.preprocessing.source, "values")

    # ------------------------------------------------------------ predict

    def predict(self, inputs: Any, *, batch: int | None = None, proba: bool = False) -> list[dict]:
        """One ``{"input", "prediction"[, "probabilities"]}`` per example, in input order.

        ``inputs``: what the run was trained on, raw: CSV, image or text paths (a str, a Path,
        a folder, or a list of them), or values (a list, a numpy array, a tensor, or for
        several inputs a dict of them by name).
        """
        return list(self.predictions(inputs, batch=batch, proba=proba))

    def predictions(self, inputs: Any, *, batch: int | None = None, proba: bool = False) -> Iterator[dict]:
        """:meth:`predict` as an iterator (a large CSV is read and predicted chunk by chunk)."""
        prep = self.record.preprocessing
        if proba and prep.task == "regression" and not any(prep.heads.values()):
            raise _bad(self.path / "run.json", "--proba needs a classifier, but this run is a regression",
                       "leave out --proba: the predictions are the numbers themselves")
        return self._stream(inputs, batch or self.record.preprocessing.batch or CHUNK, proba)

    def _stream(self, inputs: Any, size: int, proba: bool) -> Iterator[dict]:
        for labels, table in self._chunks(inputs, size):
            with torch.no_grad():
                output = self.model(*self._model_inputs(table))
            yield from self._answers(labels, output, proba)

    def _chunks(self, inputs: Any, size: int) -> Iterator[tuple[list, Table]]:
        paths = _as_paths(inputs)
        if paths is None:
            yield from _value_chunks(self.record, inputs, size)
            return
        if self.kind == "values":
            raise _bad(paths[0], f"this run was trained on {self.record.preprocessing.source}() data, so it "
                       "takes values, not files", "pass the examples as values, e.g. --values \"[[0.5, 1.0]]\"")
        readers = {"csv": self._csv_chunks, "image": self._image_chunks, "text": self._text_chunks,
                   "stream": self._stream_chunks}
        yield from readers[self.kind](paths, size)

    def _csv_chunks(self, paths: list[Path], size: int) -> Iterator[tuple[list, Table]]:
        prep = self.record.preprocessing
        for path in paths:
            for rows, labels in _csv_rows(path, prep.columns, prep.delimiter or ",", size):
                yield labels, Table({"x": torch.tensor(rows, dtype=torch.float32)})

    def _image_chunks(self, paths: list[Path], size: int) -> Iterator[tuple[list, Table]]:
        image = self.record.preprocessing.image
        files = _expand(paths, IMAGE_EXTENSIONS, "image")
        for start in range(0, len(files), size):
            part = files[start:start + size]
            xs = []
            for f in part:
                try:
                    xs.append(decode_image(f, tuple(image.size), image.mode == "L", image.normalize))
                except SourceError as err:
                    raise _bad(f, err.message, "predict takes image files, or folders of them") from None
            yield [str(f) for f in part], Table({"x": torch.stack(xs)})

    def _text_chunks(self, paths: list[Path], size: int) -> Iterator[tuple[list, Table]]:
        files = _expand(paths, None, "text")
        for start in range(0, len(files), size):
            part = files[start:start + size]
            yield [str(f) for f in part], Table({}, texts={"text": [_read_utf8(f) for f in part]})

    def _stream_chunks(self, paths: list[Path], size: int) -> Iterator[tuple[list, Table]]:
        """A ``text_file`` run reads each text's last ``block`` tokens, in the run's vocabulary."""
        stream = self.record.preprocessing.stream
        index = {t: i for i, t in enumerate(self.vocab)}
        files = _expand(paths, None, "text")
        for start in range(0, len(files), size):
            part, rows = files[start:start + size], []
            for f in part:
                try:
                    tokens = text_stream(read_file(f, "text"), stream.level)
                except FileProblem as err:
                    raise _bad(f, err.message) from None
                unknown = next((t for t in tokens if t not in index), None)
                if unknown is not None:
                    raise _bad(f, f"{unknown!r} is not in the run's vocabulary ({len(self.vocab)} tokens, vocab.json)",
                               "the model knows only the tokens of the text it was trained on")
                if len(tokens) < stream.block:
                    raise _bad(f, f"the model reads {stream.block} tokens ({stream.level} level) of context, but "
                               f"the text has {len(tokens)}", f"give at least {stream.block} {stream.level}s")
                rows.append([index[t] for t in tokens[-stream.block:]])
            yield [str(f) for f in part], Table({"x": torch.tensor(rows, dtype=torch.long)})

    @cached_property
    def transform(self):
        """The recorded ``data.transform`` as ``(field, expression)``, parsed once, or None."""
        t = self.record.preprocessing.transform
        return (t.field, t.expression()) if t is not None else None

    def _prepare(self, table: Table) -> Table:
        """The run's encoder (with its vocabulary) and transform, applied to a raw table."""
        prep = self.record.preprocessing
        if prep.encode is not None:
            table = apply_encoder(table, prep.encode.name, prep.encode.args, self.vocab)[0]
        if self.transform is not None and self.transform[0] in table.fields:
            try:
                table = apply_transform(table, *self.transform)
            except ExprProblem as p:   # the inputs, not the spec: the run's transform on them
                raise _bad("INPUT", f"transform = {prep.transform.expr} on these inputs: {p.message}", p.hint) \
                    from None
        return table

    def _model_inputs(self, table: Table) -> list[torch.Tensor]:
        table = self._prepare(table)
        return [table.fields[name].to(self.device) for name in self.checked.inputs]

    def _answers(self, labels: list, output, proba: bool) -> Iterator[dict]:
        prep = self.record.preprocessing
        if prep.heads:
            yield from self._head_answers(labels, output, proba)
            return
        n = len(labels)
        if prep.task == "next_token":   # the scores after the last token of the context
            output = output[:, -1]
        if prep.task == "regression":
            for label, v in zip(labels, output.reshape(n, -1).tolist()):
                yield {"input": label, "prediction": v[0] if len(v) == 1 else v}
            return
        scores = output.float().reshape(n, -1)
        if scores.shape[1] == len(self.classes) and len(self.classes) > 1:
            probs = torch.softmax(scores, dim=1)
        else:          # one score per example: a binary classifier (bce: already a probability)
            p = scores[:, 0] if prep.loss == "bce" else torch.sigmoid(scores[:, 0])
            probs = torch.stack([1 - p, p], dim=1)
        for label, row in zip(labels, probs.tolist()):
            answer = {"input": label, "prediction": self.classes[max(range(len(row)), key=row.__getitem__)]}
            if proba:
                answer["probabilities"] = dict(zip(self.classes, row))
            yield answer

    def _head_answers(self, labels: list, outputs: tuple, proba: bool) -> Iterator[dict]:
        """A model of several outputs: one prediction per output, by name; an output scored
        against a class field as its class name (softmax over its last dim), else its numbers."""
        prep = self.record.preprocessing
        n = len(labels)
        per_head = {}
        for (name, scored), out in zip(prep.heads.items(), outputs):
            classes = prep.classes_of.get(scored) if scored else None
            if classes is None:
                per_head[name] = (None, [v[0] if len(v) == 1 else v for v in out.float().reshape(n, -1).tolist()])
            else:
                per_head[name] = (classes, torch.softmax(out.float().reshape(n, -1), dim=1).tolist())
        for i, label in enumerate(labels):
            answer = {"input": label, "prediction": {}}
            for name, (classes, rows) in per_head.items():
                row = rows[i]
                if classes is None:
                    answer["prediction"][name] = row
                    continue
                answer["prediction"][name] = classes[max(range(len(row)), key=row.__getitem__)]
                if proba:
                    answer.setdefault("probabilities", {})[name] = dict(zip(classes, row))
            yield answer

    # ------------------------------------------------------------ evaluate

    def evaluate(self, data: str | None = None, split: str = "valid") -> dict[str, float]:
        """Loss and metrics of the spec on the run's own held-out ``split`` (re-made from the
        recorded configuration: same data, seed and split) or on new labelled ``data`` (a path
        like the training data, or a source in spec syntax)."""
        tuning = tuning_from_env()
        imports = loaded_modules(self.spec)
        if data is None:
            full = check(self.spec, self.record.model)   # reads the data: says so if it is gone
            splits = load_splits(self.spec, full.data, full.target)
            table = getattr(splits, split)
            if table is None:
                raise _bad(self.path / "spec.spec", f"the run has no {split} split",
                           f"add {split} = 20% to its data section, or pass --data")
            loss_fn = loss_function(full, imports, tuning)
            batches = held_out_batches(table, full, self.device, self.model, loss_fn, tuning)
        else:
            loss_fn = loss_function(self.checked, imports, tuning)
            table = self._labelled(data)
            batches = InMemoryBatches(table, self.record.preprocessing.batch, False, self.record.seed,
                                      self.device, self.record.preprocessing.pad)
        return self._score(batches, loss_fn, split, tuning.auto_threads)

    def _score(self, batches, loss_fn, split: str, auto_threads: bool) -> dict[str, float]:
        options = self.spec.train_options
        config = config_from(self.checked, None, self.path)     # the metrics training computed
        names = metric_names(config, split, monitor_key(config, True), True)
        meter = SplitMeter(names, self.device, scoring(self.checked))
        precision = mixed_precision(options.precision, self.device)
        fed, size = feed(self.checked), self.record.preprocessing.batch
        threads = ThreadScope()
        try:
            with torch.no_grad(), precision.autocast:
                for i, b in enumerate(batches):
                    inputs = [b[name].to(self.device) for name in self.checked.inputs]
                    if i == 0:   # the thread count training chose for a batch of this size
                        threads.apply(options.threads, self.device, self.model, [x[:size] for x in inputs],
                                      auto=auto_threads)
                    output = self.model(*inputs)
                    values = {name: b[name].to(self.device) for name in fed.fields}
                    meter.update_each(loss_fn(*fed.loss_args(output, values)), len(inputs[0]),
                                      lambda key: fed.metric_pair(key, output, values))
            return meter.compute()
        except TrainError as err:
            raise RunError(err.message, err.hint) from None
        finally:
            threads.restore()

    def _labelled(self, data: str) -> Table:
        """New labelled data as the run's model and loss see it, classes in the run's order."""
        prep = self.record.preprocessing
        table = self._prepare(_data_table(data, self.spec, self.record.seed))
        missing = [f for f in (*self.checked.inputs, *feed(self.checked).fields) if f not in table.fields]
        if missing:
            raise _bad("--data", f"the data has no field '{missing[0]}' (it yields {', '.join(table.names)})",
                       f"the run was trained on {prep.source}() data")
        if prep.heads:   # each class field by its own names
            renamed = {f: (names, table.classes_of.get(f)) for f, names in prep.classes_of.items()}
        else:
            renamed = {prep.target: (self.classes, table.class_names)} if prep.task == "classification" else {}
        for name, (trained, new) in renamed.items():
            if new is None or name not in table.fields:
                continue
            unknown = [c for c in new if c not in trained]
            if unknown:
                raise _bad("--data", f"class '{unknown[0]}' is not one the run was trained on",
                           f"its classes are {', '.join(trained)}")
            order = torch.tensor([trained.index(c) for c in new], dtype=torch.long)
            table = table.with_field(name, order[table.fields[name]])
        return table


# ---------------------------------------------------------------- loading

def load_run(path: str | Path, device: str | None = None) -> Run:
    """A run folder (``runs/<spec>/<time>``) with its model on the best weights, in eval mode,
    on ``device`` (default: the CPU).

    Raises SpecError naming the file for a folder that lacks a file, holds malformed JSON or
    comes from a newer specc.
    """
    path = Path(path)
    record = read_record(path)
    spec = read_resolved(path)
    vocab = read_vocab(path, record)
    prep = record.preprocessing
    facts = DataFacts({k: f.type() for k, f in prep.fields.items()}, dict(prep.data_attrs), prep.classes, prep.pad,
                      {k: len(v) for k, v in prep.classes_of.items() if k in prep.fields})
    checked = check(spec, record.model, facts)
    dev = resolve_run_device(checked, device or "cpu")
    model = build(checked, checked.graph, loaded_modules(spec))
    best = path / checkpoint.BEST   # or in train.checkpoint's folder, when the spec named one
    if not best.is_file() and (Path(record.checkpoint) / checkpoint.BEST).is_file():
        best = Path(record.checkpoint) / checkpoint.BEST
    try:
        state = checkpoint.load(best)
        model.load_state_dict(state["model"])
    except ResumeError as err:
        raise _bad(best, err.message.replace("no checkpoint to resume from: ", "no best weights: "),
                   "the run saved no best.pt; train it again") from None
    except (RuntimeError, KeyError) as exc:
        raise _bad(best, f"{best.name} does not fit the run's model: {exc}") from None
    model.to(dev).eval()
    return Run(path, record, spec, checked, model, dev, int(state.get("epoch", 0)), vocab,
               _optional_json(path / "metrics.json"), _history(path / "history.csv"))


def _optional_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise _bad(path, f"cannot read {path.name}: {exc}") from None


def _history(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _number(v: str):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


# ---------------------------------------------------------------- raw inputs

def _as_paths(inputs: Any) -> list[Path] | None:
    """File inputs as paths, or None for values."""
    if isinstance(inputs, (str, Path)):
        return [Path(inputs)]
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(i, (str, Path)) for i in inputs):
        return [Path(i) for i in inputs]
    return None


def _expand(paths: list[Path], extensions, kind: str) -> list[Path]:
    """The input files: each path, or the files of each folder; every one a regular file of
    ``kind`` (:mod:`specc.files`), so a FIFO or a device is an error, not a hang."""
    files: list[Path] = []
    for p in paths:
        try:
            if p.is_dir():
                found = files_under(p, extensions, kind, "INPUT")
                if not found:
                    raise _bad(p, f"the folder {p} holds no input files")
                files += found
            else:
                check_file(p, kind)
                files.append(p)
        except SourceError as err:
            raise _bad(p, err.message) from None
        except FileProblem as err:
            raise _bad(p, f"no such file or folder: {p}" if err.missing else err.message) from None
    return files


def _read_utf8(path: Path) -> str:
    try:
        raw = read_file(path, "text")
    except FileProblem as err:
        raise _bad(path, err.message) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _bad(path, f"{path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                   "save the document as UTF-8") from None


def _csv_rows(path: Path, columns: list[str], delimiter: str, size: int) -> Iterator[tuple[list, list]]:
    """The run's feature columns of a CSV, by name, ``size`` rows at a time (the target
    column and any other column are ignored)."""
    try:
        check_file(path, "streamed CSV")
    except FileProblem as err:
        raise _bad(path, f"no such file: {path}" if err.missing else err.message) from None
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        rows, labels = [], []
        try:
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in columns if c not in header]
            if missing:
                raise _bad(path, f"{path} has no column '{missing[0]}', which the run was trained on",
                           f"the run's feature columns are {', '.join(columns)}")
            index = [header.index(c) for c in columns]
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != len(header):
                    raise _bad(path, f"{path}, line {reader.line_num}: expected {len(header)} fields like the "
                               f"header, got {len(row)}")
                rows.append([_float(path, reader.line_num, columns[k], row[i]) for k, i in enumerate(index)])
                labels.append(f"{path}:{reader.line_num}")
                if len(rows) == size:
                    yield rows, labels
                    rows, labels = [], []
        except UnicodeDecodeError as exc:
            raise _bad(path, f"{path} is not a UTF-8 CSV file: {exc.reason} at byte {exc.start}") from None
        except csv.Error as exc:
            raise _bad(path, f"{path}, line {reader.line_num}: not CSV: {exc}") from None
    if rows:
        yield rows, labels


def _float(path: Path, line: int, column: str, text: str) -> float:
    """A feature cell, refused as training refuses it: not a number, or not finite."""
    where = f"{path}, line {line}: column {quote_field(column)} holds {quote_field(text.strip())}"
    try:
        value = float(text)
    except ValueError:
        raise _bad(path, f"{where}, not a number") from None
    if not math.isfinite(value):
        raise _bad(path, f"{where}; features must be finite numbers", "fill in or drop the rows with missing values")
    return value


def _value_chunks(record: RunRecord, inputs: Any, size: int) -> Iterator[tuple[list, Table]]:
    """Inline examples (lists, numpy arrays, tensors; a dict by input name for several
    inputs) checked against the run's per-example shapes, ``size`` at a time."""
    prep = record.preprocessing
    names = list(prep.inputs)
    by_name = inputs if isinstance(inputs, dict) else {names[0]: inputs} if len(names) == 1 else None
    if by_name is None or set(by_name) != set(names):
        raise _bad("--values", f"the model takes {', '.join(names)}: pass the values as a JSON object "
                   "with one list of examples per input")
    fields, lengths = {}, {}
    for name in names:
        fields[name], lengths[name] = _tensor(name, by_name[name], prep)
    n = {len(t) for t in fields.values()}
    if len(n) != 1:
        raise _bad("--values", f"the inputs hold different numbers of examples: {sorted(n)}")
    count = n.pop()
    for start in range(0, count, size):
        stop = min(start + size, count)
        part = {}
        for k, v in fields.items():
            v = v[start:stop]
            part[k] = v if lengths[k] is None else v[:, :int(lengths[k][start:stop].max())]
        labels = [_plain(by_name[names[0]][i]) if len(names) == 1 else
                  {name: _plain(by_name[name][i]) for name in names} for i in range(start, stop)]
        yield labels, Table(part)


def _plain(value):
    return value.tolist() if hasattr(value, "tolist") else value


def _tensor(name: str, values: Any, prep) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One input's examples as a tensor of its dtype; variable-length examples padded."""
    info = prep.inputs[name]
    transformed = prep.transform is not None and prep.transform.field == name
    dtype = torch.long if info.dtype in ("long", "int") and not transformed else torch.float32
    lengths = None
    try:
        if isinstance(values, torch.Tensor) or hasattr(values, "__array__"):
            t = torch.as_tensor(values).to(dtype)
        elif info.shape and isinstance(info.shape[0], str) and isinstance(values, list) and values \
                and all(isinstance(v, list) for v in values):
            docs = [torch.tensor(v, dtype=dtype) for v in values]
            lengths = torch.tensor([len(d) for d in docs])
            t = torch.nn.utils.rnn.pad_sequence(docs, batch_first=True, padding_value=prep.pad)
        else:
            t = torch.tensor(values, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise _bad("--values", f"{name}: the values are not a list of examples of numbers: {exc}") from None
    want = info.shape
    if t.dim() != len(want) + 1 or any(isinstance(w, int) and w != g for w, g in zip(want, t.shape[1:])):
        raise _bad("--values", f"{name}: each example must be {info.dtype}[{', '.join(map(str, want))}], "
                   f"but the values have shape {list(t.shape[1:])} per example ({t.shape[0] if t.dim() else 0} "
                   "examples)", "pass a list of examples, e.g. [[0.5, 1.0], [0.1, -0.3]]")
    return t, lengths


def _data_table(data: str, spec: Spec, seed: int) -> Table:
    """``--data``: a source in spec syntax, or a path standing in for the run's own data file
    (relative paths start from the current folder)."""
    if "(" in data:
        prefix = "data { train = "
        try:
            parsed = parse_spec(f"model M(x: float[1]) {{ return x }}\n{prefix}{data} }}\n")
        except SpecError as err:
            d = err.diagnostics[0]
            raise SpecError(Diagnostic(d.message, Span(1, max(d.span.column - len(prefix), 1)), d.hint, d.code,
                                       "--data"), data) from None
        call = parsed.data_options.train
    else:
        call = spec.data_options.train
    name = call.func.id if isinstance(call.func, ast.Name) else ""
    if "(" not in data and name not in PATH_ARGS:
        raise _bad("--data", f"the run was trained on {name}() data, which has no file to replace",
                   "write the source in spec syntax, e.g. --data 'csv(\"new.csv\", target=\"y\")'")
    try:
        if name == "generate":
            exprs = {k.name: k.value for k in call.kwargs if k.name != "samples"}
            samples = next((_value(k.value) for k in call.kwargs if k.name == "samples"), None)
            bind_args(name, (), {"samples": samples})
            try:
                return Table.from_tensors(generate(exprs, samples, seed))
            except ExprProblem as p:
                raise _bad("--data", p.message, p.hint) from None
        args = bind_args(name, [_value(a) for a in call.args], {k.name: _value(k.value) for k in call.kwargs})
        if "(" not in data:
            args[PATH_ARGS[name][0]] = data
        return load_source(name, args, Path.cwd(), seed)
    except SourceError as err:
        raise _bad("--data", err.message, err.hint) from None


def _value(e):
    return (e.lo, e.hi) if isinstance(e, ast.Range) else literal(e)


def parse_values(text: str) -> Any:
    """``--values`` JSON: a list of examples, or an object of such lists by input name."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(Diagnostic(f"--values is not JSON: {exc.msg}", Span(1, exc.colno), None, "E911", "--values"),
                        text) from None


__all__ = ["Run", "load_run", "parse_values"]
