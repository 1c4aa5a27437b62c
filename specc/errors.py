"""Diagnostics as data.

Every user mistake becomes a :class:`Diagnostic` (a code, a message, a :class:`Span`, an
optional hint). A :class:`SpecError` carries one or more of them. Nothing here prints:
rendering happens at the edge (``specc.cli.render``) or through :meth:`SpecError.__str__`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import difflib
from typing import Iterable, Optional, Sequence


@dataclass(frozen=True)
class Origin:
    """Text outside the spec file that spans can point into, such as one ``--set`` value.

    ``name`` is what a diagnostic shows as its path (``--set``), ``text`` what it quotes;
    ``replaces`` is the span of the file's entry or item that the text replaced, if any (where
    ``specc config`` prints the new one).
    """

    name: str
    text: str
    replaces: Optional["Span"] = None


@dataclass(frozen=True)
class Span:
    """A position in a spec file: 1-based line and column, plus 0-based offsets.

    A span with an ``origin`` points into that text instead (a node made from ``--set``), so a
    diagnostic at it is shown and quoted there, whichever stage reports it.
    """

    line: int = 1
    column: int = 1
    start: int = 0
    end: int = 0
    end_line: int = 0
    end_column: int = 0
    origin: Optional[Origin] = None

    def __bool__(self) -> bool:  # a Span is always a real position
        return True

    @property
    def in_file(self) -> Optional["Span"]:
        """Where the span stands in the spec file: itself, or for a ``--set`` span the span its
        text replaced (None if it added something)."""
        return self if self.origin is None else self.origin.replaces

    def text(self, source: str) -> str:
        """What the span covers, in its origin's text or else in ``source`` (the spec's)."""
        return (self.origin.text if self.origin else source)[self.start:self.end]


@dataclass(frozen=True)
class Diagnostic:
    """One user-facing error: what is wrong, where, and optionally how to fix it."""

    message: str
    span: Span = field(default_factory=Span)
    hint: str | None = None
    code: str = "E000"
    path: str = "<spec>"

    def __post_init__(self) -> None:  # a span in a --set value is shown at that value
        if self.span.origin is not None:
            object.__setattr__(self, "path", self.span.origin.name)

    def source(self, spec_source: str | None) -> str | None:
        """The text the span points into: its origin's, else the spec's."""
        return self.span.origin.text if self.span.origin else spec_source


class SpecError(Exception):
    """A mistake in a spec (or its data): one or more positioned diagnostics.

    ``str(err)`` is the plain ``path:line:col: error: message`` text of every diagnostic,
    with the source line and a caret when the source is known.
    """

    def __init__(self, diagnostics: Diagnostic | Sequence[Diagnostic], source: str | None = None):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        self.source = source
        super().__init__(self.render())

    # convenience accessors for the first (usually only) diagnostic
    @property
    def line(self) -> int:
        return self.diagnostics[0].span.line

    @property
    def column(self) -> int:
        return self.diagnostics[0].span.column

    @property
    def message(self) -> str:
        return self.diagnostics[0].message

    @property
    def hint(self) -> str | None:
        return self.diagnostics[0].hint

    @property
    def path(self) -> str:
        return self.diagnostics[0].path

    def with_context(self, path: str, source: str | None) -> "SpecError":
        """The same error re-addressed to ``path`` (used when the text came from a file)."""
        diags = [Diagnostic(d.message, d.span, d.hint, d.code, path if d.path == "<spec>" else d.path)
                 for d in self.diagnostics]
        return SpecError(diags, source if source is not None else self.source)

    def render(self) -> str:
        return "\n".join(render_plain(d, self.source) for d in self.diagnostics)


def render_plain(d: Diagnostic, source: str | None) -> str:
    """``path:line:col: error: message``, the source line, a caret, and the hint."""
    out = [f"{d.path}:{d.span.line}:{d.span.column}: error: {d.message}"]
    source = d.source(source)
    line = source_line(source, d.span.line) if source is not None else None
    if line is not None:
        out.append("    " + line)
        out.append("    " + caret_prefix(line, d.span.column) + "^")
    if d.hint:
        out.append(f"hint: {d.hint}")
    return "\n".join(out)


def source_line(source: str, line: int) -> str | None:
    """Line ``line`` (1-based) of ``source``, counted as the parser counts: by ``"\\n"`` only
    (``str.splitlines`` would also split at form feeds and U+2028, putting carets under the
    wrong line)."""
    lines = source.split("\n")
    if 1 <= line <= len(lines):
        return lines[line - 1].rstrip("\r\n")
    return None


def caret_prefix(line: str, column: int) -> str:
    """Whitespace that puts a caret under ``column`` (tabs kept so it lines up)."""
    return "".join(c if c == "\t" else " " for c in line[: max(column - 1, 0)])


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` most likely meant, or None.

    Case is compared last: a candidate that differs only in case wins (``Adamw`` -> ``AdamW``,
    not ``Adam``), then the closest spelling ignoring case.
    """
    lowered: dict[str, str] = {}
    for c in candidates:
        lowered.setdefault(c.lower(), c)
    key = name.lower()
    if key in lowered:
        return lowered[key]
    close = difflib.get_close_matches(key, lowered, n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """``"did you mean 'Linear'?"`` for the closest candidate (see :func:`closest`), or None."""
    best = closest(name, candidates)
    return None if best is None else f"did you mean '{best}'?"


class RunError(Exception):
    """Not a mistake in the spec: a missing package, no CUDA, an output folder in use.

    The CLI prints it as one plain message (with its hint) and exits 1.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message + (f" ({self.hint})" if self.hint else "")


class TorchTablesWarning(UserWarning):
    """specc's torch signature tables do not follow the installed torch (see
    ``specc.catalog.torch_drift``); the CLI prints it as one ``specc: warning:`` line."""


# Optional dependencies: import name -> (pip package, specc extra that installs it).
OPTIONAL_DEPENDENCIES = {"sklearn": ("scikit-learn", "data"), "PIL": ("Pillow", "data"),
                         "matplotlib": ("matplotlib", "plots")}


def missing_dependency(module: str, needed_for: str) -> RunError:
    """The RunError for an optional package that is not installed, naming the pip command."""
    package, extra = OPTIONAL_DEPENDENCIES[module]
    return RunError(f"{needed_for} needs {package}, which is not installed",
                    f"pip install {package}   (or: pip install 'specc[{extra}]')")
