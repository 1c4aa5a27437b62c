"""Train the same model on the same data several ways, in one process, and compare.

    python bench/train_bench.py [--workload moons,digits] [--threads 1|N|default] [--repeats 3]
    python bench/train_bench.py --overhead        # per-step time at batch sizes 1 and 8
    python bench/train_bench.py --startup         # `specc run` as a process, time to first step
    python bench/train_bench.py --memory          # peak resident memory per way (subprocesses)
    python bench/train_bench.py --compile         # torch.compile variants, warm-up separately
    python bench/train_bench.py --ablate          # specc with each speed setting switched off

Ways (see bench_ways.py): specc, the seed tutorial's loop, TensorDataset + DataLoader, the
ideal hand-written loop, the ideal loop with Adam(fused=True) (a reference), and PyTorch
Lightning when it is installed (``pip install specc[bench]``). Workloads (bench_workloads.py):
moons, digits, sine, cnn, bilstm; their spec texts are embedded.

Every way gets the same data, initial weights, optimiser settings (Adam, the spec's lr), seed
and thread count (``--threads N`` sets it for every way, specc included; ``--threads default``
leaves each way its own default: torch's for the hand-written ways, specc's policy for specc).
Ways are interleaved within each repeat, in a rotating order. Seconds per epoch are the median
over the epochs after the first, pooled over repeats; an epoch is a training pass plus the
evaluation of the valid split.
"""
from __future__ import annotations

import argparse
from datetime import date
import gc
import json
import os
from pathlib import Path
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from bench_ways import WAYS, Run, lightning_available, run_specc
from bench_workloads import ROOT, TINY, WORKLOADS, Workload, initial_models, load_data

DEFAULT_THREADS = torch.get_num_threads()


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines()
                    if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def header(args) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# {date.today()}  {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"python {platform.python_version()}, load average {load}")
    print(f"# command: python bench/train_bench.py {' '.join(sys.argv[1:])}")


def set_threads(threads: int | None) -> None:
    torch.set_num_threads(threads or DEFAULT_THREADS)


def run_way(way: str, wl: Workload, data, epochs: int, threads: int | None,
            batch: int | None = None, tuning=None) -> Run:
    """One way, from the same initial weights and seed as every other."""
    train, valid = data
    set_threads(threads)
    text = wl.spec_text(epochs, batch)
    gc.collect()
    if way == "specc":
        torch.manual_seed(0)
        overrides = {"batch": batch} if batch else {}
        return run_specc(wl, train, valid, None, epochs, threads, tuning, **overrides)
    _, model = initial_models(text, wl.make_model)
    torch.manual_seed(0)
    return WAYS[way](wl, train, valid, model, epochs, batch)


def steady(runs: list[Run]) -> float:
    """Median seconds per epoch over the epochs after the first, pooled over repeats."""
    return statistics.median(s for run in runs for s in run.seconds[1:])


def compare(wl: Workload, ways: list[str], repeats: int, epochs: int, threads: int | None,
            batch: int | None = None, tuning=None) -> dict[str, list[Run]]:
    data = load_data(wl.spec_text(epochs, batch), wl.input)
    runs: dict[str, list[Run]] = {way: [] for way in ways}
    for r in range(repeats):
        order = ways[r % len(ways):] + ways[:r % len(ways)]
        for way in order:
            runs[way].append(run_way(way, wl, data, epochs, threads, batch, tuning))
    set_threads(None)
    return runs


def print_table(title: str, runs: dict[str, list[Run]], metric: str, per_step: int = 0) -> None:
    base = steady(runs["ideal"]) if "ideal" in runs else None
    print(f"\n{title}")
    unit = "us/step" if per_step else "s/epoch"
    print(f"{'way':<16}{unit:>10}{'x ideal':>9}{'train.loss':>12}{'valid.loss':>12}"
          f"{'valid.' + metric:>16}")
    for way, rs in runs.items():
        t = steady(rs)
        shown = f"{t / per_step * 1e6:10.1f}" if per_step else f"{t:10.4f}"
        ratio = f"{t / base:9.2f}" if base else f"{'-':>9}"
        last = rs[-1]
        print(f"{way:<16}{shown}{ratio}{_num(last.train_loss, 12, 5)}"
              f"{_num(last.valid_loss, 12, 5)}{_num(last.metric, 16, 4)}")


def _num(value: float, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value != value else f"{value:{width}.{digits}f}"  # nan: none


def ways_to_run(requested: list[str]) -> list[str]:
    ways = []
    for way in requested:
        if way == "lightning" and not lightning_available():
            print("lightning: not installed (pip install specc[bench]); skipped")
            continue
        ways.append(way)
    return ways


def parse_threads(text: str) -> int | None:
    return None if text == "default" else int(text)


# ---------------------------------------------------------------- sections

def section_epochs(args) -> None:
    ways = ways_to_run(args.ways.split(","))
    for name in args.workload.split(","):
        wl = WORKLOADS[name]
        epochs = args.epochs or wl.epochs
        runs = compare(wl, ways, args.repeats, epochs, args.threads)
        data = load_data(wl.spec_text(epochs), wl.input)
        threads = "each way's default" if args.threads is None else f"{args.threads} thread(s)"
        print_table(f"## {name}: {len(data[0])} train / {len(data[1])} valid examples, batch "
                    f"{wl.batch}, {epochs} epochs x {args.repeats} repeats, {threads}",
                    runs, wl.metric)


def section_overhead(args) -> None:
    ways = [w for w in args.ways.split(",") if w in ("specc", "ideal", "ideal_fused")]
    for batch in (1, 8):
        runs = compare(TINY, ways, args.repeats, TINY.epochs, args.threads, batch)
        steps = len(load_data(TINY.spec_text(batch=batch), "x")[0]) // batch
        print_table(f"## per-step time: moons 2-50-2, batch {batch}, {steps} steps per epoch, "
                    f"no evaluation, threads {args.threads or 'default'}", runs, "none", steps)


def _wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def section_startup(args) -> None:
    repeats = max(args.repeats, 5)
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "moons.spec"
        spec.write_text(WORKLOADS["moons"].spec_text(epochs=1))
        run = [sys.executable, "-m", "specc", "run", str(spec), "--out", f"{tmp}/run", "--force",
               "--set", "train.epochs=1", "--quiet"]
        torch_only = [sys.executable, "-c", "import torch"]
        first = [sys.executable, __file__, "--child", "first-step", str(spec), f"{tmp}/first"]
        dynamo = [sys.executable, "-c", "import time, torch; t = time.perf_counter(); "
                  "import torch._dynamo; print(time.perf_counter() - t)"]
        _wall(run)  # warm the file cache
        times: dict[str, list[float]] = {"import torch": [], "specc run": [], "first step": [],
                                         "whole (first-step child)": [], "import torch._dynamo": []}
        for _ in range(repeats):
            times["import torch"].append(_wall(torch_only))
            times["specc run"].append(_wall(run))
            started = time.time()
            out = subprocess.run(first, check=True, capture_output=True, text=True, cwd=ROOT)
            ended = time.time()
            marks = json.loads(out.stdout.strip().splitlines()[-1])
            times["first step"].append(marks["first_step"] - started)
            times["whole (first-step child)"].append(ended - started)
            dyn = subprocess.run(dynamo, check=True, capture_output=True, text=True, cwd=ROOT)
            times["import torch._dynamo"].append(float(dyn.stdout))
    print(f"\n## start-up: moons spec, 1 epoch, median of {repeats} (interleaved)")
    for key, values in times.items():
        print(f"{key:<28}{statistics.median(values):8.3f} s   "
              f"[{', '.join(f'{v:.2f}' for v in values)}]")
    excess = statistics.median(times["specc run"]) - statistics.median(times["import torch"])
    print(f"specc run - import torch: {excess:.3f} s (target <= 2.0)")


def child_first_step(spec: str, out: str) -> None:
    import specc

    class First:
        at = None

        def on_step(self, epoch, step):
            if self.at is None:
                self.at = time.time()

    hook = First()
    specc.train(spec, out=out, force=True, hooks=[hook])
    print(json.dumps({"first_step": hook.at}))


def section_memory(args) -> None:
    ways = ["baseline"] + ways_to_run(args.ways.split(","))
    print(f"\n## peak resident memory (ru_maxrss), one subprocess per way, threads "
          f"{args.threads or 'default'}")
    for name in args.workload.split(","):
        wl = WORKLOADS[name]
        rss = {}
        for way in ways:
            cmd = [sys.executable, __file__, "--child", "memory", name, way,
                   str(args.epochs or wl.epochs), str(args.threads or 0)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
            rss[way] = int(out.stdout.strip().splitlines()[-1])
        base = rss["baseline"]
        print(f"{name}: baseline (imports, data, models, an optimiser; no training) "
              f"{base / 1024:.0f} MiB; "
              + ", ".join(f"{w} +{(v - base) / 1024:.1f} MiB" for w, v in rss.items()
                          if w != "baseline"))


def child_memory(name: str, way: str, epochs: str, threads: str) -> None:
    wl = WORKLOADS[name]
    data = load_data(wl.spec_text(int(epochs)), wl.input)
    _, model = initial_models(wl.spec_text(int(epochs)), wl.make_model)
    torch.optim.Adam(model.parameters())  # the first optimiser loads torch._dynamo (~75 MiB)
    if way != "baseline":
        run_way(way, wl, data, int(epochs), int(threads) or None)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def section_ablate(args) -> None:
    from dataclasses import fields, replace
    from specc.training.tuning import Tuning

    variants = {"all on": Tuning()}
    variants.update({f"-{f.name}": replace(Tuning(), **{f.name: False}) for f in fields(Tuning)})
    variants["all off"] = Tuning.from_env("off")
    for name in args.workload.split(","):
        wl = WORKLOADS[name]
        epochs = args.epochs or wl.epochs
        data = load_data(wl.spec_text(epochs), wl.input)
        runs: dict[str, list[Run]] = {k: [] for k in variants}
        for r in range(args.repeats):
            keys = list(variants)
            for key in keys[r % len(keys):] + keys[:r % len(keys)]:
                runs[key].append(run_way("specc", wl, data, epochs, args.threads,
                                         tuning=variants[key]))
        set_threads(None)
        base = steady(runs["all on"])
        print(f"\n## specc speed settings on {name} ({epochs} epochs x {args.repeats}, threads "
              f"{args.threads or 'specc default'}): each switched off alone")
        for key, rs in runs.items():
            t = steady(rs)
            print(f"{key:<26}{t:10.4f} s/epoch {t / base:6.2f}x   train.loss {rs[-1].train_loss:.6f}")


def section_compile(args) -> None:
    from bench_compile import compile_variants

    for name in args.workload.split(","):
        compile_variants(WORKLOADS[name], args.epochs or 4, args.threads)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", default="moons,digits",
                   help="comma-separated: " + ", ".join(WORKLOADS))
    p.add_argument("--ways", default="specc,tutorial,tensordataset,ideal,ideal_fused,lightning")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=0, help="default: the workload's")
    p.add_argument("--threads", type=parse_threads, default=1,
                   help="threads for every way, or 'default' (default: 1)")
    for flag in ("overhead", "startup", "memory", "compile", "ablate"):
        p.add_argument(f"--{flag}", action="store_true")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        kind, *rest = args.child
        from bench_compile import child as child_compile
        children = {"first-step": child_first_step, "memory": child_memory,
                    "compile": child_compile}
        return children[kind](*rest)
    header(args)
    sections = [s for s in ("overhead", "startup", "memory", "compile", "ablate") if getattr(args, s)]
    for section in sections or ["epochs"]:
        globals()[f"section_{section}"](args)


if __name__ == "__main__":
    main()
