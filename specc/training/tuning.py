"""The trainer's speed settings, each on by default and each switchable.

Every setting either computes exactly what the plain PyTorch idiom computes, or changes only
float rounding and says so below. ``bench/train_bench.py --ablate`` measures each one.

==========================  ===============================================================
``fused_optimizer``         ``fused=True`` for torch optimizers that have it on the device
                            (when the spec sets neither ``fused`` nor ``foreach``). One kernel
                            per step instead of a handful of ops per parameter. Same update
                            rule; results differ from the default implementation by float
                            rounding only.
``fused_step``              a fused Adam, AdamW or SGD steps by calling its kernel directly
                            (:mod:`specc.training.fastopt`): the same kernel with the same
                            arguments as ``optimizer.step()``, without its per-step Python
                            (exact); the optimizer's state stays its own.
``fast_zero_grad``          clear gradients with ``p.grad = None`` over the optimizer's
                            parameters: what ``optimizer.zero_grad(set_to_none=True)`` does,
                            without its profiler record and dynamo guard (exact).
``background_checkpoints``  ``last.pt``/``best.pt``: the state is copied at the epoch end,
                            then pickled, written and fsync'd by a background thread while
                            the next epoch trains; the run waits for the write at the next
                            save (a failed one stops the run there) and before it returns
                            or raises (exact: the same contents, the same atomic rename).
``throttled_checkpoints``   ``last.pt``/``best.pt`` are written at most once every
                            ``CHECKPOINT_INTERVAL`` seconds (the first epoch's at once); an
                            epoch end in between keeps a copy of the state in memory, and
                            the newest copies are written when the interval has passed, when
                            the run ends, stops early, is interrupted or raises. The files a
                            run leaves are the same; only a hard kill (SIGKILL, power loss)
                            can find ``last.pt`` up to that interval older.
``direct_loss``             a loss graph that only forwards ``(output, target)`` to one module
                            (``loss = cross_entropy``) is called as that module (exact).
``wide_eval``               held-out splits held in memory, without variable-length fields,
                            are evaluated in batches of up to ``WIDE_EVAL_ELEMENTS`` input
                            elements instead of the training batch size. Only summation order
                            changes (loss and metric sums); skipped for models whose layers
                            might depend on the batch in eval mode (imported layers, norms
                            without running statistics).
``auto_threads``            one CPU thread for small models on small batches, unless the spec
                            sets ``threads`` (exact: the same ops, on one thread).
==========================  ===============================================================

Switch settings off with ``Tuning(name=False)`` (``specc.train(..., tuning=...)``, ``fit``), or
for the CLI with the environment variable ``SPECC_TUNING``: a comma-separated list of names to
turn off, each written ``-name`` (``SPECC_TUNING=-fused_optimizer,-wide_eval``), or ``off`` for
all of them.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
import os

ENV = "SPECC_TUNING"
CHECKPOINT_INTERVAL = 1.0
"""Seconds between checkpoint writes with ``throttled_checkpoints``."""
WIDE_EVAL_ELEMENTS = 1 << 20
"""Input elements per evaluation batch with ``wide_eval`` (4 MiB of float32 inputs)."""


@dataclass(frozen=True)
class Tuning:
    fused_optimizer: bool = True
    fused_step: bool = True
    fast_zero_grad: bool = True
    background_checkpoints: bool = True
    throttled_checkpoints: bool = True
    direct_loss: bool = True
    wide_eval: bool = True
    auto_threads: bool = True

    @classmethod
    def from_env(cls, value: str | None = None) -> "Tuning":
        """The settings named by ``SPECC_TUNING`` (or ``value``); ValueError for an unknown name."""
        text = os.environ.get(ENV, "") if value is None else value
        names = [f.name for f in fields(cls)]
        if text.strip() == "off":
            return cls(**{name: False for name in names})
        off = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name = item.removeprefix("-")
            if name not in names or not item.startswith("-"):
                raise ValueError(f"{ENV}: expected 'off' or -name with a name among "
                                 f"{', '.join(names)}. Received: {item!r}")
            off[name] = False
        return replace(cls(), **off)
