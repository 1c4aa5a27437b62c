"""The size every layer is checked against is the size torch gives it.

For each sized layer of the catalogue (``PARAM_ESTIMATES``) and a few layers sized on the meta
device, ``specc.check`` records one estimate per layer instance: it must equal the number of
values in the parameters and buffers of the module ``specc.build`` makes, biases and every
kernel dim included.
"""
from __future__ import annotations

import pytest
import torch

import specc
from specc.catalog.layers import PARAM_ESTIMATES

CASES = [
    ("float[7]", "Linear(5)"), ("float[7]", "Linear(5, bias=false)"),
    ("long[4]", "Embedding(11, 3)"), ("float[3, 6]", "PReLU(3)"),
    ("float[4, 6]", "LayerNorm"), ("float[4, 6]", "LayerNorm(bias=false)"),
    ("float[4, 6]", "LayerNorm(elementwise_affine=false)"),
    ("float[3, 9]", "LSTM(5)"), ("float[3, 9]", "LSTM(5, num_layers=3, bidirectional=true)"),
    ("float[3, 9]", "GRU(4, num_layers=2, bias=false)"), ("float[3, 9]", "RNN(6, bidirectional=true)"),
    ("float[3, 8]", "MultiheadAttention(2)"), ("float[3, 8]", "MultiheadAttention(4, bias=false)"),
    ("float[3, 8]", "TransformerEncoderLayer(2, dim_feedforward=16)"),
    ("float[3, 8]", "TransformerEncoderLayer(4, dim_feedforward=5, bias=false)"),
    ("float[3, 10]", "BatchNorm1d"), ("float[3, 5, 5]", "BatchNorm2d(affine=false)"),
    ("float[3, 2, 5, 5]", "BatchNorm3d(track_running_stats=false)"), ("float[3, 10]", "InstanceNorm1d"),
    ("float[3, 5, 5]", "InstanceNorm2d(affine=true)"),
    ("float[3, 4, 4, 4]", "InstanceNorm3d(track_running_stats=true)"),
    ("float[4, 9]", "Conv1d(6, 3)"), ("float[4, 9, 9]", "Conv2d(6, 3, groups=2)"),
    ("float[4, 9, 9]", "Conv2d(6, (3, 2), bias=false)"), ("float[2, 5, 5, 5]", "Conv3d(3, 2)"),
    ("float[4, 9]", "ConvTranspose1d(6, 3)"), ("float[4, 9, 9]", "ConvTranspose2d(6, 3, groups=2)"),
    ("float[2, 5, 5, 5]", "ConvTranspose3d(3, (1, 2, 3))"),
    # no table rule: counted on the meta device
    ("long[4]", "EmbeddingBag(11, 3)"), ("float[3, 6]", "GroupNorm(3, 3)"),
]


def total(module: torch.nn.Module) -> int:
    return sum(t.numel() for t in [*module.parameters(), *module.buffers()])


@pytest.mark.parametrize("example, layer", CASES, ids=[c[1] for c in CASES])
def test_estimate_is_the_built_size(example, layer):
    spec = specc.load(f"model M(x: {example}) {{\n    return x -> {layer}\n}}\n")
    (inst,) = specc.check(spec).graph.layers.values()
    module = getattr(specc.build(spec), inst.name)
    assert inst.params == total(module)


def test_every_estimate_is_exercised():
    covered = {c[1].split("(")[0] for c in CASES}
    assert set(PARAM_ESTIMATES) <= covered, set(PARAM_ESTIMATES) - covered
