"""Text encoders in torch: ``bag_of_words`` and ``tokens`` (``data { encode = ... }``).

Tokenisation and vocabularies come from :mod:`specc.catalog.text`, the same code the schema
uses, so ``data.vocab`` seen by ``specc check`` equals the width that loading produces. A
vocabulary built on the training texts can be passed back in (``vocab=``) to encode the
validation and test texts with the same columns / ids.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from specc.catalog.source_base import SourceError
from specc.catalog.text import (ENCODERS, PAD_ID, UNK_ID, bag_vocab, bind_encoder, token_vocab,
                                tokenize)
from specc.data.table import Table


def encode_bag_of_words(texts: Sequence[str], max_vocab: int = 20000,
                        vocab: list[str] | None = None) -> tuple[Tensor, list[str]]:
    """Word counts: ``x[i, j]`` = how often ``vocab[j]`` occurs in ``texts[i]``.

    Returns:
        ``(x float32 [N, len(vocab)], vocab)``; words outside the vocabulary are dropped.
    """
    if vocab is None:
        vocab = bag_vocab(texts, max_vocab)
    column = {w: j for j, w in enumerate(vocab)}
    rows: list[int] = []
    cols: list[int] = []
    for i, text in enumerate(texts):
        hits = [column[w] for w in tokenize(text) if w in column]
        rows += [i] * len(hits)
        cols += hits
    x = torch.zeros((len(texts), len(vocab)), dtype=torch.float32)
    x.index_put_((torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)),
                 torch.ones(len(rows)), accumulate=True)
    return x, vocab


def encode_tokens(texts: Sequence[str], max_vocab: int = 20000, max_len: int | None = None,
                  vocab: list[str] | None = None) -> tuple[Tensor, Tensor, list[str]]:
    """Word ids, 0 = padding, 1 = unknown word; each document cut to ``max_len`` if given.

    Returns:
        ``(tokens long [N, L], lengths long [N], vocab)`` with ``L`` the longest length and
        positions past each length holding 0. An empty document is the single unknown id.
    """
    if vocab is None:
        vocab = token_vocab(texts, max_vocab)
    ids = {w: i for i, w in enumerate(vocab)}
    docs = []
    for text in texts:
        doc = [ids.get(w, UNK_ID) for w in tokenize(text)][:max_len] or [UNK_ID]
        docs.append(torch.tensor(doc, dtype=torch.long))
    lengths = torch.tensor([len(d) for d in docs], dtype=torch.long)
    tokens = torch.nn.utils.rnn.pad_sequence(docs, batch_first=True, padding_value=PAD_ID)
    return tokens, lengths, vocab


def apply_encoder(table: Table, name: str, args: dict | None = None,
                  vocab: list[str] | None = None) -> tuple[Table, list[str]]:
    """Replace the table's one text field by the encoder's output field.

    Args:
        table: a Table with exactly one entry in ``texts``.
        name: ``"bag_of_words"`` (writes ``x``) or ``"tokens"`` (writes ``tokens``).
        args: the encoder's arguments (defaults filled).
        vocab: reuse this vocabulary (from the training split) instead of building one.

    Returns:
        The new Table and the vocabulary used.
    """
    a = bind_encoder(name, (), args or {})
    if len(table.texts) != 1:
        raise SourceError(f"encode = {name} needs exactly one text field; the data has "
                          f"{len(table.texts)}")
    field = next(iter(table.texts))
    texts = table.texts[field]
    output = ENCODERS[name].output
    if name == "bag_of_words":
        x, vocab = encode_bag_of_words(texts, a["max_vocab"], vocab)
        return table.without(field).with_field(output, x), vocab
    tokens, lengths, vocab = encode_tokens(texts, a["max_vocab"], a["max_len"], vocab)
    return table.without(field).with_field(output, tokens, lengths), vocab
