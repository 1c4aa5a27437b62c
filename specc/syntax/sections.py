"""Typed, validated views of the ``data { }`` and ``train { }`` sections.

The AST keeps each section's entries in source order (what ``specc fmt`` prints). The value
rules of the language live on :class:`DataOptions` and :class:`TrainOptions`, pydantic models
built from those entries by :func:`validate_entries`, which maps every pydantic error back to
the spec position of the offending key or value and rewords it for spec authors.
"""
from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from ..errors import Diagnostic, did_you_mean
from . import ast
from .to_ast import repeats

COMPILE_MODES = ("model", "step", "auto")   # true is model
METRICS = ("accuracy", "top5", "f1", "precision", "recall", "mae", "rmse", "r2")
PLOTS = ("loss", "decision_boundary", "fit", *METRICS)   # a metric: its curve per epoch
LOGS = ("tensorboard",)
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
MAX_THREADS = 1024
"""CPU threads a run may ask for: more is a typo (OpenMP would reserve memory for every one)."""


@dataclass(frozen=True)
class CallValue:
    """A call written as a section value, such as ``early_stop(monitor=valid.loss)``."""

    name: str
    args: tuple
    kwargs: dict


def literal(expr: ast.Expr) -> Any:
    """The plain Python value of a literal expression, or the expression itself.

    Names and dotted names become strings (``auto``, ``valid.loss``): a section value is a
    symbol, never a variable. Anything else that is not a literal is returned unchanged, so
    that validation can say which value was not understood.
    """
    if isinstance(expr, (ast.Number, ast.Percent, ast.String)):
        return expr.value
    if isinstance(expr, ast.Const):
        return {"true": True, "false": False, "none": None, "full": "full"}[expr.value]
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attr):
        inner = literal(expr.value)
        return f"{inner}.{expr.attr}" if isinstance(inner, str) else expr
    if isinstance(expr, ast.Neg) and isinstance(expr.operand, ast.Number):
        return -expr.operand.value
    if isinstance(expr, (ast.ListExpr, ast.TupleExpr)):
        return [literal(i) for i in expr.items]
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        return CallValue(expr.func.id, tuple(literal(a) for a in expr.args),
                         {k.name: literal(k.value) for k in expr.kwargs})
    return expr


class _Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, arbitrary_types_allowed=True)


ExprValue = Union[ast.Call, ast.Name, ast.Attr, ast.BinOp, ast.Neg, ast.Pipeline, ast.Index,
                  ast.Number, ast.Percent, ast.String, ast.ListExpr, ast.TupleExpr, ast.Const]


class DataOptions(_Options):
    """What ``data { }`` may hold. Sources, ``encode`` and ``transform`` stay expressions."""

    train: ast.Call
    valid: Union[float, ast.Call, None] = None
    test: Union[float, ast.Call, None] = None
    batch: Union[int, Literal["full"]] = 32
    shuffle: bool = True
    workers: int = 0
    pad: Union[int, float] = 0
    seed: int = 0
    encode: Optional[ast.Call] = None
    transform: Optional[ExprValue] = None

    @field_validator("valid", "test")
    @classmethod
    def _fraction(cls, v):
        if isinstance(v, float) and not 0 < v < 1:
            raise ValueError(f"must be a fraction between 0% and 100% (exclusive), got {v:g}")
        return v

    @field_validator("batch")
    @classmethod
    def _batch(cls, v):
        if isinstance(v, int) and v < 1:
            raise ValueError(f"must be at least 1 (or full), got {v}")
        return v

    @field_validator("workers", "seed")
    @classmethod
    def _non_negative(cls, v):
        if v < 0:
            raise ValueError(f"must not be negative, got {v}")
        return v


def _monitor(v: str) -> str:
    """``split.metric`` on the train or valid split (the test split is scored only at the end)."""
    split, dot, key = v.partition(".")
    metric = metric_name(key)
    if split == "test" and metric in ("loss", *METRICS):
        raise ValueError(f"the test split is scored once, at the end, so it cannot be monitored, got '{v}'; "
                         f"monitor valid.{metric}")
    if not dot or split not in ("train", "valid") or metric not in ("loss", *METRICS):
        raise ValueError(f"monitors split.metric, like valid.loss or valid.accuracy, got '{v}' (splits: train, "
                         f"valid; metrics: loss, {', '.join(METRICS)})")
    return v


class EarlyStop(_Options):
    monitor: Optional[str] = None    # None: the train section's monitor
    patience: int = 5
    min_delta: float = 0.0
    mode: Optional[Literal["min", "max"]] = None

    @field_validator("monitor")
    @classmethod
    def _monitor(cls, v):
        return v if v is None else _monitor(v)

    @field_validator("patience")
    @classmethod
    def _patience(cls, v):
        if v < 1:
            raise ValueError(f"must be at least 1, got {v}")
        return v

    @field_validator("min_delta", mode="before")
    @classmethod
    def _min_delta(cls, v):
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
            raise ValueError(f"must not be negative (it is the least change that counts as an improvement), got {v}")
        return v


class TrainOptions(_Options):
    """What ``train { }`` may hold, with the defaults a run uses."""

    epochs: int = 10
    device: str = "auto"
    seed: int = 0
    metrics: list[str] = []
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    clip_grad: Optional[float] = None
    accumulate: int = 1
    compile: Union[bool, str] = False   # true means model
    early_stop: Optional[EarlyStop] = None
    checkpoint: Optional[str] = None
    plot: list[str] = []
    model: Optional[str] = None
    target: Optional[str] = None
    threads: Optional[int] = None
    monitor: Optional[str] = None
    log: Optional[Literal[LOGS]] = None
    log_every: int = 1
    devices: int = 1
    backend: Optional[Literal["gloo", "nccl"]] = None

    @field_validator("monitor")
    @classmethod
    def _monitor(cls, v, info: ValidationInfo):
        if v is None:
            return v
        early = info.data.get("early_stop")   # validated before: declared above
        if early is not None and early.monitor not in (None, v):
            raise ValueError(f"is {v} but early_stop monitors {early.monitor}; set the monitor in one place")
        return _monitor(v)

    @field_validator("epochs", "accumulate", "log_every", "devices")
    @classmethod
    def _at_least_one(cls, v):
        if v < 1:
            raise ValueError(f"must be at least 1, got {v}")
        return v

    @field_validator("threads")
    @classmethod
    def _threads(cls, v):
        if v is not None and not 1 <= v <= MAX_THREADS:
            raise ValueError(f"must be between 1 and {MAX_THREADS}, got {v}")
        return v

    @field_validator("seed")
    @classmethod
    def _seed(cls, v):
        if v < 0:
            raise ValueError(f"must not be negative, got {v}")
        return v

    @field_validator("clip_grad", mode="before")
    @classmethod
    def _clip(cls, v):
        if isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if isinstance(v, float) and v <= 0:
            raise ValueError(f"must be greater than 0, got {v:g}")
        return v

    @field_validator("compile")
    @classmethod
    def _compile(cls, v):
        if isinstance(v, str) and v not in COMPILE_MODES:
            raise ValueError(f"must be false, true, {', '.join(COMPILE_MODES)}, got {v}")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v):
        mistake = device_mistake(v)
        if mistake is not None:
            raise ValueError(mistake)
        return v

    @field_validator("metrics", mode="before")
    @classmethod
    def _metric_calls(cls, v):
        """``accuracy(logits, kind)`` (language 1.1): a metric of two named values, kept as its text."""
        return [metric_key(i) if isinstance(i, CallValue) else i for i in v] if isinstance(v, list) else v

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v):
        _names_from([metric_name(m) for m in v], METRICS, "metric")
        return v

    @field_validator("plot")
    @classmethod
    def _plots(cls, v):
        return _names_from(v, PLOTS, "plot")

    @field_validator("early_stop", mode="before")
    @classmethod
    def _early_stop(cls, v):
        if isinstance(v, CallValue):
            if v.name != "early_stop":
                raise ValueError(f"write early_stop(monitor=..., patience=...), got {v.name}(...)")
            if v.args:
                raise ValueError("early_stop takes keyword arguments only: early_stop(monitor=valid.loss, patience=5)")
            return EarlyStop.model_validate(v.kwargs)
        return v


def device_mistake(name: str) -> str | None:
    """What is wrong with a device name (``train.device``, ``--device``), or None."""
    return None if _DEVICE.match(name) else f"unknown device '{name}': use auto, cpu, cuda, cuda:N or mps"


def metric_name(key: str) -> str:
    """The metric a key names: ``accuracy(logits, kind)`` -> ``accuracy``."""
    return key.partition("(")[0]


def metric_key(call: CallValue) -> str:
    """``accuracy(logits, kind)`` as the text it reports under; it names an output and a target."""
    if len(call.args) != 2 or call.kwargs or not all(isinstance(a, str) and "." not in a for a in call.args):
        raise ValueError(f"a metric written as a call names the model output and the target it compares, "
                         f"like {call.name}(logits, kind)")
    return f"{call.name}({', '.join(call.args)})"


def _names_from(values: list[str], allowed: tuple[str, ...], what: str) -> list[str]:
    for name in values:
        if name not in allowed:
            hint = did_you_mean(name, allowed)
            raise ValueError(f"unknown {what} '{name}'" + (f"; {hint}" if hint else "")
                             + f" (known: {', '.join(allowed)})")
    return values


# Section values that are taken as expressions rather than literals.
_EXPR_KEYS = {"data": {"train", "valid", "test", "encode", "transform"}, "train": set()}


def _section_value(section: str, key: str, expr: ast.Expr):
    if key in _EXPR_KEYS[section]:
        if key in ("valid", "test") and isinstance(expr, (ast.Percent, ast.Number)):
            return float(expr.value)
        return expr
    return literal(expr)   # `batch = full` and friends: the keyword constant's value


_WORDS = {
    "int_type": "must be a whole number", "int_from_float": "must be a whole number",
    "float_type": "must be a number", "bool_type": "must be true or false",
    "string_type": "must be a name or a string", "list_type": "must be a list like [a, b]",
    "missing": "is required", "model_type": "must be a source call like moons(samples=1000)",
    "model_attributes_type": "must be a call like early_stop(monitor=valid.loss, patience=5)",
}


def _reword(err: dict) -> str:
    kind = err["type"]
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        return "must be one of " + str(err["ctx"]["expected"]).replace("'", "")
    if kind in _WORDS:
        return _WORDS[kind]
    if kind.startswith("union") or kind.startswith("is_instance"):
        return "has the wrong kind of value"
    return err["msg"][0].lower() + err["msg"][1:]


def validate_entries(section: str, model: type[BaseModel], entries: list[ast.Entry], span, source: str):
    """Validate ``entries`` into ``model``; return (options or None, diagnostics).

    When some values are refused, the options hold the entries that are right (the refused
    keys are missing from ``options.model_fields_set``), so that the rest of the spec can be
    checked against them; None when even those are not enough (a required key refused)."""
    by_key: dict[str, ast.Entry] = {}
    diags: list[Diagnostic] = []
    for e in entries:
        if e.key in by_key:
            diags.append(Diagnostic(f"'{e.key}' is set twice in {section}", e.key_span,
                                    f"first set at line {by_key[e.key].key_span.line}", code="E030"))
            continue
        by_key[e.key] = e
        diags += _repeated_items(e.value)
    values = {k: _section_value(section, k, e.value) for k, e in by_key.items()}
    try:
        return model.model_validate(values), diags
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    diags += [_diagnostic(section, model, err, by_key, span, source) for err in errors]
    refused = {str(err["loc"][0]) for err in errors if err["loc"]}
    try:
        return model.model_validate({k: v for k, v in values.items() if k not in refused}), diags
    except ValidationError:
        return None, diags


def _repeated_items(e: ast.Expr) -> list[Diagnostic]:
    """A list of names or strings in a section (columns, folders, metrics) holds each once."""
    found = []
    if isinstance(e, ast.Call):
        for a in [*e.args, *(k.value for k in e.kwargs)]:
            found += _repeated_items(a)
    elif isinstance(e, (ast.ListExpr, ast.TupleExpr)):
        for item in e.items:
            found += _repeated_items(item)
        found += repeats([(literal(i), i.span) for i in e.items if isinstance(i, (ast.String, ast.Name))],
                         "the list item")
    return found


def _diagnostic(section, model, err, by_key, span, source) -> Diagnostic:
    loc = err["loc"]
    key = str(loc[0]) if loc else ""
    entry = by_key.get(key)
    if err["type"] == "extra_forbidden" and entry is not None:
        hint = did_you_mean(key, model.model_fields)
        return Diagnostic(f"unknown {section} setting '{key}'", entry.key_span,
                          hint or f"known settings: {', '.join(model.model_fields)}", code="E031")
    if entry is None:
        return Diagnostic(f"{section}.{key} {_reword(err)}", span, code="E032")
    sub = ".".join(str(p) for p in loc[1:] if not isinstance(p, int) and not str(p).startswith("function"))
    where = f"{section}.{key}" + (f".{sub}" if sub and not sub.startswith(("Call", "float", "int")) else "")
    written = entry.value.span.text(source)
    sep = ":" if err["type"] == "value_error" else ""
    message = f"{where}{sep} {_reword(err)}"
    if written and written not in message and err["type"] != "value_error":
        message += f", got {written}"
    return Diagnostic(message, entry.value.span, code="E033")
