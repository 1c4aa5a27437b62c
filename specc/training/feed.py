"""What the loss and each metric read from a step: a model output or a batch field.

A source is ``("output", i)``, the model's ``i``-th returned value (the whole output when it
returns one), or ``("field", name)``, a field of the batch. Version 1's feed reads the
model's output and the target field for the loss and every metric (:meth:`Feed.single`);
version 1.1's loss names its values (``cross_entropy(logits, kind) + mse(amount, size)``) and
a metric written as a call (``accuracy(logits, kind)``) reads the two it names. Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from specc.syntax.sections import metric_name

__all__ = ["Feed", "OUTPUT", "Source", "metric_name"]

if TYPE_CHECKING:   # torch-free: the train section's checks read metric_name
    from torch import Tensor

Source = tuple[str, Any]
OUTPUT: Source = ("output", 0)


@dataclass(frozen=True)
class Feed:
    """``loss``: the loss function's arguments, in order. ``metrics``: a metric key's
    ``(output, target)``; a key not there reads ``pair`` (the output and the target)."""

    loss: tuple[Source, ...]
    pair: tuple[Source, Source] | None
    metrics: Mapping[str, tuple[Source, Source]] = field(default_factory=dict)

    @classmethod
    def single(cls, target: str) -> "Feed":
        """Version 1: the loss and every metric read the output and the field ``target``."""
        return cls((OUTPUT, ("field", target)), (OUTPUT, ("field", target)))

    @property
    def fields(self) -> list[str]:
        """The batch fields read, each once, in order."""
        sources = [*self.loss, *(self.pair or ()), *(s for p in self.metrics.values() for s in p)]
        return list(dict.fromkeys(key for kind, key in sources if kind == "field"))

    @staticmethod
    def value(source: Source, output, batch: Mapping[str, Tensor]) -> Tensor:
        kind, key = source
        if kind == "field":
            return batch[key]
        return output[key] if isinstance(output, (tuple, list)) else output

    def loss_args(self, output, batch: Mapping[str, Tensor]) -> list[Tensor]:
        return [self.value(s, output, batch) for s in self.loss]

    def metric_pair(self, key: str, output, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """The (output, target) metric ``key`` scores, detached."""
        out, tgt = self.metrics.get(key, self.pair)
        return self.value(out, output, batch).detach(), self.value(tgt, output, batch)
