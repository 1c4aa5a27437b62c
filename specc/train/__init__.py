"""The built-in trainer: :func:`fit` a model on batchers, with checkpoints, metrics and plots.

Names are loaded on first use, so ``specc.train.config`` (torch-free) can be imported by the
front end without importing torch.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "fit": "specc.train.loop",
    "RunResult": "specc.train.loop",
    "TrainConfig": "specc.train.config",
    "EarlyStop": "specc.train.config",
    "TrainError": "specc.train.errors",
    "DivergenceError": "specc.train.errors",
    "ResumeError": "specc.train.errors",
    "Reporter": "specc.train.progress",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'specc.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
