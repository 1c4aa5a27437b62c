"""Evaluate data expressions (``generate`` fields, ``transform``) with torch, never ``eval``.

The language and its typing live in :mod:`specc.catalog.data_exprs`; this walks the same
AST nodes and computes tensors of shape ``(samples, *per_example_shape)``.
"""
from __future__ import annotations

import operator

import torch

from ..catalog.data_exprs import ELEMENTWISE, ExprProblem, shape_arg
from ..syntax import ast

_NOT_FINITE = {
    "nan": "log and sqrt need inputs >= 0, and ** of a negative number a whole power",
    "inf": "log(0) is -inf, and exp or ** overflow float32 above about 3.4e38",
}
_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow}


def _number(e) -> float:
    return -e.operand.value if isinstance(e, ast.Neg) else e.value


def _generator(call: ast.Call, n: int, gen: torch.Generator) -> torch.Tensor:
    name = call.func.id
    a, b = (_number(x) for x in call.args)
    shape = (n, *shape_arg(call))
    if name == "uniform":
        return torch.rand(shape, generator=gen) * (b - a) + a
    if name == "normal":
        return torch.randn(shape, generator=gen) * b + a
    if name == "randint":
        return torch.randint(int(a), int(b), shape, generator=gen)
    line = torch.linspace(a, b, n)
    return line.reshape(n, *([1] * (len(shape) - 1))).expand(shape).clone()


def evaluate(e, fields: dict[str, torch.Tensor], n: int, gen: torch.Generator,
             finite: bool = True) -> torch.Tensor:
    """The value of ``e`` for ``n`` examples; generators draw from ``gen`` in source order.

    Raises:
        ExprProblem: at the sub-expression that divides by zero or first gives nan or inf
            (``log(x - 2)`` where ``x < 2``): data must be finite. ``finite=False`` leaves
            these checks out, for a graph that is traced once and run on any data (export).
    """
    value = _value(e, fields, n, gen, finite)
    if finite and value.is_floating_point():
        bad = ~torch.isfinite(value)
        if bad.any():
            which = "nan" if value.isnan().any() else "inf"
            example = f" for example {int(bad.flatten(1).any(1).nonzero()[0]) + 1}" if value.dim() else ""
            raise ExprProblem(f"this expression gives {which}{example}; data must be finite", e.span,
                              _NOT_FINITE[which])
    return value


def _value(e, fields: dict[str, torch.Tensor], n: int, gen: torch.Generator, finite: bool) -> torch.Tensor:
    if isinstance(e, (ast.Number, ast.Percent)):
        return torch.tensor(float(e.value))
    if isinstance(e, ast.Name):
        return fields[e.id]
    if isinstance(e, ast.Neg):
        return -evaluate(e.operand, fields, n, gen, finite)
    if isinstance(e, ast.BinOp):
        left = evaluate(e.left, fields, n, gen, finite)
        right = evaluate(e.right, fields, n, gen, finite)
        if finite and e.op == "/" and (right == 0).any():
            raise ExprProblem("division by zero", e.span)
        return _OPS[e.op](left.float() if e.op == "/" else left, right)
    name = e.func.id
    if name in ELEMENTWISE:
        return getattr(torch, name)(evaluate(e.args[0], fields, n, gen, finite).float())
    return _generator(e, n, gen)


def generate(exprs: dict[str, ast.Expr], samples: int, seed: int) -> dict[str, torch.Tensor]:
    """The fields of ``generate(samples, **exprs)``, each of shape ``(samples, *shape)``."""
    gen = torch.Generator().manual_seed(seed)
    fields: dict[str, torch.Tensor] = {}
    for name, e in exprs.items():
        value = evaluate(e, fields, samples, gen)
        if value.dim() == 0:
            value = value.expand(samples, 1).clone()
        fields[name] = value.float() if value.dtype != torch.long else value
    return fields
