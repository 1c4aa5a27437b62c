"""The data section: which sources, with which arguments, yielding which fields (torch-free).

Produces the :class:`DataPlan` the loader follows and the :class:`DataFacts` models read
(``data.classes``...). Every SourceError from the catalogue is positioned at the argument it
names, or at the source call.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..catalog.data_exprs import ExprProblem, expr_type, names_in
from ..catalog.source_base import Schema, SourceError
from ..catalog.sources import SOURCES, bind_args, generate_schema, source_texts
from ..catalog.text import bind_encoder, encoder_schema
from ..errors import Span, did_you_mean
from ..syntax import ast
from ..syntax.sections import literal
from ..types import StrType, TensorType
from .context import Context, DataFacts, Failed


@dataclass
class SourcePlan:
    """One source call: ``args`` bound with defaults; for ``generate`` the field expressions."""

    name: str
    args: dict[str, Any]
    span: Span
    exprs: Optional[dict[str, ast.Expr]] = None


@dataclass
class DataPlan:
    train: SourcePlan
    valid: SourcePlan | float | None
    test: SourcePlan | float | None
    schema: Schema
    encode: Optional[tuple[str, dict]]
    transform: Optional[tuple[str, ast.Expr]]
    batch: Optional[int]          # None: the whole split in one batch
    shuffle: bool
    workers: int
    pad: float
    seed: int
    base_dir: Path


def analyse_data(ctx: Context, spec) -> Optional[DataPlan]:
    """Check the data section and fill ``ctx.data``; None if the spec has no data section."""
    opts = spec.data_options
    if opts is None:
        return None
    base = spec.base_dir
    train, schema = _source(ctx, opts.train, base)
    splits = {}
    for key in ("valid", "test"):
        value = getattr(opts, key)
        if isinstance(value, ast.Call):
            plan, other = _source(ctx, value, base)
            if {k: str(v) for k, v in other.fields.items()} != {k: str(v) for k, v in schema.fields.items()}:
                raise ctx.fail(f"data.{key} yields {_fields(other)}, but data.train yields {_fields(schema)}",
                               value.span, code="E310")
            splits[key] = plan
        else:
            splits[key] = value
    encode = None
    if opts.encode is not None:
        schema, encode = _encode(ctx, opts.encode, train, schema, base)
    transform = None
    if opts.transform is not None:
        schema, transform = _transform(ctx, opts.transform, schema)
    _check_pad(ctx, spec, opts.pad, schema)
    ctx.data = DataFacts(dict(schema.fields), {"classes": schema.classes, "vocab": schema.vocab,
                                               "features": schema.features}, schema.class_names, opts.pad,
                        {k: len(v) for k, v in schema.classes_of.items()})
    return DataPlan(train, splits["valid"], splits["test"], schema, encode, transform,
                    None if opts.batch == "full" else opts.batch, opts.shuffle, opts.workers, opts.pad,
                    opts.seed, base)


def _check_pad(ctx: Context, spec, pad, schema: Schema) -> None:
    """``pad`` fills variable-length fields; token ids (long) take a whole number."""
    padded = [k for k, t in schema.fields.items() if isinstance(t, TensorType) and t.dtype in ("long", "int")
              and any(isinstance(d, str) for d in t.shape)]
    if padded and not (isinstance(pad, int) or (isinstance(pad, float) and pad.is_integer() and abs(pad) < 2**63)):
        entry = next(e for e in spec.data.entries if e.key == "pad")
        ctx.error(f"pad fills the token ids of {padded[0]}, so it must be a whole number, got {pad!r}",
                  entry.value.span, "for example pad = 0", code="E311")


def _fields(schema: Schema) -> str:
    return ", ".join(f"{k}: {v}" for k, v in schema.fields.items())


def _source(ctx: Context, call: ast.Call, base: Path) -> tuple[SourcePlan, Schema]:
    if not isinstance(call.func, ast.Name):
        raise ctx.fail("a data source is a call like moons(samples=1000)", call.span, code="E300")
    name = call.func.id
    if name not in SOURCES:
        raise ctx.fail(f"unknown data source '{name}'", call.func.span,
                       did_you_mean(name, SOURCES) or f"sources are {', '.join(SOURCES)}", code="E301")
    spans = {k.name: k.value.span for k in call.kwargs}
    try:
        if name == "generate":
            return _generate(ctx, call, spans)
        positional = [_const(ctx, a) for a in call.args]
        keywords = {k.name: _const(ctx, k.value) for k in call.kwargs}
        bound = bind_args(name, positional, keywords)
        return SourcePlan(name, bound, call.span), SOURCES[name].schema(bound, base)
    except SourceError as err:
        where = spans.get(err.arg) if err.arg else None
        names = [a.name for a in SOURCES[name].args]
        if where is None and err.arg in names and names.index(err.arg) < len(call.args):
            where = call.args[names.index(err.arg)].span
        raise ctx.fail(err.message, where or call.span, err.hint, code="E302")


def _const(ctx: Context, e) -> Any:
    if isinstance(e, ast.Range):          # literal() leaves a range as the node itself
        return (e.lo, e.hi)
    value = literal(e)
    if isinstance(value, ast.Node) or hasattr(value, "kwargs"):
        raise ctx.fail("a source argument is a number, a string, a list or a range", e.span, code="E303")
    return value


def _generate(ctx: Context, call: ast.Call, spans) -> tuple[SourcePlan, Schema]:
    if call.args:
        raise ctx.fail("generate takes its arguments by name: generate(samples=100, x=uniform(0, 1))",
                       call.args[0].span, code="E304")
    fields, exprs, samples = {}, {}, None
    for k in call.kwargs:
        if k.name == "samples":
            samples = _const(ctx, k.value)
            continue
        try:
            fields[k.name] = expr_type(k.value, fields)
        except ExprProblem as p:
            raise ctx.fail(p.message, p.span or k.value.span, p.hint, code="E305")
        exprs[k.name] = k.value
    args = {**fields, **({"samples": samples} if samples is not None else {})}
    schema = generate_schema(args)
    return SourcePlan("generate", {"samples": samples}, call.span, exprs), schema


def _encode(ctx: Context, call, train: SourcePlan, schema: Schema, base: Path):
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise ctx.fail("encode is a call like bag_of_words(max_vocab=20000)", call.span, code="E306")
    name = call.func.id
    try:
        args = bind_encoder(name, [_const(ctx, a) for a in call.args],
                            {k.name: _const(ctx, k.value) for k in call.kwargs})
        texts = source_texts(train.name, train.args, base)
        return encoder_schema(name, args, schema, texts), (name, args)
    except SourceError as err:
        raise ctx.fail(err.message, call.span, err.hint, code="E307")


def _transform(ctx: Context, e, schema: Schema):
    used = [n for n in names_in(e) if n in schema.fields]
    if len(set(used)) != 1:
        raise ctx.fail("transform rewrites one field and reads only that field, e.g. transform = x / 16",
                       e.span, f"the fields are {', '.join(schema.fields)}", code="E308")
    field = used[0]
    if isinstance(schema.fields[field], StrType):
        raise ctx.fail(f"transform cannot do arithmetic on the text field '{field}'", e.span,
                       "encode it first with encode = bag_of_words(...)", code="E309")
    try:
        new_type = expr_type(e, {field: schema.fields[field]})
    except ExprProblem as p:
        raise ctx.fail(p.message, p.span or e.span, p.hint, code="E305")
    fields = {**schema.fields, field: new_type}
    return Schema(fields, schema.classes, schema.class_names, schema.vocab, schema.features), (field, e)


__all__ = ["DataPlan", "SourcePlan", "analyse_data", "Failed"]
