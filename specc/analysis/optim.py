"""``optimizer = Adam(lr=0.01)`` and ``schedule = StepLR(step_size=10)``: names and arguments
checked against torch's signatures (torch-free tables)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..catalog import signatures
from ..catalog.torch_tables import NN_MODULES, OPTIMIZERS, SCHEDULERS
from ..errors import did_you_mean
from ..syntax import ast
from ..syntax.sections import literal
from ..training.control import CLOSURE_OPTIMIZERS
from .context import Context
from .ir import GraphIR, LayerInst, Program

# Schedule arguments that depend on the run; the trainer fills them in when they are left out:
# name -> value from (steps per epoch, epochs).
RUN_ARGS = {
    "total_steps": lambda steps, epochs: steps * epochs,
    "steps_per_epoch": lambda steps, epochs: steps,
    "epochs": lambda steps, epochs: epochs,
    "T_max": lambda steps, epochs: epochs,
}
RUN_FILLED = frozenset(RUN_ARGS)


@dataclass
class OptimSpec:
    name: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)


def check_optim(ctx: Context, item, table: dict, what: str) -> Optional[OptimSpec]:
    e = item.value
    name_node, args, kwargs = e, [], []
    if isinstance(e, ast.Call):
        name_node, args, kwargs = e.func, e.args, e.kwargs
    if not isinstance(name_node, ast.Name):
        ctx.error(f"{what} is a class name with arguments, like {'Adam(lr=0.01)' if what == 'optimizer' else 'StepLR(step_size=10)'}",
                  e.span, code="E500")
        return None
    name = name_node.id
    if name not in table:
        ctx.error(f"unknown {what} '{name}'", name_node.span,
                  did_you_mean(name, table) or f"known: {', '.join(sorted(table))}", code="E501")
        return None
    values, ok = [], True
    for a in [*args, *(k.value for k in kwargs)]:
        v = literal(a)
        # A bare or dotted name would pass as its text ("data.classes", "__import__"): refuse it.
        if isinstance(v, ast.Node) or hasattr(v, "kwargs") or isinstance(a, (ast.Name, ast.Attr)):
            ctx.error(f"{name}'s arguments are constants (numbers, strings, true, false, none, lists)", a.span,
                      'write a string in quotes: "text"' if isinstance(a, (ast.Name, ast.Attr)) else None, code="E502")
            ok = False
        values.append(v)
    if not ok:
        return None
    spans = {k.name: k.span for k in kwargs}
    filled = RUN_FILLED if what == "schedule" else ()
    problems = signatures.check_call(table[name], len(args), [k.name for k in kwargs], name=name, filled=filled)
    for p in problems:
        where = spans.get(p.arg) if isinstance(p.arg, str) else (args[p.arg].span if isinstance(p.arg, int) and p.arg < len(args) else e.span)
        ctx.error(p.message, where or e.span, p.hint, code="E503")
    if problems:
        return None
    return OptimSpec(name, values[:len(args)], {k.name: v for k, v in zip(kwargs, values[len(args):])})


def check_optimizer(ctx: Context, spec) -> Optional[OptimSpec]:
    return check_optim(ctx, spec.optimizer, OPTIMIZERS, "optimizer") if spec.optimizer else None


def check_schedule(ctx: Context, spec) -> Optional[OptimSpec]:
    return check_optim(ctx, spec.schedule, SCHEDULERS, "schedule") if spec.schedule else None


# Train settings the trainer cannot combine with a closure optimizer (LBFGS): key -> (refused?,
# why). Its step runs the batch forward and backward several times, inside torch's line search.
CLOSURE_REFUSES = {
    "accumulate": (lambda v: v > 1, "it evaluates the loss several times per step on one batch, "
                   "so it cannot accumulate micro-batches", "set accumulate = 1"),
    "clip_grad": (lambda v: v is not None, "its line search uses the gradients as they are; "
                  "clip_grad would not be applied inside it", "remove clip_grad"),
    "precision": (lambda v: v == "fp16", "fp16's gradient scaler cannot drive its steps",
                  "set precision = bf16 or fp32"),
}
# Optimizers that take sparse gradients only, and the layers that can give them.
SPARSE_ONLY = frozenset({"SparseAdam"})
SPARSE_LAYERS = frozenset({"Embedding", "EmbeddingBag"})


def check_drivable(ctx: Context, spec, optimizer: Optional[OptimSpec], program: Program,
                   model: Optional[str]) -> None:
    """Refuse an optimizer the trainer cannot drive with these settings and layers, at the
    setting or the optimizer, with the reason."""
    if optimizer is None:
        return
    span = spec.optimizer.value.span
    if optimizer.name in CLOSURE_OPTIMIZERS:
        options = spec.train_options
        entries = {e.key: e for e in spec.train.entries} if spec.train else {}
        for key, (refused, why, hint) in CLOSURE_REFUSES.items():
            if refused(getattr(options, key)):
                where = entries[key].value.span
                ctx.error(f"{optimizer.name} cannot run with {key} = {where.text(spec.source)}: {why}",
                          where, f"{hint}, or use another optimizer", code="E504")
    if optimizer.name in SPARSE_ONLY and model in program.models:
        dense = next(_dense_layers(program.models[model], program), None)
        if dense is not None:
            ctx.error(f"{optimizer.name} does not support dense gradients, and {dense.target} "
                      f"(line {dense.span.line}) has dense ones", span,
                      "use Adam, or give every layer with weights sparse gradients: "
                      "Embedding(n, d, sparse=true)", code="E505")


def _dense_layers(graph: GraphIR, program: Program):
    """The torch layers with weights (their constructors take a dtype) that make dense
    gradients, through blocks; imported layers are their author's business."""
    for layer in graph.layers.values():
        if layer.source == "block":
            yield from _dense_layers(program.blocks[layer.target], program)
        elif layer.source == "torch" and _has_weights(layer) and not (
                layer.target in SPARSE_LAYERS and layer.kwargs.get("sparse") is True):
            yield layer


def _has_weights(layer: LayerInst) -> bool:
    return any(name == "dtype" for name, _, _ in NN_MODULES.get(layer.target, ()))
