"""text_file at each level: tokens, vocabulary, blocks (y is x one token later)."""
from __future__ import annotations

import pytest
import torch

from specc.catalog.sources import schema_of
from specc.data.load import load_source


@pytest.mark.parametrize("level, tokens, vocab", [
    ("char", list("ab ba\u00e9"), sorted(set("ab ba\u00e9"))),
    ("byte", [chr(b) for b in "ab ba\u00e9".encode()], [chr(b) for b in range(256)]),
    ("word", ["ab", "ba\u00e9"], ["ab", "ba\u00e9"]),
])
def test_each_level_cuts_the_text_into_shifted_blocks(tmp_path, level, tokens, vocab):
    (tmp_path / "t.txt").write_text("ab ba\u00e9", encoding="utf-8")
    block = 1 if level == "word" else 2
    table = load_source("text_file", {"path": "t.txt", "block": block, "level": level}, tmp_path)
    assert table.vocab == vocab and schema_of("text_file", {"path": "t.txt", "block": block, "level": level},
                                              tmp_path).vocab == len(vocab)
    ids = torch.tensor([vocab.index(t) for t in tokens])
    n = (len(ids) - 1) // block
    assert torch.equal(table.fields["x"], ids[:n * block].view(n, block))
    assert torch.equal(table.fields["y"], ids[1:n * block + 1].view(n, block))
