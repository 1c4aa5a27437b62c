"""``train { compile = step }`` against eager specc and the ideal hand-written loop.

    python bench/bench_step.py [--workload moons,digits] [--repeats 3] [--epochs N]
    python bench/bench_step.py --startup [--repeats 3]   # first and second run, whole processes
    python bench/bench_step.py --specs [--epochs 2]      # every spec in specs/: eager vs step

Epochs: in one process, interleaved (rotating order), 1 thread: ``ideal`` (bench_ways.py),
``specc`` (compile = false) and ``specc step`` (compile = step). Seconds per epoch are the
median over the epochs after the first, pooled over repeats; the compile time of the step
runs is printed apart (the first process-wide compile is cold unless the cache has it).

Start-up: ``specc run`` of the moons spec with ``compile = step`` as a fresh process, first
with an empty cache folder (``XDG_CACHE_HOME`` pointed at a new temporary folder), then
again with the same folder; each child prints the time from its process start to the first
epoch's begin, to the first compiled step done, and its ``compile_seconds``.
"""
from __future__ import annotations

import argparse
from datetime import date
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ways import WAYS, run_specc  # noqa: E402
from bench_workloads import ROOT, WORKLOADS, initial_models, load_data  # noqa: E402
from train_bench import cpu_model, steady  # noqa: E402


def header() -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# {date.today()}  {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"load average {load}")
    print(f"# command: python bench/bench_step.py {' '.join(sys.argv[1:])}")


def epochs_section(args) -> None:
    torch.set_num_threads(1)
    for name in args.workload.split(","):
        wl = WORKLOADS[name]
        epochs = args.epochs or wl.epochs
        text = wl.spec_text(epochs)
        train, valid = load_data(text, wl.input)
        ways = {
            "ideal": lambda: WAYS["ideal"](wl, train, valid, _model(wl, text), epochs, None),
            "specc": lambda: run_specc(wl, train, valid, None, epochs, 1),
            "specc step": lambda: run_specc(wl, train, valid, None, epochs, 1, compile="step"),
        }
        runs = {way: [] for way in ways}
        for r in range(args.repeats):
            order = list(ways)[r % 3:] + list(ways)[:r % 3]
            for way in order:
                torch.manual_seed(0)
                runs[way].append(ways[way]())
        base = steady(runs["ideal"])
        print(f"\n## {name}: batch {wl.batch}, {epochs} epochs x {args.repeats} repeats, 1 thread")
        print(f"{'way':<12}{'s/epoch':>10}{'x ideal':>9}{'train.loss':>12}{'valid.loss':>12}"
              f"{'compile s':>11}")
        for way, rs in runs.items():
            t = steady(rs)
            compiled = [r.extra.get("compile_seconds") for r in rs if r.extra.get("compile_seconds")]
            shown = f"{statistics.median(compiled):11.2f}" if compiled else f"{'-':>11}"
            print(f"{way:<12}{t:10.5f}{t / base:9.2f}{rs[-1].train_loss:12.5f}"
                  f"{rs[-1].valid_loss:12.5f}{shown}")


def _model(wl, text):
    torch.manual_seed(0)
    return initial_models(text, wl.make_model)[1]


def startup_section(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "moons.spec"
        spec.write_text(WORKLOADS["moons"].spec_text(epochs=2))
        rows = []
        for r in range(args.repeats):
            cache = Path(tmp) / f"cache{r}"
            for which in ("first", "second"):
                env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
                env.pop("TORCHINDUCTOR_CACHE_DIR", None)
                cmd = [sys.executable, __file__, "--child", str(spec), f"{tmp}/run"]
                started = time.time()
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT,
                                     env=env)
                marks = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append((which, marks["epoch_begin"] - started,
                             marks["compiled_step"] - started, marks["compile_seconds"]))
    print(f"\n## start-up, moons, compile = step, fresh processes, {args.repeats} pairs")
    print(f"{'run':<8}{'to epoch 1 begin':>18}{'to 2nd step done':>18}{'compile_seconds':>17}")
    for which in ("first", "second"):
        values = [row[1:] for row in rows if row[0] == which]
        med = [statistics.median(v[i] for v in values) for i in range(3)]
        print(f"{which:<8}{med[0]:17.2f}s{med[1]:17.2f}s{med[2]:16.2f}s   "
              f"[{'; '.join(', '.join(f'{x:.2f}' for x in v) for v in values)}]")


def specs_section(args) -> None:
    """Every spec in specs/ for ``--epochs`` epochs (default 2), eager and with compile = step,
    in this process: the largest difference of the final numbers, and what step said."""
    import specc

    epochs = args.epochs or 2
    print(f"\n## specs/*.spec, {epochs} epochs, eager against compile = step")
    print(f"{'spec':<22}{'max |diff|':>12}{'compile s':>11}  note")
    for path in sorted((ROOT / "specs").glob(args.glob)):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                eager = specc.train(str(path), out=f"{tmp}/e", force=True, epochs=epochs)
                step = specc.train(str(path), out=f"{tmp}/s", force=True, epochs=epochs,
                                   compile="step")
            except Exception as exc:   # a spec that does not train here (data missing)
                print(f"{path.name:<22}{'-':>12}{'-':>11}  {type(exc).__name__}: {str(exc)[:80]}")
                continue
        diff = max((abs(a - step.last[split][key]) for split in eager.last
                    for key, a in eager.last[split].items() if a is not None), default=0.0)
        notes = [n for n in step.notes if n.startswith("compile = step")]
        print(f"{path.name:<22}{diff:12.2e}{step.compile_seconds:11.2f}  "
              f"{notes[0][:150] if notes else ''}")


def child(spec: str, out: str) -> None:
    import specc

    class Marks:
        epoch_begin = compiled_step = None

        def on_step(self, epoch, step):
            if self.epoch_begin is None:
                self.epoch_begin = time.time()   # (the first step is eager: about its start)
            elif self.compiled_step is None:
                self.compiled_step = time.time()

    marks = Marks()
    result = specc.train(spec, out=out, force=True, hooks=[marks], compile="step")
    print(json.dumps({"epoch_begin": marks.epoch_begin, "compiled_step": marks.compiled_step,
                      "compile_seconds": result.compile_seconds}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", default="moons,digits")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=0, help="default: the workload's")
    p.add_argument("--startup", action="store_true")
    p.add_argument("--specs", action="store_true", help="every spec in specs/, eager vs step")
    p.add_argument("--glob", default="*.spec", help="with --specs: which of specs/")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(*args.child)
    header()
    (startup_section if args.startup else specs_section if args.specs else epochs_section)(args)


if __name__ == "__main__":
    main()
