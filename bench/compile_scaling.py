"""How the compiler's time grows with the size of a spec.

Generated specs: a model of N ``Linear(16)`` layers, one statement each (N = 10, 100, 1,000,
2,000), the same with a new name in every statement (1,000 and 4,000), 1,000 layers as one
pipeline, and 100 blocks each applied 10 times (1,000
block instances, 2,000 layers). For each, in one process: ``specc.load`` + ``specc.check``
(parse, names, shapes), ``specc.build`` of the checked spec (the fx GraphModule with its
weights), and ``specc.to_source``; medians over repeats, and microseconds per layer, which
stay flat when the time grows linearly. Then ``specc check`` on the 1,000-layer spec as a
whole process (what a user waits for), and the largest specs as processes, with their peak
memory: 40,000 statements (just under the 1,000,000 characters specc parses) and 400,000
(refused at once, at the character where the limit is passed). Targets: a 1,000-layer spec
checks in under 1 s and builds in under 3 s; time and memory grow linearly with the spec.

    python bench/compile_scaling.py [--repeat R]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import specc


def statements(n: int) -> str:
    lines = "\n".join("    h = h -> Linear(16)" for _ in range(n))
    return f"model M(x: float[16]) {{\n    h = x\n{lines}\n    return h\n}}\n"


def named(n: int) -> str:
    """One new name per statement (``h1 = h0 -> Linear(16)``): the scope grows with the spec."""
    lines = "\n".join(f"    h{i + 1} = h{i} -> Linear(16)" for i in range(n))
    return f"model M(h0: float[16]) {{\n{lines}\n    return h{n}\n}}\n"


def pipeline(n: int) -> str:
    return f"model M(x: float[16]) {{\n    return x -> {' -> '.join(['Linear(16)'] * n)}\n}}\n"


def blocks(n: int, uses: int) -> str:
    defs = "\n".join(f"block B{i}(x: float[n]) {{\n    return x -> Linear(16) -> Linear(16)\n}}" for i in range(n))
    body = "\n".join(f"    h = B{i}(h)" for _ in range(uses) for i in range(n))
    return f"{defs}\nmodel M(x: float[16]) {{\n    h = x\n{body}\n    return h\n}}\n"


# name, spec text, layers (Linear instances) in the built model
CASES = [
    ("10 layers", statements(10), 10),
    ("100 layers", statements(100), 100),
    ("1,000 layers", statements(1000), 1000),
    ("2,000 layers", statements(2000), 2000),
    ("1,000 names", named(1000), 1000),
    ("4,000 names", named(4000), 4000),
    ("1,000-layer pipeline", pipeline(1000), 1000),
    ("100 blocks x 10 uses", blocks(100, 10), 2000),
]


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


# ``specc check FILE`` as the CLI runs it, printing the process's peak memory last (Linux's VmHWM,
# in KiB: unlike ru_maxrss it does not include the memory of the parent that started it)
CHECK = ("import re, sys\nfrom specc.cli.main import main\ncode = main(['check', sys.argv[1]])\n"
         "status = open('/proc/self/status').read()\n"
         "print(re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr)\nsys.exit(code)\n")


def process_check(text: str, repeat: int, expect: int = 0) -> tuple[float, float]:
    """Median wall time and peak memory (MiB) of ``specc check`` on ``text``, which exits ``expect``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.spec"
        path.write_text(text)
        cmd = [sys.executable, "-c", CHECK, str(path)]
        subprocess.run(cmd, capture_output=True)      # warm-up: fills the parser cache
        times, peak = [], 0.0
        for _ in range(repeat):
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            assert proc.returncode == expect, proc.stderr
            peak = max(peak, int(proc.stderr.split()[-1]) / 1024)
    return statistics.median(times), peak


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    specc.build(specc.check(specc.load(statements(3))))      # warm-up: imports torch and fx
    print(f"median of {a.repeat}; us/layer = time / Linear layers built")
    print(f"{'spec':<22}{'layers':>7}{'check (s)':>11}{'us/layer':>10}{'build (s)':>11}{'us/layer':>10}"
          f"{'source (s)':>12}")
    for name, text, layers in CASES:
        check, checked = timed(lambda: specc.check(specc.load(text)), a.repeat)
        build, _ = timed(lambda: specc.build(checked), a.repeat)
        source, _ = timed(lambda: specc.to_source(checked), a.repeat)
        print(f"{name:<22}{layers:>7}{check:>11.3f}{check / layers * 1e6:>10.0f}{build:>11.3f}"
              f"{build / layers * 1e6:>10.0f}{source:>12.3f}")
    big, _ = process_check(statements(1000), a.repeat)
    print(f"`specc check` on the 1,000-layer spec as a process: {big:.3f} s (target < 1 s)")
    for n, expect in ((10_000, 0), (40_000, 0), (400_000, 2)):
        took, peak = process_check(statements(n), 1, expect)
        print(f"`specc check` on {n:,} statements as a process: {took:.2f} s, peak memory {peak:,.0f} MiB"
              f"{' (refused: longer than specc parses)' if expect else ''}")


if __name__ == "__main__":
    main()
