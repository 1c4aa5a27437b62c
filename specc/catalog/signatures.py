"""Argument checks against the torch signatures in :mod:`specc.catalog.torch_tables`.

Why here and not in torch: a spec's ``Linear(50, bais=False)`` must be reported at the
argument's position before any module is built, and the front end may not import torch.
The checks return :class:`Problem` records (data, no spans); the caller turns them into
positioned diagnostics, because only it knows where each argument was written.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Collection, Mapping, Sequence

from specc.catalog.torch_tables import REQUIRED, Param
from specc.errors import closest, did_you_mean

Entry = Sequence[Param]

# Torch declares these as positional-or-keyword, but documents them as factory keywords.
# A spec never fills them by position, so `Linear(1, 2, 3, 4)` is "too many positional
# arguments" rather than silently setting a device. Nor by keyword: the run puts the whole
# model on one device in one precision.
FACTORY_KEYWORDS = {
    "device": "the run picks the device: train { device = cuda } or specc run --device cuda",
    "dtype": "weights are float32; for mixed precision set train { precision = bf16 } (or fp16)",
}


def refused_keyword(kw: str) -> tuple[str, str] | None:
    """(why, hint) for a keyword no constructor in a spec may be given, else None: ``self``,
    the factory keywords, and torch's private arguments (``_weight`` of Embedding wants a tensor)."""
    if kw == "self":
        return "cannot be given 'self'", "'self' is the object being made; it is never an argument"
    if kw in FACTORY_KEYWORDS:
        return f"cannot be given '{kw}' in a spec", FACTORY_KEYWORDS[kw]
    if kw.startswith("_"):
        return f"cannot be given '{kw}': it is private to torch", "leave it out"
    return None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a call.

    ``arg`` is the 0-based index among the positional arguments the user wrote, or the
    keyword name, of the argument to point at; None when the problem is the whole call.
    """

    message: str
    arg: int | str | None = None
    hint: str | None = None


def param_names(entry: Entry) -> tuple[str, ...]:
    """Every parameter name, in declaration order (including ``*args``/``**kwargs`` names)."""
    return tuple(name for name, _, _ in entry)


def positional_names(entry: Entry) -> list[str]:
    """The names a call may pass by position, in order."""
    return [name for name, kind, _ in entry if kind == "pos"]


def keyword_names(entry: Entry) -> tuple[str, ...]:
    """The names a call may pass by keyword."""
    return tuple(name for name, kind, _ in entry if kind in ("pos", "kwonly"))


def required_names(entry: Entry) -> tuple[str, ...]:
    """Named parameters without a default (``*args``/``**kwargs`` are never required)."""
    return tuple(name for name, kind, default in entry
                 if kind in ("pos", "kwonly") and default == REQUIRED)


def defaults(entry: Entry) -> dict[str, object]:
    """``{name: default}`` for the named parameters that have one (``OBJECT`` if not a literal)."""
    return {name: default for name, kind, default in entry
            if kind in ("pos", "kwonly") and default != REQUIRED}


def suggest(name: str, table: Mapping[str, object]) -> str | None:
    """``"did you mean 'Linear'?"`` for a misspelt table key, or None."""
    return did_you_mean(name, sorted(table))


def _quoted(names: Sequence[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def check_call(entry: Entry, n_positional: int, kwargs: Sequence[str], skip: int = 0, *,
               name: str = "call", filled: Collection[str] = ()) -> list[Problem]:
    """Problems with calling ``name(<n_positional args>, **kwargs)`` against ``entry``.

    ``skip`` leading positional parameters are filled in by the compiler (``in_features`` of
    ``Linear``); the user's positional arguments start after them. Naming a skipped parameter
    by keyword is allowed (the compiler checks it against the inferred value). ``filled`` are
    names the caller supplies when they are left out (``T_max`` for a schedule), so they are
    never reported missing. Reports, in order: too many positional arguments, then for each
    keyword a clash with a positional argument, or an unknown name, then each missing required
    parameter that no unknown keyword looks like a misspelling of. ``self``, ``device`` and
    ``dtype`` are refused by keyword (:func:`refused_keyword`).
    """
    kinds = {kind for _, kind, _ in entry}
    positional = positional_names(entry)
    inferred, free = positional[:skip], positional[skip:]
    slots = free[: next((i for i, n in enumerate(free) if refused_keyword(n)), len(free))]
    problems = []

    if n_positional > len(slots) and "varargs" not in kinds:
        after = f" after the inferred {_quoted(inferred)}" if inferred else ""
        most = f"at most {_plural(len(slots), 'positional argument')}" if slots else "no positional arguments"
        problems.append(Problem(f"{name}() takes {most}{after}, got {n_positional}", len(slots)))

    by_position = set(slots[:n_positional])
    valid = keyword_names(entry)
    seen: set[str] = set()
    meant: set[str | None] = set()
    for kw in kwargs:
        refused = refused_keyword(kw)
        if refused:
            problems.append(Problem(f"{name}() {refused[0]}", kw, refused[1]))
        elif kw in by_position:
            problems.append(Problem(f"{name}() got multiple values for argument '{kw}'", kw,
                                    "it is already given by position"))
        elif kw not in valid and "varkw" not in kinds:
            problems.append(Problem(f"{name}() got an unexpected keyword argument '{kw}'", kw,
                                    did_you_mean(kw, valid)))
            meant.add(closest(kw, valid))
        seen.add(kw)

    # a misspelt keyword is one mistake: its suggestion is not reported missing as well
    supplied = by_position | seen | set(inferred) | set(filled) | meant
    for missing in required_names(entry):
        if missing not in supplied:
            problems.append(Problem(f"{name}() missing required argument '{missing}'"))
    return problems
