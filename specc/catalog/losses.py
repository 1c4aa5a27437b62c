"""Built-in losses (section 5): the torch.nn loss class each compiles to and its fit check.

A check gets the output and target types (batch included, as in PyTorch) and the classes the
target ranges over (:class:`Classes`, or None), and raises ShapeProblem naming both sides
when they do not fit the loss; a class loss returns the output dim that holds the classes.
Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..types import TensorType
from .dims import fmt_shape
from .layers import ShapeProblem


@dataclass(frozen=True)
class LossRule:
    module: str                                   # torch.nn class, e.g. "CrossEntropyLoss"
    check: Callable[[TensorType, TensorType, "Classes | None", str], "int | None"]


@dataclass(frozen=True)
class Classes:
    """How many classes a class-index target ranges over, and what says so (``data.vocab``)."""

    count: int
    source: str


def _classes(out: TensorType, tgt: TensorType, classes: "Classes | None", name: str) -> int:
    """Returns the dim of ``out`` (no batch) that holds the classes: 0, as torch has them
    (``(B, C, ...)`` with targets ``(B, ...)``), or the last, as a sequence model writes them
    (``(B, ..., C)`` with targets ``(B, ...)``). When both fit, the one whose size is the
    class count wins, else torch's."""
    if out.dtype != "float":
        raise ShapeProblem(f"{name} wants float scores from the model, got output {out.dtype} {out.batched}")
    if len(out.shape) < 1:
        raise ShapeProblem(f"{name} wants one score per class from the model, got output {out.batched}",
                           "end the model with Linear(data.classes)")
    dim = 0
    if tgt.dtype in ("long", "int"):
        first = tuple(tgt.shape) == tuple(out.shape[1:])
        last = len(out.shape) > 1 and tuple(tgt.shape) == tuple(out.shape[:-1])
        if not (first or last):
            if len(out.shape) == 1:
                raise ShapeProblem(f"{name} wants class indices of shape {fmt_shape(('B', *out.shape[1:]))} for an "
                                   f"output {out.batched}, got target {tgt.batched}")
            raise ShapeProblem(f"{name} wants class indices of shape {fmt_shape(('B', *out.shape[:-1]))} (classes "
                               f"on the last dim) or {fmt_shape(('B', *out.shape[1:]))} (classes on dim 1) for an "
                               f"output {out.batched}, got target {tgt.batched}")
        if last and not (first and (classes is None or out.shape[0] == classes.count)):
            dim = len(out.shape) - 1
    elif tgt.dtype == "float":
        if tuple(tgt.shape) != tuple(out.shape):
            raise ShapeProblem(f"{name} with class probabilities wants a target of the output's shape "
                               f"{out.batched}, got target {tgt.batched}")
    else:
        raise ShapeProblem(f"{name} wants class indices (long) as its target, got {tgt.dtype} {tgt.batched}")
    if classes is not None and out.shape[dim] != classes.count:
        want = list(out.shape)
        want[dim] = classes.count
        raise ShapeProblem(f"{name} wants logits of shape {fmt_shape(('B', *want))} "
                           f"({classes.source} = {classes.count}), got output {out.batched}",
                           f"end the model with Linear({classes.source})")
    return dim


def _same(out: TensorType, tgt: TensorType, classes, name: str) -> None:
    if tgt.dtype != "float":
        raise ShapeProblem(f"{name} wants a float target of the output's shape {out.batched}, got target "
                           f"{tgt.dtype} {tgt.batched}",
                           "class indices go with cross_entropy" if tgt.dtype == "long" else None)
    if out.dtype != "float":
        raise ShapeProblem(f"{name} wants a float output, got {out.dtype} {out.batched}")
    if tuple(out.full) != tuple(tgt.full):
        raise ShapeProblem(f"{name} wants output and target of the same shape, got output {out.batched} "
                           f"and target {tgt.batched}")


LOSSES: dict[str, LossRule] = {
    "cross_entropy": LossRule("CrossEntropyLoss", _classes),
    "nll": LossRule("NLLLoss", _classes),
    "mse": LossRule("MSELoss", _same),
    "l1": LossRule("L1Loss", _same),
    "smooth_l1": LossRule("SmoothL1Loss", _same),
    "huber": LossRule("HuberLoss", _same),
    "bce": LossRule("BCELoss", _same),
    "bce_with_logits": LossRule("BCEWithLogitsLoss", _same),
    "kl_div": LossRule("KLDivLoss", _same),
}
