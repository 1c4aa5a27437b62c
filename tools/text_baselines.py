"""Baseline validation losses for a ``text_file`` spec: what a model must beat.

    python tools/text_baselines.py SPEC [--k 1.0]

Loads the spec's data exactly as ``specc run`` does (its ``text_file`` blocks, vocabulary and
train/valid split), then scores every valid position ``y[t]`` given ``x[t]`` with two
add-k-smoothed models fitted on the train split's positions:

- unigram: ``p(b) = (n(b) + k) / (N + k V)``;
- bigram: ``p(b | a) = (n(a, b) + k) / (n(a) + k V)``;

where ``V`` is ``data.vocab``. The figures are mean cross-entropies in nats, the unit of
``valid.loss`` under ``loss = cross_entropy``.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch


def _pairs(table) -> tuple[torch.Tensor, torch.Tensor]:
    return table.fields["x"].reshape(-1), table.fields["y"].reshape(-1)


def baselines(spec_path: str | Path, k: float = 1.0) -> dict[str, float]:
    """``{"unigram": nats, "bigram": nats, "vocab": V}`` on the spec's valid split."""
    import specc
    from specc.data.plan import load_splits

    checked = specc.check(specc.load(spec_path))
    splits = load_splits(checked.spec, checked.data, checked.target)
    if splits.valid is None:
        raise SystemExit(f"{spec_path}: the data has no valid split")
    vocab = checked.data.schema.vocab
    prev, nxt = _pairs(splits.train)
    counts = torch.zeros(vocab, vocab, dtype=torch.float64)
    counts.index_put_((prev, nxt), torch.ones(len(prev), dtype=torch.float64), accumulate=True)
    bigram = (counts + k) / (counts.sum(1, keepdim=True) + k * vocab)
    single = counts.sum(0)
    unigram = (single + k) / (single.sum() + k * vocab)
    vprev, vnext = _pairs(splits.valid)
    return {"unigram": -float(unigram[vnext].log().mean()), "bigram": -float(bigram[vprev, vnext].log().mean()),
            "vocab": vocab, "uniform": math.log(vocab)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec")
    parser.add_argument("--k", type=float, default=1.0, help="add-k smoothing (default 1)")
    args = parser.parse_args()
    for name, value in baselines(args.spec, args.k).items():
        print(f"{name:8s} {value:.4f}" if isinstance(value, float) else f"{name:8s} {value}")


if __name__ == "__main__":
    main()
