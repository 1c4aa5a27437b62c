"""The built-in trainer: :func:`fit` a model on batchers, with checkpoints, metrics and plots.

Names are loaded on first use, so ``specc.training.config`` (torch-free) can be imported by the
front end without importing torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "fit": "specc.training.loop",
    "RunResult": "specc.training.loop",
    "TrainConfig": "specc.training.config",
    "EarlyStop": "specc.training.config",
    "TrainError": "specc.training.errors",
    "DivergenceError": "specc.training.errors",
    "ResumeError": "specc.training.errors",
    "Reporter": "specc.training.progress",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'specc.training' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
