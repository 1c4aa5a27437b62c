"""AST -> IR for one graph (a model, a block specialisation or the loss).

:class:`GraphLowerer` walks the statements, evaluating each expression to a
:mod:`~specc.analysis.values` value. Tensor computations become IR ops with types inferred
by the catalogue's rules; constants fold; layers and blocks are applied where the spec
applies them (see :mod:`specc.analysis.apply`). Mistakes become diagnostics in the shared
:class:`~specc.analysis.context.Context`, and the failing value turns into ``Poison`` so the
statements after it are still checked without repeating the error.
"""
from __future__ import annotations

import math
import operator

from ..catalog.functions import FUNCTIONS, broadcast, matmul_type
from ..catalog.layers import ShapeProblem
from ..catalog.losses import LOSSES
from ..catalog.torch_tables import NN_MODULES
from ..catalog.dims import is_int
from ..errors import Span, did_you_mean
from ..syntax import ast
from ..syntax.to_ast import MAX_INT
from ..types import Ref, TensorType, TupleType
from .apply import Applier
from .context import Context, Failed
from .ir import GraphIR, Op, _refs
from .names import Namespace, safe
from .values import (BlockSpec, Chain, Const, FuncStage, LayerSpec, Poison, Tensor, Tup, Value,
                     copy_fresh, describe, stage_count)

_FOLD = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
         "//": operator.floordiv, "**": operator.pow}
_OPERATOR = {"+": "operator.add", "-": "operator.sub", "*": "operator.mul", "/": "operator.truediv",
             "//": "operator.floordiv", "**": "operator.pow", "@": "operator.matmul"}
MAX_REPEAT = 10_000
MAX_NODES = 100_000
"""The most operations one model may run, its blocks opened; also the most stages a repeat makes."""


class GraphLowerer(Applier):
    """Builds one :class:`GraphIR`. ``loss`` switches on the loss context (losses callable,
    reductions without ``dim`` reduce the batch too)."""

    def __init__(self, ctx: Context, name: str, kind: str, inputs: list[tuple[str, TensorType]],
                 settings: dict | None = None, loss: bool = False):
        self.ctx = ctx
        self.loss = loss
        self.tuple_values: set[str] = set()   # ops whose result is a tuple (unpacked by getitem)
        self._stmt_start = 0                   # len(ir.ops) when the current statement began
        # a value must not hide an imported module in the generated forward (input F_ vs import F)
        self.values = Namespace(taken={safe(alias) for alias in ctx.imports})
        self.layer_names = Namespace()
        self.ir = GraphIR(name=name, inputs=[], kind=kind, settings=dict(settings or {}))
        self.scope: dict[str, Value] = {k: Const(v) for k, v in (settings or {}).items()}
        for pname, t in inputs:
            safe_name = self.values.fresh(pname)
            self.ir.inputs.append((safe_name, t))
            self.scope[pname] = Tensor(Ref(safe_name), t)

    # ------------------------------------------------------------ statements
    def run(self, body: list, where: Span) -> GraphIR:
        returned = None
        for stmt in body:
            if returned is not None:
                self.ctx.error("statement after return is never run", stmt.span, code="E101")
                break
            self._stmt_start = len(self.ir.ops)
            try:
                if isinstance(stmt, ast.Return):
                    returned = stmt
                    self._return(stmt)
                elif isinstance(stmt, ast.Assign):
                    self._assign(stmt)
                else:
                    self._destructure(stmt)
            except Failed:
                if isinstance(stmt, ast.Assign):
                    self.scope[stmt.target] = Poison()
                elif isinstance(stmt, ast.Destructure):
                    self._bind_targets(stmt.targets, Poison(), stmt.span)
            if len(self.ir.ops) > MAX_NODES:       # a repeat makes at most MAX_NODES stages: this stops it
                self.ctx.error(f"{self.ir.name} runs more than the {MAX_NODES:,} operations specc accepts",
                               stmt.span, "a model this large is a typo, or a repeat that went too far",
                               code="E106")
                return self.ir
        if returned is None:
            self.ctx.error(f"{self.ir.name} has no return", where, "end it with: return <expression>", code="E102")
        self._drop_dead_getitems()
        return self.ir

    def _assign(self, stmt: ast.Assign) -> None:
        v = self.expr(stmt.value)
        if isinstance(v, (LayerSpec, BlockSpec)) and v.binding is None and v.inst is None:
            v.binding = stmt.target
        if isinstance(v, Tensor):
            v = self._rename_last(v, stmt.target)
        self.scope[stmt.target] = v

    def _destructure(self, stmt: ast.Destructure) -> None:
        self._bind_targets(stmt.targets, self.expr(stmt.value), stmt.value.span)

    def _bind_targets(self, target, value: Value, span: Span) -> None:
        if isinstance(target, ast.NameTarget):
            if target.name != "_":
                self.scope[target.name] = self._rename_last(value, target.name) if isinstance(value, Tensor) else value
            return
        if isinstance(value, Poison):
            for t in target.items:
                self._bind_targets(t, value, span)
            return
        if not isinstance(value, Tup):
            self.ctx.error(f"cannot unpack {describe(value)} into {len(target.items)} names", target.span,
                           code="E103")
            for t in target.items:
                self._bind_targets(t, Poison(), span)
            return
        if len(value.items) != len(target.items):
            self.ctx.error(f"cannot unpack a tuple of {len(value.items)} into {len(target.items)} names",
                           target.span, f"the value is {value.type}", code="E104")
            for t in target.items:
                self._bind_targets(t, Poison(), span)
            return
        for t, item in zip(target.items, value.items):
            self._bind_targets(t, item, span)

    def _return(self, stmt: ast.Return) -> None:
        for e in stmt.values:
            v = self.expr(e)
            if isinstance(v, Poison):
                continue
            if not isinstance(v, (Tensor, Tup)):
                self.ctx.error(f"a model returns tensors, got {describe(v)}", e.span,
                               "apply it to an input, e.g. x -> Linear(2)", code="E105")
                continue
            self.ir.outputs.append(self._out_refs(v))
            self.ir.output_types.append(v.type)

    def _out_refs(self, v):
        if isinstance(v, Tensor):
            return v.ref
        return tuple(self._out_refs(i) for i in v.items)

    def _rename_last(self, v: Tensor, name: str) -> Tensor:
        """Give the op that made ``v`` the user's name, when this statement made that op last.

        An op of an earlier statement is held by some name already (``a = h`` must not take
        ``h``'s op from it); within one statement, a value bound twice (``a, b = (h, h)``) is
        renamed at most once, since the first renaming changes the op's name.
        """
        if len(self.ir.ops) > self._stmt_start and self.ir.ops[-1].out == v.ref.name:
            new = self.values.fresh(name)
            self.ir.ops[-1].out = new
            return Tensor(Ref(new), v.type)
        return v

    def _drop_dead_getitems(self) -> None:
        live = {r.name for r in _refs(self.ir.outputs)}
        kept = []
        for op in reversed(self.ir.ops):
            if op.op == "getitem" and op.out not in live and op.args[0].name in self.tuple_values:
                continue
            live |= {r.name for r in _refs((op.args, op.kwargs))}
            kept.append(op)
        self.ir.ops = kept[::-1]

    # ------------------------------------------------------------ ops
    def emit(self, op: str, target: str, args: tuple, kwargs: dict, type_, span: Span, base: str) -> Value:
        """Append an op; tuple-typed results come back as a Tup of getitem ops."""
        name = self.values.fresh(base)
        self.ir.ops.append(Op(name, op, target, args, kwargs, type_, span))
        if isinstance(type_, TupleType):
            return self._unpack(Ref(name), type_, span, base)
        return Tensor(Ref(name), type_)

    def _unpack(self, ref: Ref, type_: TupleType, span: Span, base: str) -> Tup:
        self.tuple_values.add(ref.name)
        items = []
        for i, t in enumerate(type_.items):
            name = self.values.fresh(f"{base}_{i}")
            self.ir.ops.append(Op(name, "getitem", "operator.getitem", (ref, i), {}, t, span))
            items.append(self._unpack(Ref(name), t, span, name) if isinstance(t, TupleType) else Tensor(Ref(name), t))
        return Tup(items)

    # ------------------------------------------------------------ expressions
    def expr(self, e) -> Value:
        """Evaluate an expression; raise Failed (after recording why) if it cannot be."""
        handler = getattr(self, "_expr_" + e.kind)
        return handler(e)

    def _expr_number(self, e):
        return Const(e.value)

    _expr_percent = _expr_number
    _expr_string = _expr_number

    def _expr_const(self, e):
        return Const({"true": True, "false": False, "none": None, "full": "full"}[e.value])

    def _expr_range(self, e):
        return Const((e.lo, e.hi))

    def _expr_list(self, e):
        items = [self.expr(i) for i in e.items]
        if all(isinstance(i, Const) for i in items):
            return Const([i.value for i in items])
        raise self.ctx.fail("a list holds constants only", e.span,
                            "use cat(...) or stack(...) to join tensors", code="E110")

    def _expr_tuple(self, e):
        items = [self.expr(i) for i in e.items]
        if all(isinstance(i, Const) for i in items):
            return Const(tuple(i.value for i in items))
        if all(isinstance(i, (Tensor, Tup)) for i in items):
            return Tup(items)
        raise self.ctx.fail("a tuple holds either constants or tensors", e.span, code="E111")

    def _expr_name(self, e: ast.Name):
        if e.id in self.scope:
            v = self.scope[e.id]
            if isinstance(v, Poison):
                raise Failed()
            return v
        if e.id in self.ctx.blocks:
            return BlockSpec(self.ctx.blocks[e.id], {}, e.span)
        if e.id in NN_MODULES:
            return self.layer_spec(e.id, "torch", [], {}, e.span)
        if e.id in FUNCTIONS or (self.loss and e.id in LOSSES):
            return FuncStage(e.id, [], {}, e.span)
        if e.id == "data":
            raise self.ctx.fail("'data' is a namespace: use data.classes, data.vocab or data.features", e.span,
                                code="E112")
        if e.id in self.ctx.imports:
            raise self.ctx.fail(f"'{e.id}' is an imported module: use {e.id}.Name", e.span, code="E112")
        candidates = [*self.scope, *self.ctx.blocks, *NN_MODULES, *FUNCTIONS, *(LOSSES if self.loss else ())]
        hint = did_you_mean(e.id, candidates)
        raise self.ctx.fail(f"unknown name '{e.id}'", e.span, hint, code="E113")

    def _expr_attr(self, e: ast.Attr):
        if e.attr.startswith("_"):
            raise self.ctx.fail(f"'{e.attr}' cannot be used: names starting with '_' are private", e.span,
                                code="E114")
        if (isinstance(e.value, ast.Attr) and e.value.attr == "classes_of" and isinstance(e.value.value, ast.Name)
                and e.value.value.id == "data" and "data" not in self.scope):
            return Const(self.ctx.data_classes_of(e.attr, e.span))
        if isinstance(e.value, ast.Name) and e.value.id not in self.scope:
            base = e.value.id
            if base == "data":
                return Const(self.ctx.data_attr(e.attr, e.span))
            if base in self.ctx.imports:
                return self.imported(base, e.attr, e.span)
            if base in self.ctx.failed_imports:
                raise Failed()
            raise self.ctx.fail(f"unknown namespace '{base}'", e.value.span,
                                did_you_mean(base, ["data", *self.ctx.imports]), code="E115")
        raise self.ctx.fail("only data.<name> and <import>.<Name> can be used with '.'", e.span, code="E116")

    def _expr_neg(self, e: ast.Neg):
        v = self.expr(e.operand)
        if isinstance(v, Const) and _is_number(v.value):
            return Const(-v.value)
        if isinstance(v, Tensor):
            return self.emit("function", "operator.neg", (v.ref,), {}, v.type, e.span, "neg")
        raise self.ctx.fail(f"cannot negate {describe(v)}", e.span, code="E117")

    def _expr_binop(self, e: ast.BinOp):
        left, right = self.expr(e.left), self.expr(e.right)
        if isinstance(left, Const) and isinstance(right, Const):
            return self._fold(e, left.value, right.value)
        if e.op == "*" and isinstance(right, Const) and isinstance(left, (LayerSpec, BlockSpec, Chain, FuncStage)):
            return self._repeat(left, right.value, e)
        if e.op == "*" and isinstance(left, Const) and isinstance(right, (LayerSpec, BlockSpec, Chain, FuncStage)):
            return self._repeat(right, left.value, e)
        for side in (left, right):
            if not isinstance(side, Tensor) and not (isinstance(side, Const) and _is_number(side.value)):
                raise self.ctx.fail(f"'{e.op}' works on tensors and numbers, got {describe(side)}", e.span,
                                    code="E118")
        lt = left.type if isinstance(left, Tensor) else _scalar(left.value)
        rt = right.type if isinstance(right, Tensor) else _scalar(right.value)
        try:
            if e.op == "@":
                out = matmul_type(lt, rt)
            else:
                out = broadcast(lt, rt, f"'{e.op}'")
                if e.op == "/" or (e.op == "**" and isinstance(right, Const) and isinstance(right.value, float)):
                    out = TensorType("float", out.shape, out.batch_dim)
        except ShapeProblem as p:
            raise self.ctx.fail(p.message, e.span, p.hint, code="E200")
        args = tuple(x.ref if isinstance(x, Tensor) else x.value for x in (left, right))
        base = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "//": "floordiv", "**": "pow", "@": "matmul"}[e.op]
        return self.emit("function", _OPERATOR[e.op], args, {}, out, e.span, base)

    def _fold(self, e: ast.BinOp, a, b):
        if not (_is_number(a) and _is_number(b)) or e.op == "@":
            raise self.ctx.fail(f"'{e.op}' cannot combine {a!r} and {b!r}", e.span, code="E119")
        if e.op in ("/", "//") and b == 0:
            raise self.ctx.fail("division by zero", e.right.span, code="E119")
        if e.op == "**" and (abs(b) > 64 or abs(a) > 10**6) and not isinstance(a, float):
            raise self.ctx.fail(f"{a} ** {b} is too large", e.span, code="E119")
        try:
            value = _FOLD[e.op](a, b)
        except (OverflowError, ZeroDivisionError, ValueError) as exc:
            raise self.ctx.fail(f"cannot compute {a!r} {e.op} {b!r}: {exc}", e.span, code="E119")
        if isinstance(value, complex):
            raise self.ctx.fail(f"{a!r} {e.op} {b!r} is not a real number", e.span, code="E119")
        if (isinstance(value, int) and abs(value) > MAX_INT) or (isinstance(value, float) and not math.isfinite(value)):
            raise self.ctx.fail(f"{a!r} {e.op} {b!r} is too large", e.span, f"the largest allowed is {MAX_INT}",
                                code="E119")
        return Const(value)

    def _repeat(self, stage, n, e: ast.BinOp) -> Chain:
        if not is_int(n) or n < 1:
            raise self.ctx.fail(f"a pipeline repeats a whole number of times (at least 1), got {n!r}",
                                e.right.span, code="E120")
        if n > MAX_REPEAT:
            raise self.ctx.fail(f"repeating {n} times is more than the {MAX_REPEAT} allowed", e.right.span,
                                code="E120")
        stages = stage_count(stage) * n
        if stages > MAX_NODES:
            raise self.ctx.fail(f"repeating {stage_count(stage):,} stages {n:,} times would make {stages:,} stages, "
                                f"more than the {MAX_NODES:,} specc accepts", e.right.span, code="E120")
        return Chain([copy_fresh(stage) for _ in range(n)], e.span)

    def _expr_pipeline(self, e: ast.Pipeline):
        first = self.expr(e.stages[0])
        if isinstance(first, (Tensor, Tup)):
            cur = first
            for stage_expr in e.stages[1:]:
                stage = self.stage(stage_expr)
                cur = self.apply_stage(stage, [cur], stage_expr.span)
            return cur
        stages = [self._as_stage(first, e.stages[0])] + [self.stage(s) for s in e.stages[1:]]
        return Chain(stages, e.span)

    def stage(self, e) -> Value:
        return self._as_stage(self.expr(e), e)

    def _as_stage(self, v: Value, e):
        if isinstance(v, (LayerSpec, BlockSpec, Chain, FuncStage)):
            return v
        raise self.ctx.fail(f"a pipeline stage must be a layer, a block or a function, got {describe(v)}",
                            e.span, code="E121")

    def _expr_index(self, e: ast.Index):
        v = self.expr(e.value)
        if isinstance(v, Tup):
            item = e.items[0] if len(e.items) == 1 else None
            idx = self.expr(item) if item is not None and not isinstance(item, (ast.Slice, ast.EllipsisExpr)) else None
            if not (isinstance(idx, Const) and is_int(idx.value)):
                raise self.ctx.fail("a tuple is indexed with one whole number", e.span, code="E122")
            if not -len(v.items) <= idx.value < len(v.items):
                raise self.ctx.fail(f"index {idx.value} is out of range for a tuple of {len(v.items)}", e.span,
                                    code="E122")
            return v.items[idx.value]
        if not isinstance(v, Tensor):
            raise self.ctx.fail(f"cannot index {describe(v)}", e.span, code="E123")
        return self.index_tensor(v, e)

    def _expr_call(self, e: ast.Call):
        return self.call(e)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _scalar(v) -> TensorType:
    return TensorType("float" if isinstance(v, float) else "long", (), None)
