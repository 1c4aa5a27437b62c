"""Sanity checks of the hand-written oracles in tests/reference_models.py.

The compiler tests trust these modules as the independent answer, so each is checked here
against something it does not compute itself: parameter counts worked out by hand from
the layer sizes, output shapes, a known polynomial, and the custom layer in specs/layers.py.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

import reference_models as R

ROOT = Path(__file__).resolve().parents[1]

# Parameter counts by hand: (in * out + out) per Linear; Conv2d in*out*k*k + out; BatchNorm2d
# 2 * channels; a bidirectional LSTM 2 * (4h * (in + h) + 8h).
HAND_COUNTS = {
    "moons.spec": 2 * 50 + 50 + 50 * 2 + 2,
    "linear.spec": 1 + 1,
    "poly.spec": 2 + 1,
    "general_fit.spec": (1 * 100 + 100) + (100 * 100 + 100) + (100 * 1 + 1),
    "general_fit_lr1.spec": (1 * 100 + 100) + (100 * 100 + 100) + (100 * 1 + 1),
    "crazynet.spec": (64 * 30 + 30) + (30 * 64 + 64) + (30 * 10 + 10),
    "custom_linear.spec": 2 * 50 + 50 + 50 * 2 + 2,
    "cnn.spec": (3 * 16 * 9 + 16) + 2 * 16 + (16 * 32 * 9 + 32) + 2 * 32 + (32 * 8 * 8 * 64 + 64) + (64 * 3 + 3),
    "bilstm.spec": 1000 * 64 + 2 * (4 * 64 * (64 + 64) + 8 * 64) + (256 * 64 + 64) + (64 * 2 + 2),
    "digits.spec": (64 * 500 + 500) + (500 * 10 + 10),
    "news.spec": (200 * 100 + 100) + (100 * 100 + 100) + (100 * 3 + 3),
    "tiny431.spec": (4 * 3 + 3) + (3 * 1 + 1),
    "resnet18.spec": 11_689_512,    # torchvision's published count for resnet18
    "multitask.spec": (4 * 32 + 32) + (32 * 32 + 32) + (32 * 3 + 3) + (32 * 1 + 1),
    # positions 64x64, tokens 38x64 (tied: the head has no weights), two blocks of LayerNorm,
    # attention (in 3*64x64+3*64, out 64x64+64), LayerNorm and the 64-256-64 MLP, a last LayerNorm
    "chargpt.spec": 64 * 64 + 38 * 64
    + 2 * (128 + (3 * 64 * 64 + 3 * 64 + 64 * 64 + 64) + 128 + (64 * 256 + 256) + (256 * 64 + 64)) + 128,
}

# Per-example input shape and output shape of each spec's oracle.
SHAPES = {
    "moons.spec": ((2,), (2,)),
    "linear.spec": ((1,), (1,)),
    "poly.spec": ((1,), (1,)),
    "general_fit.spec": ((1,), (1,)),
    "general_fit_lr1.spec": ((1,), (1,)),
    "crazynet.spec": ((64,), (10,)),
    "custom_linear.spec": ((2,), (2,)),
    "cnn.spec": ((3, 32, 32), (3,)),
    "digits.spec": ((64,), (10,)),
    "news.spec": ((200,), (3,)),
    "tiny431.spec": ((4,), (1,)),
    "resnet18.spec": ((3, 224, 224), (1000,)),
}


def test_every_spec_has_a_hand_count_and_the_registry_matches_it():
    assert set(R.EXPECTED_PARAMS) == set(R.REFERENCE_MODELS) == set(HAND_COUNTS)
    assert R.EXPECTED_PARAMS == HAND_COUNTS


@pytest.mark.parametrize("name", sorted(SHAPES), ids=lambda n: n.removesuffix(".spec"))
def test_forward_shape(name):
    in_shape, out_shape = SHAPES[name]
    torch.manual_seed(0)
    model = R.REFERENCE_MODELS[name]().eval()
    with torch.no_grad():
        out = model(torch.randn(5, *in_shape))
    assert out.shape == (5, *out_shape)
    assert out.dtype == torch.float32


def test_crazynet_shares_lin1_and_counts_it_once():
    model = R.CrazyNet()
    assert R.parameter_count(model) == 784 * 30 + 30 + 30 * 784 + 784 + 30 * 10 + 10
    calls = []
    model.lin1.register_forward_hook(lambda module, args, out: calls.append(tuple(args[0].shape)))
    out = model(torch.randn(100, 784))
    assert out.shape == (100, 10)
    assert calls == [(100, 784), (100, 784)]


@pytest.mark.parametrize("seq", [10, 25])
def test_bilstm_takes_any_sequence_length(seq):
    torch.manual_seed(0)
    model = R.BiLSTM().eval()
    tokens = torch.randint(0, 1000, (6, seq))
    with torch.no_grad():
        out = model(tokens)
    assert out.shape == (6, 2)


def test_bilstm_pools_mean_and_max_over_the_sequence():
    torch.manual_seed(0)
    model = R.BiLSTM().eval()
    tokens = torch.randint(0, 1000, (2, 7))
    with torch.no_grad():
        lstm_out, _ = model.lstm(model.embedding(tokens))
        pooled = torch.cat([lstm_out.mean(dim=1), lstm_out.amax(dim=1)], dim=-1)
        want = model.out(torch.relu(model.linear(pooled)))
        assert lstm_out.shape == (2, 7, 128)
        assert torch.allclose(model(tokens), want)


def test_polynet_is_linear_in_x_and_x_squared():
    model = R.PolyNet()
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[2.0, 3.0]]))
        model.linear.bias.fill_(1.0)
        x = torch.linspace(-2, 2, 9).unsqueeze(-1)
        assert torch.allclose(model(x), 3 * x**2 + 2 * x + 1)


def test_tiny431_outputs_probabilities():
    torch.manual_seed(0)
    x = torch.tensor([[1.0, 0, 1, 0], [1, 0, 1, 1], [0, 1, 0, 1]])
    out = R.Tiny431()(x)
    assert out.shape == (3, 1)
    assert bool(((out > 0) & (out < 1)).all())


def test_shapes_cnn_halves_the_image_in_each_block():
    model = R.ShapesCNN().eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        h1 = model.block1(x)
        h2 = model.block2(h1)
    assert h1.shape == (2, 16, 16, 16)
    assert h2.shape == (2, 32, 8, 8)


def test_state_dict_follows_the_order_the_spec_uses_its_layers():
    # The compiler tests copy weights entry by entry, so this order is part of the contract.
    keys = list(R.ShapesCNN().state_dict())
    assert keys == [
        "block1.conv.weight", "block1.conv.bias",
        "block1.bn.weight", "block1.bn.bias", "block1.bn.running_mean", "block1.bn.running_var",
        "block1.bn.num_batches_tracked",
        "block2.conv.weight", "block2.conv.bias",
        "block2.bn.weight", "block2.bn.bias", "block2.bn.running_mean", "block2.bn.running_var",
        "block2.bn.num_batches_tracked",
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
    ]
    assert list(R.BiLSTM().state_dict())[:2] == ["embedding.weight", "lstm.weight_ih_l0"]
    assert list(R.CrazyNet().state_dict()) == [
        "lin1.weight", "lin1.bias", "lin2.weight", "lin2.bias", "lin3.weight", "lin3.bias"]


def test_my_linear_computes_x_times_weight_plus_bias():
    layer = R.MyLinear(3, 4)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (4,)
    with torch.no_grad():
        layer.bias.fill_(0.5)
        x = torch.randn(5, 3)
        assert torch.allclose(layer(x), x @ layer.weight + 0.5)


def test_local_my_linear_matches_the_one_custom_linear_spec_imports():
    path = ROOT / "specs" / "layers.py"
    spec = importlib.util.spec_from_file_location("specs_layers_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(3)
    theirs = module.MyLinear(2, 50)
    torch.manual_seed(3)
    ours = R.MyLinear(2, 50)
    assert isinstance(theirs, nn.Module)
    for (name_a, a), (name_b, b) in zip(theirs.state_dict().items(), ours.state_dict().items()):
        assert name_a == name_b and torch.equal(a, b)
    x = torch.randn(4, 2)
    assert torch.equal(theirs(x), ours(x))


def test_resnet50_has_torchvisions_parameter_count():
    assert R.parameter_count(R.ResNet(R.Bottleneck, (3, 4, 6, 3))) == 25_557_032
