"""Language 1.1 section 10.10 end to end: ``text_file``, class scores on the last dim,
``ignore_index`` from the pad, per-position metrics, ``sequences`` ids."""
from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import specc
from specc.cli.main import main
from specc.data.plan import load_splits
from specc.run import loss_function, scoring
from specc.training.tuning import Tuning

ROOT = Path(__file__).resolve().parents[2]
CHARLM = Path(__file__).parent / "specs" / "charlm.spec"


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_text_file_blocks_vocabulary_and_split_follow_the_text():
    checked = specc.check(CHARLM)
    text = (ROOT / "specs" / "data" / "tiny.txt").read_text(encoding="utf-8")
    vocab = sorted(set(text))
    assert checked.data.schema.vocab == len(vocab) == 38
    splits = load_splits(checked.spec, checked.data, checked.target)
    assert splits.vocab == vocab
    ids = torch.tensor([vocab.index(c) for c in text])
    n = (len(ids) - 1) // 64
    x = torch.cat([splits.train.fields["x"], splits.valid.fields["x"]])
    y = torch.cat([splits.train.fields["y"], splits.valid.fields["y"]])
    assert torch.equal(x, ids[:n * 64].view(n, 64)) and torch.equal(y, ids[1:n * 64 + 1].view(n, 64))
    assert len(splits.valid) == round(0.1 * n)          # the end of the text, in order


def test_the_compiled_sequence_loss_is_cross_entropy_of_the_flattened_scores():
    checked = specc.check(CHARLM)
    loss = loss_function(checked, {}, Tuning())
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 64, 38, generator=g)
    y = torch.randint(0, 38, (5, 64), generator=g)
    assert torch.equal(loss(logits, y), F.cross_entropy(logits.reshape(-1, 38), y.reshape(-1)))
    assert scoring(checked).class_dim == -1 and scoring(checked).ignore_index is None
    assert "flatten(0, -2)" in loss.code


TAGGER = """
data {{
    train = sequences(samples=120, vocab=30, length=4..9, classes=3)
    valid = 25%
    batch = 16
}}
model Tagger(tokens: long[seq]) {{
    return tokens -> Embedding(data.vocab, 8) -> Linear(data.vocab)
}}
loss = cross_entropy{options}
optimizer = Adam(lr=0.01)
train {{ epochs = 1, metrics = [accuracy, top5], target = tokens }}
"""


@pytest.mark.parametrize("options, ignored", [("", 0), ("(ignore_index=-100)", -100)])
def test_a_padded_target_is_ignored_at_the_pad_unless_the_loss_says_otherwise(tmp_path, options, ignored):
    path = tmp_path / "tagger.spec"
    path.write_text(TAGGER.format(options=options))
    checked = specc.check(path)
    assert scoring(checked).ignore_index == ignored
    loss = loss_function(checked, {}, Tuning())
    logits = torch.randn(4, 7, 30)
    tokens = torch.randint(1, 30, (4, 7))
    tokens[:, 5:] = 0
    want = F.cross_entropy(logits.reshape(-1, 30), tokens.reshape(-1), ignore_index=ignored)
    assert torch.equal(loss(logits, tokens), want)
    result = specc.train(path, out=tmp_path / "run")
    assert set(result.metrics["valid"]) == {"loss", "accuracy", "top5"}


def test_sequences_token_ids_are_1_to_vocab_minus_1_and_0_pads(tmp_path):
    path = tmp_path / "tagger.spec"
    path.write_text(TAGGER.format(options=""))
    checked = specc.check(path)
    train = load_splits(checked.spec, checked.data, checked.target).train
    tokens, lengths = train.fields["tokens"], train.lengths["tokens"]
    inside = torch.arange(tokens.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    assert checked.data.schema.vocab == 30
    assert int(tokens[inside].min()) >= 1 and int(tokens[inside].max()) <= 29
    assert int(tokens[~inside].abs().sum()) == 0


def test_a_char_lstm_beats_the_bigram_baseline_and_reports_per_position_metrics(tmp_path, capsys):
    figures = _tool("text_baselines").baselines(CHARLM)
    assert figures["bigram"] < figures["unigram"] < figures["uniform"]
    out = tmp_path / "run"
    assert main(["run", str(CHARLM), "--out", str(out)]) == 0
    capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["valid"]["loss"] < figures["bigram"]
    assert metrics["valid"]["accuracy"] > 0.5
    with open(out / "history.csv") as f:
        assert {"valid.loss", "valid.accuracy", "valid.top5"} <= set(next(csv.reader(f)))
    assert json.loads((out / "vocab.json").read_text()) == figures_vocab()


def figures_vocab() -> list[str]:
    return sorted(set((ROOT / "specs" / "data" / "tiny.txt").read_text(encoding="utf-8")))


def test_a_held_out_text_uses_the_train_vocabulary(tmp_path, capsys):
    (tmp_path / "train.txt").write_text("abcabcabcabcabcabc" * 4)
    (tmp_path / "valid.txt").write_text("abcabcabcabcxabc")
    spec = tmp_path / "lm.spec"
    spec.write_text('data {\n    train = text_file("train.txt", block=4)\n    valid = text_file("valid.txt", block=4)\n}\n'
                    "model M(x: long[4]) { return x -> Embedding(data.vocab, 4) -> Linear(data.vocab) }\n"
                    "loss = cross_entropy\noptimizer = Adam()\ntrain { epochs = 1 }\n")
    assert main(["run", str(spec), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{spec}:3:13: error: text_file(): valid.txt has the token 'x', which the train text does not have" in err
