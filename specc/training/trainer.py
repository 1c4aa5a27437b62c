"""One run's state and the steps that change it; :func:`specc.training.loop.fit` drives it.

One epoch, as the loop runs it (compare nanoGPT's ``train.py``)::

    model.train(); batches.set_epoch(epoch); seed_epoch(seed, epoch, device)
    for each batch:                      # micro-batches; `accumulate` of them per step
        with autocast: loss = loss_fn(model(*inputs), target)
        (loss / group size).backward()   # through the GradScaler for fp16 on CUDA
        at the end of a group: clip_grad_norm_, optimizer.step(), zero_grad(set_to_none),
                               scheduler.step() for per-batch schedules (OneCycleLR, CyclicLR)
    evaluate every held-out split under eval() and no_grad()
                                         # (valid; the test split only once, after the run)
    per-epoch scheduler step (ReduceLROnPlateau gets valid.loss, or train.loss)
    history row, last.pt (and best.pt when the monitored value improved; copied here, saved
    to disk by a background thread), hooks, reporter

The run's result is the best epoch by the monitor when there is a valid split (its weights
are kept in memory, in ``best_weights``), else the last epoch.

With ``compile = step`` the batch loop's forward, backward, clipping, optimizer step and
zero_grad are one call of a compiled graph from the run's second step on
(:mod:`specc.training.stepgraph`); logging, schedules and hooks are as above.

The speed settings of :mod:`specc.training.tuning` (a ``Tuning`` passed in) switch the faster
paths: the fused optimizer kernel called directly (:mod:`specc.training.fastopt`), clearing
gradients directly, background checkpoint writes, the thread policy.

Nothing in the batch loop reads a value back from the device: losses are appended as
tensors and read once per epoch (:mod:`specc.training.epoch_log`), held-out metrics are summed
on the device (:mod:`specc.training.metrics`), and so are the train split's metrics when
there is no valid split (from the outputs the training steps compute anyway). Only a
progress bar reads the loss, throttled.

Randomness: the global torch generator is reseeded from ``(seed, epoch)`` at the start of
every epoch, so dropout draws depend only on the seed and the epoch; a mid-epoch checkpoint
stores the generator state instead. Together with a batcher whose order depends only on
``(seed, epoch)`` this makes resumed runs bitwise equal to uninterrupted ones on the CPU.
"""
from __future__ import annotations

import itertools
import math
from pathlib import Path
import time
from typing import Any, Callable, Iterable, Protocol

import torch
from torch import nn, Tensor

from specc.training import checkpoint, distributed, fastopt, resume, stepgraph
from specc.training.config import TrainConfig, monitor_key, monitor_mode, split_and_metric
from specc.training.control import Monitor, StopFlag, needs_closure, scheduler_stepping
from specc.training.device import ThreadScope, mixed_precision, resolve_device
from specc.training.distributed import Dist
from specc.training.epoch_log import EpochLog
from specc.training.errors import DivergenceError, ResumeError, TrainError
from specc.training.feed import Feed
from specc.training.metrics import MetricSet, Scoring, SplitMeter
from specc.training.progress import Reporter
from specc.training.tuning import CHECKPOINT_INTERVAL, Tuning


class Batches(Protocol):
    """What the loop needs from a batcher (``specc.data.batches.InMemoryBatches`` is one)."""

    num_examples: int

    def __iter__(self): ...
    def __len__(self) -> int: ...
    def set_epoch(self, epoch: int) -> None: ...


def seed_epoch(seed: int, epoch: int, device: torch.device) -> None:
    """Reseed the generators the model draws from on ``device`` (cheaper than manual_seed,
    which seeds every backend) with a value distinct per (seed, epoch) and fixed across runs.
    (The batchers' example order has its own seed: :func:`specc.data.batches.epoch_seed`.)"""
    value = (seed * 1_000_003 + epoch) % (1 << 63)
    torch.default_generator.manual_seed(value)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(value)
    elif device.type == "mps":
        torch.mps.manual_seed(value)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Trainer:
    """The state of one run and the steps that change it; :func:`fit` drives it."""

    def __init__(self, model: nn.Module, train_batches: Batches, valid_batches: Batches | None,
                 input_names: list[str], feed: Feed, loss_fn: Callable,
                 make_optimizer: Callable, make_scheduler: Callable | None,
                 config: TrainConfig, reporter: Reporter, hooks: Iterable[Any],
                 scoring: Scoring, spec_hash: str, tuning: Tuning = Tuning(), model_name: str = "",
                 dist: Dist | None = None):
        self.config, self.reporter, self.spec_hash = config, reporter, spec_hash
        self.model_name = model_name
        self.dist = dist
        self.writes = dist is None or dist.writer     # only rank 0 writes checkpoints
        self.reduce = distributed.reduce_sum if dist is not None else None
        self.tuning = tuning
        self.train_batches = train_batches
        self.held_out = {"valid": valid_batches} if valid_batches is not None else {}
        self.input_names, self.feed, self.loss_fn = list(input_names), feed, loss_fn
        self.scoring = scoring
        self.device = resolve_device(config.device)
        self.precision = mixed_precision(config.precision, self.device)
        self.scaler = self.precision.scaler
        self.batches_per_epoch = len(train_batches)
        if self.batches_per_epoch == 0:
            raise TrainError("the train split produced no batches", hint="check data.train")
        self.monitor = _make_monitor(config, "valid" in self.held_out)
        self.split_metrics = {split: metric_names(config, split, self.monitor.key,
                                                   "valid" in self.held_out)
                              for split in ("train", "valid", "test")}
        self.plateau_key = "valid.loss" if self.held_out else "train.loss"
        self.keeps_best = bool(self.held_out)   # the result is the best epoch, else the last
        self.best_epoch: int | None = None
        self.best_weights: dict[str, Tensor] | None = None

        self.model = model.to(self.device)
        self.forward = self.model
        if dist is not None:    # the training step through DDP; state and evaluation unwrapped
            self.forward = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device] if self.device.type == "cuda" else None)
        self.params = list(self.model.parameters())   # walked once, not on every step
        self.param_names = {id(p): name for name, p in self.model.named_parameters()}
        self.make_optimizer = make_optimizer
        self.optimizer = make_optimizer(self.params)
        self.closure_steps = needs_closure(self.optimizer)
        if self.closure_steps and (config.accumulate > 1 or config.clip_grad is not None
                                   or self.scaler is not None):
            raise TrainError(f"{type(self.optimizer).__name__} evaluates the loss within its "
                             f"step; it runs without accumulate, clip_grad and fp16")
        if self.closure_steps and dist is not None:   # ranks would take different numbers of passes
            raise TrainError(f"{type(self.optimizer).__name__} evaluates the loss within its step; "
                             "it runs in one process", hint="train it without --nproc / train.devices")
        self.clear_grads = self._clear_grads_function()
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / config.accumulate)
        self.scheduler = (make_scheduler(self.optimizer, self.steps_per_epoch, config.epochs)
                          if make_scheduler is not None else None)
        self.stepping = scheduler_stepping(self.scheduler) if self.scheduler is not None else ""
        self.step_optimizer = fastopt.fast_step(self.optimizer, self.scaler is not None,
                                                tuning.fused_step, reporter.note)
        self.mode, self.graph = stepgraph.plan(self)   # compile: off, model or step
        self.forward = torch.compile(self.forward) if self.mode == "model" else self.forward
        self.hooks = list(hooks)
        self.step_hooks = [h.on_step for h in self.hooks if hasattr(h, "on_step")]
        self.epoch_hooks = [h.on_epoch_end for h in self.hooks if hasattr(h, "on_epoch_end")]
        self.threads = ThreadScope()
        self.ckpt_dir: Path | None = None
        self.writer = checkpoint.Writer(background=tuning.background_checkpoints)
        self.held_back: dict[str, dict] = {}   # checkpoint name -> state not yet written
        self.last_write = -math.inf

        self.epoch = 0            # epochs completed
        self.step_in_epoch = 0    # batches of the current epoch done
        self.global_step = 0      # optimizer steps done
        self.history: list[dict] = []
        self.log = EpochLog()
        self.train_meter = self._train_meter()
        self.examples = 0         # examples trained this epoch (for the progress bar)
        self.first_step = True    # thread policy, checks and compile timing happen on it
        self.move = True          # copy train batches to the device (unless already there)
        self.compile_seconds = 0.0   # first train step + first eval batch, when compiling
        self.compile_logged = 0.0
        self.compiling_eval = self.mode == "model"

    # ------------------------------------------------------------------ one epoch

    def train_epoch(self, epoch: int, stop: StopFlag) -> bool:
        """Train epoch ``epoch`` (0-based) from ``step_in_epoch`` on; False if stopped mid-way."""
        self.model.train()
        self.train_batches.set_epoch(epoch)
        start, n, accumulate = self.step_in_epoch, self.batches_per_epoch, self.config.accumulate
        if start:  # resuming mid-epoch: the generator state came from the checkpoint
            batches = _batches_from(self.train_batches, start)
        else:
            batches = iter(self.train_batches)
            seed_epoch(self.config.seed, epoch, self.device)
            self.log = EpochLog()
            self.train_meter = self._train_meter()
        self.examples = 0
        for i, batch in enumerate(batches, start):
            if self.closure_steps:
                loss = self._closure_step(i, batch)
            elif (loss := self._graph_step(i, batch)) is None:
                if self.first_step:
                    loss = self._first(i, batch)
                else:
                    loss = self._forward(batch)
                    self._backward(i, loss)
                if (i + 1) % accumulate and i + 1 < n:
                    continue  # more micro-batches before the optimizer step
                self._optimizer_step(i)
            self.step_in_epoch = i + 1
            for hook in self.step_hooks:
                hook(epoch + 1, i + 1)
            if self.reporter.wants_steps:
                self.reporter.step(i + 1, loss, self.examples)
            if self.stop_requested(stop) and i + 1 < n:
                return False
        return True

    def stop_requested(self, stop: StopFlag) -> bool:
        """A stop asked for by a signal; in a distributed run, asked for on any rank."""
        return stop.requested if self.dist is None else distributed.agree(stop.requested, self.device)

    def _to_device(self, batch: dict, move: bool) -> tuple[list[Tensor], dict[str, Tensor]]:
        """The model's inputs and the fields the loss and the metrics read."""
        inputs = [batch[name] for name in self.input_names]
        fed = {name: batch[name] for name in self.feed.fields}
        if move:
            inputs = [t.to(self.device, non_blocking=True) for t in inputs]
            fed = {k: t.to(self.device, non_blocking=True) for k, t in fed.items()}
        return inputs, fed

    @staticmethod
    def _examples(inputs: list[Tensor], fed: dict[str, Tensor]) -> int:
        return next(iter(fed.values()), inputs[0] if inputs else None).shape[0]

    def _train_meter(self) -> MetricSet | None:
        names = self.split_metrics["train"]
        return MetricSet(names, self.device, self.scoring) if names else None

    def _forward(self, batch: dict) -> Tensor:
        inputs, fed = self._to_device(batch, self.move)
        with self.precision.autocast:
            output = self.forward(*inputs)
            loss = self.loss_fn(*self.feed.loss_args(output, fed))
        self._log_step(inputs, output, fed, loss)
        return loss

    def _log_step(self, inputs: list[Tensor], output, fed: dict[str, Tensor], loss: Tensor) -> None:
        if self.train_meter is not None:  # tensor ops only, read once at the epoch end
            self.train_meter.update_each(lambda key: self.feed.metric_pair(key, output, fed))
        n = self._examples(inputs, fed)
        self.log.losses.append(loss.detach())
        self.log.sizes.append(n)
        self.examples += n

    def _backward(self, i: int, loss: Tensor) -> None:
        if self.config.accumulate > 1:
            loss = loss / self._group_size(i)
        if self.dist is not None:   # DDP averages over ranks: weight by this rank's share
            loss = loss * (self.dist.world * self.log.sizes[-1] / self.train_batches.global_size(i))
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def _group_size(self, i: int) -> int:
        """Micro-batches in the accumulation group of batch ``i`` (the last may be short)."""
        start = i - i % self.config.accumulate
        return min(self.config.accumulate, self.batches_per_epoch - start)

    def _first(self, i: int, batch: dict) -> Tensor:
        """The run's first batch: check the fields, pick threads, time the compile."""
        missing = [n for n in (*self.input_names, *self.feed.fields) if n not in batch]
        if missing:
            raise TrainError(f"the batches have no field {missing[0]!r}; they have "
                             f"{', '.join(sorted(batch))}")
        fields = [batch[n] for n in (*self.input_names, *self.feed.fields)]
        self.move = any(t.device != self.device for t in fields)  # a batcher keeps its device
        self.threads.apply(self.config.threads, self.device, self.model, fields[:len(self.input_names)],
                           auto=self.tuning.auto_threads)
        started = time.perf_counter()
        loss = self._forward(batch)
        if loss.numel() != 1:
            raise TrainError(f"the loss must be a single number; the loss function returned "
                             f"shape {tuple(loss.shape)}", hint="reduce it with mean(...)")
        self._backward(i, loss)
        if self.graph is not None:   # which parameters get gradients
            self.graph.see_gradients()
        _sync(self.device)
        if self.mode == "model":
            self.compile_seconds += time.perf_counter() - started
        self.first_step = False
        return loss

    def _closure_step(self, i: int, batch: dict) -> Tensor:
        """One step of an optimizer that evaluates the loss itself (LBFGS): its first
        evaluation is the step's logged loss, as for any other optimizer; the line search's
        further evaluations only give it losses and gradients."""
        evaluations: list[Tensor] = []

        def closure() -> Tensor:
            self.clear_grads()
            if evaluations:
                inputs, fed = self._to_device(batch, self.move)
                with self.precision.autocast:
                    loss = self.loss_fn(*self.feed.loss_args(self.forward(*inputs), fed))
                loss.backward()
            elif self.first_step:
                loss = self._first(i, batch)
            else:
                loss = self._forward(batch)
                self._backward(i, loss)
            evaluations.append(loss)
            return loss

        self._optimizer_step(i, closure)
        return evaluations[0]

    def _graph_step(self, i: int, batch: dict) -> Tensor | None:
        """One step through the compiled step graph (``compile = step``); None when this
        batch takes the eager step (the run's first, one of another shape, a fallback)."""
        if self.graph is None or self.first_step:
            return None
        inputs, fed = self._to_device(batch, self.move)
        done = stepgraph.run(self, inputs, fed)
        if done is None:
            return None
        loss, output, norm = done
        self._log_step(inputs, output, fed, loss)
        if norm is not None:
            self.log.norms.append(norm)
            self.log.norm_steps.append(i + 1)
        if self.stepping == "batch":
            self._step_scheduler()
        self.global_step += 1
        return loss

    def _optimizer_step(self, i: int, closure: Callable[[], Tensor] | None = None) -> None:
        clip, scaler, optimizer = self.config.clip_grad, self.scaler, self.optimizer
        if clip is not None:
            if scaler is not None:
                scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(self.params, clip)
            self.log.norms.append(norm)
            self.log.norm_steps.append(i + 1)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        elif closure is not None:
            optimizer.step(closure)
        else:
            self.step_optimizer()
        self.clear_grads()
        if self.stepping == "batch":
            self._step_scheduler()
        self.global_step += 1

    def _step_scheduler(self, *metric: float) -> None:
        """``scheduler.step``; torch's refusal to go on (a OneCycleLR past its total steps, a
        resumed state with odd values) is a TrainError, not a crash of the run."""
        try:
            self.scheduler.step(*metric)
        except (ValueError, ArithmeticError, TypeError) as exc:
            first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise TrainError(f"the schedule cannot step on after {self.global_step} steps: {first}",
                             hint="a resumed run needs the schedule and epochs it was written with; "
                                  "start a fresh run") from exc

    def _clear_grads_function(self) -> Callable[[], None]:
        """``zero_grad(set_to_none=True)``, or with ``fast_zero_grad`` the same effect without
        the optimizer method's profiler record and dynamo guard (a subclass that overrides
        ``zero_grad`` keeps its own)."""
        optimizer = self.optimizer
        if not self.tuning.fast_zero_grad or \
                getattr(type(optimizer), "zero_grad", None) is not torch.optim.Optimizer.zero_grad:
            return lambda: optimizer.zero_grad(set_to_none=True)
        params = [p for group in optimizer.param_groups for p in group["params"]]

        def clear() -> None:
            for p in params:
                p.grad = None
        return clear

    @torch.no_grad()
    def evaluate(self, split: str, batches: Batches) -> dict[str, float]:
        """Loss and metrics over a whole held-out split, read back once."""
        meter = SplitMeter(self.split_metrics[split], self.device, self.scoring)
        self.model.eval()
        with self.precision.autocast:
            for batch in batches:
                started = time.perf_counter() if self.compiling_eval else 0.0
                inputs, fed = self._to_device(batch, True)
                output = self.forward(*inputs)
                meter.update_each(self.loss_fn(*self.feed.loss_args(output, fed)), self._examples(inputs, fed),
                                  lambda key: self.feed.metric_pair(key, output, fed))
                if self.compiling_eval:
                    _sync(self.device)
                    self.compile_seconds += time.perf_counter() - started
                    self.compiling_eval = False
        return meter.compute(self.reduce)

    # ------------------------------------------------------------------ epoch boundaries

    def train_loss(self, epoch: int) -> float:
        """The epoch's mean train loss; DivergenceError at the first non-finite value. In a
        distributed run, over every rank's examples (read on every rank, so all agree)."""
        if self.dist is None:
            return self.log.mean_loss(self._read_checked(epoch)[0])
        losses, _ = self.log.read()
        total = distributed.reduce_sum(torch.tensor(
            [math.fsum(v * n for v, n in zip(losses, self.log.sizes)), sum(self.log.sizes)],
            dtype=torch.float64, device=self._reduce_device()))
        mean = float(total[0] / total[1])
        if not math.isfinite(mean):
            self._read_checked(epoch)          # this rank's own step, if the bad value is here
            raise DivergenceError(epoch + 1, 0, mean, "loss")
        return mean

    def _global_steps(self, losses: list[float]) -> tuple[list[float], list[int]]:
        """Each step's loss over every rank's examples, and the step's global batch size."""
        sizes = self.log.sizes
        t = distributed.reduce_sum(torch.tensor([v * n for v, n in zip(losses, sizes)] + list(sizes),
                                                dtype=torch.float64, device=self._reduce_device()))
        k = len(sizes)
        totals = t.tolist()
        return [totals[i] / totals[k + i] for i in range(k)], [int(n) for n in totals[k:]]

    def _reduce_device(self) -> torch.device:
        return self.device if self.device.type != "mps" else torch.device("cpu")

    def _read_checked(self, epoch: int) -> tuple[list[float], list[float]]:
        """The epoch's losses and gradient norms; DivergenceError at the first non-finite one."""
        losses, norms = self.log.read()
        bad = self.log.first_nonfinite(losses, norms, check_norms=self.scaler is None)
        if bad is not None:
            step, value, what = bad
            raise DivergenceError(epoch + 1, step, value, what)
        return losses, norms

    def end_epoch(self, epoch: int, started: float) -> dict:
        """Evaluate, record the history row, step schedulers, save checkpoints, run hooks."""
        row: dict[str, Any] = {"epoch": epoch + 1, "train.loss": self.train_loss(epoch)}
        if self.train_meter is not None:
            row.update({f"train.{k}": v for k, v in self.train_meter.compute(self.reduce).items()})
        for split, batches in self.held_out.items():
            row.update({f"{split}.{k}": v for k, v in self.evaluate(split, batches).items()})
        row["lr"] = float(self.optimizer.param_groups[0]["lr"])
        row["seconds"] = self.log.carried_seconds + time.perf_counter() - started
        if self.mode != "off":  # warm-up spent in this epoch (the first one this process ran)
            row["compile_seconds"] = self.compile_seconds - self.compile_logged
            self.compile_logged = self.compile_seconds
        self.history.append(row)
        if self.stepping == "plateau":
            self._step_scheduler(row[self.plateau_key])
        elif self.stepping == "epoch":
            self._step_scheduler()
        improved = self.monitor.update(row[self.monitor.key])
        if improved and self.keeps_best:
            self.best_epoch = epoch + 1
            self.best_weights = checkpoint.snapshot(self.model.state_dict())
        self.epoch, self.step_in_epoch = epoch + 1, 0
        if self.ckpt_dir is not None:
            names = [checkpoint.LAST, checkpoint.BEST] if improved else [checkpoint.LAST]
            self.save(names, epoch, self.batches_per_epoch)
        for hook in self.epoch_hooks:
            hook(epoch + 1, self.model, row)
        self.reporter.epoch_end(row)
        return row

    def save_partial(self, epoch: int, started: float) -> None:
        """Checkpoint an epoch stopped after ``step_in_epoch`` batches (exact resume)."""
        sizes = None
        if self.dist is None:
            losses, norms = self._read_checked(epoch)  # never save a diverged run
        else:   # the checkpoint holds the steps' global losses and sizes, checked on every rank
            losses, norms = self.log.read()
            losses, sizes = self._global_steps(losses)
            bad = self.log.first_nonfinite(losses, norms, check_norms=self.scaler is None)
            if bad is not None:
                raise DivergenceError(epoch + 1, *bad)
        metrics = self.train_meter.state(self.reduce) if self.train_meter is not None else None
        if self.ckpt_dir is not None:
            partial = self.log.partial(losses, norms, time.perf_counter() - started, sizes)
            if metrics is not None:
                partial["metrics"] = metrics
            self.save([checkpoint.LAST], epoch, self.step_in_epoch, partial, at_once=True)

    def save(self, names: list[str], epoch: int, step: int, partial: dict | None = None,
             at_once: bool = False) -> None:
        """Write the current state to each of ``names`` in the checkpoint directory (in the
        background with ``background_checkpoints``; :meth:`finish` waits for it). With
        ``throttled_checkpoints``, a save within ``CHECKPOINT_INTERVAL`` of the last write
        keeps a copy in memory instead, unless ``at_once``. The previous write is waited for
        first, so the first failed write (a full disk) stops the run here, naming its file."""
        self.writer.wait()
        self._check_weights(epoch, step)
        if not self.writes:
            return
        state = self.state(partial)
        if (self.tuning.throttled_checkpoints and not at_once
                and time.perf_counter() - self.last_write < CHECKPOINT_INTERVAL):
            held = checkpoint.snapshot({**state, "history": None})
            held["history"] = list(self.history)    # rows are never changed once appended
            self.held_back.update(dict.fromkeys(names, held))
            return
        for name in names:
            self.held_back.pop(name, None)
        self.write_held_back()
        self.writer.write([self.ckpt_dir / name for name in names], state)
        self.last_write = time.perf_counter()

    def write_held_back(self) -> None:
        """Write the states that throttling kept in memory (an older best, a newer last)."""
        held, self.held_back = self.held_back, {}
        for state in {id(s): s for s in held.values()}.values():
            self.writer.write([self.ckpt_dir / n for n, s in held.items() if s is state], state)

    def finish(self, raising: bool) -> None:
        """At the end of a run: write what throttling held back, wait for checkpoint writes,
        restore the thread count. When the run is raising, its own error is the one that
        propagates (the checkpoints held back were checked when they were taken)."""
        self.threads.restore()
        try:
            self.write_held_back()
        except Exception:
            if not raising:
                raise
        finally:
            self.writer.wait(raise_errors=not raising)

    def _check_weights(self, epoch: int, step: int) -> None:
        params = [p.detach() for p in self.params]
        if not params or bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            return
        bad = next(p[~torch.isfinite(p)] for p in params if not torch.isfinite(p).all())
        raise DivergenceError(epoch + 1, step, float(bad.reshape(-1)[0]), "weights")

    def state(self, partial: dict | None) -> dict:
        """The checkpoint dict (layout in :mod:`specc.training.checkpoint`)."""
        return {
            "format": checkpoint.FORMAT,
            "model_name": self.model_name,
            "model": self.model.state_dict(),
            "optimizer": resume.named_optimizer_state(self.optimizer, self.param_names),
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
        """Continue from a checkpoint written by :meth:`state`, once every field of it has
        been checked against this run (:func:`specc.training.resume.validate`)."""
        resume.validate(state, path, self, force)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(
            resume.indexed_optimizer_state(state["optimizer"], self.optimizer, self.param_names))
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step, self.history = state["global_step"], list(state["history"])
        if state["monitor"] == self.monitor.key:
            self.monitor.best, self.monitor.counter = state["best"], state["early_stop_counter"]
            self._restore_best(path.parent / checkpoint.BEST)
        if state["partial"] is not None:
            partial = state["partial"]
            if not self.writes:   # its global sums are carried (and summed in) by rank 0 alone;
                # the other ranks carry zeros of the same length, so their step lists line up
                partial = {**partial, "losses": torch.zeros_like(partial["losses"]),
                           "sizes": [0] * len(partial["sizes"])}
            self.log = EpochLog(partial)
            if self.train_meter is not None and self.writes:
                self.train_meter.load(partial["metrics"])
            checkpoint.set_rng_state(state["rng"])

    def _restore_best(self, path: Path) -> None:
        """The best epoch so far (the first history row holding the best value) and its
        weights from ``best.pt``; a note, and the last weights, if best.pt holds another."""
        if not self.keeps_best or self.monitor.best is None:
            return
        self.best_epoch = next((row["epoch"] for row in self.history
                                if row.get(self.monitor.key) == self.monitor.best), None)
        try:
            state = checkpoint.load(path)
        except ResumeError:
            state = None
        if state is not None and state["epoch"] == self.best_epoch:
            self.best_weights = state["model"]
        else:
            self.reporter.note(f"{path} does not hold epoch {self.best_epoch}, the best so far; "
                               f"the run's result will be a later best epoch or the last")
            self.best_epoch = None

    def hand_over(self) -> int | None:
        """Put the result's weights into the model (the best epoch's, when kept); its epoch."""
        if self.best_weights is None:
            return self.epoch or None
        self.model.load_state_dict(self.best_weights)
        return self.best_epoch


def _batches_from(batches: Batches, start: int) -> Iterable[dict]:
    """The epoch's batches from number ``start`` on: the batcher's ``iter_from`` if it has one
    (no work for the skipped batches), else by skipping them."""
    iter_from = getattr(batches, "iter_from", None)
    return iter_from(start) if iter_from is not None else itertools.islice(batches, start, None)


def _make_monitor(config: TrainConfig, has_valid: bool) -> Monitor:
    """The monitor of :func:`~specc.training.config.monitor_key`, with early stopping's
    patience when it is set."""
    key = monitor_key(config, has_valid)
    split, _ = split_and_metric(key)
    if split == "valid" and not has_valid:
        raise TrainError(f"the run monitors {key}, but the data has no valid split",
                         hint="add valid = 20% to data, or monitor a train value")
    early = config.early_stop
    if early is None:
        return Monitor(key, monitor_mode(key))
    return Monitor(key, early.mode or monitor_mode(key), early.min_delta, early.patience)


def metric_names(config: TrainConfig, split: str, monitor: str,
                  has_valid: bool) -> tuple[str, ...]:
    """The metrics computed on ``split``: the configured (and plotted) ones on valid and test,
    on train only without a valid split; plus the monitored one when it is on this split."""
    names = config.computed_metrics() if split != "train" or not has_valid else ()
    monitor_split, metric = split_and_metric(monitor)
    if monitor_split == split and metric != "loss" and metric not in names:
        names = (*names, metric)
    return names

