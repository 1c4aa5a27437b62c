"""What an expression evaluates to during analysis.

Constants fold at compile time; tensors are IR values with a type; layers and blocks are
*specs* until applied. Applying the same spec object twice shares its weights: binding
``lin1 = Linear(30)`` keeps one object in scope, while ``Linear(10)(h)`` makes a new one each
time it is evaluated. ``Poison`` stands for a value whose expression already failed, so one
mistake is reported once and not again by every statement that uses it. A dim name whose
number varies between batches is a :class:`~specc.types.SymInt` (read from an input when the
model runs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ..errors import Span
from ..types import Ref, SymInt, TensorType, TupleType
from ..syntax import ast
from .ir import LayerInst


@dataclass
class Const:
    value: Any


@dataclass
class Tensor:
    ref: Ref
    type: TensorType


@dataclass
class Tup:
    items: list["Value"]

    @property
    def type(self) -> TupleType:
        return TupleType(tuple(getattr(i, "type", None) for i in self.items))


@dataclass
class LayerSpec:
    """A layer not yet applied: ``Linear(50)``; ``source`` is "torch" or "import"."""

    type_name: str
    source: str
    args: list[Any]
    kwargs: dict[str, Any]
    span: Span
    arg_spans: list[Span] = field(default_factory=list)
    kwarg_spans: dict[str, Span] = field(default_factory=dict)
    binding: Optional[str] = None
    inst: Optional[LayerInst] = None
    ref: Optional[Ref] = None        # for "import": the Python class path alias.Name


@dataclass
class BlockSpec:
    block: ast.Block
    settings: dict[str, Any]
    span: Span
    setting_spans: dict[str, Span] = field(default_factory=dict)
    binding: Optional[str] = None
    inst: Optional[LayerInst] = None


@dataclass
class FuncStage:
    """A catalogue function waiting for its first argument: ``-> mean(dim=1)``."""

    name: str
    args: list["Value"]
    kwargs: dict[str, "Value"]
    span: Span
    arg_spans: list[Span] = field(default_factory=list)
    kwarg_spans: dict[str, Span] = field(default_factory=dict)


@dataclass
class Chain:
    """Stages composed without an input yet: ``Linear(100) -> ReLU``."""

    stages: list["Stage"]
    span: Span


@dataclass
class Poison:
    """A value whose computation already produced a diagnostic."""


Stage = Union[LayerSpec, BlockSpec, FuncStage, Chain]
Value = Union[Const, Tensor, Tup, LayerSpec, BlockSpec, FuncStage, Chain, Poison, SymInt]


def copy_fresh(stage: Stage) -> Stage:
    """A copy with new weights for every layer that is not bound to a name (``* n``)."""
    if isinstance(stage, Chain):
        return Chain([copy_fresh(s) for s in stage.stages], stage.span)
    if isinstance(stage, (LayerSpec, BlockSpec)) and stage.binding is None:
        return type(stage)(**{**stage.__dict__, "inst": None})
    return stage


def stage_count(stage: Stage) -> int:
    """How many stages ``stage`` applies, counted without expanding anything further."""
    if isinstance(stage, Chain):
        return sum(stage_count(s) for s in stage.stages)
    return 1


def describe(v: Value) -> str:
    """How a value is named in messages."""
    if isinstance(v, Tensor):
        return f"a tensor {v.type.batched}"
    if isinstance(v, Const):
        return f"the constant {v.value!r}"
    if isinstance(v, LayerSpec):
        return f"the layer {v.type_name}"
    if isinstance(v, BlockSpec):
        return f"the block {v.block.name}"
    if isinstance(v, Tup):
        return f"a tuple of {len(v.items)}"
    if isinstance(v, FuncStage):
        return f"the function {v.name}"
    if isinstance(v, Chain):
        return "a pipeline of layers"
    if isinstance(v, SymInt):
        return f"the size {v.size}"
    return "an invalid value"
