"""Where and how the arithmetic runs: device, mixed precision, CPU threads.

Support is written as tables (device type -> what it has) so an unsupported combination is
refused up front with a :class:`TrainError`, before any epoch runs.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ContextManager, Iterable

import torch
from torch import nn, Tensor

from specc.training.errors import TrainError

# Precisions each device type runs. fp16 on the CPU is refused: it is slow there and
# autocast's CPU fp16 support is partial; bf16 is the CPU's mixed precision.
PRECISIONS_BY_DEVICE: dict[str, tuple[str, ...]] = {
    "cpu": ("fp32", "bf16"),
    "cuda": ("fp32", "bf16", "fp16"),
    "mps": ("fp32",),
}
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

# Below both sizes one CPU thread is fastest: the ops are too small to split and thread
# hand-offs dominate (measured on small MLPs; a hand-written loop gets the same benefit).
SMALL_MODEL_PARAMS = 1_000_000
SMALL_BATCH_ELEMENTS = 1 << 16


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda, then mps, then cpu; a named device must exist."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    device = torch.device(name)
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": has_mps}[device.type]
    if not available:
        raise TrainError(f"device {name} is not available on this machine",
                         hint="use device = auto or device = cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise TrainError(f"device {name} does not exist; this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s)",
                         hint="use device = cuda:0")
    return device


@dataclass
class Precision:
    """The autocast context for forward passes and the gradient scaler (fp16 on CUDA only)."""

    name: str
    autocast: ContextManager
    scaler: torch.amp.GradScaler | None


def mixed_precision(name: str, device: torch.device) -> Precision:
    """Autocast and scaler for ``precision = name`` on ``device``; TrainError if unsupported."""
    supported = PRECISIONS_BY_DEVICE[device.type]
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        supported = tuple(p for p in supported if p != "bf16")
    if name not in supported:
        raise TrainError(f"precision {name} is not supported on {device.type}; "
                         f"expected one of {', '.join(supported)}",
                         hint="use precision = fp32" if name != "fp32" else None)
    if name == "fp32":
        return Precision(name, contextlib.nullcontext(), None)
    autocast = torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[name])
    scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None
    return Precision(name, autocast, scaler)


class ThreadScope:
    """Sets the CPU thread count for a run and restores the previous one on exit."""

    def __init__(self) -> None:
        self.previous = torch.get_num_threads()

    def apply(self, threads: int | None, device: torch.device, model: nn.Module,
              inputs: Iterable[Tensor], auto: bool = True) -> None:
        """Use ``threads`` if given, else (with ``auto``) 1 for a small model on small CPU
        batches; else leave torch's setting alone."""
        if threads is None:
            if device.type != "cpu" or not auto:
                return
            params = sum(p.numel() for p in model.parameters())
            elements = sum(t.numel() for t in inputs)
            if params >= SMALL_MODEL_PARAMS or elements >= SMALL_BATCH_ELEMENTS:
                return
            threads = 1
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)

    def restore(self) -> None:
        if torch.get_num_threads() != self.previous:
            torch.set_num_threads(self.previous)
