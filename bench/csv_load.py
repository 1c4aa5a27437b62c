"""A large CSV source: `specc check`, loading, and `specc run` for one epoch, with peak memory.

Writes a 300,000-row CSV (15 float features and a class label, about 43 MB) into a temporary
folder, then measures, each in a fresh process (median of ``--repeat``; peak RSS from
``wait4``):

- ``specc check`` on a spec that trains on it (reads the header and the target column);
- ``load_source("csv", ...)`` alone: wall time, and the peak of Python-tracked allocations
  (tracemalloc, which sees numpy's and torch's CPU buffers) against the float32 data size;
- ``specc run --set train.epochs=1`` (load, one epoch, checkpoints).

``--root DIR`` runs the processes against another checkout of specc (to compare with an
older version); the CSV and the spec are the same.

    python bench/csv_load.py [--rows 300000] [--repeat 3] [--root DIR]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FEATURES = 15
SPEC = f"""data {{
    train = csv("big.csv", target="label")
    batch = 256
}}
model Net(x: float[{FEATURES}]) {{
    return x -> Linear(32) -> ReLU -> Linear(10)
}}
loss = cross_entropy
optimizer = Adam(lr=0.001)
train {{ epochs = 1 }}
"""
LOAD = """
import sys, time, tracemalloc
from specc.data.load import load_source
path, traced = sys.argv[1], sys.argv[2] == "traced"
if traced:
    tracemalloc.start()
start = time.perf_counter()
table = load_source("csv", {"path": path, "target": "label"})
took = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1] if traced else 0
print(took, peak, table.fields["x"].numel() * 4)
"""


def write_csv(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    y = rng.integers(0, 10, size=(rows, 1))
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join([f"f{i}" for i in range(FEATURES)] + ["label"]) + "\n")
        np.savetxt(f, np.hstack([x, y]), fmt=["%.6f"] * FEATURES + ["%d"], delimiter=",")


def measure(cmd: list[str], cwd: Path, root: Path, repeat: int) -> tuple[float, float]:
    """(median wall seconds, largest peak RSS in MB) of ``repeat`` fresh processes."""
    runs = [run_once(cmd, cwd, root) for _ in range(repeat)]
    return statistics.median(w for w, _ in runs), max(m for _, m in runs)


def run_once(cmd: list[str], cwd: Path, root: Path) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed:\n{err.read().decode()}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=300_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--root", type=Path, default=ROOT, help="the specc checkout to run")
    a = p.parse_args()
    root = a.root.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_csv(d / "big.csv", a.rows)
        (d / "big.spec").write_text(SPEC, encoding="utf-8")
        size = (d / "big.csv").stat().st_size / 1e6
        print(f"{a.rows} rows x {FEATURES} features + label: {size:.1f} MB; specc at {root}")
        py = sys.executable
        wall, rss = measure([py, "-m", "specc", "check", "big.spec"], d, root, a.repeat)
        print(f"specc check:          {wall:6.2f} s   peak RSS {rss:7.0f} MB")
        loads = [_load(py, d, root, traced=False) for _ in range(a.repeat)]
        _, peak, data = _load(py, d, root, traced=True)
        print(f"load_source('csv'):   {statistics.median(t for t, _, _ in loads):6.2f} s   traced peak "
              f"{peak / 1e6:7.1f} MB = {peak / data:.2f}x the float32 data ({data / 1e6:.1f} MB)")
        wall, rss = measure([py, "-m", "specc", "run", "big.spec", "--quiet", "--force", "--out", str(d / "run")],
                            d, root, a.repeat)
        print(f"specc run, 1 epoch:   {wall:6.2f} s   peak RSS {rss:7.0f} MB")


def _load(py: str, cwd: Path, root: Path, traced: bool) -> tuple[float, int, int]:
    out = subprocess.run([py, "-c", LOAD, str(cwd / "big.csv"), "traced" if traced else "plain"], cwd=cwd,
                         env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True, check=True)
    took, peak, data = out.stdout.split()
    return float(took), int(peak), int(data)


if __name__ == "__main__":
    main()
