"""The vocabulary shared by every data source: errors, schemas and argument checking.

Torch-free (and free of numpy, sklearn and PIL) so that ``specc check`` can describe what a
``data { }`` section yields without loading any array library. :mod:`specc.catalog.sources`
re-exports everything here; this module exists only so that the file-reading helpers and the
source table can share :class:`SourceError` without importing each other.

Argument values are plain Python values as the lead's evaluator produces them: ``int``,
``float``, ``bool``, ``str``, ``None`` and lists. A range written ``10..50`` arrives as the
tuple ``(10, 50)`` (inclusive, like the language's ranges).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from specc.catalog.dims import is_number
from specc.errors import did_you_mean
from specc.types import StrType, TensorType

MAX_SAMPLES = 10**8
"""Synthetic sources refuse more examples than this: it is a typo, not a data set."""
MAX_BYTES = 8 * 2**30
"""Nor more memory than this (examples times their size), e.g. ``length=10..10**9``."""


class SourceError(Exception):
    """A mistake in a source's arguments or in the files it reads.

    Args:
        message: what is wrong, naming the path, column or value involved.
        arg: the source argument at fault (``"path"``, ``"target"``, ``"samples"``), so the
            caller can place the error on that argument in the spec; None when no single
            argument is to blame.
        hint: how to fix it (often a "did you mean ...?").
    """

    def __init__(self, message: str, arg: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.arg = arg
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"


FieldType = TensorType | StrType


@dataclass(frozen=True)
class Schema:
    """What a source yields, computed without loading it.

    ``fields`` maps field names to the type of ONE example (no batch dim); a variable-length
    field has the symbolic dim ``"seq"``. ``classes``/``class_names`` describe a class-index
    target, ``vocab`` a token vocabulary, ``features`` the width of a flat float ``x``; each is
    None when the source has no such thing.
    """

    fields: dict[str, FieldType]
    classes: int | None = None
    class_names: list[str] | None = None
    vocab: int | None = None
    features: int | None = None
    classes_of: dict[str, list[str]] = field(default_factory=dict)   # csv: each class target's class names


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The default of an argument that must be given."""

Check = Callable[[Any], "str | None"]
"""A value check: returns None when the value is fine, else what was expected."""


@dataclass(frozen=True)
class Arg:
    """One source argument: its name, default (or REQUIRED), value check and meaning."""

    name: str
    default: Any = REQUIRED
    check: Check | None = None
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


# ---- value checks: each returns None or a description of what was expected ----------------

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def positive_int(v: Any) -> str | None:
    return None if _is_int(v) and v >= 1 else "a whole number >= 1"


def int_at_least(low: int) -> Check:
    def check(v: Any) -> str | None:
        return None if _is_int(v) and v >= low else f"a whole number >= {low}"
    return check


def non_negative(v: Any) -> str | None:
    return None if is_number(v) and v >= 0 else "a number >= 0"


def positive(v: Any) -> str | None:
    return None if is_number(v) and v > 0 else "a number > 0"


def unit_interval_open(v: Any) -> str | None:
    return None if is_number(v) and 0 <= v < 1 else "a number in [0, 1)"


def boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def string(v: Any) -> str | None:
    return None if isinstance(v, str) and v else "a non-empty string"


def optional(check: Check) -> Check:
    def opt(v: Any) -> str | None:
        return None if v is None else check(v)
    return opt


def string_list(v: Any) -> str | None:
    ok = isinstance(v, (list, tuple)) and v and all(isinstance(s, str) and s for s in v)
    return None if ok else 'a non-empty list of strings, e.g. ["a", "b"]'


def string_or_names(v: Any) -> str | None:
    """A string, or a non-empty list of them."""
    if isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(i, str) for i in v)):
        return None
    return "a column name or a list of them, like [\"kind\", \"size\"]"


def one_char(v: Any) -> str | None:
    """A CSV field separator: Python's reader takes one character, not a quote or a line end."""
    ok = isinstance(v, str) and len(v) == 1 and v not in '"\r\n'
    return None if ok else 'one character other than a quote or a line end, e.g. "," or ";"'


def size2(v: Any) -> str | None:
    """An image size: ``28`` (square) or ``[h, w]``."""
    if _is_int(v) and v >= 1:
        return None
    ok = isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(d) and d >= 1 for d in v)
    return None if ok else "[height, width] with whole numbers >= 1, or one number"


def int_range(v: Any) -> str | None:
    """A length: ``20`` or an inclusive range ``10..50`` (``(10, 50)``)."""
    if _is_int(v) and v >= 1:
        return None
    ok = (isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(d) for d in v)
          and 1 <= v[0] <= v[1])
    return None if ok else "a length >= 1 or a range lo..hi with 1 <= lo <= hi"


def mean_std(v: Any) -> str | None:
    """``normalize=[mean, std]``: two numbers, or two per-channel lists of equal length."""
    expected = "[mean, std] (numbers, or per-channel lists) with std > 0"
    if not (isinstance(v, (list, tuple)) and len(v) == 2):
        return expected
    mean, std = v
    if is_number(mean) and is_number(std):
        return None if std > 0 else expected
    lists = all(isinstance(p, (list, tuple)) and p and all(is_number(x) for x in p) for p in v)
    if lists and len(mean) == len(std) and all(s > 0 for s in std):
        return None
    return expected


def as_size(v: Any) -> tuple[int, int]:
    """The (h, w) of a checked ``size`` value."""
    return (v, v) if _is_int(v) else (int(v[0]), int(v[1]))


def as_range(v: Any) -> tuple[int, int]:
    """The inclusive (lo, hi) of a checked length value."""
    return (v, v) if _is_int(v) else (int(v[0]), int(v[1]))


# ---- binding -------------------------------------------------------------------------------

def bind(source: str, params: Sequence[Arg], positional: Sequence[Any],
         keywords: Mapping[str, Any], extra_fields: bool = False) -> dict[str, Any]:
    """Match a call's arguments to ``params``, fill defaults and check every value.

    Args:
        source: the source name, used in messages.
        params: the declared arguments, in positional order.
        positional: values written without a name, in order.
        keywords: values written ``name=value``.
        extra_fields: when true (``generate``, ``tensors``) unknown names are data fields
            and are passed through unchecked.

    Returns:
        Every declared argument by name (defaults filled), plus any extra fields.

    Raises:
        SourceError: too many positional values, a value given twice, an unknown name (with
            a did-you-mean), a missing required argument, or a value of the wrong kind.
    """
    names = [p.name for p in params]
    if len(positional) > len(params):
        raise SourceError(f"{source}() takes at most {len(params)} positional argument(s), "
                          f"got {len(positional)}", hint=f"arguments are {_listing(names)}")
    out: dict[str, Any] = dict(zip(names, positional))
    for key, value in keywords.items():
        if key in out and key in names[: len(positional)]:
            raise SourceError(f"{source}() got two values for '{key}'", arg=key)
        if key not in names and not extra_fields:
            raise SourceError(f"{source}() has no argument '{key}'", arg=key,
                              hint=did_you_mean(key, names) or f"arguments are {_listing(names)}")
        out[key] = value
    for p in params:
        if p.name not in out:
            if p.required:
                raise SourceError(f"{source}() needs the argument '{p.name}'" +
                                  (f" ({p.doc})" if p.doc else ""), arg=None)
            out[p.name] = p.default
        elif p.check is not None and not (out[p.name] is None and p.default is None):
            expected = p.check(out[p.name])
            if expected is not None:
                raise SourceError(f"{source}(): {p.name} must be {expected}; "
                                  f"got {out[p.name]!r}", arg=p.name)
    return out


def _listing(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none"


def check_samples(source: str, samples: int, bytes_per_example: int, arg: str = "samples") -> None:
    """Refuse absurd sizes early, saying how much memory they would take. ``arg`` is the
    argument to blame when the examples, not their number, are too large."""
    gib = samples * bytes_per_example / 2**30
    if samples > MAX_SAMPLES:
        raise SourceError(f"{source}(): samples={samples} would hold about {gib:.1f} GiB in "
                          f"memory; at most {MAX_SAMPLES} samples are allowed", arg="samples")
    if samples * bytes_per_example > MAX_BYTES:
        examples = "one example" if samples == 1 else f"{samples} examples"
        raise SourceError(f"{source}(): {examples} of up to {bytes_per_example:,} bytes would hold "
                          f"about {gib:,.1f} GiB in memory; at most {MAX_BYTES // 2**30} GiB are allowed", arg=arg)


@dataclass(frozen=True)
class SourceInfo:
    """One entry of the source table.

    ``args`` are in positional order. ``schema(args, base_dir)`` takes the bound arguments
    (see :func:`bind`) and computes the fields without torch. ``extra_fields`` marks sources
    (``generate``, ``tensors``) whose other keyword arguments name data fields. ``files``
    marks sources that read files relative to the spec.
    """

    name: str
    args: tuple[Arg, ...]
    schema: Callable[[dict, Any], Schema]
    doc: str
    extra_fields: bool = False
    files: bool = False
