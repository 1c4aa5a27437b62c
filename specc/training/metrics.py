"""Metrics over whole splits, accumulated on the device and read back once.

Each metric is an accumulator in :data:`ACCUMULATORS` (name -> class). ``update`` only
launches tensor ops (sums, counts, per-class counts via ``index_add_``), so evaluation never
waits for the device; :meth:`SplitMeter.compute` concatenates every sum and copies them to
the host in one transfer. Counts known on the host (examples, elements) stay Python ints.

Conventions for classification metrics (accuracy, top5, f1, precision, recall):

* class indices: integer target ``[B, ...]`` with output ``[B, C, ...]`` (classes on dim 1,
  as torch's ``cross_entropy`` has them) or, when the loss reads them so
  (:attr:`Scoring.class_dim` = -1), ``[B, ..., C]`` (classes on the last dim, a sequence
  model's scores per position); the prediction is the argmax over the class dim. Positions
  whose target is :attr:`Scoring.ignore_index` (the pad the loss skips) are not counted.
* binary / multi-label: output with as many elements as the target (``[B]``, ``[B, 1]``,
  ``[B, K]``); the prediction is ``output > threshold``. The threshold is 0 for logits
  (``bce_with_logits``); pass 0.5 when the model ends in a sigmoid (``bce``). Float targets
  count as positive above 0.5. Such outputs are scored as two classes (0 and 1).

f1, precision and recall are macro averages over the classes that occur in the targets or
the predictions (scikit-learn's ``average="macro"``; a class never predicted has precision 0).
Regression metrics (mae, rmse, r2) compare output and target element-wise (same number of
elements); r2 is computed per output column and averaged, and is 1 (perfect fit) or 0 when
the target is constant, as scikit-learn's ``r2_score`` does.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
import math
from typing import Callable

import torch
from torch import Tensor

from specc.training.errors import MetricError, TrainError
from specc.training.feed import metric_name

Reduce = Callable[[Tensor], Tensor]
"""Sums a tensor over the ranks of a distributed run (:func:`specc.training.distributed.reduce_sum`)."""


def accumulation_dtype(device: torch.device) -> torch.dtype:
    """float64 sums where the device has them (mps has no float64)."""
    return torch.float32 if device.type == "mps" else torch.float64


@dataclass(frozen=True)
class Scoring:
    """How outputs are read as classes: ``threshold`` for one score per element (0 for
    logits, 0.5 for probabilities), ``class_dim`` where class scores lie (1, or -1 for
    ``[B, ..., C]``), ``ignore_index`` a target value that marks a position not to score."""

    threshold: float = 0.0
    class_dim: int = 1
    ignore_index: int | None = None


class Accumulator(ABC):
    """Sums for one metric over a split: ``sums`` lives on the device, ``count`` on the host."""

    def __init__(self, dtype: torch.dtype, scoring: Scoring = Scoring()):
        self.dtype = dtype
        self.scoring = scoring
        self.sums: Tensor | None = None
        self.count = 0

    def add(self, sums: Tensor, count: int) -> None:
        self.sums = sums if self.sums is None else self.sums.add_(sums)
        self.count += count

    @abstractmethod
    def update(self, output: Tensor, target: Tensor) -> None:
        """Add one batch (tensor ops only: nothing here may wait for the device)."""

    @abstractmethod
    def value(self, sums: list[float]) -> float:
        """The metric from the host copy of ``sums``."""


# ---------------------------------------------------------------- classification

def class_scores(output: Tensor, target: Tensor, scoring: Scoring) -> tuple[Tensor, Tensor, Tensor] | None:
    """Class scores ``(N, C)``, class-index targets ``(N,)`` and which of the N positions
    count (False where the target is ``ignore_index``; such targets read as class 0), or None
    when the output is not class scores. Masks, not selections: nothing waits for the device."""
    if not (output.dim() == target.dim() + 1 and not target.is_floating_point()):
        return None
    scores = output.movedim(scoring.class_dim, -1).reshape(-1, output.shape[scoring.class_dim])
    truth = target.reshape(-1)
    if scoring.ignore_index is None:
        return scores, truth, torch.ones_like(truth, dtype=torch.bool)
    kept = truth != scoring.ignore_index
    return scores, truth.where(kept, 0), kept


def class_predictions(output: Tensor, target: Tensor, scoring: Scoring,
                      metric: str) -> tuple[Tensor, Tensor, Tensor, int]:
    """(predicted classes, true classes, positions that count, number of classes) under the
    module's conventions."""
    scored = class_scores(output, target, scoring)
    if scored is not None:
        scores, truth, kept = scored
        return scores.argmax(1), truth, kept, scores.shape[1]
    if output.numel() == target.numel():
        pred = (output.reshape(target.shape) > scoring.threshold).long()
        truth = (target > 0.5).long() if target.is_floating_point() else target.long()
        return pred, truth, torch.ones_like(truth, dtype=torch.bool), 2
    raise MetricError(
        metric, f"{metric} cannot apply: it expects class scores [B, C] with class-index targets "
        f"[B], or one score per target element. Received: output {tuple(output.shape)}, target "
        f"{tuple(target.shape)} {str(target.dtype).removeprefix('torch.')}",
        "remove it from train.metrics, or use a metric for this kind of output")


class Accuracy(Accumulator):
    """``sums`` is (hits, positions scored)."""

    def update(self, output: Tensor, target: Tensor) -> None:
        pred, truth, kept, _ = class_predictions(output, target, self.scoring, "accuracy")
        self.add(torch.stack([((pred == truth) & kept).sum(dtype=self.dtype), kept.sum(dtype=self.dtype)]),
                 truth.numel())

    def value(self, sums: list[float]) -> float:
        return sums[0] / sums[1]


class Top5(Accumulator):
    """``sums`` is (hits, positions scored)."""

    k = 5

    def update(self, output: Tensor, target: Tensor) -> None:
        scored = class_scores(output, target, self.scoring)
        if scored is None:
            raise MetricError(f"top{self.k}", f"top{self.k} cannot apply: it expects class "
                              f"scores [B, C] and class-index targets. Received: output "
                              f"{tuple(output.shape)}, target {tuple(target.shape)}",
                              "remove it from train.metrics")
        scores, truth, kept = scored
        top = scores.topk(min(self.k, scores.shape[1]), dim=1).indices  # (N, k)
        hit = (top == truth.unsqueeze(1)).any(dim=1) & kept
        self.add(torch.stack([hit.sum(dtype=self.dtype), kept.sum(dtype=self.dtype)]), truth.numel())

    def value(self, sums: list[float]) -> float:
        return sums[0] / sums[1]


class ClassCounts(Accumulator):
    """Per-class true positives, predictions and targets: ``sums`` is ``(3, C)`` flattened.

    Subclasses give the per-class ``score``; ``value`` is its macro average.
    """

    name = ""

    def update(self, output: Tensor, target: Tensor) -> None:
        pred, truth, kept, classes = class_predictions(output, target, self.scoring, self.name)
        pred, truth, kept = pred.reshape(-1), truth.reshape(-1), kept.reshape(-1).to(self.dtype)
        counts = torch.zeros(3, classes, dtype=self.dtype, device=output.device)
        hit = (pred == truth).to(self.dtype) * kept
        counts[0].index_add_(0, truth, hit)   # true positives per class
        counts[1].index_add_(0, pred, kept)   # predicted per class
        counts[2].index_add_(0, truth, kept)  # actual per class
        self.add(counts.reshape(-1), truth.numel())

    def per_class(self, sums: list[float]) -> list[tuple[float, float, float]]:
        classes = len(sums) // 3
        rows = [sums[i * classes:(i + 1) * classes] for i in range(3)]
        return [(tp, p, t) for tp, p, t in zip(*rows) if p + t > 0]

    @abstractmethod
    def score(self, tp: float, predicted: float, actual: float) -> float:
        """The metric for one class."""

    def value(self, sums: list[float]) -> float:
        present = self.per_class(sums)
        return sum(self.score(*c) for c in present) / len(present)


class F1(ClassCounts):
    name = "f1"

    def score(self, tp: float, predicted: float, actual: float) -> float:
        return 2 * tp / (predicted + actual)


class Precision(ClassCounts):
    name = "precision"

    def score(self, tp: float, predicted: float, actual: float) -> float:
        return tp / predicted if predicted else 0.0


class Recall(ClassCounts):
    name = "recall"

    def score(self, tp: float, predicted: float, actual: float) -> float:
        return tp / actual if actual else 0.0


# ---------------------------------------------------------------- regression

def _paired(output: Tensor, target: Tensor, metric: str, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Output and target as ``(N, K)`` in the accumulation dtype."""
    if output.numel() != target.numel():
        raise MetricError(metric, f"{metric} cannot apply: it compares output and target "
                          f"element-wise. Received: output {tuple(output.shape)}, target "
                          f"{tuple(target.shape)}", "remove it from train.metrics, or use a "
                          "classification metric such as accuracy")
    n = target.shape[0] if target.dim() else 1
    return output.reshape(n, -1).to(dtype), target.reshape(n, -1).to(dtype)


class MAE(Accumulator):
    def update(self, output: Tensor, target: Tensor) -> None:
        o, t = _paired(output, target, "mae", self.dtype)
        self.add((o - t).abs().sum().reshape(1), t.numel())

    def value(self, sums: list[float]) -> float:
        return sums[0] / self.count


class RMSE(Accumulator):
    def update(self, output: Tensor, target: Tensor) -> None:
        o, t = _paired(output, target, "rmse", self.dtype)
        self.add((o - t).square().sum().reshape(1), t.numel())

    def value(self, sums: list[float]) -> float:
        return math.sqrt(sums[0] / self.count)


class R2(Accumulator):
    """Per column: sum of t, sum of t^2, sum of squared residuals; ``sums`` is ``(3, K)``."""

    def update(self, output: Tensor, target: Tensor) -> None:
        o, t = _paired(output, target, "r2", self.dtype)
        sums = torch.stack([t.sum(0), t.square().sum(0), (o - t).square().sum(0)])
        self.add(sums.reshape(-1), t.shape[0])

    def value(self, sums: list[float]) -> float:
        k = len(sums) // 3
        scores = []
        for s, s2, res in zip(sums[:k], sums[k:2 * k], sums[2 * k:]):
            total = s2 - s * s / self.count
            scores.append(1.0 - res / total if total > 0 else (1.0 if res == 0 else 0.0))
        return sum(scores) / k


ACCUMULATORS: dict[str, type[Accumulator]] = {
    "accuracy": Accuracy,
    "top5": Top5,
    "f1": F1,
    "precision": Precision,
    "recall": Recall,
    "mae": MAE,
    "rmse": RMSE,
    "r2": R2,
}


class MetricSet:
    """Several metrics' sums over one pass (a held-out split, or an epoch of training).

    Args:
        names: metric names (keys of :data:`ACCUMULATORS`), or keys naming what they read
            (``accuracy(logits, kind)``).
        device: where the sums live (the model's device).
        scoring: how outputs are read as classes (see the module docstring).
    """

    def __init__(self, names: tuple[str, ...] | list[str], device: torch.device,
                 scoring: Scoring = Scoring()):
        self.device = device
        dtype = accumulation_dtype(device)
        self.metrics = {name: ACCUMULATORS[metric_name(name)](dtype, scoring) for name in names}

    def update(self, output: Tensor, target: Tensor) -> None:
        for acc in self.metrics.values():
            acc.update(output, target)

    def update_each(self, pair: Callable[[str], tuple[Tensor, Tensor]]) -> None:
        """Each metric on its own (output, target): ``pair(name)``."""
        for name, acc in self.metrics.items():
            acc.update(*pair(name))

    def sums(self) -> list[Tensor]:
        return [acc.sums for acc in self.metrics.values()]

    def values(self, flat: list[float]) -> dict[str, float]:
        """Each metric from the host copy of ``torch.cat(self.sums())``."""
        out, at = {}, 0
        for name, acc in self.metrics.items():
            size = acc.sums.numel()
            out[name] = acc.value(flat[at:at + size])
            at += size
        return out

    def read(self, head: list[Tensor], reduce: Reduce | None = None) -> list[float]:
        """``head`` (a loss sum, say) and every metric's sums, copied to the host at once. With
        ``reduce`` (a distributed run) they are summed over the ranks first, and so are the
        metrics' counts (kept as the totals)."""
        flat = torch.cat([*head, *self.sums()])
        if reduce is None:
            return flat.tolist()
        accs = list(self.metrics.values())
        counts = torch.tensor([acc.count for acc in accs], dtype=flat.dtype, device=flat.device)
        total = reduce(torch.cat([flat, counts])).tolist()
        for acc, count in zip(accs, total[len(flat):]):
            acc.count = int(count)
        return total[:len(flat)]

    def compute(self, reduce: Reduce | None = None) -> dict[str, float]:
        """Every metric, with a single device-to-host copy (``reduce``: as :meth:`read`)."""
        return self.values(self.read([], reduce)) if self.metrics else {}

    def state(self, reduce: Reduce | None = None) -> dict:
        """The sums so far (on the CPU), for a mid-epoch checkpoint; with ``reduce``, summed
        over the ranks (each rank's own sums are left as they are)."""
        sums = [None if s is None else s.clone() for s in self.sums()]
        counts = [acc.count for acc in self.metrics.values()]
        if reduce is not None:
            sums = [reduce(s) for s in sums]
            counts = [int(c) for c in reduce(torch.tensor(counts, dtype=torch.float64,
                                                          device=self.device)).tolist()]
        return {"sums": [None if s is None else s.cpu() for s in sums], "counts": counts}

    def load(self, state: dict) -> None:
        """Continue from :meth:`state`."""
        for acc, sums, count in zip(self.metrics.values(), state["sums"], state["counts"]):
            acc.sums = None if sums is None else sums.to(self.device)
            acc.count = count


class SplitMeter:
    """Loss and metrics over one held-out split (an epoch of evaluation); arguments as
    :class:`MetricSet`'s."""

    def __init__(self, names: tuple[str, ...] | list[str], device: torch.device,
                 scoring: Scoring = Scoring()):
        self.loss_sum = torch.zeros(1, dtype=accumulation_dtype(device), device=device)
        self.examples = 0
        self.metrics = MetricSet(names, device, scoring)

    def update(self, loss: Tensor, output: Tensor, target: Tensor) -> None:
        """Add one batch; ``loss`` is the batch mean, weighted here by the batch size."""
        n = target.shape[0] if target.dim() else 1
        self.update_each(loss, n, lambda name: (output, target))

    def update_each(self, loss: Tensor, n: int, pair: Callable[[str], tuple[Tensor, Tensor]]) -> None:
        """Add one batch of ``n`` examples, each metric on ``pair(name)`` (:meth:`MetricSet.update_each`)."""
        self.loss_sum.add_(loss.detach().reshape(1), alpha=n)
        self.examples += n
        self.metrics.update_each(pair)

    def compute(self, reduce: Reduce | None = None) -> dict[str, float]:
        """``{"loss": ..., name: ...}`` with a single device-to-host copy; ``reduce`` sums the
        loss, the metric sums and the counts over the ranks of a distributed run first."""
        examples = torch.tensor([float(self.examples)], dtype=self.loss_sum.dtype, device=self.loss_sum.device)
        flat = self.metrics.read([self.loss_sum, examples], reduce)
        if flat[1] == 0:
            raise TrainError("a held-out split produced no batches")
        return {"loss": flat[0] / flat[1], **self.metrics.values(flat[2:])}
