"""What decides when the loop does something: signals, the monitored value, schedulers."""
from __future__ import annotations

import math
import signal
import threading
from typing import Any

# When a scheduler steps: "batch" after every optimizer step (schedules laid out over
# total_steps), "plateau" once an epoch with the monitored loss, "epoch" otherwise.
# Looked up by class name along the MRO, so subclasses inherit their parent's rule.
SCHEDULER_STEPPING: dict[str, str] = {
    "OneCycleLR": "batch",
    "CyclicLR": "batch",
    "ReduceLROnPlateau": "plateau",
}


# Optimizers whose step re-evaluates the loss: the trainer passes them a closure that clears
# the gradients, runs the batch forward and backward, and returns the loss (torch's LBFGS
# calls it up to max_iter times per step). Looked up along the MRO, like SCHEDULER_STEPPING.
CLOSURE_OPTIMIZERS = frozenset({"LBFGS"})


def needs_closure(optimizer: Any) -> bool:
    return any(cls.__name__ in CLOSURE_OPTIMIZERS for cls in type(optimizer).__mro__)


def scheduler_stepping(scheduler: Any) -> str:
    """``"batch"``, ``"plateau"`` or ``"epoch"`` for a scheduler instance."""
    for cls in type(scheduler).__mro__:
        if cls.__name__ in SCHEDULER_STEPPING:
            return SCHEDULER_STEPPING[cls.__name__]
    return "epoch"


class StopFlag:
    """Turns SIGINT and SIGTERM into a request to stop after the current optimizer step.

    A second signal while a stop is pending raises KeyboardInterrupt at once, so a run that
    hangs can still be killed from the keyboard. Handlers are installed only from the main
    thread (Python allows no other) and the previous ones are put back by :meth:`restore`.

    ``launched``: a worker of a distributed run, whose launcher answers Ctrl-C by sending
    SIGTERM to every worker; a SIGTERM while a stop is pending is then ignored, so the
    workers still stop together and save (the launcher kills them after 30 s regardless).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, launched: bool = False) -> None:
        self.launched = launched
        self.requested = False
        self.signal_name = ""
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and self.launched and signum == signal.SIGTERM:
            return
        if self.requested:
            self.restore()
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name


class Monitor:
    """Tracks the best value of one history key, and early stopping on it.

    Args:
        key: the history key, e.g. ``"valid.loss"``.
        mode: ``"min"`` or ``"max"``.
        min_delta: the least change that counts as an improvement.
        patience: epochs without improvement before :attr:`should_stop`; None never stops.
    """

    def __init__(self, key: str, mode: str, min_delta: float = 0.0, patience: int | None = None):
        self.key = key
        self.mode = mode
        self.min_delta = min_delta
        self.patience = patience
        self.best: float | None = None
        self.counter = 0

    def update(self, value: float) -> bool:
        """Record an epoch's value; True if it improved on the best so far."""
        if math.isfinite(value) and (self.best is None or self._better(value, self.best)):
            self.best = value
            self.counter = 0
            return True
        self.counter += 1
        return False

    def _better(self, value: float, best: float) -> bool:
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.counter >= self.patience
