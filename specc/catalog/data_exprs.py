"""Expressions inside ``data { }``: ``generate(...)`` fields and ``transform``.

A small, safe language, never ``eval``: numbers, earlier fields, arithmetic, the random
generators below and elementwise functions. This module types an expression (torch-free);
``specc.data.expr`` evaluates it with torch, from the same tables.
"""
from __future__ import annotations

from ..errors import did_you_mean
from ..syntax import ast
from ..types import TensorType
from .layers import ShapeProblem

# name -> (positional parameters, torch function used by the evaluator)
GENERATORS = {
    "uniform": ("low", "high"),
    "normal": ("mean", "std"),
    "linspace": ("start", "end"),
    "randint": ("low", "high"),
}
# name -> (test of the two numbers, what the test asks)
BOUNDS = {
    "uniform": (lambda low, high: low <= high, "low must not be above high"),
    "randint": (lambda low, high: low < high, "low must be below high (high is left out)"),
    "normal": (lambda mean, std: std >= 0, "std must be at least 0"),
}
ELEMENTWISE = {
    "sin": "torch.sin", "cos": "torch.cos", "exp": "torch.exp", "log": "torch.log", "sqrt": "torch.sqrt",
    "abs": "torch.abs", "tanh": "torch.tanh", "sigmoid": "torch.sigmoid", "relu": "torch.relu",
}
OPERATORS = ("+", "-", "*", "/", "**")


class ExprProblem(ShapeProblem):
    """A mistake in a data expression; ``span`` is where (the caller falls back to the entry)."""

    def __init__(self, message: str, span=None, hint: str | None = None):
        super().__init__(message, hint)
        self.span = span


def _number(e) -> float | None:
    if isinstance(e, ast.Number):
        return e.value
    if isinstance(e, ast.Neg) and isinstance(e.operand, ast.Number):
        return -e.operand.value
    return None


def shape_arg(call: ast.Call) -> tuple[int, ...]:
    """The per-example shape of a generator call: ``shape=[3]`` or (1,)."""
    for k in call.kwargs:
        if k.name == "shape":
            v = k.value
            items = v.items if isinstance(v, (ast.ListExpr, ast.TupleExpr)) else [v]
            dims = [_number(i) for i in items]
            if not dims or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in dims):
                raise ExprProblem("shape wants whole numbers >= 1, like shape=[3]", k.value.span)
            return tuple(dims)
    return (1,)


def expr_type(e, fields: dict[str, TensorType]) -> TensorType:
    """The per-example type of a data expression over ``fields`` (raises ExprProblem)."""
    if isinstance(e, (ast.Number, ast.Percent)):
        return TensorType("float", (), None)
    if isinstance(e, ast.Name):
        if e.id in fields:
            return fields[e.id]
        raise ExprProblem(f"unknown name '{e.id}' in a data expression", e.span,
                          did_you_mean(e.id, [*fields, *GENERATORS, *ELEMENTWISE]) or
                          f"known fields: {', '.join(fields) or 'none yet'}")
    if isinstance(e, ast.Neg):
        return expr_type(e.operand, fields)
    if isinstance(e, ast.BinOp):
        if e.op not in OPERATORS:
            raise ExprProblem(f"'{e.op}' cannot be used in a data expression", e.span)
        return _broadcast(expr_type(e.left, fields), expr_type(e.right, fields), e)
    if isinstance(e, ast.Call) and isinstance(e.func, ast.Name):
        name = e.func.id
        if name in GENERATORS:
            _check_generator(e, name)
            return TensorType("long" if name == "randint" else "float", shape_arg(e))
        if name in ELEMENTWISE:
            if len(e.args) != 1 or e.kwargs:
                raise ExprProblem(f"{name} takes one argument", e.span)
            t = expr_type(e.args[0], fields)
            return TensorType("float", t.shape, t.batch_dim)
        raise ExprProblem(f"unknown function '{name}' in a data expression", e.func.span,
                          did_you_mean(name, [*GENERATORS, *ELEMENTWISE]) or
                          f"data expressions use {', '.join([*GENERATORS, *ELEMENTWISE])}")
    raise ExprProblem("a data expression holds numbers, fields, + - * / **, generators and functions",
                      getattr(e, "span", None))


def _check_generator(e: ast.Call, name: str) -> None:
    params = GENERATORS[name]
    if len(e.args) != len(params):
        raise ExprProblem(f"{name} takes {len(params)} numbers: {name}({', '.join(params)})", e.span)
    for a in e.args:
        if _number(a) is None:
            raise ExprProblem(f"{name}'s arguments are numbers", a.span)
    for k in e.kwargs:
        if k.name != "shape":
            raise ExprProblem(f"{name}() got an unexpected keyword argument '{k.name}'", k.name_span,
                              "the only keyword is shape=[...]")
    low, high = (_number(a) for a in e.args)
    if name == "randint" and not all(isinstance(v, int) for v in (low, high)):
        raise ExprProblem("randint's bounds are whole numbers", e.span)
    if name in BOUNDS:
        holds, rule = BOUNDS[name]
        if not holds(low, high):
            raise ExprProblem(f"{name}({', '.join(params)}): {rule}", e.span)


def _broadcast(a: TensorType, b: TensorType, e) -> TensorType:
    if not a.shape:
        return TensorType("float" if "float" in (a.dtype, b.dtype) else b.dtype, b.shape)
    if not b.shape:
        return TensorType("float" if "float" in (a.dtype, b.dtype) else a.dtype, a.shape)
    if a.shape == b.shape or b.shape == (1,):
        return TensorType("float", a.shape)
    if a.shape == (1,):
        return TensorType("float", b.shape)
    raise ExprProblem(f"'{e.op}' cannot combine fields of shape {a.batched} and {b.batched}", e.span)


def names_in(e) -> list[str]:
    """Every plain name an expression reads, in order (for ``transform``)."""
    out: list[str] = []
    stack = [e]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            out.append(node.id)
        elif isinstance(node, ast.BinOp):
            stack += [node.right, node.left]
        elif isinstance(node, ast.Neg):
            stack.append(node.operand)
        elif isinstance(node, ast.Call):
            stack += list(reversed(node.args))
    return out
