"""Canonical layout of a spec (``specc fmt``).

The formatter prints the AST (one method per node kind, looked up in a table), so the layout
never depends on how the user spaced things; only three facts come from the source text:
the comments, where the user left blank lines, and whether a data/train section was written
on one line. Its contract, tested over a corpus and with hypothesis: the output parses to the
same AST as the input, and formatting it again changes nothing.

Comments are attached to the statement, entry or item they belong to: an own-line comment
to the next one (printed before it at its indentation), a trailing comment to the one on
its line (printed after it, two spaces before ``#``). A statement written over several lines
is printed on one: its own-line comments move before it and its trailing comments are joined.
A statement longer than ONE_LINE_LIMIT whose value is a pipeline is broken before each ``->``,
the stages aligned under the first (section 10.11); one whose value is a call gets its
arguments on the lines after the ``(``.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from . import ast
from .parser import Comment, comments, split_comment
from .spec import Spec, parse_spec

INDENT = "    "
ONE_LINE_LIMIT = 100

# Binding strength of each grammar level (specc.lark): a sub-expression weaker than the place
# it stands in gets parentheses, and no other parentheses are printed.
OR, AND, NOT, COMPARE, PIPE, SUM, PRODUCT, UNARY, POWER, POSTFIX, ATOM = range(1, 12)
_BINOP_LEVEL = {"+": SUM, "-": SUM, "*": PRODUCT, "/": PRODUCT, "//": PRODUCT, "@": PRODUCT, "**": POWER}
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"})


def format_spec(text: str, path: str = "<spec>") -> str:
    """The canonical text of the spec ``text``; raises SpecError if it does not parse."""
    return format_resolved(parse_spec(text, path))


def format_resolved(spec: Spec) -> str:
    """The canonical text of a parsed spec, ``--set`` overrides included, laid out as ``specc
    fmt`` lays out the file: comments and blank lines are kept, an entry or item from ``--set``
    stands where the one it replaced stood (with its comments), an added one comes last."""
    return _Formatter(spec.source).file(spec.items)


def quote(value: str) -> str:
    """A string literal in spec syntax."""
    return '"' + value.translate(_STRING_ESCAPES) + '"'


class _Expressions:
    """Expression -> text. Each method returns (text, level of the construct)."""

    def __init__(self):
        self.table = {
            "name": self.name, "attr": self.attr, "number": self.number, "percent": self.percent,
            "string": self.string, "const": self.const, "range": self.range, "list": self.list,
            "tuple": self.tuple, "binop": self.binop, "neg": self.neg, "call": self.call,
            "keyword": self.keyword, "index": self.index, "slice": self.slice,
            "ellipsis": self.ellipsis, "pipeline": self.pipeline, "compare": self.compare,
            "boolop": self.boolop, "not": self.not_,
        }

    def __call__(self, node, level: int = OR) -> str:
        text, own = self.table[node.kind](node)
        return f"({text})" if own < level else text

    def join(self, nodes) -> str:
        return ", ".join(self(n) for n in nodes)

    def name(self, n: ast.Name):
        return n.id, ATOM

    def attr(self, n: ast.Attr):
        return f"{self(n.value, POSTFIX)}.{n.attr}", POSTFIX

    def number(self, n: ast.Number):
        return n.text or repr(n.value), ATOM

    def percent(self, n: ast.Percent):
        return n.text or f"{n.value * 100:g}%", ATOM

    def string(self, n: ast.String):
        return quote(n.value), ATOM

    def const(self, n: ast.Const):
        return n.value, ATOM

    def range(self, n: ast.Range):
        return f"{n.lo}..{n.hi}", ATOM

    def list(self, n: ast.ListExpr):
        return f"[{self.join(n.items)}]", ATOM

    def tuple(self, n: ast.TupleExpr):
        return f"({self.join(n.items)}{',' if len(n.items) == 1 else ''})", ATOM

    def binop(self, n: ast.BinOp):
        level = _BINOP_LEVEL[n.op]
        if n.op == "**":  # right-associative, and its right side may be negated: a ** -b ** c
            return f"{self(n.left, POSTFIX)} ** {self(n.right, UNARY)}", level
        return f"{self(n.left, level)} {n.op} {self(n.right, level + 1)}", level

    def compare(self, n: ast.Compare):
        # comparisons do not chain: a comparison on either side gets parentheses
        return f"{self(n.left, PIPE)} {n.op} {self(n.right, PIPE)}", COMPARE

    def boolop(self, n: ast.BoolOp):
        level = AND if n.op == "and" else OR
        return f"{self(n.left, level)} {n.op} {self(n.right, level + 1)}", level

    def not_(self, n: ast.Not):
        return f"not {self(n.operand, NOT)}", NOT

    def neg(self, n: ast.Neg):
        return f"-{self(n.operand, UNARY)}", UNARY

    def call(self, n: ast.Call):
        return f"{self(n.func, POSTFIX)}({self.join([*n.args, *n.kwargs])})", POSTFIX

    def keyword(self, n: ast.Keyword):
        return f"{n.name}={self(n.value)}", ATOM

    def index(self, n: ast.Index):
        return f"{self(n.value, POSTFIX)}[{self.join(n.items)}]", POSTFIX

    def slice(self, n: ast.Slice):
        lower, upper = (self(b) if b is not None else "" for b in (n.lower, n.upper))
        step = f":{self(n.step)}" if n.step is not None else ""
        return f"{lower}:{upper}{step}", ATOM

    def ellipsis(self, n: ast.EllipsisExpr):
        return "...", ATOM

    def pipeline(self, n: ast.Pipeline):
        return " -> ".join(self.stages(n)), PIPE

    def stages(self, n: ast.Pipeline) -> list[str]:
        return [self(s, SUM) for s in n.stages]


@dataclass(frozen=True)
class _File:
    """The whole file, as the outermost container of comments."""

    items: list
    kind: str = "file"


class _Formatter:
    """Statements, items and comments -> lines."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.split("\n")
        self.expr = _Expressions()
        self.statements = {
            "import": self.import_, "loss": self.setting, "optimizer": self.setting,
            "schedule": self.setting, "assign": self.assign, "destructure": self.destructure,
            "return": self.return_, "entry": self.entry,
        }
        self.blocks = {"model": self.definition, "block": self.definition,
                       "data": self.section, "train": self.section, "if": self.if_, "for": self.for_}
        # comments by (id of the node they belong to, slot): lead, trail, head, close, foot
        self.attached: dict[tuple[int, str], list[Comment]] = defaultdict(list)

    # ---------------------------------------------------------------- the file
    def file(self, items) -> str:
        root = _File(items)
        for c in comments(self.text):
            owner, slot = self.place(c, root)
            self.attached[(id(owner), slot)].append(c)
        out = self.body(root, items, depth=0, top=True)
        return "\n".join(out).rstrip("\n") + "\n" if out else ""

    # ---------------------------------------------------------------- comment placement
    def children(self, node):
        if node.kind in ("model", "block", "branch", "for"):
            return node.body
        if node.kind in ("data", "train"):
            return node.entries
        if node.kind == "if":
            return node.branches
        return node.items if node.kind == "file" else None

    def head_end(self, node) -> int:
        """The last line of a container's header (the line of its ``{``); 0 for the file."""
        if node.kind in ("data", "train"):
            return node.span.line
        if node.kind == "file":
            return 0
        if node.kind == "if":
            return self.head_end(node.branches[0])
        if node.kind == "branch" and node.cond is None:   # else: the '{' after the keyword
            start = (node.span.line, node.span.column)
        else:
            if node.kind == "branch":
                after = node.cond.span
            elif node.kind == "for":
                after = node.iter.span
            else:
                after = node.params[-1].span if node.params else node.name_span
            start = (after.end_line, after.end_column)
        for lineno in range(start[0], len(self.lines) + 1):
            line = self.lines[lineno - 1]
            if lineno == start[0]:
                line = line[start[1] - 1:]
            if "{" in split_comment(line)[0]:
                return lineno
        return node.span.line

    def end_line(self, node) -> int:
        return len(self.lines) + 1 if node.kind == "file" else node.span.end_line

    @staticmethod
    def extent(node) -> tuple[int, int] | None:
        """The file lines of ``node``: its own, or for a node from ``--set`` those of the node
        it replaced; None for a node ``--set`` added."""
        span = node.span.in_file
        return (span.line, span.end_line) if span is not None else None

    def place(self, c: Comment, node):
        """(owner, slot) for comment ``c`` inside the container ``node``."""
        kids = [k for k in self.children(node) if self.extent(k) is not None]
        inside = [k for k in kids if self.extent(k)[0] <= c.line <= self.extent(k)[1]]
        if inside:
            kid = inside[-1]
            if self.children(kid) is not None:
                return self.place(c, kid)
            return kid, "lead" if c.own_line else "trail"
        if c.line <= self.head_end(node):
            return node, "lead" if c.own_line else "head"
        if not c.own_line and c.line == self.end_line(node):
            return node, "close"
        following = next((k for k in kids if self.extent(k)[0] > c.line), None)
        return (following, "lead") if following is not None else (node, "foot")

    def trailing(self, node, *slots) -> str:
        found = sorted((c for s in slots for c in self.attached[(id(node), s)]), key=lambda c: c.line)
        return "".join("  " + c.text for c in found)

    def blank_between(self, last: int, first: int) -> bool:
        return any(not self.lines[i - 1].strip() for i in range(last + 1, first) if i <= len(self.lines))

    # ---------------------------------------------------------------- layout
    def body(self, node, kids, depth: int, top: bool = False) -> list[str]:
        """Children of ``node`` with their comments, blank lines kept (at most one).

        At the top level a multi-line item is always set off by a blank line; between one-line
        items (imports, ``loss = ...``) the user's choice is kept.
        """
        units: list[tuple[int, int, list[str], bool]] = []  # first line, last line, text, blank before
        pad = INDENT * depth
        prev_multi = False
        prev_end = self.head_end(node)
        for kid in kids:
            text = self.node(kid, depth)
            force = top and (prev_multi or len(text) > 1)
            leads = sorted(self.attached[(id(kid), "lead")], key=lambda c: c.line)
            units += [(c.line, c.line, [pad + c.text], force and i == 0) for i, c in enumerate(leads)]
            first, end = self.extent(kid) or (prev_end, prev_end)  # added by --set: where the one before ended
            units.append((first, end, text, force and not leads))
            prev_multi, prev_end = len(text) > 1, max(end, prev_end)
        for c in sorted(self.attached[(id(node), "foot")], key=lambda c: c.line):
            units.append((c.line, c.line, [pad + c.text], False))
        out: list[str] = []
        last = None
        for first, end, text, blank in units:
            if last is not None and (blank or self.blank_between(last, first)):
                out.append("")
            out.extend(text)
            last = max(end, last or 0)
        return out

    def node(self, node, depth: int) -> list[str]:
        if node.kind in self.blocks:
            return self.blocks[node.kind](node, depth)
        pad = INDENT * depth
        line = self.statements[node.kind](node)
        value = node.values[0] if node.kind == "return" and len(node.values) == 1 else getattr(node, "value", None)
        if len(pad + line) > ONE_LINE_LIMIT and isinstance(value, ast.Pipeline):
            line = self.broken(line[:len(line) - len(self.expr(value))], value, pad)
        elif len(pad + line) > ONE_LINE_LIMIT and isinstance(value, ast.Call):
            line = self.opened(line[:len(line) - len(self.expr(value))], value, pad)
        return [pad + line + self.trailing(node, "trail")]

    def opened(self, head: str, call: ast.Call, pad: str) -> str:
        """``head`` and a call whose arguments go on the lines after its ``(``: together when they
        fit, else one a line, and ``)`` alone at the statement's indentation."""
        inner = pad + INDENT
        args = [self.expr(a) for a in [*call.args, *call.kwargs]]
        together = inner + ", ".join(args)
        body = together if len(together) <= ONE_LINE_LIMIT else ",\n".join(inner + a for a in args)
        return f"{head}{self.expr(call.func, POSTFIX)}(\n{body}\n{pad})"

    def broken(self, head: str, pipe: ast.Pipeline, pad: str) -> str:
        """``head`` and the pipeline, one stage a line, each ``->`` under the first stage."""
        first, *rest = self.expr.stages(pipe)
        under = "\n" + pad + " " * len(head)
        return head + first + "".join(f"{under}-> {s}" for s in rest)

    def if_(self, node: ast.If, depth: int) -> list[str]:
        pad, out, prev = INDENT * depth, [], None
        for br in node.branches:
            cond = f" {self.expr(br.cond)}" if br.cond is not None else ""
            keyword = "if" if prev is None else "} else if" if br.cond is not None else "} else"
            close = self.trailing(prev, "close") if prev is not None else ""
            out.append(f"{pad}{keyword}{cond} {{" + close + self.trailing(br, "head"))
            # a comment on its own line between '}' and 'else' opens the branch it stood before
            leads = sorted(self.attached[(id(br), "lead")], key=lambda c: c.line)
            out += [INDENT * (depth + 1) + c.text for c in leads] + self.body(br, br.body, depth + 1)
            prev = br
        return out + [pad + "}" + self.trailing(prev, "close")]

    def for_(self, node: ast.For, depth: int) -> list[str]:
        pad = INDENT * depth
        head = f"for {self.target_list(node.targets)} in {self.expr(node.iter)} {{" + self.trailing(node, "head")
        return [pad + head, *self.body(node, node.body, depth + 1), pad + "}" + self.trailing(node, "close")]

    def definition(self, node, depth: int) -> list[str]:
        params = ", ".join(self.param(p) for p in node.params)
        head = f"{node.kind} {node.name}({params}) {{" + self.trailing(node, "head")
        return [INDENT * depth + head, *self.body(node, node.body, depth + 1),
                INDENT * depth + "}" + self.trailing(node, "close")]

    def section(self, node, depth: int) -> list[str]:
        entries = [self.entry(e) for e in node.entries]
        one_line = f"{node.kind} {{ {', '.join(entries)} }}" if entries else f"{node.kind} {{}}"
        has_own_line = self.attached[(id(node), "foot")] or any(self.attached[(id(e), "lead")]
                                                                 for e in node.entries)
        if node.span.line == node.span.end_line and len(one_line) < ONE_LINE_LIMIT and not has_own_line:
            trail = self.trailing(node, "head", "close") + "".join(self.trailing(e, "trail") for e in node.entries)
            return [INDENT * depth + one_line + trail]
        return [INDENT * depth + f"{node.kind} {{" + self.trailing(node, "head"),
                *self.body(node, node.entries, depth + 1),
                INDENT * depth + "}" + self.trailing(node, "close")]

    # ---------------------------------------------------------------- one-line statements
    def param(self, p: ast.Param) -> str:
        dims = f"[{', '.join(str(d) for d in p.type.dims)}]" if p.type.dims is not None else ""
        default = f" = {self.expr(p.default)}" if p.default is not None else ""
        return f"{p.name}: {p.type.dtype}{dims}{default}"

    def import_(self, n: ast.Import) -> str:
        return f"import {quote(n.path) if n.path is not None else n.module} as {n.alias}"

    def setting(self, n) -> str:
        return f"{n.kind} = {self.expr(n.value)}"

    def entry(self, n: ast.Entry) -> str:
        return f"{n.key} = {self.expr(n.value)}"

    def assign(self, n: ast.Assign) -> str:
        return f"{n.target} = {self.expr(n.value)}"

    def destructure(self, n: ast.Destructure) -> str:
        return f"{self.targets(n.targets)} = {self.expr(n.value)}"

    def targets(self, t: ast.TupleTarget) -> str:
        return self.target_list(t.items)

    def target_list(self, items) -> str:
        return ", ".join(i.name if i.kind == "name_target" else f"({self.targets(i)})" for i in items)

    def return_(self, n: ast.Return) -> str:
        return "return " + self.expr.join(n.values)
