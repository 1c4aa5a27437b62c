"""IR -> ``torch.fx.GraphModule``, built directly (no tracing).

Each :class:`~specc.analysis.ir.GraphIR` becomes one GraphModule whose submodules carry the
IR's layer names; a block use is a nested GraphModule, fresh for each instance. Every node
records where it came from: ``node.meta["span"]`` (the spec position) and
``node.meta["type"]`` (the inferred per-example type).
"""
from __future__ import annotations

import builtins
import operator

import torch
from torch import fx, nn

from ..analysis.ir import GraphIR, LayerInst, Op, Program
from ..catalog.layer_args import TENSOR_ARGS
from ..errors import Diagnostic, SpecError
from ..types import Ref
from .locate import first_line


class SpecModule(fx.GraphModule):
    """A GraphModule that is called like any ``nn.Module``.

    fx routes every call of a GraphModule through a wrapper that only rewrites the traceback
    of an error raised in the generated ``forward``; it costs about a microsecond a call, a
    few percent of a small MLP's forward. specc positions runtime errors itself (see
    :mod:`specc.compile.locate`), so the wrapper is left out.
    """

    def recompile(self):
        code = super().recompile()
        type(self).__call__ = nn.Module.__call__    # fx gives each instance its own class
        return code


def resolve(target: str, imports: dict):
    """A dotted catalogue target (``torch.cat``, ``operator.add``, ``alias.fn``) -> the callable."""
    roots = {"torch": torch, "operator": operator, "builtins": builtins, **imports}
    head, *rest = target.split(".")
    obj = roots[head]
    for part in rest:
        obj = getattr(obj, part)
    return obj


class LayerRefused(Exception):
    """A layer's constructor raised: ``layer`` is the instance, ``error`` torch's (or the
    imported class's) exception. :func:`build` makes it a SpecError at the layer."""

    def __init__(self, layer: LayerInst, error: Exception):
        super().__init__(str(error))
        self.layer = layer
        self.error = error


def make_layer(layer: LayerInst, program: Program, imports: dict) -> nn.Module:
    """Instantiate one submodule (weights drawn from torch's global RNG)."""
    if layer.source == "block":
        return build_graph(program.blocks[layer.target], program, imports)
    try:
        if layer.source == "torch":
            kwargs = {k: torch.tensor(v, dtype=torch.float32) if k in TENSOR_ARGS and isinstance(v, (list, tuple))
                      else v for k, v in layer.kwargs.items()}
            return getattr(nn, layer.target)(*layer.args, **kwargs)
        return resolve(layer.target, imports)(*layer.args, **layer.kwargs)
    except Exception as exc:  # the constructor's own refusal of a value the checks let through
        raise LayerRefused(layer, exc) from exc


def build(checked, ir: GraphIR, imports: dict) -> fx.GraphModule:
    """:func:`build_graph` for a checked spec: a constructor that refuses its arguments is a
    SpecError at the layer in the spec (``checked`` is a :class:`~specc.analysis.check.CheckedSpec`)."""
    try:
        return build_graph(ir, checked.program, imports)
    except LayerRefused as err:
        raise SpecError(Diagnostic(f"{err.layer.target}(...) refuses its arguments: {first_line(err.error)}",
                                   err.layer.span,
                                   "check the values against the layer's documentation", "E153",
                                   checked.spec.path or "<spec>"), checked.spec.source) from None


INITS = {"normal": nn.init.normal_, "uniform": nn.init.uniform_}
"""A free Parameter's initialisers that draw from the RNG (``zeros`` and ``ones`` are how it is made)."""


def make_parameter(layer: LayerInst) -> nn.Parameter:
    """A free ``Parameter`` (10.5), drawn from torch's global RNG as a layer's weights are."""
    init, args = layer.kwargs["init"]
    p = nn.Parameter(torch.ones(*layer.args) if init == "ones" else torch.zeros(*layer.args))
    if init in INITS:
        INITS[init](p, *args)
    return p


def build_graph(ir: GraphIR, program: Program, imports: dict) -> fx.GraphModule:
    root = nn.Module()
    for name, layer in ir.layers.items():
        if layer.source == "param":
            root.register_parameter(name, make_parameter(layer))
        elif layer.call is None:      # a stateless layer compiled to a function has no submodule
            root.add_module(name, make_layer(layer, program, imports))
    graph = fx.Graph()
    nodes: dict[str, fx.Node] = {}

    def arg(value):
        if isinstance(value, Ref):
            return nodes[value.name]
        if isinstance(value, list):
            return [arg(v) for v in value]
        if isinstance(value, tuple):
            return tuple(arg(v) for v in value)
        if isinstance(value, slice):
            return slice(arg(value.start), arg(value.stop), arg(value.step))
        return value

    for name, t in ir.inputs:
        node = graph.placeholder(name)
        node.meta["type"] = t
        nodes[name] = node
    for op in ir.ops:
        if op.op == "param":
            node = graph.get_attr(op.target)
            node.meta["span"], node.meta["type"] = op.span, op.type
            nodes[op.out] = node
            continue
        if op.op == "attr":
            op = Op(op.out, "function", "builtins.getattr", (*op.args, op.target), {}, op.type, op.span)
        args, kwargs = arg(op.args), {k: arg(v) for k, v in op.kwargs.items()}
        kind = {"module": "call_module", "method": "call_method"}.get(op.op, "call_function")
        target = op.target if op.op in ("module", "method") else resolve(op.target, imports)
        node = graph.create_node(kind, target, args, kwargs, name=op.out)
        node.meta["span"] = op.span
        node.meta["type"] = op.type
        nodes[op.out] = node
    outs = [arg(o) for o in ir.outputs]
    graph.output(outs[0] if len(outs) == 1 else tuple(outs))
    graph.lint()
    return SpecModule(root, graph, class_name=ir.name)
