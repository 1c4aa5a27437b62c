"""Follow a checked :class:`~specc.analysis.data.DataPlan`: load, split, encode, transform,
and batch each split. Data mistakes found while loading are positioned SpecErrors."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..analysis.data import DataPlan, SourcePlan
from ..catalog.data_exprs import ExprProblem
from ..catalog.source_base import SourceError
from ..errors import Diagnostic, SpecError
from .batches import InMemoryBatches, StreamingBatches
from .expr import evaluate, generate
from .images import ImageFiles
from .load import open_source, text_file_table
from .encode import apply_encoder
from .split import split
from .table import Table


@dataclass
class Splits:
    train: Any
    valid: Any = None
    test: Any = None
    vocab: list[str] | None = None

    def items(self):
        return [(k, v) for k, v in (("train", self.train), ("valid", self.valid), ("test", self.test))
                if v is not None]


def _fail(spec, err: SourceError, where) -> SpecError:
    return SpecError(Diagnostic(err.message, where.span, err.hint, "E320", spec.path or "<spec>"), spec.source)


def _bad_value(spec, p: ExprProblem) -> SpecError:
    return SpecError(Diagnostic(p.message, p.span, p.hint, "E322", spec.path or "<spec>"), spec.source)


def _load(spec, plan: DataPlan, src: SourcePlan, seed: int):
    if src.name == "generate":
        try:
            return Table.from_tensors(generate(src.exprs, src.args["samples"], seed))
        except ExprProblem as p:
            raise _bad_value(spec, p) from None
    try:
        return open_source(src.name, src.args, plan.base_dir, seed)
    except SourceError as err:
        raise _fail(spec, err, src) from None


def _load_held(spec, plan: DataPlan, src: SourcePlan, seed: int, train):
    """A held-out source; a text in the train text's vocabulary."""
    if src.name != "text_file" or getattr(train, "vocab", None) is None:
        return _load(spec, plan, src, seed)
    try:
        return text_file_table(src.args, plan.base_dir, train.vocab)
    except SourceError as err:
        raise _fail(spec, err, src) from None


def load_splits(spec, plan: DataPlan, target: str | None) -> Splits:
    """Every split of the data section as a Table (or an ImageFiles dataset to stream)."""
    train = _load(spec, plan, plan.train, plan.seed)
    held = {}
    for key in ("valid", "test"):
        src = getattr(plan, key)
        if isinstance(src, SourcePlan):
            held[key] = _load_held(spec, plan, src, plan.seed + (1 if key == "valid" else 2), train)
    for key in ("valid", "test"):
        fraction = getattr(plan, key)
        if isinstance(fraction, float):
            try:   # stratified by the target when it holds class indices
                train, held[key] = split(train, fraction, plan.seed + (0 if key == "valid" else 7), target)
            except SourceError as err:
                raise _fail(spec, err, next(e for e in spec.data.entries if e.key == key).value) from None
    splits = Splits(train, held.get("valid"), held.get("test"), getattr(train, "vocab", None))
    if plan.encode is not None:
        name, args = plan.encode
        splits.train, vocab = apply_encoder(splits.train, name, args)
        for key in ("valid", "test"):
            if getattr(splits, key) is not None:
                setattr(splits, key, apply_encoder(getattr(splits, key), name, args, vocab)[0])
        splits.vocab = vocab
    if plan.transform is not None:
        field, expr = plan.transform
        for key, table in splits.items():
            if isinstance(table, ImageFiles):
                raise SpecError(Diagnostic("transform is not available for image data streamed from disk",
                                           expr.span, None, "E321", spec.path or "<spec>"), spec.source)
            try:
                setattr(splits, key, apply_transform(table, field, expr))
            except ExprProblem as p:
                raise _bad_value(spec, p) from None
    return splits


def apply_transform(table: Table, field: str, expr) -> Table:
    """``data { transform = ... }``: ``field`` rewritten by the expression ``expr``."""
    value = evaluate(expr, {field: table.fields[field]}, len(table), torch.Generator().manual_seed(0))
    return table.with_field(field, value.float() if value.dtype != torch.long else value, table.lengths.get(field))


def batches(data, plan: DataPlan, device, shuffle: bool):
    """An in-memory batcher for a Table, a streaming one for files too large to hold."""
    if isinstance(data, ImageFiles):
        return StreamingBatches(data, plan.batch, shuffle, plan.seed, device, plan.workers, plan.pad)
    return InMemoryBatches(data, plan.batch, shuffle, plan.seed, device, plan.pad)
