"""The IR that analysis produces and the compiler consumes.

A :class:`GraphIR` is one model, one block specialisation, or the loss: typed inputs, a list
of ops in topological order, the layer instances they call, and outputs.

Invariants (checked by :meth:`GraphIR.lint`):
- every op's ``out`` name is unique, and differs from every input name;
- every :class:`~specc.types.Ref` an op uses names an input or an earlier op;
- every ``module`` op's target names a layer in ``layers``; every block layer's ``block``
  names a graph in the enclosing :class:`Program`;
- every value has a type (TensorType or TupleType).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from ..errors import Span
from ..types import Ref, TensorType, ValueType


@dataclass
class LayerInst:
    """One submodule: a torch.nn layer, an imported class, or a block specialisation.

    ``source`` is "torch" (``target`` is a torch.nn class name), "import" (``target`` is
    ``alias.Name``), "block" (``target`` is the key of a block GraphIR) or "param" (a free
    ``Parameter``: ``args`` is its shape, ``kwargs["init"]`` its initialiser ``(name, args)``). ``args`` and
    ``kwargs`` are the constructor arguments with every inferred size written out. ``call``
    is set for a stateless layer that is compiled to a function, ``(dotted name, kwargs)``:
    its applications are "function" ops and no submodule is made for it. ``params`` is the
    estimated number of values in its parameters and buffers (0 for a block: its graph's
    layers hold them).
    """

    name: str
    source: Literal["torch", "import", "block", "param"]
    target: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    span: Span = field(default_factory=Span)
    uses: list[Span] = field(default_factory=list)
    in_types: list = field(default_factory=list)
    out_type: Optional[ValueType] = None
    call: Optional[tuple[str, dict]] = None
    params: int = 0


@dataclass
class Op:
    """One computation. ``op`` is "module" (call a layer of this graph by name), "function"
    (a torch callable by dotted name, or an operator such as ``operator.add``), "method" (a
    Tensor method by name), "getitem" (``args[0][args[1]]``, for tuples and indexing), "param"
    (a parameter of this graph's module by dotted name: a free ``Parameter`` or ``tok.weight``)
    or "attr" (an attribute of a value: ``args[0].<target>``, as ``x.device``)."""

    out: str
    op: Literal["module", "function", "method", "getitem", "param", "attr"]
    target: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    type: Optional[ValueType] = None
    span: Span = field(default_factory=Span)


@dataclass
class GraphIR:
    name: str
    inputs: list[tuple[str, TensorType]]
    ops: list[Op] = field(default_factory=list)
    layers: dict[str, LayerInst] = field(default_factory=dict)
    outputs: list[Any] = field(default_factory=list)
    output_types: list[ValueType] = field(default_factory=list)
    kind: Literal["model", "block", "loss"] = "model"
    settings: dict = field(default_factory=dict)
    block: Optional[str] = None       # for a block specialisation: the spec's block name

    def lint(self, program: "Program | None" = None) -> None:
        """Raise AssertionError when an invariant above does not hold (a compiler bug)."""
        known = {name for name, _ in self.inputs}
        assert len(known) == len(self.inputs), f"{self.name}: duplicate input names"
        for op in self.ops:
            for ref in _refs((op.args, op.kwargs)):
                assert ref.name in known, f"{self.name}: {op.out} uses {ref.name} before it is defined"
            assert op.out not in known, f"{self.name}: {op.out} defined twice"
            assert op.type is not None, f"{self.name}: {op.out} has no type"
            if op.op == "module":
                assert op.target in self.layers, f"{self.name}: {op.out} calls unknown layer {op.target}"
            known.add(op.out)
        for ref in _refs(self.outputs):
            assert ref.name in known, f"{self.name}: output {ref.name} is not defined"
        for layer in self.layers.values():
            if layer.source == "block" and program is not None:
                assert layer.target in program.blocks, f"{self.name}: unknown block {layer.target}"


def _refs(value):
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _refs(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _refs(v)
    elif isinstance(value, slice):
        yield from _refs((value.start, value.stop, value.step))


@dataclass
class Program:
    """Everything a spec compiles to: the model graphs, block specialisations, the loss."""

    models: dict[str, GraphIR] = field(default_factory=dict)
    blocks: dict[str, GraphIR] = field(default_factory=dict)
    loss: Optional[GraphIR] = None
    loss_reads: list[str] = field(default_factory=list)   # the loss graph's inputs, as the spec names them
    class_dim: Optional[int] = None          # where the loss's class scores lie (1 or -1), for the metrics
    ignore_index: Optional[int] = None       # the target value the class loss skips (pad), and the metrics too

    def lint(self) -> None:
        for g in [*self.models.values(), *self.blocks.values(), *([self.loss] if self.loss else [])]:
            g.lint(self)
