"""Text encoders (``encode = bag_of_words(...)`` / ``tokens(...)``): tokenising, vocabularies
and the schema an encoder produces. Torch-free, so ``specc check`` knows ``data.vocab``.

Tokenisation (one rule for every encoder): lowercase the text, then every maximal run of
letters and digits (Unicode ``str.isalnum``) is a word; everything else separates words.
``"Don't panic, NASA!"`` -> ``["don", "t", "panic", "nasa"]``.

Vocabulary: words ranked by how many times they occur over all documents (most frequent
first, ties in alphabetical order), cut to the encoder's budget:

- ``bag_of_words(max_vocab=20000)``: the first ``min(max_vocab, distinct words)`` words;
  ``data.vocab`` is that number, and each document becomes ``x: float[vocab]`` holding word
  counts (how many times each vocabulary word occurs; words outside it are dropped).
- ``tokens(max_vocab=20000, max_len=none)``: ids 0 and 1 are reserved (0 = padding,
  1 = unknown word), then the first ``min(max_vocab - 2, distinct words)`` words;
  ``data.vocab`` counts the two reserved ids, so ``Embedding(data.vocab, d)`` covers every id.
  A document becomes ``tokens: long[seq]``, cut to ``max_len`` when given; an empty document
  becomes the single unknown id, so no sequence has length 0.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from specc.catalog.source_base import (Arg, Schema, SourceError, bind, int_at_least,
                                       optional, positive_int)
from specc.errors import did_you_mean
from specc.types import StrType, TensorType

_WORD = re.compile(r"[^\W_]+")
RESERVED_TOKENS = ("<pad>", "<unk>")
PAD_ID, UNK_ID = 0, 1


def tokenize(text: str) -> list[str]:
    """Lowercased runs of letters and digits (see the module docstring)."""
    return _WORD.findall(text.lower())


def count_words(texts: Iterable[str]) -> Counter:
    counts: Counter = Counter()
    for text in texts:
        counts.update(tokenize(text))
    return counts


def rank_words(counts: Counter, limit: int) -> list[str]:
    """The ``limit`` most frequent words, ties broken alphabetically (deterministic)."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [w for w, _ in ranked[: max(limit, 0)]]


def bag_vocab(texts: Iterable[str], max_vocab: int) -> list[str]:
    """The ``bag_of_words`` vocabulary: feature ``i`` counts word ``vocab[i]``."""
    return rank_words(count_words(texts), max_vocab)


def token_vocab(texts: Iterable[str], max_vocab: int) -> list[str]:
    """The ``tokens`` vocabulary: id ``i`` is ``vocab[i]``; ids 0 and 1 are pad and unknown."""
    return list(RESERVED_TOKENS) + rank_words(count_words(texts), max_vocab - len(RESERVED_TOKENS))


@dataclass(frozen=True)
class EncoderInfo:
    """One encoder: its arguments, the field it writes and how it builds its vocabulary."""

    name: str
    args: tuple[Arg, ...]
    output: str
    field_type: Callable[[int, dict], TensorType]
    vocab: Callable[[Iterable[str], int], list[str]]
    doc: str


ENCODERS: dict[str, EncoderInfo] = {
    "bag_of_words": EncoderInfo(
        "bag_of_words",
        (Arg("max_vocab", 20000, positive_int, "most words kept, by frequency"),),
        "x", lambda v, args: TensorType("float", (v,)), bag_vocab,
        "word counts over the most frequent words: x: float[vocab]"),
    "tokens": EncoderInfo(
        "tokens",
        (Arg("max_vocab", 20000, int_at_least(3), "vocabulary size including pad and unknown"),
         Arg("max_len", None, optional(positive_int), "longest sequence kept (none = no cut)")),
        "tokens", lambda v, args: TensorType("long", ("seq",)), token_vocab,
        "word ids, 0 = pad, 1 = unknown: tokens: long[seq]"),
}


def bind_encoder(name: str, positional: Any = (), keywords: dict | None = None) -> dict:
    """Check an encoder's name and arguments; returns them with defaults filled."""
    info = _encoder(name)
    return bind(name, info.args, list(positional), keywords or {})


def _encoder(name: str) -> EncoderInfo:
    if name not in ENCODERS:
        raise SourceError(f"unknown encoder '{name}'", arg=None,
                          hint=did_you_mean(name, ENCODERS) or
                          f"encoders are {', '.join(ENCODERS)}")
    return ENCODERS[name]


def text_field(schema: Schema, encoder: str) -> str:
    """The one ``str`` field an encoder rewrites."""
    names = [n for n, t in schema.fields.items() if isinstance(t, StrType)]
    if len(names) != 1:
        have = ", ".join(f"{n}: {t}" for n, t in schema.fields.items())
        raise SourceError(f"encode = {encoder} needs exactly one text field; the source "
                          f"yields {have}")
    return names[0]


def encoder_schema(name: str, args: dict, schema: Schema, texts: Iterable[str]) -> Schema:
    """The schema after ``encode = name(args)``, with ``data.vocab`` measured on ``texts``.

    Args:
        name: ``"bag_of_words"`` or ``"tokens"``.
        args: the encoder's keyword arguments (defaults are filled here).
        schema: the source's schema; its one ``str`` field is replaced.
        texts: the documents the vocabulary is built from (see :func:`source_texts`).
    """
    info = _encoder(name)
    args = bind(name, info.args, [], args)
    field = text_field(schema, name)
    vocab = len(info.vocab(texts, args["max_vocab"]))
    fields = {k: v for k, v in schema.fields.items() if k != field}
    if info.output in fields:
        raise SourceError(f"encode = {name} writes the field '{info.output}', which the "
                          f"source already yields")
    fields[info.output] = info.field_type(vocab, args)
    features = vocab if info.output == "x" else schema.features
    return Schema(fields, schema.classes, schema.class_names, vocab, features)


# ---- text_file: one text as a stream of tokens ----------------------------------------------

LEVELS = ("char", "byte", "word")


def one_of(*choices: str):
    """A value check: one of ``choices``."""
    def check(v: Any) -> str | None:
        return None if v in choices else " | ".join(choices)
    return check


def text_stream(data: bytes, level: str) -> list[str]:
    """The text's tokens: its characters (UTF-8; undecodable bytes become U+FFFD), its bytes
    (each as the character of that code point, 0..255), or its words (split at whitespace)."""
    if level == "byte":
        return [chr(b) for b in data]
    text = data.decode("utf-8", errors="replace")
    return list(text) if level == "char" else text.split()


def stream_vocab(tokens: Iterable[str], level: str) -> list[str]:
    """Id ``i`` is ``vocab[i]``: every byte value for ``byte``, else every distinct token of
    the text in sorted order (no id is reserved: blocks have a fixed length, nothing pads)."""
    return [chr(b) for b in range(256)] if level == "byte" else sorted(set(tokens))


def check_stream(tokens: list[str], block: int, what: str) -> None:
    """One block needs ``block + 1`` tokens (the targets are the inputs shifted by one)."""
    if not tokens:
        raise SourceError(f"text_file(): {what} is empty", arg="path", hint="give a file with text in it")
    if len(tokens) < block + 1:
        raise SourceError(f"text_file(): {what} has {len(tokens)} tokens, too few for one block of {block} "
                          f"(a block needs {block + 1}: the targets are the inputs shifted by one)",
                          arg="block", hint=f"use block = {max(1, len(tokens) - 1)} or less, or a longer text")


def text_file_schema(block: int, vocab: int) -> Schema:
    """``x`` and ``y``: blocks of token ids; ``data.vocab`` the vocabulary size."""
    ids = TensorType("long", (block,))
    return Schema({"x": ids, "y": ids}, None, None, vocab, None)
