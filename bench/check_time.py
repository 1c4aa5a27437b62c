"""How long `specc check` takes as a whole process, against `python -c "import torch"`.

The front end must stay fast enough to run on every save in an editor: at most a third of
the time it takes just to import torch. Both are measured side by side, interleaved, in
fresh processes; the medians and their ratio are printed.

    python bench/check_time.py [SPEC] [--repeat N]
"""
from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import subprocess
import sys
import time

ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("spec", nargs="?", default="specs/moons.spec")
    p.add_argument("--repeat", type=int, default=7)
    a = p.parse_args()
    check = [sys.executable, "-m", "specc", "check", a.spec]
    torch = [sys.executable, "-c", "import torch"]
    wall(check)  # warm the file cache and the parser cache once
    checks, torches = [], []
    for _ in range(a.repeat):
        checks.append(wall(check))
        torches.append(wall(torch))
    c, t = statistics.median(checks), statistics.median(torches)
    print(f"specc check {a.spec}: {c:.3f} s (median of {a.repeat})")
    print(f"python -c 'import torch': {t:.3f} s")
    print(f"ratio: {c / t:.2f} (target <= 0.33)")


if __name__ == "__main__":
    main()
