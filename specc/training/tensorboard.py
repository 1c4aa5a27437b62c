"""``train { log = tensorboard }``: the history rows as TensorBoard scalars, every epoch.

The ``tensorboard`` package (``pip install 'specc[logging]'``) is imported only when the log
is asked for; without it the run stops before its first epoch with one message that says
what to install. Tags group a metric's splits on one chart: ``loss/train``, ``loss/valid``,
``accuracy/valid``; then ``lr``, ``epoch_seconds`` and, with ``compile``, ``compile_seconds``.
The event files go to ``<out>/tensorboard/`` (``tensorboard --logdir <out>``); a resumed run
adds a file there for the epochs it trains.
"""
from __future__ import annotations

from pathlib import Path

from specc.training.errors import TrainError

# history key -> tag, for the keys that are not split.metric
TAGS = {"lr": "lr", "seconds": "epoch_seconds", "compile_seconds": "compile_seconds"}


def tag(key: str) -> str:
    """``"valid.accuracy"`` -> ``"accuracy/valid"``; ``"seconds"`` -> ``"epoch_seconds"``."""
    split, dot, metric = key.partition(".")
    return f"{metric}/{split}" if dot else TAGS[key]


class TensorBoardLog:
    """A loop hook writing each history row's numbers at its epoch, flushed every epoch."""

    def __init__(self, log_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TrainError("train.log = tensorboard needs the tensorboard package, which is "
                             "not installed", hint="pip install 'specc[logging]'") from None
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def on_epoch_end(self, epoch: int, model, row: dict) -> None:
        for key, value in row.items():
            if key != "epoch":
                self.writer.add_scalar(tag(key), value, epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


LOGGERS = {"tensorboard": TensorBoardLog}
