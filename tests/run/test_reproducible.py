"""Same spec and seed -> the same final weights, bit for bit; another seed -> other weights."""
from __future__ import annotations

import torch

import specc
from conftest import moons_spec


def _weights(result):
    return {k: v.clone() for k, v in result.model.state_dict().items()}


def test_same_seed_same_weights(tmp_path):
    spec = moons_spec(tmp_path, epochs=2, seed=3)
    a = _weights(specc.train(specc.load(spec), out=tmp_path / "a"))
    b = _weights(specc.train(specc.load(spec), out=tmp_path / "b"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_other_seed_other_weights(tmp_path):
    spec = moons_spec(tmp_path, epochs=2, seed=3)
    a = _weights(specc.train(specc.load(spec), out=tmp_path / "a"))
    c = _weights(specc.train(specc.load(spec), out=tmp_path / "c", seed=4))
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_train_returns_metrics_history_and_model(tmp_path):
    spec = moons_spec(tmp_path, epochs=3)
    result = specc.train(specc.load(spec), out=tmp_path / "run")
    assert len(result.history) == 3
    assert set(result.metrics) == {"train", "valid"}
    assert result.metrics["valid"]["accuracy"] > 0.8
    out = result.model(torch.zeros(5, 2))
    assert out.shape == (5, 2)
    for name in ("metrics.json", "history.csv", "last.pt", "best.pt"):
        assert (tmp_path / "run" / name).is_file()
