"""The training loop: :func:`fit` drives a :class:`~specc.training.trainer.Trainer` epoch by
epoch, handles resume and interruption, and writes the run's files: ``history.csv`` (and the
TensorBoard log) every epoch, ``metrics.json`` and the plots at the end.

The run's result (``metrics.json``, ``RunResult.metrics`` and ``RunResult.model``) is the best
epoch by the monitor when there is a valid split, else the last epoch; the test split is
scored once, on those weights, after the last epoch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
import time
from typing import Any, Callable, Iterable

from torch import nn, Tensor

from specc.training import checkpoint, stepgraph
from specc.training.config import TrainConfig
from specc.training.control import StopFlag
from specc.training.distributed import Dist
from specc.training.errors import ResumeError
from specc.training.feed import Feed
from specc.training.metrics import Scoring
from specc.training.outputs import HistoryFile, split_metrics, write_metrics
from specc.training.plots import PlotContext, fit_recorder, make_plots
from specc.training.progress import Reporter, make_reporter
from specc.training.tensorboard import LOGGERS
from specc.training.trainer import Batches, Trainer
from specc.training.tuning import Tuning


@dataclass
class RunResult:
    """What :func:`fit` returns.

    ``metrics`` nests the result epoch's history row by split (``{"valid": {"loss": ...}}``),
    with the test split's numbers on the handed-over weights; ``epoch`` is that epoch (the
    best by ``monitor`` with a valid split, else the last); ``last`` nests the last epoch's
    row; ``model`` holds the result epoch's weights. ``best`` is the best value of
    ``monitor``; ``compile_seconds`` is the time of the first (compiling) train step and eval
    batch when ``compile`` is on, else None.
    """

    metrics: dict[str, dict[str, float | None]]
    history: list[dict]
    model: nn.Module
    interrupted: bool = False
    stopped_early: bool = False
    monitor: str = ""
    best: float | None = None
    epoch: int | None = None
    last: dict[str, dict[str, float | None]] = field(default_factory=dict)
    compile_seconds: float | None = None
    notes: list[str] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)


def fit(model: nn.Module, train_batches: Batches, valid_batches: Batches | None,
        test_batches: Batches | None, input_names: list[str], target: str | Feed,
        loss_fn: Callable[[Tensor, Tensor], Tensor], make_optimizer: Callable,
        make_scheduler: Callable | None, config: TrainConfig, out_dir: Path | None,
        resume: bool = False, spec_hash: str = "", progress: bool = True,
        plot_data: tuple[Tensor, Tensor] | None = None, *, force: bool = False,
        reporter: Reporter | None = None, hooks: Iterable[Any] = (),
        scoring: Scoring = Scoring(), tuning: Tuning | None = None, title: str = "",
        loss_name: str = "loss", model_name: str = "", dist: Dist | None = None) -> RunResult:
    """Train ``model`` and evaluate it after every epoch.

    Args:
        model: called as ``model(*[batch[n] for n in input_names])``; moved to the device.
        train_batches, valid_batches, test_batches: batchers (see :class:`Batches`); the
            held-out ones may be None. The test split is scored once, after the run.
        target: what the loss and the metrics read (:class:`Feed`); a field name is version
            1's feed, ``loss_fn(output, batch[target])`` and every metric on that pair.
        loss_fn: ``loss_fn(*feed.loss_args(output, batch)) -> scalar tensor`` (a batch mean).
        make_optimizer: ``make_optimizer(params) -> Optimizer``, called after the move.
        make_scheduler: ``make_scheduler(optimizer, steps_per_epoch, epochs)`` -> scheduler or
            None; ``steps_per_epoch`` counts optimizer steps (batches / accumulate, rounded up).
        config: the run's :class:`TrainConfig`.
        out_dir: where ``metrics.json``, ``history.csv``, plots and logs go (None: nowhere).
            Checkpoints go to ``config.checkpoint``; resuming without one uses ``out_dir``.
        resume: continue from ``last.pt`` in the checkpoint directory.
        spec_hash: stored in checkpoints; resuming a different hash raises ResumeError.
        model_name: stored in checkpoints; resuming another model's raises ResumeMismatch.
        progress: report progress (a bar on a terminal, lines otherwise); quiet if False.
        plot_data: ``(x, y)`` of the train split, for ``decision_boundary`` and ``fit``.
        force: resume even if the spec hash or the model name differs.
        reporter: overrides the reporter chosen from ``progress``.
        hooks: objects with ``on_step(epoch, step)`` and/or ``on_epoch_end(epoch, model, row)``
            (1-based epoch and step).
        scoring: how the metrics read outputs as classes (the threshold for single-score
            outputs, where class scores lie, a pad to skip); see :mod:`specc.training.metrics`.
        tuning: the speed settings (:mod:`specc.training.tuning`); None: all on, less those
            that ``SPECC_TUNING`` turns off.
        title: what the plots' titles name (the model and spec, ``"MoonNet (moons.spec)"``).
        loss_name: the loss's name on the loss plot's axis.
        dist: this process's place in a distributed run (:mod:`specc.training.distributed`):
            the batchers are sharded already; only rank 0 reports and writes files.

    Returns:
        A :class:`RunResult`. History rows hold ``epoch``, ``train.loss`` (mean over the
        epoch's examples), ``valid.loss`` and ``valid.<metric>`` (or, without a valid split,
        ``train.<metric>`` over the epoch's training outputs), ``lr`` (during the epoch),
        ``seconds`` (wall time, evaluation included) and, with ``compile``,
        ``compile_seconds``.

    Raises:
        TrainError: an unsupported setting or bad batches. DivergenceError: a non-finite
        loss, gradient norm or weight (checkpoints already written stay intact).
        ResumeError: no checkpoint, a damaged one, or one of another spec.
        ResumeMismatch: a checkpoint of another model, optimizer, schedule or batching.
    """
    writer = dist is None or dist.writer
    reporter = reporter if reporter is not None else make_reporter(progress and writer, config.log_every)
    feed = Feed.single(target) if isinstance(target, str) else target
    trainer = Trainer(model, train_batches, valid_batches, input_names, feed, loss_fn,
                      make_optimizer, make_scheduler, config, reporter, hooks,
                      scoring, spec_hash,
                      tuning if tuning is not None else Tuning.from_env(), model_name, dist)
    trainer.ckpt_dir = _checkpoint_dir(config, out_dir, resume)
    if trainer.ckpt_dir is not None and writer:
        checkpoint.remove_temporaries(trainer.ckpt_dir)
    recorder = fit_recorder(config.plot, plot_data, trainer.device)
    if recorder is not None:
        trainer.epoch_hooks.append(recorder.on_epoch_end)
    if resume:
        path = trainer.ckpt_dir / checkpoint.LAST
        trainer.restore(checkpoint.load(path), path, force)
    loggers = _loggers(config, out_dir, trainer.history, reporter) if writer else []
    trainer.epoch_hooks += [logger.on_epoch_end for logger in loggers]

    rows_before = len(trainer.history)
    stop = StopFlag(launched=dist is not None)
    stop.install()
    finished = False
    try:
        reporter.start(config.epochs, trainer.batches_per_epoch, trainer.epoch + 1)
        for epoch in range(trainer.epoch, config.epochs):
            if trainer.monitor.should_stop or trainer.stop_requested(stop):
                break
            reporter.epoch_start(epoch + 1)
            started = time.perf_counter()
            if not trainer.train_epoch(epoch, stop):
                trainer.save_partial(epoch, started)
                break
            trainer.end_epoch(epoch, started)
        finished = True
    finally:
        try:  # Ctrl-C while the last checkpoints are written only sets the flag
            trainer.finish(raising=not finished)
        finally:
            for logger in loggers:
                logger.close()
            stop.restore()
            reporter.close()

    interrupted = trainer.stop_requested(stop) and trainer.epoch < config.epochs
    if writer:
        stepgraph.remember(trainer, trainer.history[rows_before:])
    monitor = trainer.monitor
    if monitor.should_stop and trainer.epoch < config.epochs:
        reporter.note(f"early stop after epoch {trainer.epoch}: {monitor.key} did not improve "
                      f"for {monitor.patience} epochs; best {monitor.best:.4g}"
                      + (f" at epoch {trainer.best_epoch}" if trainer.best_epoch else ""))
    epoch = trainer.hand_over()
    metrics = split_metrics(trainer.history[epoch - 1]) if epoch else {}
    if test_batches is not None and epoch and not interrupted:
        metrics["test"] = split_metrics({f"test.{k}": v for k, v in
                                         trainer.evaluate("test", test_batches).items()})["test"]
    result = RunResult(
        metrics=metrics, history=trainer.history, model=trainer.model,
        interrupted=interrupted, stopped_early=monitor.should_stop, monitor=monitor.key,
        best=monitor.best, epoch=epoch,
        last=split_metrics(trainer.history[-1]) if trainer.history else {},
        compile_seconds=trainer.compile_seconds if trainer.mode != "off" else None)
    if out_dir is not None and writer:
        out_dir = Path(out_dir)
        write_metrics(out_dir / "metrics.json",
                      _metrics_file(result, trainer.best_weights is not None))
        context = PlotContext(out_dir, trainer.history, trainer.model, trainer.device, plot_data,
                              scoring.threshold, recorder.frames if recorder else [],
                              title, loss_name)
        result.plots = make_plots(config.plot, context, reporter)
    elif config.plot and writer:
        reporter.note("plots skipped: no output directory")
    result.notes = list(reporter.notes)
    return result


def _metrics_file(result: RunResult, by_best: bool) -> dict:
    """``metrics.json``: the result epoch's numbers, which epoch and why, and the last one's;
    with ``compile`` on, this process's compile seconds."""
    if not result.history:
        return {}
    compiled = {} if result.compile_seconds is None else {"compile_seconds": result.compile_seconds}
    return {"epoch": result.epoch, "chosen": f"best {result.monitor}" if by_best else "last",
            **result.metrics, "last": {"epoch": result.history[-1]["epoch"], **result.last},
            **compiled}


def _loggers(config: TrainConfig, out_dir: Path | None, history: list[dict],
             reporter: Reporter) -> list:
    """``history.csv`` and the ``train.log`` logger, written every epoch (none without
    ``out_dir``)."""
    if out_dir is None:
        if config.log is not None:
            reporter.note(f"{config.log} log skipped: no output directory")
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    loggers = [HistoryFile(out_dir / "history.csv", history)]
    if config.log is not None:
        loggers.append(LOGGERS[config.log](out_dir / config.log))
    return loggers


def _checkpoint_dir(config: TrainConfig, out_dir: Path | None, resume: bool) -> Path | None:
    """``train.checkpoint`` if set; when resuming without it, ``out_dir``; else no checkpoints."""
    if config.checkpoint is not None:
        return Path(config.checkpoint)
    if not resume:
        return None
    if out_dir is None:
        raise ResumeError("resume needs a checkpoint directory", hint="set train.checkpoint")
    return Path(out_dir)
