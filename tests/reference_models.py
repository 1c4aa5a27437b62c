"""Hand-written plain-PyTorch oracles for the example specs in ``specs/``.

Each class is the network one spec describes, written the way the seed tutorials write
it: layers made in ``__init__``, wired in ``forward``. They import nothing from specc, so
a test can build a spec, copy these modules' weights into it (or the other way round)
in ``state_dict`` order, and compare parameter counts and outputs with an independent
implementation. That is why every class constructs its layers in the order the spec
first uses them: the order of ``state_dict()`` is the order of construction.

Constructor sizes are arguments whose defaults match the spec, so a test can also build
small variants. ``EXPECTED_PARAMS`` maps each spec file name to the parameter count of
its model with those defaults; ``parameter_count`` counts a shared layer once, as
``nn.Module.parameters()`` does.

Conventions the specs rely on:
- inputs carry the batch as dimension 0, as in PyTorch;
- classifiers return logits (the specs use ``cross_entropy``), so no softmax here;
- ``NewsMLP``'s input width is the bag-of-words vocabulary size, which comes from the
  data: news.spec asks for ``max_vocab=200``, fewer than the 220 distinct words of
  specs/data/news, so the vocabulary is exactly 200 whatever the tie-breaking among words;
- crazynet.spec trains CrazyNet on the 8x8 digits, so its registry entry uses 64 inputs
  where the class keeps seed 002's 784.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
import math

import torch
import torch.nn.functional as F
from torch import nn

NEWS_VOCAB = 200  # news.spec: encode = bag_of_words(max_vocab=200)


class MoonNet(nn.Module):
    """Mirrors specs/moons.spec: ``x -> Linear(50) -> ReLU -> Linear(2)`` (2-50-2).

    Seed 000 (two half-moons) defines the same two layers; it ends in a sigmoid for
    ``BCELoss``, while the spec returns logits for ``cross_entropy``.
    """

    def __init__(self, in_features: int = 2, hidden: int = 50, classes: int = 2):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc1(x))  # (B, 50)
        return self.fc2(x)  # (B, 2)


class LinearNet(nn.Module):
    """Mirrors specs/linear.spec: ``x -> Linear(1)``, seed 001's ``LinearRegression(1, 1)``."""

    def __init__(self, in_features: int = 1, out_features: int = 1):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)  # (B, 1)


class PolyNet(nn.Module):
    """Mirrors specs/poly.spec: ``cat(x, x ** 2) -> Linear(1)``.

    Seed 001 builds the two features ``[x, x^2]`` outside the model and trains
    ``LinearRegression(2, 1)``; the spec builds them inside, so this module does too.
    After training, ``linear.weight`` is close to (2, 3) and ``linear.bias`` to 1.
    """

    def __init__(self, out_features: int = 1):
        super().__init__()
        self.linear = nn.Linear(2, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = torch.cat([x, x**2], dim=-1)  # (B, 2)
        return self.linear(features)  # (B, 1)


class GeneralFit(nn.Module):
    """Mirrors specs/general_fit.spec and specs/general_fit_lr1.spec.

    Seed 001's ``GeneralFit``: three linear layers with a ReLU after the first two,
    ``x -> Linear(100) -> ReLU -> Linear(100) -> ReLU -> Linear(1)``.
    """

    def __init__(self, input_size: int = 1, output_size: int = 1, hidden_size: int = 100):
        super().__init__()
        self.linear1 = nn.Linear(input_size, hidden_size)
        self.linear2 = nn.Linear(hidden_size, hidden_size)
        self.linear3 = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.linear1(x))  # (B, 100)
        x = F.relu(self.linear2(x))  # (B, 100)
        return self.linear3(x)  # (B, 1)


class CrazyNet(nn.Module):
    """Mirrors specs/crazynet.spec (with ``in_features=64``), seed 002's ``myCrazyNeuralNet``.

    ``lin1`` is applied twice: once to ``x`` and once to ``x + lin2(h)``, so its
    weights are shared and counted once: with the seed's 784 inputs that is
    784*30+30 + 30*784+784 + 30*10+10 parameters.
    """

    def __init__(self, in_features: int = 784, hidden: int = 30, classes: int = 10):
        super().__init__()
        self.lin1 = nn.Linear(in_features, hidden)
        self.lin2 = nn.Linear(hidden, in_features)
        self.lin3 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lin1(x)  # (B, 30)
        h = self.lin1(x + self.lin2(h))  # (B, 784) + (B, 784) -> (B, 30)
        return self.lin3(h)  # (B, 10)


class MyLinear(nn.Module):
    """A local copy of specs/layers.py's ``MyLinear``, kept here so the oracle needs no spec file.

    As in seed 002's custom linear layer: ``weight`` has shape (in, out) and the layer
    computes ``x @ weight + bias``. Weights start as ``randn / sqrt(in_features)``.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_features, out_features) / math.sqrt(in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


class MyLinearNet(nn.Module):
    """Mirrors specs/custom_linear.spec: ``my.MyLinear(2, 50) -> ReLU -> my.MyLinear(50, 2)``."""

    def __init__(self, in_features: int = 2, hidden: int = 50, classes: int = 2):
        super().__init__()
        self.lin1 = MyLinear(in_features, hidden)
        self.lin2 = MyLinear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.lin1(x))  # (B, 50)
        return self.lin2(x)  # (B, 2)


class ConvBlock(nn.Module):
    """Mirrors cnn.spec's ``block ConvBlock``: Conv2d(k, padding=k // 2) -> BatchNorm2d -> ReLU -> MaxPool2d(2)."""

    def __init__(self, in_channels: int, channels: int, k: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, k, padding=k // 2)
        self.bn = nn.BatchNorm2d(channels)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.bn(self.conv(x))))  # (B, channels, h/2, w/2)


class ShapesCNN(nn.Module):
    """Mirrors specs/cnn.spec layer by layer.

    ``x -> ConvBlock(16) -> ConvBlock(32) -> Flatten -> Linear(64) -> ReLU -> Dropout(0.25)
    -> Linear(data.classes)`` on 3x32x32 images of three classes (circle, square, triangle).
    """

    def __init__(
        self,
        in_channels: int = 3,
        size: int = 32,
        classes: int = 3,
        channels: tuple[int, int] = (16, 32),
        hidden: int = 64,
        dropout: float = 0.25,
    ):
        super().__init__()
        self.block1 = ConvBlock(in_channels, channels[0])
        self.block2 = ConvBlock(channels[0], channels[1])
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(channels[1] * (size // 4) ** 2, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block1(x)  # (B, 16, 16, 16)
        x = self.block2(x)  # (B, 32, 8, 8)
        x = self.flatten(x)  # (B, 2048)
        x = self.dropout(F.relu(self.fc1(x)))  # (B, 64)
        return self.fc2(x)  # (B, classes)


class BiLSTM(nn.Module):
    """Mirrors specs/bilstm.spec, after seed 002's variable-length BiLSTM.

    Embedding(vocab, 64) -> bidirectional LSTM(64, 64, batch_first) -> concatenated mean
    and max over the sequence (dim 1) -> Linear(64) -> ReLU -> Dropout(0.1) -> Linear(classes).
    Works for any sequence length; padding positions take part in mean and max, as
    in the spec.
    """

    def __init__(
        self,
        vocab: int = 1000,
        embed: int = 64,
        hidden: int = 64,
        head: int = 64,
        classes: int = 2,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, bidirectional=True, batch_first=True)
        self.linear = nn.Linear(4 * hidden, head)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(head, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        e = self.embedding(tokens)  # (B, seq, 64)
        out, _ = self.lstm(e)  # (B, seq, 128)
        pooled = torch.cat([torch.mean(out, dim=1), torch.max(out, dim=1).values], dim=-1)  # (B, 256)
        h = self.dropout(F.relu(self.linear(pooled)))  # (B, 64)
        return self.out(h)  # (B, classes)


class DigitsMLP(nn.Module):
    """Mirrors specs/digits.spec: seed 003's 784-500-10 MLP resized to 8x8 digits, 64-500-10."""

    def __init__(self, in_features: int = 64, hidden: int = 500, classes: int = 10):
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden)
        self.output = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(F.relu(self.hidden(x)))  # (B, 10)


class NewsMLP(nn.Module):
    """Mirrors specs/news.spec, seed 004's ``OurNet``: vocab -> 100 -> ReLU -> 100 -> ReLU -> classes."""

    def __init__(self, vocab: int = NEWS_VOCAB, hidden: int = 100, classes: int = 3):
        super().__init__()
        self.layer_1 = nn.Linear(vocab, hidden)
        self.layer_2 = nn.Linear(hidden, hidden)
        self.output_layer = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.layer_1(x))  # (B, 100)
        out = F.relu(self.layer_2(out))  # (B, 100)
        return self.output_layer(out)  # (B, classes)


class Tiny431(nn.Module):
    """Mirrors specs/tiny431.spec: seed 003's NumPy-vs-PyTorch network, 4 -> 3 sigmoid -> 1 sigmoid."""

    def __init__(self, in_features: int = 4, hidden: int = 3, out_features: int = 1):
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden)
        self.output = nn.Linear(hidden, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.sigmoid(self.hidden(x))  # (B, 3)
        return torch.sigmoid(self.output(h))  # (B, 1)


class BasicBlock(nn.Module):
    """ResNet's BasicBlock as torchvision writes it: two 3x3 convolutions, and a 1x1 projection
    shortcut where the stride or the width changes (resnet18.spec's ``if``)."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class Bottleneck(nn.Module):
    """ResNet-50's Bottleneck (torchvision's, the stride on the 3x3 convolution): 1x1 down to
    ``width``, 3x3, 1x1 up to ``4 * width``, with the same projection rule as BasicBlock."""

    def __init__(self, in_channels: int, width: int, stride: int = 1):
        super().__init__()
        out = 4 * width
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or in_channels != out:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return F.relu(h + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """torchvision's ResNet: a 7x7 stem, four stages of ``blocks[i]`` blocks (the first of each
    stage from the second on has stride 2), average pooling and a linear head. With BasicBlock
    and (2, 2, 2, 2) it is ResNet-18 (11,689,512 parameters, resnet18.spec); with Bottleneck
    and (3, 4, 6, 3), ResNet-50 (25,557,032)."""

    def __init__(self, block=BasicBlock, blocks=(2, 2, 2, 2), classes: int = 1000):
        super().__init__()
        expansion = 4 if block is Bottleneck else 1
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        layers, in_channels = [], 64
        for i, (width, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            for j in range(n):
                layers.append(block(in_channels, width, stride=2 if i > 0 and j == 0 else 1))
                in_channels = width * expansion
        self.layers = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.maxpool(F.relu(self.bn1(self.conv1(x))))  # (B, 64, 56, 56)
        h = self.layers(h)  # (B, 512 * expansion, 7, 7)
        return self.fc(torch.flatten(self.avgpool(h), 1))  # (B, classes)


def causal_mask(t: int, device=None) -> torch.Tensor:
    """True above the diagonal: the positions a query must not see (torch's boolean attn_mask)."""
    return torch.ones(t, t, device=device).triu(1).bool()


class PaddedClassifier(nn.Module):
    """Mirrors tests/compile/specs/padded_classifier.spec: embeddings plus a learned position
    table (16, 32) sliced to the batch's length, one TransformerEncoderLayer that ignores the pad
    tokens (``src_key_padding_mask = tokens == 0``), mean over the sequence, Linear(classes)."""

    def __init__(self, vocab: int = 50, d: int = 32, heads: int = 4, ff: int = 64, classes: int = 2):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(16, d))
        self.embedding = nn.Embedding(vocab, d)
        self.encoder = nn.TransformerEncoderLayer(d, heads, dim_feedforward=ff, dropout=0.0, batch_first=True)
        self.head = nn.Linear(d, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pad = tokens == 0  # (B, t)
        h = self.embedding(tokens) + self.pos[:tokens.size(1)]  # (B, t, 32)
        h = self.encoder(h, src_key_padding_mask=pad)  # (B, t, 32)
        return self.head(h.mean(dim=1))  # (B, classes)


class GptBlock(nn.Module):
    """Pre-norm decoder block: h + attn(LN(h)) under a causal mask, then h + MLP(LN(h)), MLP 4x wide."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=0.0, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n = self.ln1(h)
        a, _ = self.attn(n, n, n, attn_mask=causal_mask(h.size(1), h.device), need_weights=False)
        h = h + a
        return h + self.fc2(F.gelu(self.fc1(self.ln2(h))))


class TiedGpt(nn.Module):
    """Mirrors tests/compile/specs/gpt_tied.spec: token and position embeddings, two pre-norm
    decoder blocks, a final LayerNorm and logits through the token embedding's own weight."""

    def __init__(self, vocab: int = 50, d: int = 32, heads: int = 4, context: int = 16, layers: int = 2):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.positions = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(GptBlock(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.tok(tokens) + self.positions(torch.arange(tokens.size(1), device=tokens.device))
        for block in self.blocks:
            h = block(h)
        return F.linear(self.ln(h), self.tok.weight)  # (B, t, vocab): no head weights of its own


class CharGpt(nn.Module):
    """Mirrors specs/chargpt.spec: a learned (64, 64) position table sliced to the batch's
    length, two pre-norm decoder blocks, and logits through the token embedding's weight, scaled
    by 1/8. ``vocab`` is the number of distinct characters of specs/data/tiny.txt."""

    def __init__(self, vocab: int = 38, d: int = 64, heads: int = 4, context: int = 64, layers: int = 2):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(context, d))
        self.tok = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(GptBlock(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tok(x) + self.pos[:x.size(1)]  # (B, t, 64)
        for block in self.blocks:
            h = block(h)
        return F.linear(self.ln(h), self.tok.weight) / 8  # (B, t, vocab)


class CausalEncoder(nn.Module):
    """Mirrors tests/compile/specs/causal_encoder.spec: a norm-first TransformerEncoderLayer given
    the causal mask with ``is_causal=True``, positions as a Parameter, the head tied to the embedding."""

    def __init__(self, vocab: int = 50, d: int = 32, heads: int = 4, ff: int = 64):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(16, d))
        self.tok = nn.Embedding(vocab, d)
        self.encoder = nn.TransformerEncoderLayer(d, heads, dim_feedforward=ff, dropout=0.0, norm_first=True,
                                                  batch_first=True)
        self.ln = nn.LayerNorm(d)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.size(1)
        h = self.tok(tokens) + self.pos[:t]
        h = self.encoder(h, src_mask=causal_mask(t, tokens.device), is_causal=True)
        return F.linear(self.ln(h), self.tok.weight)


# Language 1.1 specs in tests/compile/specs -> their oracles (as REFERENCE_MODELS below).
LANGUAGE_1_1_MODELS: dict[str, Callable[[], nn.Module]] = {
    "padded_classifier.spec": PaddedClassifier,
    "gpt_tied.spec": TiedGpt,
    "causal_encoder.spec": CausalEncoder,
}
class Parcel(nn.Module):
    """Mirrors specs/multitask.spec: a 4-32-32 trunk and two heads, the kind's logits (3 kinds)
    and the size (one number); it returns both, as the spec's ``return logits, amount``."""

    def __init__(self, in_features: int = 4, hidden: int = 32, kinds: int = 3):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.kind = nn.Linear(hidden, kinds)
        self.size = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.fc2(F.relu(self.fc1(x))))  # (B, 32)
        return self.kind(h), self.size(h)  # (B, 3), (B, 1)


# Spec file name -> a zero-argument factory for the oracle it mirrors (a class whose defaults
# match the spec, or the class with the sizes the spec uses).
REFERENCE_MODELS: dict[str, Callable[[], nn.Module]] = {
    "moons.spec": MoonNet,
    "linear.spec": LinearNet,
    "poly.spec": PolyNet,
    "general_fit.spec": GeneralFit,
    "general_fit_lr1.spec": GeneralFit,
    "crazynet.spec": partial(CrazyNet, in_features=64),
    "custom_linear.spec": MyLinearNet,
    "cnn.spec": ShapesCNN,
    "bilstm.spec": BiLSTM,
    "digits.spec": DigitsMLP,
    "news.spec": NewsMLP,
    "tiny431.spec": Tiny431,
    "resnet18.spec": ResNet,
    "multitask.spec": Parcel,
    "chargpt.spec": CharGpt,
}


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters, each tensor once: ``parameters()`` skips a shared layer's repeats."""
    return sum(p.numel() for p in model.parameters())


def expected_params() -> dict[str, int]:
    """Build each spec's oracle and count its parameters."""
    return {name: parameter_count(make()) for name, make in REFERENCE_MODELS.items()}


EXPECTED_PARAMS: dict[str, int] = expected_params()
