"""``--set section.key=value``: change one entry of a parsed spec, as if it had been written.

The value is parsed with the spec grammar, so ``--set train.epochs=5`` and
``--set data.valid=10%`` take the same syntax as the file. Mistakes are SpecErrors positioned
in the ``--set`` text itself.
"""
from __future__ import annotations

from ..errors import Diagnostic, Span, SpecError
from . import ast
from .spec import Spec, _section, parse_spec

_SECTIONS = ("data", "train", "optimizer", "schedule")


def _bad(text: str, message: str, col: int = 1, hint: str | None = None) -> SpecError:
    return SpecError(Diagnostic(message, Span(1, col), hint, "E060", path=f"--set {text}"), text)


def _value(text: str, value: str) -> ast.Expr:
    """Parse ``value`` as an expression (through a tiny spec) and shift its spans."""
    wrapper = "model M(x: float[1]) { return x }\noptimizer = "
    try:
        spec = parse_spec(wrapper + value + "\n")
    except SpecError as err:
        d = err.diagnostics[0]
        raise _bad(text, d.message, max(d.span.column - len("optimizer = "), 1) + text.index("=") + 1) from None
    return spec.optimizer.value


def apply_overrides(spec: Spec, sets: list[str]) -> Spec:
    """A new Spec with every ``section.key=value`` applied, validated like the file (whose own
    refused values, if it was parsed with ``defer_sections``, are reported first)."""
    if spec.problems:
        raise SpecError(spec.problems, spec.source).with_context(spec.path or "<spec>", spec.source)
    items = list(spec.items)
    for text in sets:
        if "=" not in text or "." not in text.split("=", 1)[0]:
            raise _bad(text, "--set takes section.key=value, like train.epochs=5")
        target, raw = text.split("=", 1)
        section, key = target.strip().split(".", 1)
        if section not in _SECTIONS:
            raise _bad(text, f"--set cannot change '{section}'", 1, f"it changes {', '.join(_SECTIONS)}")
        value = _value(text, raw.strip())
        items = _apply(items, spec.source, section, key.strip(), value, text)
    return Spec(items=items, path=spec.path, source=spec.source)


def _apply(items: list, source: str, section: str, key: str, value, text: str) -> list:
    index = next((i for i, it in enumerate(items) if it.kind == section), None)
    if section in ("optimizer", "schedule"):
        if index is None:
            raise _bad(text, f"the spec has no {section} to change")
        call = items[index].value
        if not isinstance(call, ast.Call):
            call = ast.Call(func=call, args=[], kwargs=[], span=call.span)
        kwargs = [k for k in call.kwargs if k.name != key] + [ast.Keyword(name=key, value=value)]
        new = type(items[index])(value=call.model_copy(update={"kwargs": kwargs}), span=items[index].span)
        return items[:index] + [new] + items[index + 1:]
    old = items[index] if index is not None else None
    entries = [e for e in (old.entries if old else []) if e.key != key] + [ast.Entry(key=key, value=value)]
    diags: list[Diagnostic] = []
    new = _section((section, entries, old.span if old else Span()), source, diags)
    if diags:
        d = diags[0]
        raise _bad(text, d.message, 1, d.hint)
    return items[:index] + [new] + items[index + 1:] if index is not None else items + [new]
