"""``optimizer = Adam(lr=0.01)`` and ``schedule = StepLR(step_size=10)``: names and arguments
checked against torch's signatures (torch-free tables)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..catalog import signatures
from ..catalog.torch_tables import OPTIMIZERS, SCHEDULERS
from ..errors import did_you_mean
from ..syntax import ast
from ..syntax.sections import literal
from .context import Context

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
