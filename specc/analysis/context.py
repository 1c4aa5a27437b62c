"""State shared by every graph of one spec's analysis: diagnostics, data facts, imports."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic, Span, did_you_mean
from ..syntax import ast
from .ir import GraphIR, Program


class Failed(Exception):
    """Raised after a diagnostic was recorded, to abandon the current statement."""


@dataclass
class DataFacts:
    """What models may read from the data section: ``data.classes`` and friends, and fields."""

    fields: dict[str, Any]
    attrs: dict[str, int | None]          # classes, vocab, features
    class_names: list[str] | None = None
    pad: float | None = None              # what fills variable-length fields (data.pad)
    classes_of: dict[str, int] = field(default_factory=dict)   # several targets: each class field's class count


@dataclass
class Context:
    blocks: dict[str, ast.Block]
    model_names: frozenset = frozenset()   # a block specialisation never takes a model's name
    data: DataFacts | None = None
    imports: dict[str, Any] = field(default_factory=dict)       # alias -> loaded Python module
    program: Program = field(default_factory=Program)
    diags: list[Diagnostic] = field(default_factory=list)
    block_keys: dict[tuple, str | None] = field(default_factory=dict)  # specialisation -> graph (None: broken)
    block_stack: list[str] = field(default_factory=list)
    reported: set = field(default_factory=set)
    # Already reported as broken: uses of these say nothing more (one mistake, one message).
    failed_imports: set = field(default_factory=set)
    data_failed: bool = False
    loss_sources: dict = field(default_factory=dict)   # the loss's inputs: name -> ("output", i) | ("field", name)
    metric_sources: dict = field(default_factory=dict)  # a metric call's key -> (output source, target source)
    errors_seen: int = 0   # every error, repeats included: did this block body go wrong?

    def error(self, message: str, span: Span, hint: str | None = None, code: str = "E100") -> None:
        self.errors_seen += 1
        key = (message, span.line, span.column)
        if key not in self.reported:          # a block used twice must not say the same thing twice
            self.reported.add(key)
            self.diags.append(Diagnostic(message, span, hint, code))

    def fail(self, message: str, span: Span, hint: str | None = None, code: str = "E100") -> Failed:
        self.error(message, span, hint, code)
        return Failed()

    def data_attr(self, name: str, span: Span) -> int:
        if self.data is None and self.data_failed:
            raise Failed()
        if self.data is None:
            raise self.fail(f"data.{name} is used, but the spec has no data section", span,
                            "add a data { train = ... } section, or write the number", code="E130")
        if name not in self.data.attrs:
            raise self.fail(f"unknown data attribute '{name}'", span,
                            did_you_mean(name, self.data.attrs) or "known: data.classes, data.vocab, data.features",
                            code="E131")
        value = self.data.attrs[name]
        if value is None:
            raise self.fail(f"data.{name} is not known for this data", span,
                            {"classes": "the target holds no class labels",
                             "vocab": "no source or encoder here has a vocabulary",
                             "features": "the input is not a flat vector of features"}.get(name),
                            code="E132")
        return value

    def data_classes_of(self, name: str, span: Span) -> int:
        """``data.classes_of.kind``: the class count of the class-index field ``kind``."""
        if self.data is None:
            return self.data_attr("classes_of", span)     # no data section: said there
        if name not in self.data.classes_of:
            raise self.fail(f"data.classes_of.{name}: the data has no class target '{name}'", span,
                            did_you_mean(name, self.data.classes_of) or
                            (f"its class targets are {', '.join(self.data.classes_of)}" if self.data.classes_of else
                             "classes_of names the class columns of csv(path, target=[...])"), code="E133")
        return self.data.classes_of[name]

    def add_block_graph(self, key: tuple, graph: GraphIR) -> str:
        self.block_keys[key] = graph.name
        self.program.blocks[graph.name] = graph
        return graph.name
