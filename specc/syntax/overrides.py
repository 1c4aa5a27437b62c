"""``--set target=value``: change one entry of a parsed spec, as if it had been written.

Targets are ``data.KEY`` and ``train.KEY`` (an entry of that section; the section is added if
the spec has none), ``loss``, ``optimizer`` and ``schedule`` (the whole entry), and
``loss.KEY``, ``optimizer.KEY``, ``schedule.KEY`` (one keyword argument of that call; without an
optimizer line, ``optimizer.KEY`` changes the default optimizer). The value is parsed with the
spec grammar, so ``--set train.epochs=5`` and ``--set data.valid=10%`` take the file's syntax.

Every node made from a ``--set`` value has spans whose origin is the ``--set`` text, so any
later diagnostic (validation, analysis, data loading, a divergence at run time) is positioned
and quoted in that text; the origin also holds the span of the entry or item it replaced
(``format_resolved`` prints the new one there). Mistakes in several ``--set`` values are
reported together, in the order given.
"""
from __future__ import annotations

from dataclasses import replace
import re

from ..errors import Diagnostic, Origin, Span, SpecError
from . import ast
from .parser import parse_tree
from .spec import Spec, _section
from .to_ast import ToAst, check_depth

# The optimizer of a spec without an optimizer line: (class name, args, kwargs).
DEFAULT_OPTIMIZER = ("Adam", [], {"lr": 0.001})

_SECTIONS = {"data": ast.DataSection, "train": ast.TrainSection}
_CALLS = {"loss": ast.Loss, "optimizer": ast.Optimizer, "schedule": ast.Schedule}
_TARGET = re.compile(r"[ \t]*([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?[ \t]*=")
_TARGETS = "data.KEY, train.KEY, loss, optimizer, schedule, or one argument such as optimizer.lr"


def apply_overrides(spec: Spec, sets: list[str]) -> Spec:
    """A new Spec with every ``target=value`` applied, validated like the file (whose own
    refused values, if it was parsed with ``defer_sections``, are reported first).

    Raises one SpecError with a diagnostic for each mistake, in any of the values.
    """
    if spec.problems:
        raise SpecError(spec.problems, spec.source).with_context(spec.path or "<spec>", spec.source)
    items = list(spec.items)
    diags: list[Diagnostic] = []
    touched: set[str] = set()
    for text in sets:
        try:
            items = _apply(items, text, touched)
        except SpecError as err:
            diags += err.diagnostics
    items = [_section((i.kind, i.entries, i.span), spec.source, diags) if i.kind in touched else i for i in items]
    if diags:
        order = {text: n for n, text in reversed(list(enumerate(sets)))}
        raise SpecError(sorted(diags, key=lambda d: order.get(d.span.origin.text if d.span.origin else None,
                                                              len(order))), spec.source)
    return Spec(items=items, path=spec.path, source=spec.source)


def _apply(items: list, text: str, touched: set[str]) -> list:
    m = _TARGET.match(text)
    origin = Origin("--set", text)
    if m is None:
        raise _error(origin, "--set takes target=value, like train.epochs=5", 0, len(text), f"targets: {_TARGETS}")
    section, key = m.group(1, 2)
    if section not in _SECTIONS and section not in _CALLS:
        raise _error(origin, f"--set cannot change '{section}'", m.start(1), m.end(1), f"targets: {_TARGETS}")
    if section in _SECTIONS and key is None:
        raise _error(origin, f"--set changes one entry of {section} at a time", m.start(1), m.end(1),
                     f"write {section}.KEY=value")
    index = next((i for i, item in enumerate(items) if item.kind == section), None)
    old = items[index] if index is not None else None
    if section in _SECTIONS and old is not None:
        previous = next((e for e in old.entries if e.key == key), None)
        origin = Origin("--set", text, previous.span.in_file if previous is not None else None)
    elif key is None and old is not None:
        origin = Origin("--set", text, old.span.in_file)
    value = _value(origin, m.end())
    whole = _span(origin, m.start(1), len(text))
    if section in _SECTIONS:
        touched.add(section)
        entry = ast.Entry(key=key, value=value, key_span=_span(origin, m.start(2), m.end(2)),
                          span=_span(origin, m.start(2), len(text)))
        new = old.model_copy(update={"entries": _replaced(old.entries, "key", entry)}) if old is not None \
            else _SECTIONS[section](entries=[entry], span=whole)
    elif key is None:
        new = _CALLS[section](value=value, span=whole)
    else:  # the item stays the file's (if it has one); the call and the keyword are the --set's
        call = _call(old, section, origin, m, whole)
        keyword = ast.Keyword(name=key, value=value, name_span=_span(origin, m.start(2), m.end(2)),
                              span=_span(origin, m.start(2), len(text)))
        call = call.model_copy(update={"kwargs": _replaced(call.kwargs, "name", keyword), "span": whole})
        new = _CALLS[section](value=call, span=old.span if old is not None else whole)
    return items[:index] + [new] + items[index + 1:] if index is not None else items + [new]


def _call(old, section: str, origin: Origin, m: re.Match, whole: Span) -> ast.Call:
    """The call whose keyword ``--set section.key`` changes: the spec's, or the default optimizer."""
    if old is None:
        if section != "optimizer":
            raise _error(origin, f"the spec has no {section} to change", m.start(1), m.end(1),
                         f"set the whole entry: --set {section}=...")
        name, args, kwargs = DEFAULT_OPTIMIZER

        def number(v):
            return ast.Number(value=v, text=repr(v), span=whole)
        return ast.Call(func=ast.Name(id=name, span=whole), args=[number(a) for a in args],
                        kwargs=[ast.Keyword(name=k, value=number(v), span=whole, name_span=whole)
                                for k, v in kwargs.items()], span=whole)
    call = old.value
    if isinstance(call, ast.Name):
        return ast.Call(func=call, span=call.span)
    if not isinstance(call, ast.Call):
        raise _error(origin, f"the {section} is an expression, not a call: it has no argument '{m.group(2)}'",
                     m.start(2), m.end(2), f"set the whole entry: --set {section}=...")
    return call


def _replaced(nodes: list, field: str, new) -> list:
    """``nodes`` with the one of the same name replaced by ``new`` in place, else ``new`` added."""
    name = getattr(new, field)
    if any(getattr(n, field) == name for n in nodes):
        return [new if getattr(n, field) == name else n for n in nodes]
    return [*nodes, new]


def _value(origin: Origin, at: int) -> ast.Expr:
    """Parse the value that starts at offset ``at`` of the --set text.

    It is parsed as ``loss = value`` written with the --set text's own columns, so every
    position the parser reports (and every span of the result) is right in that text.
    """
    text = origin.text
    wrapper = "loss".ljust(at - 1) + "=" + text[at:]
    try:
        tree = parse_tree(wrapper)
    except SpecError as err:
        raise SpecError([_moved(d, origin) for d in err.diagnostics]) from None
    deep = check_depth(tree)
    if deep is not None:
        raise _error(origin, "the --set value is nested too deeply", deep.start, deep.end)
    builder = ToAst()
    items = builder.transform(tree)
    if builder.problems:
        raise SpecError([_moved(d, origin) for d in builder.problems])
    if len(items) > 1:  # a value with a newline and another statement after it
        raise _error(origin, "a --set value is one expression", items[0].span.end, len(text))
    return _in(items[0].value, origin)


def _in(node, origin: Origin):
    """``node`` with every span in it pointing into ``origin``."""
    if isinstance(node, list):
        return [_in(n, origin) for n in node]
    if not isinstance(node, ast.Node):
        return node
    update = {}
    for name in type(node).model_fields:
        value = getattr(node, name)
        if isinstance(value, Span):
            update[name] = replace(value, origin=origin)
        elif isinstance(value, (ast.Node, list)):
            update[name] = _in(value, origin)
    return node.model_copy(update=update)


def _moved(d: Diagnostic, origin: Origin) -> Diagnostic:
    return Diagnostic(d.message, replace(d.span, origin=origin), d.hint, d.code)


def _span(origin: Origin, start: int, end: int) -> Span:
    """Offsets ``start:end`` of the --set text as a span into it."""
    text = origin.text

    def at(pos: int) -> tuple[int, int]:
        return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1

    (line, col), (end_line, end_col) = at(start), at(end)
    return Span(line, col, start, end, end_line, end_col, origin)


def _error(origin: Origin, message: str, start: int, end: int, hint: str | None = None) -> SpecError:
    return SpecError(Diagnostic(message, _span(origin, start, end), hint, "E060"))
