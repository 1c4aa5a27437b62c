"""Errors the trainer raises for users (torch-free).

They are not :class:`specc.errors.SpecError`: they happen while a run is under way, with no
spec position to point at. Each carries a ``hint`` (what to try next) as data, so the CLI can
render it the way it renders diagnostics; ``str(err)`` is the message alone.
"""
from __future__ import annotations


class TrainError(Exception):
    """A run cannot start or go on: an unsupported setting, bad data, a bad checkpoint."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class MetricError(TrainError):
    """A metric that cannot apply to the model's output and target (``accuracy`` on a
    regression); ``metric`` names it, so the caller can point at it in the spec."""

    def __init__(self, metric: str, message: str, hint: str | None = None):
        super().__init__(message, hint)
        self.metric = metric


class ResumeError(TrainError):
    """A checkpoint cannot be resumed: missing, unreadable, damaged, or written for another spec."""


class ResumeMismatch(ResumeError):
    """A sound checkpoint of something else: another model, optimizer, schedule or batching.

    ``part`` names the section of the spec that differs (``"model"``, ``"optimizer"``,
    ``"schedule"`` or ``"data"``), so that the caller can point at it: a mistake in the spec
    or its settings, not in the file.
    """

    def __init__(self, message: str, part: str, hint: str | None = None):
        super().__init__(message, hint)
        self.part = part


class DivergenceError(TrainError):
    """Training produced a non-finite value; the last good checkpoint is left intact.

    Attributes:
        epoch: 1-based epoch in which the value appeared.
        step: 1-based batch number within that epoch.
        value: the offending value (``nan``, ``inf`` or ``-inf``).
        what: which quantity it was: ``"loss"``, ``"gradient norm"`` or ``"weights"``.
    """

    def __init__(self, epoch: int, step: int, value: float, what: str = "loss"):
        self.epoch = epoch
        self.step = step
        self.value = value
        self.what = what
        super().__init__(
            f"{what} became {value} at epoch {epoch}, step {step}",
            hint="the learning rate is probably too large; try a smaller one "
                 "(for example lr divided by 10), or set clip_grad",
        )
