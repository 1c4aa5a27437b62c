"""Text -> lark parse tree, with syntax errors turned into positioned diagnostics.

The grammar lives in the top-level ``grammar/`` folder of the repository and is copied into
the wheel as ``specc/_grammar/specc.lark``; :func:`grammar_path` finds either.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
import hashlib
from pathlib import Path
import re

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..cachedir import cache_folder
from ..errors import Diagnostic, Span, SpecError
from .to_ast import KEYWORDS, token_span

_OPEN = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
_CLOSE = set(_OPEN.values())
# A line that ends with one of these continues on the next (section 10.11).
_CONTINUES = {"->", "+", "-", "*", "/", "//", "@", "**", ",", "==", "!=", "<", "<=", ">", ">="}


def grammar_path() -> Path:
    """Where the grammar is: inside an installed wheel, or in a source checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_grammar" / "specc.lark", here.parent / "grammar" / "specc.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("specc grammar not found (expected specc/_grammar/specc.lark)")


class _ParenPostLexer:
    """Drops newlines inside ( ) and [ ], as the language says (section 1), and after a line
    that ends with an operator, ``and``, ``or`` or ``,`` (section 10.11)."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth: list[str] = []
        last = None
        for tok in stream:
            if tok.type in _OPEN:
                depth.append(tok.type)
            elif tok.type in _CLOSE and depth:
                depth.pop()
            if tok.type == "_NL" and ((depth and depth[-1] != "LBRACE") or _continues(last)):
                continue
            last = tok
            yield tok


def _continues(tok: Token | None) -> bool:
    if tok is None or tok.type in ("NAME", "STRING"):
        return False
    return tok.type in ("AND", "OR") or str(tok) in _CONTINUES


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
    import lark

    text = grammar_path().read_bytes()
    digest = hashlib.sha256(text + lark.__version__.encode()).hexdigest()[:16]
    folder = cache_folder()
    return str(folder / f"specc-grammar-{digest}.lark.cache") if folder is not None else False


def newlines(text: str) -> str:
    """``text`` with every line end (``\\r\\n``, ``\\r``, ``\\n``) written ``\\n``: positions count
    lines as an editor shows them."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# Characters that make text display in another order than it reads ("Trojan Source"):
# embeddings, overrides and isolates, and the left-to-right / right-to-left marks.
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def parse_tree(text: str) -> Tree:
    """Parse ``text`` (decoded, with :func:`newlines` applied) into a lark tree; raise SpecError
    on a syntax error."""
    if "\x00" in text:
        i = text.index("\x00")
        raise SpecError(Diagnostic("the file holds a NUL byte: is it a binary file?", _span_at(text, i),
                                   code="E001"), text)
    bidi = _BIDI.search(text)
    if bidi is not None:
        raise SpecError(Diagnostic(f"the file holds the bidirectional control character U+{ord(bidi.group()):04X}",
                                   _span_at(text, bidi.start()),
                                   "delete it: it makes the text display in another order than specc reads it",
                                   code="E007"), text)
    try:
        return _parser().parse(text if text.endswith("\n") else text + "\n")
    except UnexpectedInput as exc:
        first = _syntax_diagnostic(exc, text)
    except RecursionError:
        raise SpecError(Diagnostic("the spec is nested too deeply", Span(1, 1), code="E002"), text) from None
    raise SpecError(_more_errors(text, first), text)


_ITEM_START = re.compile(r"^(data|model|block|loss|optimizer|schedule|train|import)\b", re.M)


def _more_errors(text: str, first: Diagnostic) -> list[Diagnostic]:
    """Recover after a syntax error: parse each later top-level item on its own.

    Items start at column 1 with a section keyword; padding a chunk with the newlines before
    it keeps every position right. An item after the failing one that has its own mistake
    gets its own diagnostic.
    """
    starts = [m.start() for m in _ITEM_START.finditer(text)] + [len(text)]
    diags = [first]
    for begin, end in zip(starts, starts[1:]):
        line = text.count("\n", 0, begin) + 1
        if line <= first.span.line:
            continue
        chunk = "\n" * (line - 1) + text[begin:end]
        try:
            _parser().parse(chunk if chunk.endswith("\n") else chunk + "\n")
        except UnexpectedInput as exc:
            diags.append(_syntax_diagnostic(exc, chunk))
        except RecursionError:
            break
        if len(diags) >= 20:
            break
    return diags


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


# What the user wrote, in words, for the tokens lark names. Operators are left out of
# "expected ..." hints: after a complete expression nearly any operator could follow.
_TOKEN_WORDS = {
    "_NL": "end of line", "$END": "end of file", "NAME": "a name", "INT": "a number",
    "FLOAT": "a number", "STRING": "a string", "PERCENT": "a percentage", "LPAR": "'('",
    "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'", "RBRACE": "'}'",
    "EQUAL": "'='", "COMMA": "','", "COLON": "':'",
}
_VALUE_START = {"NAME", "INT", "FLOAT", "STRING", "PERCENT", "LPAR", "LSQB", "MINUS"}


def _describe(tok: Token | None) -> str:
    if tok is None or tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    return repr(str(tok))


def _expected_words(expected) -> str:
    # The post-lexer lets newlines through everywhere, so "end of line" is named only alone.
    expected = set(expected) - {"_NL"} or set(expected)
    words = sorted({_TOKEN_WORDS.get(e) or _keyword(e) for e in expected} - {None})
    return ", ".join(words[:6] + (["..."] if len(words) > 6 else []))


def _keyword(term: str) -> str | None:
    name = term.lower()
    return f"'{name}'" if name in KEYWORDS else None


def _token_diagnostic(exc: UnexpectedToken, text: str) -> Diagnostic:
    """Name the likely mistake (a missing comma, bracket or value) rather than lark's sets."""
    tok, expected = exc.token, set(exc.expected)
    span = token_span(tok)
    if tok.type == "_NL" and tok.start_pos is not None and text[tok.start_pos:].startswith("#"):
        span = _span_at(text, tok.start_pos)
    what = _describe(tok)
    before = re.search(r"([A-Za-z_]+)[\t \f]*$", text[:tok.start_pos or 0])
    if tok.type == "EQUAL" and before is not None and before.group(1) in KEYWORDS:
        word = before.group(1)
        return Diagnostic(f"'{word}' is a keyword and cannot be used as a variable", _span_at(text, before.start(1)),
                          f"choose another name, such as '{word}_'", code="E020")
    if "COMMA" in expected and tok.type in _VALUE_START and ("RPAR" in expected or "RSQB" in expected):
        return Diagnostic(f"missing ',' before {what}", span, "separate arguments and items with commas",
                          code="E011")
    if tok.type in ("_NL", "RBRACE", "$END") and ("RPAR" in expected or "RSQB" in expected) and \
            "COMMA" in expected:
        closer = "')'" if "RPAR" in expected else "']'"
        return Diagnostic(f"missing {closer} before {what}", span, _unclosed_hint(text), code="E012")
    if expected & {"NAME", "INT", "FLOAT", "STRING", "PERCENT"} and not expected & {"RPAR", "RSQB", "COMMA", "RBRACE"}:
        return Diagnostic(f"expected a value, got {what}", span, "write a number, a name or an expression",
                          code="E013")
    if tok.type == "EQUAL" and "EQUAL" not in expected:
        return Diagnostic("unexpected '='", span, "'=' binds a name at the start of a statement or a keyword "
                          "argument inside a call", code="E014")
    words = _expected_words(expected)
    return Diagnostic(f"unexpected {what}", span, f"expected {words}" if words else None, code="E010")


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
        hint = "numbers are written with the digits 0-9" if ch.isdigit() else None
        return Diagnostic(f"unexpected character {ch!r}", span, hint, code="E005")
    if isinstance(exc, UnexpectedEOF) or exc.token.type == "$END":
        span = _span_at(text, max(len(text.rstrip()) - 1, 0))
        return Diagnostic("unexpected end of file", span, _unclosed_hint(text), code="E006")
    return _decimal_point(exc.token, text) or _token_diagnostic(exc, text)


def _decimal_point(tok: Token, text: str) -> Diagnostic | None:
    """``.5`` and ``5.`` lex as a dot next to a number; say what is wrong with them."""
    pos = tok.start_pos if tok.start_pos is not None else len(text)
    m = re.search(r"(?<![\w.])[0-9]+(\.)[ \t]*$", text[:pos])
    if tok.type == "DOT" and text[pos + 1:pos + 2] in set("0123456789"):
        dot = pos
    elif m is not None:
        dot = m.start(1)
    else:
        return None
    return Diagnostic("a number needs digits on both sides of its decimal point", _span_at(text, dot),
                      "write 0.5, not .5 or 5.", code="E004")


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
