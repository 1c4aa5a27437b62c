"""Which part of a training step should ``compile = true`` hand to ``torch.compile``?

The ideal hand-written loop is run with nothing compiled, the model compiled, the model and
loss compiled as one function, the optimizer step compiled, and both; then specc with
``compile = true``. Warm-up (the first epoch's time beyond a steady epoch: tracing and code
generation) is reported apart from the steady seconds per epoch. Each variant runs in a
fresh process with inductor's caches disabled (``TORCHINDUCTOR_FORCE_DISABLE_CACHES=1``), so
every variant pays its whole warm-up.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import time

import torch

from bench_ways import run_specc
from bench_workloads import ROOT, WORKLOADS, Workload, initial_models, load_data

VARIANTS = {
    "eager, default Adam": dict(),
    "eager, Adam(fused=True)": dict(fused=True),
    "compile(model)": dict(model=True, fused=True),
    "compile(model + loss)": dict(forward=True, fused=True),
    "compile(optimizer.step)": dict(optimizer=True),
    "compile(model + loss) + compile(step)": dict(forward=True, optimizer=True),
}


def _loop(wl: Workload, data, epochs: int, model=False, forward=False, optimizer=False,
          fused=None) -> list[float]:
    train, valid = data
    _, net = initial_models(wl.spec_text(epochs), wl.make_model)
    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=wl.lr, fused=fused)
    call = torch.compile(net) if model else net

    def loss_of(x, y):
        return wl.loss(call(x), y)
    loss_fn = torch.compile(loss_of) if forward else loss_of

    def step():
        opt.step()
    step_fn = torch.compile(step, fullgraph=False) if optimizer else step
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        net.train()
        perm = torch.randperm(len(train))
        losses = []
        for i in range(0, len(train), wl.batch):
            idx = perm[i:i + wl.batch]
            opt.zero_grad()
            loss = loss_fn(train.x[idx], train.y[idx])
            loss.backward()
            step_fn()
            losses.append(loss.detach())
        net.eval()
        with torch.no_grad():
            valid_loss = loss_fn(valid.x, valid.y)
        float(torch.stack(losses).mean() + valid_loss)
        seconds.append(time.perf_counter() - start)
    return seconds


def child(name: str, variant: str, epochs: str, threads: str) -> None:
    """In a fresh process: one variant's epoch times as JSON."""
    wl, epochs = WORKLOADS[name], int(epochs)
    torch.set_num_threads(int(threads) or torch.get_num_threads())
    if variant.startswith("specc"):
        run = run_specc(wl, None, None, None, epochs, int(threads) or None,
                        compile=variant == "specc, compile = true")
        seconds, warm = run.seconds, run.extra["compile_seconds"]
    else:
        seconds = _loop(wl, load_data(wl.spec_text(epochs), wl.input), epochs, **VARIANTS[variant])
        warm = None
    print(json.dumps({"seconds": seconds, "compile_seconds": warm}))


def compile_variants(wl: Workload, epochs: int, threads: int | None) -> None:
    print(f"\n## torch.compile on {wl.name} (ideal loop, {epochs} epochs, threads "
          f"{threads or 'default'}, one fresh process each, inductor caches off); "
          f"warm-up = first epoch - steady epoch")
    print(f"{'variant':<40}{'s/epoch':>10}{'x eager':>9}{'warm-up s':>11}")
    env = {**os.environ, "TORCHINDUCTOR_FORCE_DISABLE_CACHES": "1"}
    base = None
    for name in [*VARIANTS, "specc, compile = false", "specc, compile = true"]:
        cmd = [sys.executable, str(Path(__file__).with_name("train_bench.py")), "--child",
               "compile", wl.name, name, str(epochs), str(threads or 0)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, env=env)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        seconds = result["seconds"]
        t = statistics.median(seconds[1:])
        base = base or t
        warm = seconds[0] - t
        note = (f"   (trainer's compile_seconds {result['compile_seconds']:.1f})"
                if result["compile_seconds"] else "")
        print(f"{name:<40}{t:10.4f}{t / base:9.2f}{warm:11.1f}{note}")
