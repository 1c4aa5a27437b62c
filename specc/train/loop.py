"""The training loop: :func:`fit`.

One epoch, as the loop runs it (compare nanoGPT's ``train.py``)::

    model.train(); batches.set_epoch(epoch); seed_epoch(seed, epoch, device)
    for each batch:                      # micro-batches; `accumulate` of them per step
        with autocast: loss = loss_fn(model(*inputs), target)
        (loss / group size).backward()   # through the GradScaler for fp16 on CUDA
        at the end of a group: clip_grad_norm_, optimizer.step(), zero_grad(set_to_none),
                               scheduler.step() for per-batch schedules (OneCycleLR, CyclicLR)
    evaluate every held-out split under eval() and no_grad()
    per-epoch scheduler step (ReduceLROnPlateau gets valid.loss, or train.loss)
    history row, last.pt (and best.pt when the monitored value improved), hooks, reporter

Nothing in the batch loop reads a value back from the device: losses are appended as
tensors and read once per epoch (:mod:`specc.train.epoch_log`), held-out metrics are summed
on the device (:mod:`specc.train.metrics`). Only a progress bar reads the loss, throttled.

Randomness: the global torch generator is reseeded from ``(seed, epoch)`` at the start of
every epoch, so dropout draws depend only on the seed and the epoch; a mid-epoch checkpoint
stores the generator state instead. Together with a batcher whose order depends only on
``(seed, epoch)`` this makes resumed runs bitwise equal to uninterrupted ones on the CPU.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
import time
from typing import Any, Callable, Iterable, Protocol

import torch
from torch import nn, Tensor

from specc.train import checkpoint
from specc.train.config import TrainConfig, split_and_metric
from specc.train.control import Monitor, StopFlag, scheduler_stepping
from specc.train.device import ThreadScope, mixed_precision, resolve_device
from specc.train.epoch_log import EpochLog
from specc.train.errors import DivergenceError, ResumeError, TrainError
from specc.train.metrics import SplitMeter
from specc.train.outputs import split_metrics, write_outputs
from specc.train.plots import PlotContext, fit_recorder, make_plots
from specc.train.progress import Reporter, make_reporter


class Batches(Protocol):
    """What the loop needs from a batcher (``specc.data.batches.InMemoryBatches`` is one)."""

    num_examples: int

    def __iter__(self): ...
    def __len__(self) -> int: ...
    def set_epoch(self, epoch: int) -> None: ...


@dataclass
class RunResult:
    """What :func:`fit` returns.

    ``metrics`` nests the last history row by split (``{"valid": {"loss": ..., ...}}``);
    ``best`` is the best value of ``monitor``; ``compile_seconds`` is the time of the first
    (compiling) train step and eval batch when ``compile`` is on, else None.
    """

    metrics: dict[str, dict[str, float | None]]
    history: list[dict]
    model: nn.Module
    interrupted: bool = False
    stopped_early: bool = False
    monitor: str = ""
    best: float | None = None
    compile_seconds: float | None = None
    notes: list[str] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)


def epoch_seed(seed: int, epoch: int) -> int:
    """The generator seed for one epoch: distinct per (seed, epoch), fixed across runs."""
    return (seed * 1_000_003 + epoch) % (1 << 63)


def seed_epoch(seed: int, epoch: int, device: torch.device) -> None:
    """Reseed the generators the model draws from on ``device`` (cheaper than manual_seed,
    which seeds every backend)."""
    value = epoch_seed(seed, epoch)
    torch.default_generator.manual_seed(value)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(value)
    elif device.type == "mps":
        torch.mps.manual_seed(value)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Trainer:
    """The state of one run and the steps that change it; :func:`fit` drives it."""

    def __init__(self, model: nn.Module, train_batches: Batches, held_out: dict[str, Batches],
                 input_names: list[str], target_name: str, loss_fn: Callable,
                 make_optimizer: Callable, make_scheduler: Callable | None,
                 config: TrainConfig, reporter: Reporter, hooks: Iterable[Any],
                 threshold: float, spec_hash: str):
        self.config, self.reporter, self.spec_hash = config, reporter, spec_hash
        self.train_batches, self.held_out = train_batches, held_out
        self.input_names, self.target_name, self.loss_fn = list(input_names), target_name, loss_fn
        self.threshold = threshold
        self.device = resolve_device(config.device)
        self.precision = mixed_precision(config.precision, self.device)
        self.scaler = self.precision.scaler
        self.batches_per_epoch = len(train_batches)
        if self.batches_per_epoch == 0:
            raise TrainError("the train split produced no batches", hint="check data.train")
        self.monitor = _make_monitor(config, held_out)
        self.split_metrics = {split: _metric_names(config, split, self.monitor.key)
                              for split in held_out}
        self.plateau_key = "valid.loss" if "valid" in held_out else "train.loss"

        self.model = model.to(self.device)
        self.forward = torch.compile(self.model) if config.compile else self.model
        self.optimizer = make_optimizer(self.model.parameters())
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / config.accumulate)
        self.scheduler = (make_scheduler(self.optimizer, self.steps_per_epoch, config.epochs)
                          if make_scheduler is not None else None)
        self.stepping = scheduler_stepping(self.scheduler) if self.scheduler is not None else ""
        self.hooks = list(hooks)
        self.step_hooks = [h.on_step for h in self.hooks if hasattr(h, "on_step")]
        self.epoch_hooks = [h.on_epoch_end for h in self.hooks if hasattr(h, "on_epoch_end")]
        self.threads = ThreadScope()
        self.ckpt_dir: Path | None = None

        self.epoch = 0            # epochs completed
        self.step_in_epoch = 0    # batches of the current epoch done
        self.global_step = 0      # optimizer steps done
        self.history: list[dict] = []
        self.log = EpochLog()
        self.examples = 0         # examples trained this epoch (for the progress bar)
        self.first_step = True    # thread policy, checks and compile timing happen on it
        self.move = True          # copy train batches to the device (unless already there)
        self.compile_seconds = 0.0
        self.compiling_eval = config.compile

    # ------------------------------------------------------------------ one epoch

    def train_epoch(self, epoch: int, stop: StopFlag) -> bool:
        """Train epoch ``epoch`` (0-based) from ``step_in_epoch`` on; False if stopped mid-way."""
        self.model.train()
        self.train_batches.set_epoch(epoch)
        start, n, accumulate = self.step_in_epoch, self.batches_per_epoch, self.config.accumulate
        batches = iter(self.train_batches)
        if start:  # resuming mid-epoch: the generator state came from the checkpoint
            batches = itertools.islice(batches, start, None)
        else:
            seed_epoch(self.config.seed, epoch, self.device)
            self.log = EpochLog()
        self.examples = 0
        for i, batch in enumerate(batches, start):
            loss = self._first(i, batch) if self.first_step else self._forward_backward(i, batch)
            if (i + 1) % accumulate and i + 1 < n:
                continue  # more micro-batches before the optimizer step
            self._optimizer_step(i)
            self.step_in_epoch = i + 1
            for hook in self.step_hooks:
                hook(epoch + 1, i + 1)
            if self.reporter.wants_steps:
                self.reporter.step(i + 1, loss, self.examples)
            if stop.requested and i + 1 < n:
                return False
        return True

    def _to_device(self, batch: dict, move: bool) -> tuple[list[Tensor], Tensor]:
        inputs = [batch[name] for name in self.input_names]
        target = batch[self.target_name]
        if move:
            inputs = [t.to(self.device, non_blocking=True) for t in inputs]
            target = target.to(self.device, non_blocking=True)
        return inputs, target

    def _forward_backward(self, i: int, batch: dict) -> Tensor:
        loss = self._forward(batch)
        self._backward(i, loss)
        return loss

    def _forward(self, batch: dict) -> Tensor:
        inputs, target = self._to_device(batch, self.move)
        with self.precision.autocast:
            loss = self.loss_fn(self.forward(*inputs), target)
        self.log.losses.append(loss.detach())
        self.log.sizes.append(target.shape[0])
        self.examples += target.shape[0]
        return loss

    def _backward(self, i: int, loss: Tensor) -> None:
        if self.config.accumulate > 1:
            loss = loss / self._group_size(i)
        if self.scaler is not None:
            loss = self.scaler.scale(loss)
        loss.backward()

    def _group_size(self, i: int) -> int:
        """Micro-batches in the accumulation group of batch ``i`` (the last may be short)."""
        start = i - i % self.config.accumulate
        return min(self.config.accumulate, self.batches_per_epoch - start)

    def _first(self, i: int, batch: dict) -> Tensor:
        """The run's first batch: check the fields, pick threads, time the compile."""
        missing = [n for n in (*self.input_names, self.target_name) if n not in batch]
        if missing:
            raise TrainError(f"the batches have no field {missing[0]!r}; they have "
                             f"{', '.join(sorted(batch))}")
        fields = [batch[n] for n in (*self.input_names, self.target_name)]
        self.move = any(t.device != self.device for t in fields)  # a batcher keeps its device
        self.threads.apply(self.config.threads, self.device, self.model, fields[:-1])
        started = time.perf_counter()
        loss = self._forward(batch)
        if loss.numel() != 1:
            raise TrainError(f"the loss must be a single number; the loss function returned "
                             f"shape {tuple(loss.shape)}", hint="reduce it with mean(...)")
        self._backward(i, loss)
        _sync(self.device)
        if self.config.compile:
            self.compile_seconds += time.perf_counter() - started
        self.first_step = False
        return loss

    def _optimizer_step(self, i: int) -> None:
        clip, scaler, optimizer = self.config.clip_grad, self.scaler, self.optimizer
        if clip is not None:
            if scaler is not None:
                scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.log.norms.append(norm)
            self.log.norm_steps.append(i + 1)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if self.stepping == "batch":
            self.scheduler.step()
        self.global_step += 1

    @torch.no_grad()
    def evaluate(self, split: str, batches: Batches) -> dict[str, float]:
        """Loss and metrics over a whole held-out split, read back once."""
        meter = SplitMeter(self.split_metrics[split], self.device, self.threshold)
        self.model.eval()
        with self.precision.autocast:
            for batch in batches:
                started = time.perf_counter() if self.compiling_eval else 0.0
                inputs, target = self._to_device(batch, True)
                output = self.forward(*inputs)
                meter.update(self.loss_fn(output, target), output, target)
                if self.compiling_eval:
                    _sync(self.device)
                    self.compile_seconds += time.perf_counter() - started
                    self.compiling_eval = False
        return meter.compute()

    # ------------------------------------------------------------------ epoch boundaries

    def train_loss(self, epoch: int) -> float:
        """The epoch's mean train loss; DivergenceError at the first non-finite value."""
        losses, norms = self.log.read()
        bad = self.log.first_nonfinite(losses, norms, check_norms=self.scaler is None)
        if bad is not None:
            step, value, what = bad
            raise DivergenceError(epoch + 1, step, value, what)
        return self.log.mean_loss(losses)

    def end_epoch(self, epoch: int, started: float) -> dict:
        """Evaluate, record the history row, step schedulers, save checkpoints, run hooks."""
        row: dict[str, Any] = {"epoch": epoch + 1, "train.loss": self.train_loss(epoch)}
        for split, batches in self.held_out.items():
            row.update({f"{split}.{k}": v for k, v in self.evaluate(split, batches).items()})
        row["lr"] = float(self.optimizer.param_groups[0]["lr"])
        row["seconds"] = self.log.carried_seconds + time.perf_counter() - started
        if self.config.compile:
            row["compile_seconds"] = self.compile_seconds if epoch + 1 == 1 else 0.0
        self.history.append(row)
        if self.stepping == "plateau":
            self.scheduler.step(row[self.plateau_key])
        elif self.stepping == "epoch":
            self.scheduler.step()
        improved = self.monitor.update(row[self.monitor.key])
        self.epoch, self.step_in_epoch = epoch + 1, 0
        if self.ckpt_dir is not None:
            self.save(checkpoint.LAST, epoch, self.batches_per_epoch)
            if improved:
                self.save(checkpoint.BEST, epoch, self.batches_per_epoch)
        for hook in self.epoch_hooks:
            hook(epoch + 1, self.model, row)
        self.reporter.epoch_end(row)
        return row

    def save_partial(self, epoch: int, started: float) -> None:
        """Checkpoint an epoch stopped after ``step_in_epoch`` batches (exact resume)."""
        losses, norms = self.log.read()
        self.train_loss(epoch)  # raises on a non-finite value: never save a diverged run
        partial = self.log.partial(losses, norms, time.perf_counter() - started)
        if self.ckpt_dir is not None:
            self.save(checkpoint.LAST, epoch, self.step_in_epoch, partial)

    def save(self, name: str, epoch: int, step: int, partial: dict | None = None) -> None:
        self._check_weights(epoch, step)
        checkpoint.save(self.ckpt_dir / name, self.state(partial))

    def _check_weights(self, epoch: int, step: int) -> None:
        params = [p.detach() for p in self.model.parameters()]
        if not params or bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            return
        bad = next(p[~torch.isfinite(p)] for p in params if not torch.isfinite(p).all())
        raise DivergenceError(epoch + 1, step, float(bad.reshape(-1)[0]), "weights")

    def state(self, partial: dict | None) -> dict:
        """The checkpoint dict (layout in :mod:`specc.train.checkpoint`)."""
        return {
            "format": checkpoint.FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "spec_hash": self.spec_hash,
            "history": self.history,
            "best": self.monitor.best,
            "monitor": self.monitor.key,
            "early_stop_counter": self.monitor.counter,
            "rng": checkpoint.rng_state(self.device),
            "partial": partial,
        }

    def restore(self, state: dict, path: Path, force: bool) -> None:
        """Continue from a checkpoint written by :meth:`state`."""
        checkpoint.check_spec_hash(state, self.spec_hash, path, force)
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ResumeError(f"{path} does not fit this model: {exc}") from exc
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step, self.history = state["global_step"], list(state["history"])
        if state["monitor"] == self.monitor.key:
            self.monitor.best, self.monitor.counter = state["best"], state["early_stop_counter"]
        if state["partial"] is not None:
            self.log = EpochLog(state["partial"])
            checkpoint.set_rng_state(state["rng"])


def _make_monitor(config: TrainConfig, held_out: dict) -> Monitor:
    """Early stopping's monitor, or the default for best.pt: valid.loss, else train.loss."""
    early = config.early_stop
    if early is None:
        return Monitor("valid.loss" if "valid" in held_out else "train.loss", "min")
    split, _ = split_and_metric(early.monitor)
    if split != "train" and split not in held_out:
        raise TrainError(f"early_stop monitors {early.monitor}, but the data has no {split} split",
                         hint=f"add {split} = 20% to data, or monitor train.loss")
    return Monitor(early.monitor, early.mode, early.min_delta, early.patience)


def _metric_names(config: TrainConfig, split: str, monitor: str) -> tuple[str, ...]:
    """The configured metrics, plus the monitored one when it is on this split."""
    names = config.metrics
    monitor_split, metric = split_and_metric(monitor)
    if monitor_split == split and metric != "loss" and metric not in names:
        names = (*names, metric)
    return names


def fit(model: nn.Module, train_batches: Batches, valid_batches: Batches | None,
        test_batches: Batches | None, input_names: list[str], target_name: str,
        loss_fn: Callable[[Tensor, Tensor], Tensor], make_optimizer: Callable,
        make_scheduler: Callable | None, config: TrainConfig, out_dir: Path | None,
        resume: bool = False, spec_hash: str = "", progress: bool = True,
        plot_data: tuple[Tensor, Tensor] | None = None, *, force: bool = False,
        reporter: Reporter | None = None, hooks: Iterable[Any] = (),
        binary_threshold: float = 0.0) -> RunResult:
    """Train ``model`` and evaluate it after every epoch.

    Args:
        model: called as ``model(*[batch[n] for n in input_names])``; moved to the device.
        train_batches, valid_batches, test_batches: batchers (see :class:`Batches`); the
            held-out ones may be None.
        loss_fn: ``loss_fn(output, target) -> scalar tensor`` (a batch mean).
        make_optimizer: ``make_optimizer(params) -> Optimizer``, called after the move.
        make_scheduler: ``make_scheduler(optimizer, steps_per_epoch, epochs)`` -> scheduler or
            None; ``steps_per_epoch`` counts optimizer steps (batches / accumulate, rounded up).
        config: the run's :class:`TrainConfig`.
        out_dir: where ``metrics.json``, ``history.csv`` and plots go (None: nowhere).
            Checkpoints go to ``config.checkpoint``; resuming without one uses ``out_dir``.
        resume: continue from ``last.pt`` in the checkpoint directory.
        spec_hash: stored in checkpoints; resuming a different hash raises ResumeError.
        progress: report progress (a bar on a terminal, lines otherwise); quiet if False.
        plot_data: ``(x, y)`` of the train split, for ``decision_boundary`` and ``fit``.
        force: resume even if the spec hash differs.
        reporter: overrides the reporter chosen from ``progress``.
        hooks: objects with ``on_step(epoch, step)`` and/or ``on_epoch_end(epoch, model, row)``
            (1-based epoch and step).
        binary_threshold: decision threshold for single-score outputs (0 for logits, 0.5
            for probabilities); see :mod:`specc.train.metrics`.

    Returns:
        A :class:`RunResult`. History rows hold ``epoch``, ``train.loss`` (mean over the
        epoch's examples), ``<split>.loss`` and ``<split>.<metric>`` per held-out split,
        ``lr`` (during the epoch), ``seconds`` (wall time, evaluation included) and, with
        ``compile``, ``compile_seconds``.

    Raises:
        TrainError: an unsupported setting or bad batches. DivergenceError: a non-finite
        loss, gradient norm or weight (checkpoints already written stay intact).
        ResumeError: no checkpoint, or one of another spec or model.
    """
    reporter = reporter if reporter is not None else make_reporter(progress, config.log_every)
    held_out = {split: b for split, b in (("valid", valid_batches), ("test", test_batches))
                if b is not None}
    trainer = _Trainer(model, train_batches, held_out, input_names, target_name, loss_fn,
                       make_optimizer, make_scheduler, config, reporter, hooks,
                       binary_threshold, spec_hash)
    trainer.ckpt_dir = Path(config.checkpoint) if config.checkpoint is not None else None
    recorder = fit_recorder(config.plot, plot_data, trainer.device)
    if recorder is not None:
        trainer.epoch_hooks.append(recorder.on_epoch_end)
    if resume:
        trainer.ckpt_dir = trainer.ckpt_dir or out_dir
        if trainer.ckpt_dir is None:
            raise ResumeError("resume needs a checkpoint directory",
                              hint="set train.checkpoint")
        path = trainer.ckpt_dir / checkpoint.LAST
        trainer.restore(checkpoint.load(path), path, force)

    stop = StopFlag()
    stop.install()
    try:
        reporter.start(config.epochs, trainer.batches_per_epoch, trainer.epoch + 1)
        for epoch in range(trainer.epoch, config.epochs):
            if trainer.monitor.should_stop or stop.requested:
                break
            reporter.epoch_start(epoch + 1)
            started = time.perf_counter()
            if not trainer.train_epoch(epoch, stop):
                trainer.save_partial(epoch, started)
                break
            trainer.end_epoch(epoch, started)
    finally:
        stop.restore()
        trainer.threads.restore()
        reporter.close()

    result = RunResult(
        metrics=split_metrics(trainer.history[-1]) if trainer.history else {},
        history=trainer.history, model=trainer.model,
        interrupted=stop.requested and trainer.epoch < config.epochs,
        stopped_early=trainer.monitor.should_stop, monitor=trainer.monitor.key,
        best=trainer.monitor.best,
        compile_seconds=trainer.compile_seconds if config.compile else None)
    if out_dir is not None:
        out_dir = Path(out_dir)
        write_outputs(out_dir, trainer.history)
        context = PlotContext(out_dir, trainer.history, trainer.model, trainer.device, plot_data,
                              binary_threshold, recorder.frames if recorder else [])
        result.plots = make_plots(config.plot, context, reporter)
    elif config.plot:
        reporter.note("plots skipped: no output directory")
    result.notes = list(reporter.notes)
    return result
