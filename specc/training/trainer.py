"""One run's state and the steps that change it; :func:`specc.training.loop.fit` drives it.

One epoch, as the loop runs it (compare nanoGPT's ``train.py``)::

    model.train(); batches.set_epoch(epoch); seed_epoch(seed, epoch, device)
    for each batch:                      # micro-batches; `accumulate` of them per step
        with autocast: loss = loss_fn(model(*inputs), target)
        (loss / group size).backward()   # through the GradScaler for fp16 on CUDA
        at the end of a group: clip_grad_norm_, optimizer.step(), zero_grad(set_to_none),
                               scheduler.step() for per-batch schedules (OneCycleLR, CyclicLR)
    evaluate every held-out split under eval() and no_grad()
    per-epoch scheduler step (ReduceLROnPlateau gets valid.loss, or train.loss)
    history row, last.pt (and best.pt when the monitored value improved; copied here, saved
    to disk by a background thread), hooks, reporter

The speed settings of :mod:`specc.training.tuning` (a ``Tuning`` passed in) switch the faster
paths: clearing gradients directly, background checkpoint writes, the thread policy.

Nothing in the batch loop reads a value back from the device: losses are appended as
tensors and read once per epoch (:mod:`specc.training.epoch_log`), held-out metrics are summed
on the device (:mod:`specc.training.metrics`). Only a progress bar reads the loss, throttled.

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

from specc.training import checkpoint, distributed
from specc.training.config import TrainConfig, split_and_metric
from specc.training.control import Monitor, StopFlag, scheduler_stepping
from specc.training.device import ThreadScope, mixed_precision, resolve_device
from specc.training.distributed import Dist
from specc.training.epoch_log import EpochLog
from specc.training.errors import DivergenceError, ResumeError, TrainError
from specc.training.metrics import SplitMeter
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

    def __init__(self, model: nn.Module, train_batches: Batches, held_out: dict[str, Batches],
                 input_names: list[str], target_name: str, loss_fn: Callable,
                 make_optimizer: Callable, make_scheduler: Callable | None,
                 config: TrainConfig, reporter: Reporter, hooks: Iterable[Any],
                 threshold: float, spec_hash: str, tuning: Tuning = Tuning(), dist: Dist | None = None):
        self.config, self.reporter, self.spec_hash = config, reporter, spec_hash
        self.dist = dist
        self.writes = dist is None or dist.writer     # only rank 0 writes checkpoints
        self.tuning = tuning
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
        self.forward = self.model
        if dist is not None:    # the training step through DDP; state and evaluation unwrapped
            for split, b in {"train": train_batches, **held_out}.items():
                distributed.check_batches(b.num_examples, b.batch_size, dist.world, split)
            self.forward = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device] if self.device.type == "cuda" else None)
        self.forward = torch.compile(self.forward) if config.compile else self.forward
        self.params = list(self.model.parameters())   # walked once, not on every step
        self.optimizer = make_optimizer(self.params)
        self.clear_grads = self._clear_grads_function()
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / config.accumulate)
        self.scheduler = (make_scheduler(self.optimizer, self.steps_per_epoch, config.epochs)
                          if make_scheduler is not None else None)
        self.stepping = scheduler_stepping(self.scheduler) if self.scheduler is not None else ""
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
        self.examples = 0         # examples trained this epoch (for the progress bar)
        self.first_step = True    # thread policy, checks and compile timing happen on it
        self.move = True          # copy train batches to the device (unless already there)
        self.compile_seconds = 0.0   # first train step + first eval batch, when compiling
        self.compile_logged = 0.0
        self.compiling_eval = config.compile

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
        self.examples = 0
        for i, batch in enumerate(batches, start):
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

    def _to_device(self, batch: dict, move: bool) -> tuple[list[Tensor], Tensor]:
        inputs = [batch[name] for name in self.input_names]
        target = batch[self.target_name]
        if move:
            inputs = [t.to(self.device, non_blocking=True) for t in inputs]
            target = target.to(self.device, non_blocking=True)
        return inputs, target

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
        if self.dist is not None:   # DDP averages over ranks: weight by this rank's share
            loss = loss * (self.dist.world * self.log.sizes[-1] / self.train_batches.global_size(i))
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

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
        self.threads.apply(self.config.threads, self.device, self.model, fields[:-1],
                           auto=self.tuning.auto_threads)
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
            norm = torch.nn.utils.clip_grad_norm_(self.params, clip)
            self.log.norms.append(norm)
            self.log.norm_steps.append(i + 1)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        self.clear_grads()
        if self.stepping == "batch":
            self.scheduler.step()
        self.global_step += 1

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
        return meter.compute(distributed.reduce_sum if self.dist is not None else None)

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
        for split, batches in self.held_out.items():
            row.update({f"{split}.{k}": v for k, v in self.evaluate(split, batches).items()})
        row["lr"] = float(self.optimizer.param_groups[0]["lr"])
        row["seconds"] = self.log.carried_seconds + time.perf_counter() - started
        if self.config.compile:  # warm-up spent in this epoch (the first one this process ran)
            row["compile_seconds"] = self.compile_seconds - self.compile_logged
            self.compile_logged = self.compile_seconds
        self.history.append(row)
        if self.stepping == "plateau":
            self.scheduler.step(row[self.plateau_key])
        elif self.stepping == "epoch":
            self.scheduler.step()
        improved = self.monitor.update(row[self.monitor.key])
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
        losses, norms = self._read_checked(epoch)  # never save a diverged run
        sizes = None
        if self.dist is not None:   # the checkpoint holds the steps' global losses and sizes
            losses, sizes = self._global_steps(losses)
        if self.ckpt_dir is not None:
            partial = self.log.partial(losses, norms, time.perf_counter() - started, sizes)
            self.save([checkpoint.LAST], epoch, self.step_in_epoch, partial, at_once=True)

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

    def save(self, names: list[str], epoch: int, step: int, partial: dict | None = None,
             at_once: bool = False) -> None:
        """Write the current state to each of ``names`` in the checkpoint directory (in the
        background with ``background_checkpoints``; :meth:`finish` waits for it). With
        ``throttled_checkpoints``, a save within ``CHECKPOINT_INTERVAL`` of the last write
        keeps a copy in memory instead, unless ``at_once``."""
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
            partial = state["partial"]
            if not self.writes:   # its global losses are carried (and summed in) by rank 0 alone
                partial = {**partial, "losses": None, "sizes": []}
            self.log = EpochLog(partial)
            checkpoint.set_rng_state(state["rng"])


def _batches_from(batches: Batches, start: int) -> Iterable[dict]:
    """The epoch's batches from number ``start`` on: the batcher's ``iter_from`` if it has one
    (no work for the skipped batches), else by skipping them."""
    iter_from = getattr(batches, "iter_from", None)
    return iter_from(start) if iter_from is not None else itertools.islice(batches, start, None)


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

