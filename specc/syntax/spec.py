"""The whole file: :class:`Spec`, and :func:`parse_spec` (text -> validated Spec)."""
from __future__ import annotations

import codecs
from pathlib import Path
from typing import Optional

from pydantic import Field

from ..errors import Diagnostic, Span, SpecError
from ..files import FileProblem, read_file
from ..gc_pause import gc_paused
from . import ast
from .parser import _span_at, newlines, parse_tree
from .sections import DataOptions, TrainOptions, validate_entries
from .to_ast import ToAst, check_depth

MAX_CHARS = 1_000_000
"""The longest spec specc parses (about 40,000 statements): parsing takes time in proportion to
the text, about 0.3 ms a statement, so a longer one is refused at once, where it passes this."""

_SINGLE = {"data": "data", "train": "train", "loss": "loss", "optimizer": "optimizer", "schedule": "schedule"}


class Spec(ast.Node):
    """A parsed and validated spec file.

    Invariants: at most one each of data, train, loss, optimizer, schedule; model and block
    names unique; section options validated (``data.options`` is a DataOptions, ...). A spec
    parsed with ``defer_sections`` may hold refused section values: they are in ``problems``
    (positioned diagnostics) and missing from the options, which keep the good entries.
    """

    kind: str = "spec"
    items: list[ast.Item]
    path: Optional[str] = Field(default=None, exclude=True)
    source: str = Field(default="", exclude=True, repr=False)
    problems: list[Diagnostic] = Field(default_factory=list, exclude=True, repr=False)

    def _one(self, kind: str):
        return next((i for i in self.items if i.kind == kind), None)

    @property
    def data(self) -> Optional[ast.DataSection]:
        return self._one("data")

    @property
    def train(self) -> Optional[ast.TrainSection]:
        return self._one("train")

    @property
    def loss(self) -> Optional[ast.Loss]:
        return self._one("loss")

    @property
    def optimizer(self) -> Optional[ast.Optimizer]:
        return self._one("optimizer")

    @property
    def schedule(self) -> Optional[ast.Schedule]:
        return self._one("schedule")

    @property
    def models(self) -> dict[str, ast.Model]:
        return {i.name: i for i in self.items if i.kind == "model"}

    @property
    def blocks(self) -> dict[str, ast.Block]:
        return {i.name: i for i in self.items if i.kind == "block"}

    @property
    def imports(self) -> list[ast.Import]:
        return [i for i in self.items if i.kind == "import"]

    @property
    def data_options(self) -> Optional[DataOptions]:
        return self.data.options if self.data else None

    @property
    def train_options(self) -> TrainOptions:
        return self.train.options if self.train else TrainOptions()

    @property
    def base_dir(self) -> Path:
        """The folder that relative paths in the spec start from."""
        return Path(self.path).resolve().parent if self.path and not self.path.startswith("<") else Path.cwd()

    @property
    def name(self) -> str:
        return Path(self.path).stem if self.path and not self.path.startswith("<") else "spec"


@gc_paused
def parse_spec(text: str, path: str = "<spec>", *, defer_sections: bool = False) -> Spec:
    """Parse and validate ``text``; raise SpecError carrying every diagnostic found.

    Line ends are read as :func:`~specc.syntax.parser.newlines` says; ``Spec.source`` and every
    position refer to the text with ``\\n`` line ends. With ``defer_sections``, refused values
    in the data and train sections do not stop here: they are kept in ``Spec.problems`` for
    the check to report with everything else it finds.
    """
    if len(text) > MAX_CHARS:
        raise SpecError(Diagnostic(f"the spec is longer than the {MAX_CHARS:,} characters specc reads",
                                   _span_at(text, MAX_CHARS), "put large inline data in a CSV file: csv(\"...\")",
                                   code="E007", path=path), text)
    text = newlines(text)
    try:
        tree = parse_tree(text)
    except SpecError as err:
        raise err.with_context(path, text) from None
    deep = check_depth(tree)
    if deep is not None:
        raise SpecError(Diagnostic("the spec is nested too deeply", deep,
                                   "split the expression into several statements", code="E002", path=path), text)
    builder = ToAst()
    raw_items = builder.transform(tree)
    diags = list(builder.problems)
    section_diags: list[Diagnostic] = []
    items = [_section(raw, text, section_diags) if isinstance(raw, tuple) else raw for raw in raw_items]
    diags += _structure(items)
    if diags or (section_diags and not defer_sections):
        diags = sorted(diags + section_diags, key=lambda d: (d.span.line, d.span.column))
        raise SpecError(diags, text).with_context(path, text)
    return Spec(items=items, path=path, source=text, problems=section_diags)


def _section(raw, text: str, diags: list[Diagnostic]):
    kind, entries, span = raw
    if kind == "data":
        options, problems = validate_entries("data", DataOptions, entries, span, text)
        diags += problems
        return ast.DataSection(entries=entries, options=options, span=span)
    options, problems = validate_entries("train", TrainOptions, entries, span, text)
    diags += problems
    return ast.TrainSection(entries=entries, options=options, span=span)


def _structure(items) -> list[Diagnostic]:
    """At most one of each section; unique model and block names; at least one model."""
    diags = []
    seen: dict[str, Span] = {}
    for item in items:
        kind = item.kind
        if kind in _SINGLE:
            if kind in seen:
                diags.append(Diagnostic(f"a spec has at most one {kind} section", item.span,
                                        f"the first one is at line {seen[kind].line}", code="E040"))
            else:
                seen[kind] = item.span
        elif kind in ("model", "block"):
            key = f"name:{item.name}"
            if key in seen:
                diags.append(Diagnostic(f"'{item.name}' is defined twice", item.name_span,
                                        f"the first definition is at line {seen[key].line}", code="E041"))
            else:
                seen[key] = item.name_span
    models = [i for i in items if i.kind == "model"]
    if not models:
        first = items[0].span if items else Span()
        diags.append(Diagnostic("a spec needs at least one model", first,
                                "add: model Net(x: float[2]) { return x -> Linear(2) }", code="E042"))
    return diags


def read_spec_file(path: str | Path, *, defer_sections: bool = False) -> Spec:
    """Read a file (UTF-8, BOM allowed) and parse it (see :func:`parse_spec`); unreadable input
    is a SpecError too."""
    return parse_spec(read_spec_text(path), str(path), defer_sections=defer_sections)


def read_spec_text(path: str | Path) -> str:
    """The decoded text of a spec file (see :mod:`specc.files`); any problem is a SpecError."""
    p = Path(path)
    try:
        raw = read_file(p, "spec")
    except FileProblem as exc:
        message = f"no such file: {p}" if exc.missing else exc.message
        raise SpecError(Diagnostic(message, Span(), code="E050", path=str(p))) from None
    return decode(raw, str(p))


def decode(raw: bytes, path: str) -> str:
    """UTF-8 text of a spec; invalid bytes are an error at their line and column."""
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = newlines(body[: exc.start].decode("utf-8"))
        line = good.count("\n") + 1
        col = len(good) - (good.rfind("\n") + 1) + 1
        raise SpecError(Diagnostic(f"the file is not valid UTF-8 (byte 0x{body[exc.start]:02x})",
                                   Span(line, col, len(good), len(good) + 1), "save the spec as UTF-8",
                                   code="E001", path=path)) from None
