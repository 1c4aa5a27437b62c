"""A custom linear layer written by hand with nn.Parameter (seed 002's custom layer).

Imported by custom_linear.spec with `import "layers.py" as my`.
"""
import math

import torch
from torch import nn


class MyLinear(nn.Module):
    """y = x @ weight + bias, with weight of shape (in_features, out_features)."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_features, out_features) / math.sqrt(in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x):
        return x @ self.weight + self.bias
