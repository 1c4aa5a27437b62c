"""A trained model -> a file another runtime loads: ONNX, torch.export (``.pt2``), TorchScript.

Each format is one row of :data:`FORMATS`: how to write the file and how to load it back with
its own runtime. Nothing is reported as exported before it is checked: the file is written
under a temporary name, loaded back (onnxruntime, ``torch.export.load``, ``torch.jit.load``),
run on sample inputs of two batch sizes (and two lengths of every symbolic dimension, such as
``seq``), compared with the model within ``atol``, and only then renamed into place.

The batch dimension is always dynamic, and so is every dimension the spec names (``long[seq]``).
``preprocess=True`` puts the spec's numeric preprocessing into the graph (``data.transform``,
and an image source's ``normalize``), so the exported model takes values as the source reads
them (pixels scaled to 0..1, the CSV's raw column values).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
import importlib.util
import logging
import os
import re
from pathlib import Path
import tempfile
from typing import Callable
import warnings

import torch
from torch import nn, Tensor

from .errors import RunError
from .types import TensorType

SAMPLES = ((2, 5), (3, 7))   # (batch, length of each symbolic dim) of the two checks


class ExportError(Exception):
    """The model cannot be written in that format, or the file disagrees with the model."""

    def __init__(self, message: str, hint: str | None = None, missing: bool = False):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.missing = missing          # a package is missing (an environment problem)


@dataclass
class Exported:
    path: Path
    format: str
    exporter: str                  # which exporter wrote it (ONNX has two)
    dynamic: list[str]             # the dimensions the file keeps dynamic: "batch", "seq", ...
    max_error: float               # largest |file - model| over the checks
    checks: int                    # sample batches compared
    preprocess: bool = False
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ sample inputs and dims
def sample_inputs(inputs: list[tuple[str, TensorType]], batch: int, length: int, high: int = 2,
                  seed: int = 0) -> tuple[Tensor, ...]:
    """One batch of made-up inputs: ``randn`` floats, integers in ``[0, high)`` (token ids must
    stay inside the smallest vocabulary), ``length`` for every symbolic dimension."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _, t in inputs:
        shape = list(t.full)
        shape = [batch if d == "B" else length if isinstance(d, str) else d for d in shape]
        if t.dtype == "float":
            out.append(torch.randn(shape, generator=gen))
        elif t.dtype == "bool":
            out.append(torch.randint(0, 2, shape, generator=gen).bool())
        else:
            out.append(torch.randint(0, max(high, 1), shape, generator=gen))
    return tuple(out)


def dynamic_dims(inputs: list[tuple[str, TensorType]]) -> dict[str, dict[int, str]]:
    """``{input: {axis: dim name}}``: the batch, and every dimension the spec named."""
    dims = {}
    for name, t in inputs:
        dims[name] = {axis: ("batch" if d == "B" else d) for axis, d in enumerate(t.full) if isinstance(d, str)}
    return dims


def index_bound(model: nn.Module) -> int:
    """The largest token id every Embedding of the model accepts, plus one (2 if none)."""
    sizes = [m.num_embeddings for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
    return min(sizes) if sizes else 2


def _flat(value) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flat(v)]
    return []


# ------------------------------------------------------------------ preprocessing in the graph
def with_preprocessing(model: nn.Module, names: list[str], steps: dict[str, Callable[[Tensor], Tensor]]):
    """``model`` after the numeric preprocessing of its inputs, as a GraphModule whose
    ``forward`` takes the same named inputs (exporters need a fixed signature)."""
    graph = torch.fx.Graph()
    root = nn.Module()
    root.model = model
    args = [graph.placeholder(n) for n in names]
    args = [graph.call_function(steps[n], (a,)) if n in steps else a for n, a in zip(names, args)]
    graph.output(graph.call_module("model", tuple(args)))
    return torch.fx.GraphModule(root, graph, class_name="Preprocessed")


def preprocessing(prep) -> dict[str, Callable[[Tensor], Tensor]]:
    """The numeric preprocessing a run applied to its model inputs, by input name, from the run
    record's :class:`~specc.record.Preprocessing`: an image source's ``normalize``, then
    ``data.transform``."""
    from .data.expr import evaluate
    from .data.images import apply_normalize

    steps: dict[str, Callable[[Tensor], Tensor]] = {}
    if prep.image is not None and prep.image.normalize is not None:
        norm = prep.image.normalize   # per channel: broadcasts over [B, C, H, W] as over [C, H, W]
        steps[next(iter(prep.inputs))] = lambda x: apply_normalize(x, norm)
    if prep.transform is not None:
        name, expr = prep.transform.field, prep.transform.expression()
        before = steps.get(name)

        def transform(x):
            x = before(x) if before else x
            value = evaluate(expr, {name: x}, x.shape[0], torch.Generator().manual_seed(0), finite=False)
            return value.float() if value.dtype != torch.long else value
        steps[name] = transform
    return steps


# ------------------------------------------------------------------ the formats
def _write_onnx(model, args, names, dims, path: Path) -> str:
    """The dynamo-based exporter first; the TorchScript-based one where the graph specialises
    a dimension that must stay dynamic (an LSTM's sequence length, say)."""
    shapes = {n: {a: torch.export.Dim(d, min=1) for a, d in dims[n].items()} for n in names}
    shapes = _shared_dims(shapes)
    with warnings.catch_warnings(), _quiet("torch.onnx"):
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, args, str(path), input_names=list(names), dynamo=True,
                              dynamic_shapes=tuple(shapes[n] for n in names), verbose=False, optimize=True,
                              external_data=False)
            return "torch.onnx (dynamo)"
        except Exception:   # noqa: BLE001 - the other exporter is tried, and the file checked
            if path.exists():
                path.unlink()
        outputs = _flat(model(*args))
        out_names = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
        axes = {n: dict(dims[n]) for n in names}
        axes.update({o: {0: "batch"} for o in out_names})
        torch.onnx.export(model, args, str(path), input_names=list(names), output_names=out_names,
                          dynamic_axes=axes, dynamo=False)
        return "torch.onnx (TorchScript-based)"


@contextlib.contextmanager
def _quiet(logger: str):
    """Silence a logger below errors (the ONNX exporter logs each skipped torchvision op)."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _shared_dims(shapes: dict) -> dict:
    """One ``Dim`` object per name, so that ``seq`` in two inputs is the same dimension."""
    by_name: dict[str, object] = {}
    return {n: {a: by_name.setdefault(d.__name__, d) for a, d in axes.items()} for n, axes in shapes.items()}


def _load_onnx(path: Path):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(*inputs):
        return [torch.from_numpy(o) for o in session.run(None, {n: x.numpy() for n, x in zip(names, inputs)})]
    return run


def _write_torch_export(model, args, names, dims, path: Path) -> str:
    shapes = _shared_dims({n: {a: torch.export.Dim(d, min=1) for a, d in dims[n].items()} for n in names})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(model, args, dynamic_shapes=tuple(shapes[n] for n in names))
    torch.export.save(program, str(path))
    return "torch.export"


def _load_torch_export(path: Path):
    return torch.export.load(str(path)).module()


def _write_torchscript(model, args, names, dims, path: Path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, args, check_trace=False)
    torch.jit.save(traced, str(path))
    return "torch.jit.trace"


def _load_torchscript(path: Path):
    return torch.jit.load(str(path))


@dataclass(frozen=True)
class Format:
    suffix: str
    write: Callable
    load: Callable
    packages: tuple[str, ...] = ()    # import names the format needs (the `export` extra)


FORMATS = {
    "onnx": Format(".onnx", _write_onnx, _load_onnx, ("onnx", "onnxscript", "onnxruntime")),
    "torch-export": Format(".pt2", _write_torch_export, _load_torch_export),
    "torchscript": Format(".pt", _write_torchscript, _load_torchscript),
}


# ------------------------------------------------------------------ export and check
def export_model(model: nn.Module, inputs: list[tuple[str, TensorType]], fmt: str, path: str | os.PathLike,
                 *, preprocess: dict[str, Callable] | None = None, atol: float = 1e-5) -> Exported:
    """Write ``model`` (taking ``inputs``, as in ``CheckedSpec.graph.inputs``) to ``path`` in
    ``fmt``, load it back, compare it with the model on :data:`SAMPLES`, then rename it into
    place. Raises ExportError (and leaves nothing at ``path``) when any step fails."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format '{fmt}'", "choose one of " + ", ".join(FORMATS))
    form = FORMATS[fmt]
    missing = [p for p in form.packages if importlib.util.find_spec(p) is None]
    if missing:
        raise ExportError(f"--format {fmt} needs {', '.join(missing)}", "pip install 'specc[export]'", missing=True)
    names = [n for n, _ in inputs]
    steps = {n: f for n, f in (preprocess or {}).items() if n in names}
    model = model.eval()
    subject = with_preprocessing(model, names, steps).eval() if steps else model
    dims = dynamic_dims(inputs)
    high = index_bound(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=form.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        with torch.no_grad():
            batch, length = SAMPLES[0]
            try:
                exporter = form.write(subject, sample_inputs(inputs, batch, length, high), names, dims, tmp)
            except ExportError:
                raise
            except Exception as exc:  # noqa: BLE001 - the exporter's own reason, in one line
                raise ExportError(f"{fmt} cannot represent this model: {_reason(exc, model)}",
                                  _other_formats(fmt)) from None
            loaded = form.load(tmp)
            worst = 0.0
            for seed, (batch, length) in enumerate(SAMPLES):
                args = sample_inputs(inputs, batch, length, high, seed)
                want = _flat(subject(*args))
                try:
                    got = _flat(loaded(*args))
                except Exception as exc:  # noqa: BLE001 - the runtime refuses the file's own input
                    raise ExportError(f"the {fmt} file fails on a batch of {batch}: {_reason(exc, model)}",
                                      f"{exporter} fixed a size that varies; " + _other_formats(fmt)) from None
                if len(want) != len(got) or any(w.shape != g.shape for w, g in zip(want, got)):
                    raise ExportError(f"the {fmt} file gives outputs of other shapes at batch {batch}"
                                      + (f", length {length}" if any(len(d) > 1 for d in dims.values()) else "")
                                      + f": {[tuple(g.shape) for g in got]} instead of {[tuple(w.shape) for w in want]}",
                                      f"{exporter} fixed a size that varies; " + _other_formats(fmt))
                error = max((float((w.float() - g.float()).abs().max()) for w, g in zip(want, got)), default=0.0)
                if not error <= atol:
                    raise ExportError(f"the {fmt} file disagrees with the model by {error:.3g} (tolerance {atol:g})",
                                      _other_formats(fmt))
                worst = max(worst, error)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    dynamic = sorted({d for axes in dims.values() for d in axes.values()}, key=lambda d: (d != "batch", d))
    return Exported(path, fmt, exporter, dynamic, worst, len(SAMPLES), bool(steps))


def export_run(run, fmt: str, path: str | os.PathLike | None = None, *, preprocess: bool = False,
               force: bool = False) -> Exported:
    """Export a loaded run (:func:`specc.inference.load_run`) on its best weights; the file goes
    to ``path`` (default ``<run>/model<suffix>``) and is never written over without ``force``."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format '{fmt}'", "choose one of " + ", ".join(FORMATS))
    path = Path(path) if path is not None else run.path / f"model{FORMATS[fmt].suffix}"
    if path.exists() and not path.is_file():
        raise RunError(f"{path} is not a file", "choose another -o")
    if path.exists() and not force:
        raise RunError(f"{path} already exists", "pass --force to write over it, or choose another -o")
    steps = preprocessing(run.record.preprocessing) if preprocess else None
    return export_model(run.model, run.checked.graph.inputs, fmt, path, preprocess=steps)


def _other_formats(fmt: str) -> str:
    return "try --format " + " or ".join(f for f in FORMATS if f != fmt)


def _reason(exc: BaseException, model: nn.Module) -> str:
    """The exporter's reason in one line; a dimension it had to fix is named as such."""
    text = str(exc).strip() or type(exc).__name__
    fixed = re.search(r"Constraints violated \(([^)]*)\)", text)
    if fixed:
        rnn = next((type(m).__name__ for m in model.modules() if isinstance(m, nn.RNNBase)), None)
        return (f"it fixes the dimension {fixed.group(1)} to the sample's size"
                + (f" (its {rnn} is traced one step at a time)" if rnn else "") + ", so it cannot stay dynamic")
    return text.splitlines()[0][:300]
