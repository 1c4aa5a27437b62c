"""Where specc's training step spends its time: the trainer's phases timed in a real run.

    python bench/step_phases.py [--workload moons,digits] [--epochs 6] [--repeats 3]
                                [--tuning -fused_step]

Wraps the trainer's methods with timers (about 0.3 us each) and runs ``specc.train`` on the
workload's spec, 1 thread: microseconds per training step in making the batch
(``InMemoryBatches._shuffled``), forward and loss (``Trainer._forward``), backward
(``Trainer._backward``), the optimizer step (``fastopt.FusedStep.__call__``, or
``optimizer.step`` with ``--tuning -fused_step``) and the rest of ``_optimizer_step``
(clearing gradients, counters), evaluation and epoch end per step, and what is left of the
epoch (the loop itself). Medians over the epochs after the first, pooled over repeats.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
import functools
import statistics
import tempfile
import time

import torch

import specc
from bench_workloads import WORKLOADS, load_data

from specc.data.batches import InMemoryBatches
from specc.training import fastopt
from specc.training.trainer import Trainer
from specc.training.tuning import Tuning

PHASES = {"batch": (InMemoryBatches, "_shuffled"), "forward + loss": (Trainer, "_forward"),
          "backward": (Trainer, "_backward"), "optimizer step": (fastopt.FusedStep, "__call__"),
          "step, zero_grad, counters": (Trainer, "_optimizer_step"),
          "evaluation": (Trainer, "evaluate"), "epoch end, less evaluation": (Trainer, "end_epoch")}
SPENT: dict[str, float] = defaultdict(float)


def _timed(name: str, fn):
    @functools.wraps(fn)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[name] += time.perf_counter() - start
    return timed


def install(plain_step: bool) -> None:
    for name, (cls, attr) in PHASES.items():
        setattr(cls, attr, _timed(name, getattr(cls, attr)))
    if plain_step:   # time optimizer.step instead (fused_step off)
        original = fastopt.fast_step

        def fast_step(optimizer, *args):
            optimizer.step = _timed("optimizer step", optimizer.step)
            return original(optimizer, *args)
        fastopt.fast_step = fast_step


class _Epochs:
    """A hook: the phase totals at every epoch end (per-epoch differences come later)."""

    def __init__(self):
        self.marks: list[tuple[float, dict]] = []

    def on_epoch_end(self, epoch, model, row):
        self.marks.append((time.perf_counter(), dict(SPENT)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", default="moons,digits")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tuning", default="", help="SPECC_TUNING text, e.g. -fused_step")
    args = p.parse_args()
    tuning = Tuning.from_env(args.tuning)
    install(plain_step=not tuning.fused_step)
    torch.set_num_threads(1)
    for name in args.workload.split(","):
        wl = WORKLOADS[name]
        steps = -(-len(load_data(wl.spec_text(args.epochs), wl.input)[0]) // wl.batch)
        per_epoch: dict[str, list[float]] = defaultdict(list)
        for _ in range(args.repeats):
            clock = _Epochs()
            SPENT.clear()
            with tempfile.TemporaryDirectory() as out:
                specc.train(wl.spec_text(args.epochs), out=out, force=True, hooks=[clock],
                            tuning=tuning, threads=1)
            for (t0, a), (t1, b) in zip(clock.marks, clock.marks[1:]):
                d = {k: b.get(k, 0.0) - a.get(k, 0.0) for k in PHASES}
                d["step, zero_grad, counters"] -= d["optimizer step"]
                d["epoch end, less evaluation"] -= d["evaluation"]
                d["loop and the rest"] = (t1 - t0) - sum(d.values())
                d["whole epoch"] = t1 - t0
                for k, v in d.items():
                    per_epoch[k].append(v)
        print(f"\n## {name}: us per training step ({steps} steps/epoch, {args.epochs} epochs x "
              f"{args.repeats}, 1 thread, tuning {args.tuning or 'all on'})")
        for k, values in per_epoch.items():
            print(f"{k:<30}{statistics.median(values) / steps * 1e6:8.1f}")


if __name__ == "__main__":
    main()
