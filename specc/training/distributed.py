"""Data-parallel training on ``torch.distributed``: one process per device, started by torch's
own elastic launcher (``torchrun`` / ``python -m torch.distributed.run``).

A launcher tells each process who it is through the environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); :func:`from_env` reads it. Then:

- the model is wrapped in ``DistributedDataParallel`` for training steps (its construction
  broadcasts rank 0's weights, so every rank starts equal), while checkpoints, evaluation
  and the run's result use the unwrapped module;
- every split is sharded: each global batch of ``data.batch`` examples (the same order on
  every rank, from ``(seed, epoch)``) is cut into ``world`` contiguous parts, rank ``r``
  taking part ``r`` (``shard`` of :mod:`specc.data.batches`). A rank's loss is weighted by ``world * local / global``
  so that DDP's gradient average equals the gradient of the global batch's mean loss, short
  last batch included;
- everything a rank reads back to decide something is summed over the ranks first: the
  epoch's train loss, the held-out loss and metric sums, a stop request (:func:`agree`), so
  every rank reports the same numbers and takes the same decisions;
- only rank 0 (the writer) writes files and prints progress.
"""
from __future__ import annotations

from dataclasses import dataclass
import datetime
import os

import torch
import torch.distributed as torch_dist
from torch import Tensor

from specc.training.errors import TrainError

LAUNCHER_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")
BACKENDS = {"cuda": "nccl", "cpu": "gloo"}
TIMEOUT = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class Dist:
    """This process's place in the group."""

    rank: int
    world: int
    local_rank: int

    @property
    def writer(self) -> bool:
        return self.rank == 0


def from_env(environ=os.environ) -> Dist | None:
    """The launcher's settings, or None when not started by one."""
    if not all(k in environ for k in LAUNCHER_ENV):
        return None
    try:
        return Dist(int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ["LOCAL_RANK"]))
    except ValueError:
        raise TrainError("RANK, WORLD_SIZE and LOCAL_RANK must be integers",
                         hint="start distributed runs with torchrun or specc run --nproc N") from None


def device_for(dist: Dist, device: str) -> str:
    """``cuda`` becomes this process's own GPU, ``cuda:<LOCAL_RANK>``."""
    return f"cuda:{dist.local_rank}" if device == "cuda" else device


def init(dist: Dist, backend: str | None, device: torch.device) -> str:
    """Join the process group (``nccl`` on CUDA, ``gloo`` on CPU unless ``backend`` says)."""
    backend = backend or BACKENDS.get(device.type)
    if backend is None:
        raise TrainError(f"no distributed backend for device {device.type}",
                         hint="train on cpu or cuda, or set train.backend")
    if not torch_dist.is_available():
        raise TrainError("this torch build has no torch.distributed")
    if not torch_dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch_dist.init_process_group(backend, timeout=TIMEOUT, device_id=device if backend == "nccl" else None)
    return backend


def close() -> None:
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def reduce_sum(t: Tensor) -> Tensor:
    """``t`` summed over every rank, in place."""
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.SUM)
    return t


def agree(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is True on any (a stop request, say)."""
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast(value, device: torch.device):
    """Rank 0's ``value`` on every rank (a picklable object, e.g. the run folder's path)."""
    box = [value]
    torch_dist.broadcast_object_list(box, src=0, device=device if device.type == "cuda" else None)
    return box[0]


def check_batches(n: int, batch: int, world: int, split: str) -> None:
    """Every global batch must give each rank at least one example."""
    last = n % batch or batch
    if min(batch, n) < world or last < world:
        raise TrainError(f"the {split} split's {'last ' if last < batch else ''}batch has "
                         f"{min(last, n)} example(s), fewer than the {world} processes",
                         hint=f"use a data.batch for which every batch has at least {world} examples")
