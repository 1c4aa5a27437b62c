"""The spec AST: frozen pydantic models, one per construct, each with its source span.

Spans take no part in dumps (``Field(exclude=True)``), so ``a.model_dump() == b.model_dump()``
compares two ASTs while ignoring where they came from (that is how ``specc fmt`` is tested).
Every node has a ``kind`` tag naming it, which makes dumps unambiguous.

Value rules of the language (epochs >= 1, a valid fraction in (0, 1), known keys, ...) live
on the section models in :mod:`specc.syntax.sections`.
"""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from ..errors import Span


class Node(BaseModel):
    """Base of every AST node."""

    # defer_build: a validator is built when a node kind is first made, not at import (the
    # front end starts on every `specc check`; building every schema up front cost 80 ms)
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid", defer_build=True)
    span: Span = Field(default_factory=Span, exclude=True, repr=False)


# ---------------------------------------------------------------- expressions
class Name(Node):
    kind: Literal["name"] = "name"
    id: str


class Attr(Node):
    """``value.attr``: ``data.classes``, ``my.MyLinear``, ``valid.loss``."""

    kind: Literal["attr"] = "attr"
    value: "Expr"
    attr: str


class Number(Node):
    kind: Literal["number"] = "number"
    value: Union[int, float]
    text: str = Field(default="", exclude=True)


class Percent(Node):
    """``20%``: ``value`` is the fraction (0.2); ``text`` is what was written."""

    kind: Literal["percent"] = "percent"
    value: float
    text: str = Field(default="", exclude=True)


class String(Node):
    kind: Literal["string"] = "string"
    value: str


class Const(Node):
    """The keyword constants ``true``, ``false``, ``none`` and ``full``."""

    kind: Literal["const"] = "const"
    value: Literal["true", "false", "none", "full"]


class Range(Node):
    """``10..50``, inclusive."""

    kind: Literal["range"] = "range"
    lo: int
    hi: int


class ListExpr(Node):
    kind: Literal["list"] = "list"
    items: list["Expr"]


class TupleExpr(Node):
    kind: Literal["tuple"] = "tuple"
    items: list["Expr"]


BinOpName = Literal["+", "-", "*", "/", "//", "@", "**"]


class BinOp(Node):
    kind: Literal["binop"] = "binop"
    op: BinOpName
    left: "Expr"
    right: "Expr"


CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]


class Compare(Node):
    """``left op right``: on tensors a ``bool`` tensor, on constants folded. Never chained."""

    kind: Literal["compare"] = "compare"
    op: CompareOp
    left: "Expr"
    right: "Expr"


class BoolOp(Node):
    """``left and right``, ``left or right``: on compile-time values only."""

    kind: Literal["boolop"] = "boolop"
    op: Literal["and", "or"]
    left: "Expr"
    right: "Expr"


class Not(Node):
    kind: Literal["not"] = "not"
    operand: "Expr"


class Neg(Node):
    kind: Literal["neg"] = "neg"
    operand: "Expr"


class Keyword(Node):
    kind: Literal["keyword"] = "keyword"
    name: str
    value: "Expr"
    name_span: Span = Field(default_factory=Span, exclude=True, repr=False)


class Call(Node):
    """``func(args, name=value)``; ``func`` is a Name, an Attr or any callee expression."""

    kind: Literal["call"] = "call"
    func: "Expr"
    args: list["Expr"] = []
    kwargs: list[Keyword] = []


class Slice(Node):
    kind: Literal["slice"] = "slice"
    lower: Optional["Expr"] = None
    upper: Optional["Expr"] = None
    step: Optional["Expr"] = None


class EllipsisExpr(Node):
    kind: Literal["ellipsis"] = "ellipsis"


Subscript = Annotated[Union["Expr", Slice, EllipsisExpr], Field()]


class Index(Node):
    kind: Literal["index"] = "index"
    value: "Expr"
    items: list[Subscript]


class Pipeline(Node):
    """``stages[0] -> stages[1] -> ...``: each stage is applied to the value on its left."""

    kind: Literal["pipeline"] = "pipeline"
    stages: list["Expr"]


Expr = Annotated[
    Union[Name, Attr, Number, Percent, String, Const, Range, ListExpr, TupleExpr, BinOp, Compare,
          BoolOp, Not, Neg, Call, Index, Pipeline],
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------- models and blocks
class TypeRef(Node):
    """``float[2, seq]`` (``dims`` given: a tensor) or ``int`` (``dims`` None: a setting)."""

    kind: Literal["type"] = "type"
    dtype: str
    dims: Optional[list[Union[int, str]]] = None

    @property
    def is_tensor(self) -> bool:
        return self.dims is not None


class Param(Node):
    kind: Literal["param"] = "param"
    name: str
    type: TypeRef
    default: Optional[Expr] = None


class NameTarget(Node):
    kind: Literal["name_target"] = "name_target"
    name: str


class TupleTarget(Node):
    kind: Literal["tuple_target"] = "tuple_target"
    items: list[Union[NameTarget, "TupleTarget"]]


class Assign(Node):
    kind: Literal["assign"] = "assign"
    target: str
    value: Expr


class Destructure(Node):
    """``out, (h, c) = expr``; ``_`` discards."""

    kind: Literal["destructure"] = "destructure"
    targets: TupleTarget
    value: Expr


class Return(Node):
    kind: Literal["return"] = "return"
    values: list[Expr]


class Branch(Node):
    """One branch of an ``if``: ``cond`` is None for the ``else``."""

    kind: Literal["branch"] = "branch"
    cond: Optional[Expr] = None
    body: list["Stmt"]


class If(Node):
    """``if c { } else if d { } else { }``: decided when the model or block is specialised."""

    kind: Literal["if"] = "if"
    branches: list[Branch]


class For(Node):
    """``for a, (b, c) in iterable { }``: unrolled when checked; one target binds each item
    whole, several unpack it."""

    kind: Literal["for"] = "for"
    targets: list[Union[NameTarget, TupleTarget]]
    iter: Expr
    body: list["Stmt"]


Stmt = Annotated[Union[Assign, Destructure, Return, If, For], Field(discriminator="kind")]


class Model(Node):
    kind: Literal["model"] = "model"
    name: str
    params: list[Param]
    body: list[Stmt]
    name_span: Span = Field(default_factory=Span, exclude=True, repr=False)


class Block(Node):
    kind: Literal["block"] = "block"
    name: str
    params: list[Param]
    body: list[Stmt]
    name_span: Span = Field(default_factory=Span, exclude=True, repr=False)


# ---------------------------------------------------------------- top-level items
class Import(Node):
    """``import "file.py" as ns`` (``path``) or ``import pkg.mod as ns`` (``module``)."""

    kind: Literal["import"] = "import"
    path: Optional[str] = None
    module: Optional[str] = None
    alias: str


class Entry(Node):
    """``key = value`` inside ``data { }`` or ``train { }``."""

    kind: Literal["entry"] = "entry"
    key: str
    value: Expr
    key_span: Span = Field(default_factory=Span, exclude=True, repr=False)


class Loss(Node):
    kind: Literal["loss"] = "loss"
    value: Expr


class Optimizer(Node):
    kind: Literal["optimizer"] = "optimizer"
    value: Expr


class Schedule(Node):
    kind: Literal["schedule"] = "schedule"
    value: Expr


for _cls in (Attr, ListExpr, TupleExpr, BinOp, Compare, BoolOp, Not, Neg, Keyword, Call, Slice, Index, Pipeline,
             Param, TupleTarget, Assign, Destructure, Return, Branch, If, For, Model, Block, Entry, Loss,
             Optimizer, Schedule):
    _cls.model_rebuild()


class DataSection(Node):
    """``data { ... }``: the entries in source order; ``options`` is their validated view."""

    kind: Literal["data"] = "data"
    entries: list[Entry]
    options: Optional[object] = Field(default=None, exclude=True, repr=False)


class TrainSection(Node):
    """``train { ... }``: the entries in source order; ``options`` is their validated view."""

    kind: Literal["train"] = "train"
    entries: list[Entry]
    options: Optional[object] = Field(default=None, exclude=True, repr=False)


Item = Annotated[
    Union[Import, DataSection, Model, Block, Loss, Optimizer, Schedule, TrainSection],
    Field(discriminator="kind"),
]
