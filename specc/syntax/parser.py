"""Text -> lark parse tree, with syntax errors turned into positioned diagnostics.

The grammar lives in the top-level ``grammar/`` folder of the repository and is copied into
the wheel as ``specc/_grammar/specc.lark``; :func:`grammar_path` finds either.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
import hashlib
import os
from pathlib import Path
import re

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import Diagnostic, Span, SpecError

_OPEN = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
_CLOSE = set(_OPEN.values())


def grammar_path() -> Path:
    """Where the grammar is: inside an installed wheel, or in a source checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_grammar" / "specc.lark", here.parent / "grammar" / "specc.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("specc grammar not found (expected specc/_grammar/specc.lark)")


class _ParenPostLexer:
    """Drops newlines inside ( ) and [ ], as the language says (section 1)."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth: list[str] = []
        for tok in stream:
            if tok.type in _OPEN:
                depth.append(tok.type)
            elif tok.type in _CLOSE and depth:
                depth.pop()
            if tok.type == "_NL" and depth and depth[-1] != "LBRACE":
                continue
            yield tok


@dataclass(frozen=True)
class Comment:
    """A ``# comment`` and where it stood (``own_line``: nothing but the comment on its line)."""

    line: int
    text: str
    own_line: bool


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        postlex=_ParenPostLexer(),
        propagate_positions=True,
        maybe_placeholders=True,
        cache=_cache_file(),
    )


def _cache_file() -> str | bool:
    """Where lark keeps the compiled parse table (keyed by grammar and lark version), so that
    ``specc check`` does not rebuild it at every start; False if no cache folder is writable."""
    import tempfile

    import lark

    text = grammar_path().read_bytes()
    digest = hashlib.sha256(text + lark.__version__.encode()).hexdigest()[:16]
    folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "specc"
    for base in (folder, Path(tempfile.gettempdir())):
        try:
            base.mkdir(parents=True, exist_ok=True)
            return str(base / f"specc-grammar-{digest}.lark.cache")
        except OSError:
            continue
    return False


def parse_tree(text: str) -> Tree:
    """Parse ``text`` (already decoded) into a lark tree; raise SpecError on a syntax error."""
    if "\x00" in text:
        i = text.index("\x00")
        raise SpecError(Diagnostic("the file holds a NUL byte: is it a binary file?", _span_at(text, i),
                                   code="E001"), text)
    try:
        return _parser().parse(text if text.endswith("\n") else text + "\n")
    except UnexpectedInput as exc:
        raise SpecError(_syntax_diagnostic(exc, text), text) from None
    except RecursionError:
        raise SpecError(Diagnostic("the spec is nested too deeply", Span(1, 1), code="E002"), text) from None


def comments(text: str) -> list[Comment]:
    """Every comment in ``text`` with its line; strings are skipped so ``"#"`` is no comment."""
    out = []
    # split on "\n" only, as lark counts lines (str.splitlines also splits on \f, \x1c, \u2028...)
    for lineno, line in enumerate(text.split("\n"), start=1):
        code, comment = split_comment(line)
        if comment is not None:
            out.append(Comment(lineno, comment.rstrip(), own_line=not code.strip()))
    return out


_STRING_OR_COMMENT = re.compile(r'"([^"\\\n]|\\.)*"?|#.*')


def split_comment(line: str) -> tuple[str, str | None]:
    """(code, comment) for one source line."""
    for m in _STRING_OR_COMMENT.finditer(line):
        if m.group(0).startswith("#"):
            return line[: m.start()], m.group(0)
    return line, None


def _span_at(text: str, pos: int) -> Span:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return Span(line, col, pos, pos + 1, line, col + 1)


# What the user wrote, in words, for the tokens lark names.
_TOKEN_WORDS = {
    "_NL": "end of line", "$END": "end of file", "NAME": "a name", "INT": "a number",
    "FLOAT": "a number", "STRING": "a string", "PERCENT": "a percentage", "LPAR": "'('",
    "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'", "RBRACE": "'}'",
    "EQUAL": "'='", "COMMA": "','", "COLON": "':'", "SEMICOLON": "';'", "DOT": "'.'",
}


def _describe(tok: Token | None) -> str:
    if tok is None or tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    return repr(str(tok))


def _expected_words(expected) -> str:
    words = sorted({_TOKEN_WORDS.get(e, None) or _keyword(e) for e in expected} - {None})
    if not words:
        return ""
    if len(words) > 6:
        words = words[:6] + ["..."]
    return ", ".join(words)


def _keyword(term: str) -> str | None:
    name = term.lower()
    return f"'{name}'" if name.isalpha() else None


def _syntax_diagnostic(exc: UnexpectedInput, text: str) -> Diagnostic:
    """One clear message for a lark error, positioned where the bad input starts."""
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        ch = text[pos] if pos < len(text) else ""
        span = _span_at(text, pos)
        if ch == '"':
            return Diagnostic("unterminated string", span, "close the string with '\"' on the same line",
                              code="E003")
        if ch == ".":
            return Diagnostic("a number needs digits on both sides of its decimal point", span,
                              "write 0.5, not .5 or 5.", code="E004")
        return Diagnostic(f"unexpected character {ch!r}", span, code="E005")
    if isinstance(exc, UnexpectedEOF):
        span = _span_at(text, max(len(text.rstrip()) - 1, 0))
        return Diagnostic("unexpected end of file", span, _unclosed_hint(text), code="E006")
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    if tok.type == "$END":
        span = _span_at(text, max(len(text.rstrip()) - 1, 0))
        return Diagnostic("unexpected end of file", span, _unclosed_hint(text), code="E006")
    span = Span(tok.line or 1, tok.column or 1, tok.start_pos or 0, tok.end_pos or 0,
                tok.end_line or tok.line or 1, tok.end_column or tok.column or 1)
    if tok.type == "_NL" and tok.start_pos is not None and text[tok.start_pos:].startswith("#"):
        span = _span_at(text, tok.start_pos)
    expected = _expected_words(exc.expected)
    hint = f"expected {expected}" if expected else None
    return Diagnostic(f"unexpected {_describe(tok)}", span, hint, code="E010")


def _unclosed_hint(text: str) -> str | None:
    """Name the first bracket that was never closed, if any."""
    stack: list[tuple[str, int]] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for m in re.finditer(r'"([^"\\\n]|\\.)*"|#[^\n]*|[()\[\]{}]', text):
        c = m.group(0)
        if c in "([{":
            stack.append((c, m.start()))
        elif c in pairs and stack and stack[-1][0] == pairs[c]:
            stack.pop()
    if stack:
        c, pos = stack[-1]
        sp = _span_at(text, pos)
        return f"'{c}' opened at line {sp.line}, column {sp.column} is never closed"
    return None
