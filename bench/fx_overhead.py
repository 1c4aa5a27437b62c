"""Forward+backward time of the built torch.fx GraphModule against the hand-written module.

``specc.build`` returns a GraphModule; training runs it. It should cost no more than the
module a person would write (tests/reference_models.py), with the same weights (copied in).
Both run in one process on the same batch, interleaved (A B, then B A, ...), each repeat
timing a block of steps (about 20 ms); the table shows the median time per step of each, and
the ratio as the median of the per-repeat ratios (each pair measured back to back, so a slow
spell of a shared machine affects both sides of a pair alike). Target: ratio <= 1.02.

    python bench/fx_overhead.py [--threads N] [--repeat R] [--steps S]
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
import statistics
import time

import torch

import specc

ROOT = Path(__file__).resolve().parent.parent
# spec, batch size, length of a sequence input
CASES = [("moons.spec", 64, None), ("cnn.spec", 32, None), ("bilstm.spec", 64, 30)]


def reference_models():
    spec = importlib.util.spec_from_file_location("reference_models", ROOT / "tests" / "reference_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pair(name: str):
    """The GraphModule and its oracle, with equal weights."""
    torch.manual_seed(0)
    gm = specc.build(ROOT / "specs" / name)
    ref = reference_models().REFERENCE_MODELS[name]()
    values = list(gm.state_dict().values())
    keys = list(ref.state_dict())
    assert [v.shape for v in values] == [v.shape for v in ref.state_dict().values()], name
    ref.load_state_dict(dict(zip(keys, values)))
    return gm, ref


def batch(gm, size: int, seq: int | None) -> list[torch.Tensor]:
    """Random inputs of the model's signature (token ids below the vocabulary)."""
    g = torch.Generator().manual_seed(1)
    out = []
    for node in gm.graph.nodes:
        if node.op != "placeholder":
            continue
        t = node.meta["type"]
        shape = (size, *(d if isinstance(d, int) else seq for d in t.shape))
        floats = t.dtype == "float"
        out.append(torch.randn(shape, generator=g) if floats else torch.randint(0, 1000, shape, generator=g))
    return out


def steps(model, inputs, n: int) -> float:
    """Seconds for n forward+backward passes in training mode."""
    start = time.perf_counter()
    for _ in range(n):
        model.zero_grad(set_to_none=True)
        model(*inputs).sum().backward()
    return time.perf_counter() - start


def measure(name: str, size: int, seq: int | None, repeat: int, n: int) -> tuple[float, float, float, int]:
    gm, ref = pair(name)
    gm.train()
    ref.train()
    inputs = batch(gm, size, seq)
    steps(gm, inputs, 3)           # warm up both (allocator, lazy init)
    one = steps(ref, inputs, 3) / 3
    n = max(n, round(0.02 / one))  # blocks of ~20 ms: long for the clock, short for load changes
    a, b = [], []
    for r in range(repeat):
        order = [(gm, a), (ref, b)] if r % 2 == 0 else [(ref, b), (gm, a)]
        for model, times in order:
            times.append(steps(model, inputs, n) / n)
    ratio = statistics.median(x / y for x, y in zip(a, b))
    return statistics.median(a), statistics.median(b), ratio, n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--repeat", type=int, default=61)
    p.add_argument("--steps", type=int, default=1, help="least steps per block")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); per forward+backward step, "
          f"median of {a.repeat} interleaved blocks")
    print(f"{'spec':<14}{'batch':>7}{'steps':>7}{'fx (ms)':>10}{'hand (ms)':>11}{'ratio':>8}")
    for name, size, seq in CASES:
        fx, hand, ratio, n = measure(name, size, seq, a.repeat, a.steps)
        shape = f"{size}x{seq}" if seq else str(size)
        print(f"{name:<14}{shape:>7}{n:>7}{fx * 1e3:>10.3f}{hand * 1e3:>11.3f}{ratio:>8.3f}")


if __name__ == "__main__":
    main()
