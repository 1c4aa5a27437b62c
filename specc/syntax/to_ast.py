"""lark parse tree -> AST.

The transformer only builds nodes. What it cannot build (a bad escape in a string, a number
too large to represent, a keyword or parameter given twice) it records as a diagnostic in
``problems`` and builds a stand-in, so the caller can report every such mistake at once. It is
non-recursive, so deeply nested input cannot overflow the stack here; :func:`check_depth` then
bounds the depth for later passes.
"""
from __future__ import annotations

import math

from lark import Token, Transformer_NonRecursive, Tree, v_args

from ..errors import Diagnostic, Span
from . import ast

MAX_DEPTH = 200
# Every whole number in a spec ends up as a torch int64 (a size, a count, a seed), and larger
# ones overflow float conversions downstream, so a literal beyond int64 is refused here.
MAX_INT = 2**63 - 1
# Reserved words (LANGUAGE section 1). The contextual lexer reads them as plain names where no
# keyword can stand (``data.classes``, ``valid.loss``), so binding positions are checked here.
KEYWORDS = frozenset("data model block loss optimizer schedule train import as return true false none full"
                     " not and or if else for in".split())


def span_of(meta) -> Span:
    if getattr(meta, "empty", True):
        return Span()
    return Span(meta.line, meta.column, meta.start_pos, meta.end_pos, meta.end_line, meta.end_column)


def token_span(tok: Token) -> Span:
    return Span(tok.line or 1, tok.column or 1, tok.start_pos or 0, tok.end_pos or 0,
                tok.end_line or tok.line or 1, tok.end_column or tok.column or 1)


_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


def _short(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"


def _binop(op: str):
    def build(self, meta, children):
        left, right = children
        return ast.BinOp(op=op, left=left, right=right, span=span_of(meta))
    return build


@v_args(meta=True)
class ToAst(Transformer_NonRecursive):
    """Builds :mod:`specc.syntax.ast` nodes; see the grammar's aliases for the names."""

    def __init__(self):
        super().__init__()
        self.problems: list[Diagnostic] = []

    # -------------------------------------------------------- atoms
    def name(self, meta, children):
        return ast.Name(id=str(children[0]), span=span_of(meta))

    def int(self, meta, children):
        text = str(children[0])
        try:
            value = int(text)
        except ValueError:  # more digits than Python converts
            value = MAX_INT + 1
        if value > MAX_INT:
            self._problem(f"number too large: {_short(text)}", span_of(meta), f"the largest allowed is {MAX_INT}")
            value = 0
        return ast.Number(value=value, text=text, span=span_of(meta))

    def float(self, meta, children):
        text = str(children[0])
        value = float(text)
        if not math.isfinite(value):
            self._problem(f"number too large: {_short(text)}", span_of(meta))
            value = 0.0
        return ast.Number(value=value, text=text, span=span_of(meta))

    def percent(self, meta, children):
        text = str(children[0])
        value = float(text[:-1]) / 100
        if not math.isfinite(value):
            self._problem(f"number too large: {_short(text)}", span_of(meta))
            value = 0.0
        return ast.Percent(value=value, text=text, span=span_of(meta))

    def string(self, meta, children):
        return ast.String(value=self._unescape(children[0]), span=span_of(meta))

    def true(self, meta, children):
        return ast.Const(value="true", span=span_of(meta))

    def false(self, meta, children):
        return ast.Const(value="false", span=span_of(meta))

    def none(self, meta, children):
        return ast.Const(value="none", span=span_of(meta))

    def full(self, meta, children):
        return ast.Const(value="full", span=span_of(meta))

    def range(self, meta, children):
        lo, hi = (self._small_int(c) for c in children)
        if lo > hi:
            self._problem(f"a range must go upwards: {lo}..{hi}", span_of(meta))
        return ast.Range(lo=lo, hi=hi, span=span_of(meta))

    def list(self, meta, children):
        return ast.ListExpr(items=[c for c in children if c is not None], span=span_of(meta))

    def tuple(self, meta, children):
        return ast.TupleExpr(items=[c for c in children if c is not None], span=span_of(meta))

    # -------------------------------------------------------- operators
    add = _binop("+")
    sub = _binop("-")
    mul = _binop("*")
    div = _binop("/")
    floordiv = _binop("//")
    matmul = _binop("@")
    pow = _binop("**")

    def compare(self, meta, children):
        left, op, right = children
        return ast.Compare(op=str(op), left=left, right=right, span=span_of(meta))

    def chained_compare(self, meta, children):
        second = children[3]
        self._problem(f"comparisons do not chain: '{children[1]} ... {second}'", token_span(second),
                      "write each comparison once and join them with 'and': a < b and b < c")
        return self.compare(meta, children[:3])

    def and_test(self, meta, children):
        left, right = children
        return ast.BoolOp(op="and", left=left, right=right, span=span_of(meta))

    def or_test(self, meta, children):
        left, right = children
        return ast.BoolOp(op="or", left=left, right=right, span=span_of(meta))

    def not_test(self, meta, children):
        return ast.Not(operand=children[0], span=span_of(meta))

    def neg(self, meta, children):
        return ast.Neg(operand=children[0], span=span_of(meta))

    def pipeline(self, meta, children):
        left, right = children
        if isinstance(left, ast.Pipeline):
            # The stages are built and validated nodes already; validating the list again at every
            # level of a left-nested chain would make ``x -> a -> b -> ...`` quadratic.
            return ast.Pipeline.model_construct(stages=[*left.stages, right], span=span_of(meta))
        return ast.Pipeline(stages=[left, right], span=span_of(meta))

    def attr(self, meta, children):
        value, name = children
        return ast.Attr(value=value, attr=str(name), span=span_of(meta))

    def call(self, meta, children):
        func, args = children
        positional, keywords = [], []
        for a in args or []:
            (keywords if isinstance(a, ast.Keyword) else positional).append(a)
        self._once([(k.name, k.name_span) for k in keywords], "keyword argument")
        return ast.Call(func=func, args=positional, kwargs=keywords, span=span_of(meta))

    def args(self, meta, children):
        return children

    def keyword(self, meta, children):
        name, value = children
        return ast.Keyword(name=str(name), value=value, span=span_of(meta), name_span=token_span(name))

    def index(self, meta, children):
        value, items = children
        return ast.Index(value=value, items=items, span=span_of(meta))

    def subscripts(self, meta, children):
        return children

    def slice(self, meta, children):
        lower, upper, step = children
        return ast.Slice(lower=lower, upper=upper, step=step, span=span_of(meta))

    def ellipsis(self, meta, children):
        return ast.EllipsisExpr(span=span_of(meta))

    # -------------------------------------------------------- models and blocks
    def int_dim(self, meta, children):
        return self._small_int(children[0])

    def sym_dim(self, meta, children):
        return str(children[0])

    def dims(self, meta, children):
        return children

    def tensor_type(self, meta, children):
        dtype, dims = children
        return ast.TypeRef(dtype=str(dtype), dims=dims or [], span=span_of(meta))

    def setting_type(self, meta, children):
        return ast.TypeRef(dtype=str(children[0]), dims=None, span=span_of(meta))

    def param(self, meta, children):
        name, type_, default = children
        return ast.Param(name=self._binding(name, "parameter"), type=type_, default=default,
                         span=span_of(meta))

    def params(self, meta, children):
        return children

    def body(self, meta, children):
        return children

    def _definition(self, cls, meta, children):
        name, params, body = children
        self._once([(p.name, p.span) for p in params or []], "parameter")
        return cls(name=self._binding(name, f"{cls.__name__.lower()} name"), params=params or [], body=body,
                   span=span_of(meta), name_span=token_span(name))

    def model_def(self, meta, children):
        return self._definition(ast.Model, meta, children)

    def block_def(self, meta, children):
        return self._definition(ast.Block, meta, children)

    def assign(self, meta, children):
        name, value = children
        return ast.Assign(target=self._binding(name, "variable"), value=value, span=span_of(meta))

    def name_target(self, meta, children):
        return ast.NameTarget(name=self._binding(children[0], "variable"), span=span_of(meta))

    def tuple_target(self, meta, children):
        return ast.TupleTarget(items=children, span=span_of(meta))

    def destructure(self, meta, children):
        *targets, value = children
        return ast.Destructure(targets=ast.TupleTarget(items=targets, span=span_of(meta)), value=value,
                               span=span_of(meta))

    def return_stmt(self, meta, children):
        return ast.Return(values=children, span=span_of(meta))

    def if_branch(self, meta, children):
        cond, body = children
        return ast.Branch(cond=cond, body=body, span=span_of(meta))

    def else_branch(self, meta, children):
        return ast.Branch(body=children[0], span=span_of(meta))

    def if_stmt(self, meta, children):
        return ast.If(branches=[c for c in children if c is not None], span=span_of(meta))

    def for_stmt(self, meta, children):
        *targets, iterable, body = children
        return ast.For(targets=targets, iter=iterable, body=body, span=span_of(meta))

    # -------------------------------------------------------- top level
    def dotted_name(self, meta, children):
        return ".".join(str(c) for c in children)

    def import_stmt(self, meta, children):
        what, alias = children
        alias = self._binding(alias, "namespace")
        if isinstance(what, Token) and what.type == "STRING":
            return ast.Import(path=self._unescape(what), alias=str(alias), span=span_of(meta))
        return ast.Import(module=what, alias=str(alias), span=span_of(meta))

    def entry(self, meta, children):
        key, value = children
        return ast.Entry(key=str(key), value=value, span=span_of(meta), key_span=token_span(key))

    def device_name(self, meta, children):
        name, number = children
        return ast.Name(id=f"{name}:{number}", span=span_of(meta))

    def data_section(self, meta, children):
        return ("data", children, span_of(meta))

    def train_section(self, meta, children):
        return ("train", children, span_of(meta))

    def loss_def(self, meta, children):
        return ast.Loss(value=children[0], span=span_of(meta))

    def optimizer_def(self, meta, children):
        return ast.Optimizer(value=children[0], span=span_of(meta))

    def schedule_def(self, meta, children):
        return ast.Schedule(value=children[0], span=span_of(meta))

    def start(self, meta, children):
        return children

    # -------------------------------------------------------- helpers
    def _problem(self, message: str, span: Span, hint: str | None = None, code: str = "E020") -> None:
        self.problems.append(Diagnostic(message, span, hint, code=code))

    def _once(self, names: list[tuple[str, Span]], what: str) -> None:
        self.problems += repeats(names, what)

    def _binding(self, tok: Token, what: str) -> str:
        """A name being bound; the keywords of section 1 of the language cannot be."""
        name = str(tok)
        if name in KEYWORDS:
            self._problem(f"'{name}' is a keyword and cannot be used as a {what}", token_span(tok),
                          f"choose another name, such as '{name}_'")
        return name

    def _small_int(self, tok: Token) -> int:
        """A range end or a dimension; absurdly long ones are an error, not a silent 0."""
        if len(tok) >= 100 or int(str(tok)) > MAX_INT:
            self._problem(f"number too large: {_short(str(tok))}", token_span(tok),
                          f"the largest allowed is {MAX_INT}")
            return 0
        return int(str(tok))

    def _unescape(self, tok: Token) -> str:
        body, out, i = str(tok)[1:-1], [], 0
        while i < len(body):
            c = body[i]
            if c == "\\" and i + 1 < len(body):
                esc = body[i + 1]
                if esc in _ESCAPES:
                    out.append(_ESCAPES[esc])
                else:
                    sp = token_span(tok)
                    col = sp.column + 1 + i
                    self._problem(f"unknown escape '\\{esc}' in string",
                                  Span(sp.line, col, sp.start + 1 + i, sp.start + 3 + i, sp.line, col + 2),
                                  'the escapes are \\" \\\\ \\n and \\t')
                    out.append(esc)
                i += 2
            else:
                out.append(c)
                i += 1
        return "".join(out)


def repeats(names: list[tuple[object, Span]], what: str) -> list[Diagnostic]:
    """Each name at most once: a repeat is a mistake at the repeat, naming the first."""
    first: dict[object, Span] = {}
    found = []
    for name, span in names:
        if name in first:
            found.append(Diagnostic(f"{what} {name!r} is given twice (first at line {first[name].line}, "
                                    f"column {first[name].column})", span, f"remove one of the two {name!r}",
                                    code="E021"))
        first.setdefault(name, span)
    return found


def check_depth(tree: Tree) -> Span | None:
    """The span of the first node nested deeper than MAX_DEPTH, counting a flat chain once.

    A pipeline ``x -> f -> g`` is a flat list of stages in the AST, so its left-nested chain
    counts as one level; an operator chain ``a + b + c`` is nested BinOps and counts fully
    (pydantic's dump and comparison of the AST recurse). The walk is iterative.
    """
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return span_of(node.meta)
        for i, child in enumerate(node.children):
            if isinstance(child, Tree):
                flat = i == 0 and child.data == node.data == "pipeline"
                stack.append((child, depth if flat else depth + 1))
    return None
