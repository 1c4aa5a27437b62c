"""Reporters: how a run tells the outside world how it is going.

The loop never prints; it calls a reporter. :class:`Reporter` itself is quiet (it only keeps
notes); :class:`LineReporter` writes one line per epoch; :class:`RichReporter` draws a
progress bar. The CLI may pass its own subclass to ``fit(reporter=...)``.

The loop calls :meth:`Reporter.step` only when :attr:`Reporter.wants_steps` is true, and
passes the loss as a tensor: reading it forces a device sync, so the bar reads it at most
:attr:`RichReporter.refresh_per_second` times a second.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

from torch import Tensor


def format_row(row: dict, epochs: int, elapsed: float | None = None,
               eta: float | None = None) -> str:
    """``epoch 3/50  train.loss 0.3012  valid.accuracy 0.9120  lr 0.01  1.2s  elapsed 3.6s
    eta 56s``."""
    parts = [f"epoch {row['epoch']}/{epochs}"]
    for key, value in row.items():
        if key in ("epoch", "seconds", "compile_seconds"):
            continue
        parts.append(f"{key} {value:.4g}" if key == "lr" else f"{key} {value:.4f}")
    parts.append(f"{row['seconds']:.1f}s")
    if elapsed is not None:
        parts.append(f"elapsed {format_duration(elapsed)}")
    if eta is not None:
        parts.append(f"eta {format_duration(eta)}")
    return "  ".join(parts)


def format_duration(seconds: float) -> str:
    """``3.6s``, ``56s``, ``4m05s``, ``1h02m``."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class Reporter:
    """The quiet reporter: shows nothing, keeps :attr:`notes` for the caller."""

    wants_steps = False

    def __init__(self, log_every: int = 1) -> None:
        self.log_every = log_every
        self.notes: list[str] = []
        self.epochs = 0
        self.first_epoch = 1
        self.run_started = 0.0

    def start(self, epochs: int, steps_per_epoch: int, first_epoch: int) -> None:
        """Before the first epoch; ``first_epoch`` is 1-based (greater than 1 on resume)."""
        self.epochs = epochs
        self.first_epoch = first_epoch
        self.run_started = time.monotonic()

    def line(self, row: dict) -> str:
        """The epoch's progress line: its row, the time since this process started training,
        and the time the remaining epochs will take at this process's pace so far."""
        elapsed = time.monotonic() - self.run_started
        done = row["epoch"] - self.first_epoch + 1
        eta = elapsed / done * (self.epochs - row["epoch"]) if row["epoch"] < self.epochs else None
        return format_row(row, self.epochs, elapsed, eta)

    def epoch_start(self, epoch: int) -> None:
        """``epoch`` is 1-based."""

    def step(self, step: int, loss: Tensor, examples: int) -> None:
        """After an optimizer step: ``step`` batches and ``examples`` examples done this epoch."""

    def epoch_end(self, row: dict) -> None:
        """With the epoch's history row (see :func:`specc.training.loop.fit`)."""

    def note(self, message: str) -> None:
        """Something the user should know that does not stop the run (a skipped plot)."""
        self.notes.append(message)

    def close(self) -> None:
        """After the run, also when it raised."""

    def should_log(self, epoch: int) -> bool:
        return epoch % self.log_every == 0 or epoch == self.epochs


class LineReporter(Reporter):
    """One line every ``log_every`` epochs, for logs and pipes."""

    def __init__(self, log_every: int = 1, stream: TextIO | None = None) -> None:
        super().__init__(log_every)
        self.stream = stream if stream is not None else sys.stdout

    def epoch_end(self, row: dict) -> None:
        if self.should_log(row["epoch"]):
            print(self.line(row), file=self.stream, flush=True)

    def note(self, message: str) -> None:
        super().note(message)
        print(f"note: {message}", file=self.stream, flush=True)


class RichReporter(Reporter):
    """A rich progress bar: epoch x/N, step, loss (throttled), examples per second."""

    wants_steps = True
    refresh_per_second = 10

    def __init__(self, log_every: int = 1, console=None) -> None:
        super().__init__(log_every)
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[speed]} ex/s"),
            console=console if console is not None else Console(), transient=True,
            auto_refresh=False)
        self.task = None
        self.last = 0.0
        self.started = 0.0

    def start(self, epochs: int, steps_per_epoch: int, first_epoch: int) -> None:
        super().start(epochs, steps_per_epoch, first_epoch)
        self.progress.start()
        self.task = self.progress.add_task("", total=steps_per_epoch, loss="-", speed="-")

    def epoch_start(self, epoch: int) -> None:
        self.started = self.last = time.monotonic()
        self.progress.reset(self.task, description=f"epoch {epoch}/{self.epochs}", loss="-",
                            speed="-")
        self.progress.refresh()

    def step(self, step: int, loss: Tensor, examples: int) -> None:
        now = time.monotonic()
        if now - self.last < 1.0 / self.refresh_per_second:
            return
        self.last = now
        speed = examples / max(now - self.started, 1e-9)
        self.progress.update(self.task, completed=step, loss=f"{loss.item():.4f}",
                             speed=f"{speed:,.0f}")
        self.progress.refresh()

    def epoch_end(self, row: dict) -> None:
        if self.should_log(row["epoch"]):
            self.progress.console.print(self.line(row), highlight=False)

    def note(self, message: str) -> None:
        super().note(message)
        self.progress.console.print(f"note: {message}", highlight=False)

    def close(self) -> None:
        self.progress.stop()


def make_reporter(progress: bool, log_every: int = 1) -> Reporter:
    """Quiet when ``progress`` is false; a bar on a terminal; lines otherwise."""
    if not progress:
        return Reporter(log_every)
    if sys.stdout.isatty():
        return RichReporter(log_every)
    return LineReporter(log_every)
