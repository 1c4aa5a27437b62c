"""Settings of one training run (torch-free, so the front end can build and check them).

:class:`TrainConfig` mirrors the ``train { ... }`` block of the language (LANGUAGE.md section 7).
Values are validated once, here, so the loop can trust them; a bad value raises
:class:`~specc.training.errors.TrainError` in the "expected ... received ..." form.
"""
from __future__ import annotations

from dataclasses import dataclass
import re

from specc.errors import did_you_mean
from specc.training.errors import TrainError
from specc.training.feed import metric_name

# Every metric name the trainer knows, with the direction in which it improves. The
# accumulators live in specc.training.metrics (a test keeps the two tables in step).
METRIC_MODES: dict[str, str] = {
    "loss": "min",
    "accuracy": "max",
    "top5": "max",
    "f1": "max",
    "precision": "max",
    "recall": "max",
    "mae": "min",
    "rmse": "min",
    "r2": "max",
}
METRICS = tuple(name for name in METRIC_MODES if name != "loss")
SPLITS = ("train", "valid", "test")
MONITOR_SPLITS = ("train", "valid")   # the test split is scored once, at the end
PRECISIONS = ("fp32", "bf16", "fp16")
COMPILE = ("off", "model", "step", "auto")
PLOTS = ("loss", "decision_boundary", "fit", *METRICS)   # a metric: its curve per epoch
LOGS = ("tensorboard",)
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


@dataclass(frozen=True)
class EarlyStop:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Args:
        monitor: ``split.metric`` as it appears in the history, e.g. ``"valid.loss"`` or
            ``"valid.accuracy"``. The metric is computed even when ``metrics`` omits it.
            None: the run's monitor (:func:`monitor_key`).
        patience: epochs without improvement before stopping (>= 1).
        min_delta: the least change that counts as an improvement (>= 0).
        mode: ``"min"`` or ``"max"``; None infers it from the metric name (loss, mae and
            rmse improve downwards, the others upwards).
    """

    monitor: str | None = None
    patience: int = 5
    min_delta: float = 0.0
    mode: str | None = None

    def __post_init__(self) -> None:
        if self.monitor is not None:
            split_and_metric(self.monitor)
        _check(isinstance(self.patience, int) and self.patience >= 1,
               "early_stop patience must be an integer >= 1", self.patience)
        _check(self.min_delta >= 0, "early_stop min_delta must be >= 0", self.min_delta)
        _check(self.mode in (None, "min", "max"), "early_stop mode must be min or max", self.mode)
        if self.mode is None and self.monitor is not None:
            object.__setattr__(self, "mode", monitor_mode(self.monitor))


@dataclass(frozen=True)
class TrainConfig:
    """The ``train`` block. Lists are stored as tuples so the config stays hashable.

    Args:
        epochs: passes over the training split.
        device: ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        seed: seeds what the loop draws (dropout); the caller seeds model construction.
        metrics: names from :data:`METRICS`, computed on the valid and test splits, or on
            the train split (while it trains) when there is no valid split.
        precision: ``fp32``, or mixed precision ``bf16``/``fp16`` where the device has it.
        clip_grad: max gradient norm (``clip_grad_norm_``), or None for no clipping.
        accumulate: micro-batches per optimizer step.
        compile: ``"off"``; ``"model"`` (or True): ``torch.compile`` the model; ``"step"``: the
            whole training step as one graph (:mod:`specc.training.stepgraph`); ``"auto"``:
            one of them by :func:`specc.training.stepgraph.choose`. Warm-up time is reported
            separately.
        early_stop: an :class:`EarlyStop`, or None.
        checkpoint: directory for ``last.pt`` and ``best.pt``, or None for no checkpoints.
        plot: names from :data:`PLOTS` (a metric's curve is computed even when ``metrics``
            omits it).
        threads: CPU threads for the run; None lets the trainer pick (1 for small models).
        log_every: epochs between progress lines.
        monitor: ``split.metric`` that picks the best epoch (``best.pt``, the run's result);
            None: early stopping's monitor, else ``valid.loss``, else ``train.loss``.
        log: where else the history goes each epoch: ``"tensorboard"`` or None.
    """

    epochs: int = 10
    device: str = "auto"
    seed: int = 0
    metrics: tuple[str, ...] = ()
    precision: str = "fp32"
    clip_grad: float | None = None
    accumulate: int = 1
    compile: bool | str = "off"
    early_stop: EarlyStop | None = None
    checkpoint: str | None = None
    plot: tuple[str, ...] = ()
    threads: int | None = None
    log_every: int = 1
    monitor: str | None = None
    log: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "plot", tuple(self.plot))
        object.__setattr__(self, "compile", {False: "off", True: "model"}.get(self.compile,
                                                                                self.compile))
        _check_name(self.compile, COMPILE, "compile mode")
        _check(isinstance(self.epochs, int) and self.epochs >= 1, "epochs must be an integer >= 1",
               self.epochs)
        _check(isinstance(self.device, str) and _DEVICE.fullmatch(self.device) is not None,
               "device must be auto, cpu, cuda, cuda:N or mps", self.device)
        _check(isinstance(self.seed, int), "seed must be an integer", self.seed)
        for name in self.metrics:
            _check_name(metric_name(name), METRICS, "metric")
        for name in self.plot:
            _check_name(name, PLOTS, "plot")
        _check_name(self.precision, PRECISIONS, "precision")
        _check(self.clip_grad is None or self.clip_grad > 0, "clip_grad must be > 0",
               self.clip_grad)
        _check(isinstance(self.accumulate, int) and self.accumulate >= 1,
               "accumulate must be an integer >= 1", self.accumulate)
        _check(self.threads is None or (isinstance(self.threads, int) and self.threads >= 1),
               "threads must be an integer >= 1", self.threads)
        _check(isinstance(self.log_every, int) and self.log_every >= 1,
               "log_every must be an integer >= 1", self.log_every)
        if self.log is not None:
            _check_name(self.log, LOGS, "log")
        if self.monitor is not None:
            split_and_metric(self.monitor)
            early = self.early_stop.monitor if self.early_stop is not None else None
            _check(early in (None, self.monitor),
                   f"monitor is {self.monitor} but early_stop monitors {early}; set one of them",
                   self.monitor)

    def computed_metrics(self) -> tuple[str, ...]:
        """The metrics to compute: those asked for, then those only plotted."""
        return (*self.metrics, *(p for p in self.plot if p in METRICS and p not in self.metrics))


def monitor_key(config: TrainConfig, has_valid: bool) -> str:
    """The history key that picks the best epoch: ``train.monitor``, else early stopping's,
    else ``valid.loss`` (or ``train.loss`` without a valid split)."""
    early = config.early_stop.monitor if config.early_stop is not None else None
    return config.monitor or early or ("valid.loss" if has_valid else "train.loss")


def split_and_metric(monitor: str) -> tuple[str, str]:
    """``"valid.accuracy"`` -> ``("valid", "accuracy")``, checking both parts."""
    split, dot, metric = monitor.partition(".")
    if not dot:
        raise TrainError(f"a monitor is written split.metric. Received: {monitor!r}",
                         hint="for example valid.loss or valid.accuracy")
    if split == "test":
        raise TrainError(f"the test split is scored once, at the end, so it cannot be monitored. "
                         f"Received: {monitor!r}", hint="monitor valid.loss or train.loss")
    _check_name(split, MONITOR_SPLITS, "split")
    _check_name(metric_name(metric), tuple(METRIC_MODES), "metric")
    return split, metric


def monitor_mode(monitor: str) -> str:
    """``"min"`` or ``"max"``: the direction in which the monitored value improves."""
    return METRIC_MODES[metric_name(split_and_metric(monitor)[1])]


def _check(ok: bool, message: str, received: object) -> None:
    if not ok:
        raise TrainError(f"{message}. Received: {received!r}")


def _check_name(name: str, known: tuple[str, ...], kind: str) -> None:
    if name not in known:
        raise TrainError(f"unknown {kind} {name!r}; expected one of {', '.join(known)}",
                         hint=did_you_mean(str(name), known))
