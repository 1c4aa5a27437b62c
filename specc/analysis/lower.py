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
from ..catalog.dims import arith, is_int, is_number
from ..errors import Span, did_you_mean
from ..syntax import ast
from ..syntax.to_ast import MAX_INT
from ..types import IntType, Ref, SymInt, TensorType, TupleType
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
# comparison -> (Python operator, fx target, name of its result)
_COMPARE = {"==": (operator.eq, "operator.eq", "eq"), "!=": (operator.ne, "operator.ne", "ne"),
            "<": (operator.lt, "operator.lt", "lt"), "<=": (operator.le, "operator.le", "le"),
            ">": (operator.gt, "operator.gt", "gt"), ">=": (operator.ge, "operator.ge", "ge")}
MAX_REPEAT = 10_000
MAX_NODES = 100_000
"""The most operations one model may run, its blocks opened; also the most stages a repeat makes."""


class _TooLarge(Exception):
    """The graph passed MAX_NODES (reported): lowering stops."""


class GraphLowerer(Applier):
    """Builds one :class:`GraphIR`. ``loss`` switches on the loss context (losses callable,
    reductions without ``dim`` reduce the batch too)."""

    def __init__(self, ctx: Context, name: str, kind: str, inputs: list[tuple[str, TensorType]],
                 settings: dict | None = None, loss: bool = False, dims: dict | None = None):
        """``dims``: the dim names of the signature that vary between batches, each as
        ``(input name, dim as PyTorch counts)`` (10.4); a dim bound to a number is in ``settings``."""
        self.ctx = ctx
        self.dims = dict(dims or {})
        self.assigning = None                  # the statement being evaluated (names a Parameter)
        self.loss = loss
        self.tuple_values: set[str] = set()   # ops whose result is a tuple (unpacked by getitem)
        self._stmt_start = 0                   # len(ir.ops) when the current statement began
        self._misplaced_return = False         # a return inside an if or a for was reported
        self._iterations = 0                   # loop iterations unrolled so far
        # a value must not hide an imported module in the generated forward (input F_ vs import F)
        self.values = Namespace(taken={safe(alias) for alias in ctx.imports})
        self.layer_names = Namespace()
        self.ir = GraphIR(name=name, inputs=[], kind=kind, settings=dict(settings or {}))
        self.scope: dict[str, Value] = {k: Const(v) for k, v in (settings or {}).items()}
        self.input_refs: dict[str, Ref] = {}
        for pname, t in inputs:
            safe_name = self.values.fresh(pname)
            self.ir.inputs.append((safe_name, t))
            self.input_refs[pname] = Ref(safe_name)
            self.scope[pname] = Tensor(Ref(safe_name), t)
        # dims that vary between batches: no if or for can be decided on them (blocks.py sets a block's)
        self.symbolic = {d for _, t in inputs for d in t.shape if isinstance(d, str)}

    # ------------------------------------------------------------ statements
    def run(self, body: list, where: Span) -> GraphIR:
        try:
            returned = self._statements(body, top=True)
        except _TooLarge:
            return self.ir
        if returned is None and not self._misplaced_return:
            self.ctx.error(f"{self.ir.name} has no return", where, "end it with: return <expression>", code="E102")
        self._drop_dead_getitems()
        return self.ir

    def _statements(self, body: list, top: bool = False):
        """Lower ``body`` in order; the Return it ends with, if any. ``top``: the model's or
        block's own body, the only place a ``return`` may stand."""
        returned = None
        for i, stmt in enumerate(body):
            if returned is not None:
                self.ctx.error("statement after return is never run", stmt.span, code="E101")
                break
            if isinstance(stmt, ast.Return) and not top:
                self._misplaced_return = True
                self.ctx.error("'return' cannot stand inside an if or a for", stmt.span,
                               "bind the result in every branch (or iteration) and return it at the end of the body",
                               code="E140")
                continue
            self._stmt_start = len(self.ir.ops)
            try:
                if isinstance(stmt, ast.Return):
                    returned = stmt
                    self._return(stmt)
                elif isinstance(stmt, ast.Assign):
                    self._assign(stmt)
                elif isinstance(stmt, ast.Destructure):
                    self._destructure(stmt)
                elif isinstance(stmt, ast.If):
                    self._if(stmt, body[i + 1:])
                else:
                    self._for(stmt)
            except Failed:
                for name in bound_names([stmt]):
                    self.scope[name] = Poison()
            if len(self.ir.ops) > MAX_NODES:       # a repeat makes at most MAX_NODES stages: this stops it
                self.ctx.error(f"{self.ir.name} runs more than the {MAX_NODES:,} operations specc accepts",
                               stmt.span, "a model this large is a typo, or a repeat that went too far",
                               code="E106")
                raise _TooLarge()
        return returned

    def _if(self, stmt: ast.If, rest: list) -> None:
        """Lower the branch whose condition holds; the others are only name-resolved."""
        self._branch_names(stmt, rest)
        taken, decided = None, True
        for br in stmt.branches:
            try:
                holds = br.cond is None or self._compile_time_bool(br.cond, "the condition of 'if'")
            except Failed:
                decided = False
                break
            if holds:
                taken = br
                break
        known = set(self.scope)
        for br in stmt.branches:
            if br is not taken:
                self._resolve(([br.cond] if br.cond is not None else []) + br.body, known)
        if taken is not None:
            self._statements(taken.body)
        if not decided:
            raise Failed()

    def _branch_names(self, stmt: ast.If, rest: list) -> None:
        """A name bound by some branches only (and not before the if) must not be used after it."""
        binds = [set(bound_names(br.body)) for br in stmt.branches]
        if stmt.branches[-1].cond is not None:
            binds.append(set())           # no else: the if may bind nothing
        partial = set().union(*binds) - set.intersection(*binds) - set(self.scope)
        for name in sorted(partial, key=lambda n: next(i for i, b in enumerate(binds) if n in b)):
            use = first_use(name, rest)
            if use is None:
                continue
            lines = [br.span.line for br, b in zip(stmt.branches, binds) if name in b]
            missing = [br.span.line for br, b in zip(stmt.branches, binds) if name not in b]
            where = (f"the branch at line {missing[0]} does not" if missing
                     else "there is no else branch")
            self.ctx.error(f"'{name}' is used after the if at line {stmt.span.line}, but only some of its branches "
                           f"bind it: the branch at line {lines[0]} binds it, {where}", use.span,
                           f"bind '{name}' in every branch, or before the if", code="E141")

    def _compile_time_bool(self, e, what: str) -> bool:
        """``e`` as a constant true or false, decided now; a tensor or a non-boolean is an error."""
        self._no_symbolic_dims(e, what)
        v = self.expr(e)
        if isinstance(v, Const) and isinstance(v.value, bool):
            return v.value
        if isinstance(v, (Tensor, Tup)):
            name = next((n.id for n in names_in(e) if isinstance(self.scope.get(n.id), (Tensor, Tup))), None)
            shown = f"'{name}'" if name is not None else "it"
            raise self.ctx.fail(f"{what} is decided at compile time; {shown} is a tensor - use where(...)", e.span,
                                "where(cond, a, b) chooses between tensors element by element", code="E142")
        hint = "compare it: write 'n != 0' rather than 'n'" if isinstance(v, Const) and is_number(v.value) else None
        raise self.ctx.fail(f"{what} must be true or false, got {describe(v)}", e.span, hint, code="E143")

    def _no_symbolic_dims(self, e, what: str) -> None:
        for n in names_in(e):
            if n.id not in self.scope and n.id in self.symbolic:
                raise self.ctx.fail(f"{what} is decided at compile time, but '{n.id}' is a dim that varies between "
                                    "batches", n.span, f"use a setting or a fixed size for '{n.id}'", code="E144")

    def _for(self, stmt: ast.For) -> None:
        """Unroll the loop: each iteration binds the loop variables and lowers the body afresh."""
        self._no_symbolic_dims(stmt.iter, "what a for loop runs over")
        if isinstance(stmt.iter, ast.Range):
            items = [Const(i) for i in range(stmt.iter.lo, stmt.iter.hi + 1)]
        else:
            v = self.expr(stmt.iter)
            if isinstance(v, Const) and isinstance(v.value, (list, tuple)):
                items = [Const(i) for i in v.value]
            elif isinstance(v, Tup):
                items = list(v.items)
            else:
                raise self.ctx.fail(f"a for loop is unrolled at compile time: it runs over a list, a tuple or a range "
                                    f"of constants, got {describe(v)}", stmt.iter.span,
                                    "write the values out: for c in [64, 128] or for i in 1..4", code="E145")
        if len(items) > MAX_REPEAT:
            raise self.ctx.fail(f"a for loop of {len(items):,} iterations is more than the {MAX_REPEAT:,} allowed",
                                stmt.iter.span, code="E146")
        self._iterations += len(items)
        if self._iterations > MAX_NODES:    # nested loops whose bodies make no operations
            self.ctx.error(f"the loops of {self.ir.name} run more than {MAX_NODES:,} iterations in all",
                           stmt.iter.span, "a model this large is a typo, or loops nested too deep", code="E146")
            raise _TooLarge()
        if not items:
            self._resolve(stmt.body, set(self.scope) | set(bound_names([stmt])))
        first, last = stmt.targets[0].span, stmt.targets[-1].span
        where = Span(first.line, first.column, first.start, last.end, last.end_line, last.end_column)
        target = stmt.targets[0] if len(stmt.targets) == 1 else ast.TupleTarget(items=stmt.targets, span=where)
        for item in items:
            self._bind_loop(target, item, stmt)
            self._statements(stmt.body)

    def _bind_loop(self, target, item: Value, stmt: ast.For) -> None:
        if isinstance(target, ast.TupleTarget) and isinstance(item, Const):
            if not isinstance(item.value, (list, tuple)) or len(item.value) != len(target.items):
                got = (f"{len(item.value)} values" if isinstance(item.value, (list, tuple))
                       else f"the constant {item.value!r}")
                raise self.ctx.fail(f"cannot unpack {got} into the {len(target.items)} loop variables", target.span,
                                    f"each item must hold {len(target.items)} values, one per variable",
                                    code="E147")
            for t, i in zip(target.items, item.value):
                self._bind_loop(t, Const(i), stmt)
            return
        self._bind_targets(target, item, stmt.span)

    def _resolve(self, stmts: list, known: set) -> None:
        """Report unknown names in code that is not lowered (an untaken branch, an empty loop)."""
        known = set(known)
        for node in stmts:
            if isinstance(node, ast.For):
                self._resolve([node.iter], known)
                known |= set(bound_names([node]))
                self._resolve(node.body, known)
                continue
            if isinstance(node, ast.If):
                for br in node.branches:
                    self._resolve(([br.cond] if br.cond is not None else []) + br.body, known)
                known |= set(bound_names([node]))
                continue
            for n in names_in(node):
                if n.id not in known and not self._global_name(n.id):
                    hint = did_you_mean(n.id, [*known, *self.ctx.blocks, *NN_MODULES, *FUNCTIONS])
                    self.ctx.error(f"unknown name '{n.id}'", n.span, hint, code="E113")
            known |= set(bound_names([node]))

    def _global_name(self, name: str) -> bool:
        return (name in self.ctx.blocks or name in NN_MODULES or name in FUNCTIONS or name == "data"
                or name in self.ctx.imports or name in self.ctx.failed_imports or name in self.symbolic
                or (self.loss and name in LOSSES))

    def _assign(self, stmt: ast.Assign) -> None:
        self.assigning = stmt
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
        if e.id in self.dims:
            return self.dim_value(e.id, e.span)
        if e.id == "data":
            raise self.ctx.fail("'data' is a namespace: use data.classes, data.vocab or data.features", e.span,
                                code="E112")
        if e.id in self.ctx.imports:
            raise self.ctx.fail(f"'{e.id}' is an imported module: use {e.id}.Name", e.span, code="E112")
        candidates = [*self.scope, *self.dims, *self.ctx.blocks, *NN_MODULES, *FUNCTIONS,
                      *(LOSSES if self.loss else ())]
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
            layers = [k for k, v in self.scope.items() if isinstance(v, LayerSpec)]    # tok.weight (10.6)
            raise self.ctx.fail(f"unknown name '{base}' before '.{e.attr}'", e.value.span,
                                did_you_mean(base, ["data", *self.ctx.imports, *layers]), code="E115")
        owner = self.scope[e.value.id] if isinstance(e.value, ast.Name) else None
        if isinstance(owner, Poison):
            raise Failed()
        if isinstance(owner, (LayerSpec, BlockSpec)):
            return self.layer_param(owner, e)
        raise self.ctx.fail("only data.<name> and <import>.<Name> can be used with '.'", e.span, code="E116")

    def _expr_neg(self, e: ast.Neg):
        v = self.expr(e.operand)
        if isinstance(v, Const) and is_number(v.value):
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
        if isinstance(left, SymInt) or isinstance(right, SymInt):
            size = self._size_arith(e, left, right)
            if size is not None:
                args = tuple(x.ref if isinstance(x, SymInt) else x.value for x in (left, right))
                return self.emit_int("function", _OPERATOR[e.op], args, size, e.span, "size")
        for side in (left, right):
            if not isinstance(side, (Tensor, SymInt)) and not (isinstance(side, Const) and is_number(side.value)):
                raise self.ctx.fail(f"'{e.op}' works on tensors and numbers, got {describe(side)}", e.span,
                                    code="E118")
        lt = left.type if isinstance(left, Tensor) else _scalar(0 if isinstance(left, SymInt) else left.value)
        rt = right.type if isinstance(right, Tensor) else _scalar(0 if isinstance(right, SymInt) else right.value)
        try:
            if e.op == "@":
                out = matmul_type(lt, rt)
            else:
                out = broadcast(lt, rt, f"'{e.op}'")
                if e.op == "/" or (e.op == "**" and isinstance(right, Const) and isinstance(right.value, float)):
                    out = TensorType("float", out.shape, out.batch_dim)
        except ShapeProblem as p:
            raise self.ctx.fail(p.message, e.span, p.hint, code="E200")
        args = tuple(x.ref if isinstance(x, (Tensor, SymInt)) else x.value for x in (left, right))
        base = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "//": "floordiv", "**": "pow", "@": "matmul"}[e.op]
        return self.emit("function", _OPERATOR[e.op], args, {}, out, e.span, base)

    def _expr_compare(self, e: ast.Compare):
        left, right = self.expr(e.left), self.expr(e.right)
        fold, target, base = _COMPARE[e.op]
        if isinstance(left, Const) and isinstance(right, Const):
            try:
                return Const(bool(fold(left.value, right.value)))
            except TypeError:
                raise self.ctx.fail(f"'{e.op}' cannot compare {left.value!r} and {right.value!r}", e.span,
                                    code="E119") from None
        for side in (left, right):
            if not isinstance(side, Tensor) and not (isinstance(side, Const) and isinstance(side.value, (int, float))):
                raise self.ctx.fail(f"'{e.op}' compares tensors and numbers, got {describe(side)}", e.span,
                                    code="E118")
        lt = left.type if isinstance(left, Tensor) else _scalar(left.value)
        rt = right.type if isinstance(right, Tensor) else _scalar(right.value)
        try:
            out = broadcast(lt, rt, f"'{e.op}'")
        except ShapeProblem as p:
            raise self.ctx.fail(p.message, e.span, p.hint, code="E200")
        args = tuple(x.ref if isinstance(x, Tensor) else x.value for x in (left, right))
        return self.emit("function", target, args, {}, TensorType("bool", out.shape, out.batch_dim), e.span, base)

    def _expr_boolop(self, e: ast.BoolOp):
        left = self._truth(e.left, f"'{e.op}'")
        if left == (e.op == "or"):          # decided by the left side, as in Python
            self._resolve([e.right], set(self.scope))
            return Const(left)
        return Const(self._truth(e.right, f"'{e.op}'"))

    def _expr_not(self, e: ast.Not):
        return Const(not self._truth(e.operand, "'not'"))

    def _truth(self, e, what: str) -> bool:
        """An operand of and/or/not: a compile-time true or false."""
        v = self.expr(e)
        if isinstance(v, Const) and isinstance(v.value, bool):
            return v.value
        if isinstance(v, (Tensor, Tup)):
            raise self.ctx.fail(f"{what} works on compile-time true/false values, got {describe(v)}", e.span,
                                "on tensors, compare (h > 0) and choose with where(cond, a, b)", code="E148")
        hint = "compare it: write 'n != 0' rather than 'n'" if isinstance(v, Const) and is_number(v.value) else None
        raise self.ctx.fail(f"{what} works on true and false, got {describe(v)}", e.span, hint, code="E148")
    def _size_arith(self, e: ast.BinOp, left, right):
        """The symbolic size of ``t - 1``, ``d // heads``... on sizes (whole numbers and dims that
        vary between batches), or None when a side is not a size (a tensor: ``x * t``)."""
        if e.op not in ("+", "-", "*", "//") or not all(
                isinstance(x, SymInt) or (isinstance(x, Const) and is_int(x.value)) for x in (left, right)):
            if all(isinstance(x, (SymInt, Const)) for x in (left, right)):
                raise self.ctx.fail(f"'{e.op}' on a size that varies between batches gives no whole number; "
                                    "sizes combine with + - * //", e.span, code="E119")
            return None
        a, b = (x.size if isinstance(x, SymInt) else x.value for x in (left, right))
        if e.op == "//" and b == 0:
            raise self.ctx.fail("division by zero", e.right.span, code="E119")
        return arith(a, e.op, b)

    def emit_int(self, op: str, target: str, args: tuple, size, span: Span, base: str) -> SymInt:
        """An op that computes a whole number when the model runs (a size, 10.4)."""
        name = self.values.fresh(base)
        self.ir.ops.append(Op(name, op, target, args, {}, IntType(size), span))
        return SymInt(Ref(name), size)

    def dim_value(self, name: str, span: Span) -> SymInt:
        """A dim name of the signature as a value: read from its input once, where first used."""
        where = self.dims[name]
        if isinstance(where, SymInt):
            return where
        pname, dim = where
        value = self.emit_int("method", "size", (self.input_refs[pname], dim), name, span, name)
        self.dims[name] = value
        return value

    def _fold(self, e: ast.BinOp, a, b):
        if not (is_number(a) and is_number(b)) or e.op == "@":
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


def names_in(node):
    """Every Name that ``node`` (an AST node or a list of them) reads, in source order."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, list):
            stack.extend(reversed(n))
        elif isinstance(n, ast.Name):
            yield n
        elif isinstance(n, ast.Node):
            stack.extend(reversed([getattr(n, f) for f in type(n).model_fields if f != "span"]))


def bound_names(stmts: list) -> list[str]:
    """The names that ``stmts`` bind, nested branches and loop bodies included."""
    out: list[str] = []
    for stmt in stmts:
        if isinstance(stmt, ast.Assign):
            out.append(stmt.target)
        elif isinstance(stmt, ast.Destructure):
            out += _target_names(stmt.targets)
        elif isinstance(stmt, ast.For):
            out += [n for t in stmt.targets for n in _target_names(t)] + bound_names(stmt.body)
        elif isinstance(stmt, ast.If):
            out += [n for br in stmt.branches for n in bound_names(br.body)]
    return out


def _target_names(t) -> list[str]:
    if isinstance(t, ast.NameTarget):
        return [t.name] if t.name != "_" else []
    return [n for i in t.items for n in _target_names(i)]


def first_use(name: str, stmts: list):
    """The first Name reading ``name`` in ``stmts`` before a statement rebinds it; None if none."""
    for stmt in stmts:
        use = next((n for n in names_in(stmt) if n.id == name), None)
        if use is not None:
            return use
        if isinstance(stmt, (ast.Assign, ast.Destructure)) and name in bound_names([stmt]):
            return None
    return None
def signature_dims(params, types: list[TensorType]) -> tuple[dict, dict]:
    """The dim names a signature binds, as values (10.4): ``(known, varying)``; ``known`` maps
    a name to its number, ``varying`` maps it to ``(input name, dim as PyTorch counts)``."""
    known, varying = {}, {}
    for p, t in zip(params, types):
        for i, (d, got) in enumerate(zip(p.type.dims, t.shape)):
            if isinstance(d, str) and d not in known and d not in varying:
                if is_int(got):
                    known[d] = got
                else:
                    varying[d] = (p.name, i + (t.batch_dim is not None and i >= t.batch_dim))
    return known, varying


def _scalar(v) -> TensorType:
    return TensorType("float" if isinstance(v, float) else "long", (), None)
