"""Time to result: from process start to ``metrics.json`` written, for every spec in specs/,
``specc run`` in a fresh process against a minimal hand-written PyTorch script doing the same
training in a fresh process.

    python bench/time_to_result.py [--repeats 1] [--specs moons,digits] [--set train.compile=auto]
                                   [--write-scripts DIR]

Columns: ``specc run FILE`` as the spec is written (plots included), the same with
``--set train.plot=[]``, and the hand-written script (no plots); each the median of
``--repeats`` fresh processes, ways interleaved. ``--set KEY=VALUE`` (repeatable) is passed to
both specc columns, e.g. ``--set train.compile=auto`` for a compile mode's column; ``--modes
false,auto`` instead makes one column per compile mode (no plots), interleaved in the same run.

The hand-written scripts (:data:`SCRIPTS`, printed by ``--write-scripts``) cover moons,
digits, cnn, bilstm, poly, linear and general_fit: the data made or read as a user would
(scikit-learn's ``make_moons`` / ``load_digits``, Pillow for the image folder, random tokens
for the sequences, torch for the generated curves), the spec's model, loss, Adam settings,
batch size and epochs, an in-memory loop (``randperm`` and indexing, default Adam), the valid
split evaluated every epoch, and ``metrics.json`` written at the end. They run on
``--hand-threads`` threads (default 1, through ``OMP_NUM_THREADS``: what specc's thread policy
picks for these models; ``default`` leaves torch's own, one per core, which on a shared machine
can be many times slower). Other specs get specc's columns only.
"""
from __future__ import annotations

import argparse
from datetime import date
import os
from pathlib import Path
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

PRELUDE = '''\
import json, sys, time
import torch
from torch import nn
import torch.nn.functional as F


def fit(model, x, y, xv, yv, epochs, batch, lr, loss_fn, metric, rows=None):
    """randperm + indexing, default Adam; the valid split evaluated every epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n, batch = len(y), batch or len(y)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(n)
        losses = []
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb = x[idx] if rows is None else rows(x, idx)
            loss = loss_fn(model(xb), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach() * len(idx))
        result = {"train": {"loss": float(torch.stack(losses).sum()) / n}}
        model.eval()
        with torch.no_grad():
            xe, ye, split = (xv, yv, "valid") if xv is not None else (x, y, "train")
            out = model(xe) if rows is None else model(rows(xe, torch.arange(len(ye))))
            result.setdefault(split, {})["loss"] = float(loss_fn(out, ye))
            result[split][metric] = float(METRICS[metric](out, ye))
    json.dump(result, open(sys.argv[1], "w"))


METRICS = {"accuracy": lambda out, y: (out.argmax(1) == y).float().mean(),
           "mae": lambda out, y: (out - y).abs().mean(),
           "rmse": lambda out, y: ((out - y) ** 2).mean().sqrt()}


def split(x, y, valid):
    """The last ``valid`` share of a shuffled data set as the valid split."""
    order = torch.randperm(len(y))
    x, y = x[order], y[order]
    k = len(y) - int(len(y) * valid)
    return x[:k], y[:k], x[k:], y[k:]


torch.manual_seed(0)
'''

SCRIPTS = {
    "moons": '''
from sklearn.datasets import make_moons
x, y = make_moons(10000, noise=0.2, random_state=0)
x, y, xv, yv = split(torch.tensor(x, dtype=torch.float32), torch.tensor(y), 0.2)
model = nn.Sequential(nn.Linear(2, 50), nn.ReLU(), nn.Linear(50, 2))
fit(model, x, y, xv, yv, 30, 64, 0.01, F.cross_entropy, "accuracy")
''',
    "digits": '''
from sklearn.datasets import load_digits
x, y = load_digits(return_X_y=True)
x, y, xv, yv = split(torch.tensor(x / 16, dtype=torch.float32), torch.tensor(y), 0.2)
model = nn.Sequential(nn.Linear(64, 500), nn.ReLU(), nn.Linear(500, 10))
fit(model, x, y, xv, yv, 20, 64, 0.001, F.cross_entropy, "accuracy")
''',
    "cnn": '''
from pathlib import Path
import numpy as np
from PIL import Image
root = Path("specs/data/shapes")
classes = sorted(p.name for p in root.iterdir() if p.is_dir())
files = [(f, c) for c, name in enumerate(classes) for f in sorted((root / name).iterdir())]
x = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB").resize((32, 32)),
                                              dtype=np.float32) / 255).permute(2, 0, 1)
                 for f, _ in files])
x, y, xv, yv = split(x, torch.tensor([c for _, c in files]), 0.2)


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.MaxPool2d(2))


model = nn.Sequential(block(3, 16), block(16, 32), nn.Flatten(), nn.Linear(2048, 64), nn.ReLU(),
                      nn.Dropout(0.25), nn.Linear(64, len(classes)))
fit(model, x, y, xv, yv, 15, 32, 0.001, F.cross_entropy, "accuracy")
''',
    "bilstm": '''
n, vocab = 2000, 1000
y = torch.randint(0, 2, (n,))
lengths = torch.randint(10, 51, (n,))
tokens = torch.randint(1, vocab, (n, 50))
marks = torch.randint(1, vocab, (2, 8))          # a few tokens that tell the classes apart
use = torch.rand(n, 50) < 0.1
tokens = torch.where(use, marks[y.unsqueeze(1), torch.randint(0, 8, (n, 50))], tokens)
tokens[torch.arange(50) >= lengths.unsqueeze(1)] = 0
data = torch.cat([lengths.unsqueeze(1), tokens], 1)      # column 0: the length
x, y, xv, yv = split(data, y, 0.1)


def rows(x, idx):
    part = x[idx]
    return part[:, 1:1 + int(part[:, 0].max())]     # padded to the batch's longest


class BiLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(vocab, 64)
        self.lstm = nn.LSTM(64, 64, bidirectional=True, batch_first=True)
        self.head = nn.Sequential(nn.Linear(256, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 2))

    def forward(self, tokens):
        out, _ = self.lstm(self.embedding(tokens))
        return self.head(torch.cat([out.mean(1), out.amax(1)], -1))


fit(BiLSTM(), x, y, xv, yv, 5, 64, 0.001, F.cross_entropy, "accuracy", rows=rows)
''',
    "poly": '''
x = torch.rand(1000, 1) * 4 - 2
y = 3 * x ** 2 + 2 * x + 1 + 0.5 * torch.randn(1000, 1)


class Poly(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x):
        return self.linear(torch.cat([x, x ** 2], 1))


fit(Poly(), x, y, None, None, 500, None, 0.1, F.mse_loss, "mae")
''',
    "linear": '''
x = torch.rand(10000, 1) * 2
y = 2 * x + 1 + 0.1 * torch.randn(10000, 1) * x
fit(nn.Linear(1, 1), x, y, None, None, 300, None, 0.1, F.mse_loss, "mae")
''',
    "general_fit": '''
x = torch.rand(1000, 1) * 6 - 3
y = x * torch.sin(x) + 0.2 * torch.randn(1000, 1)
x, y, xv, yv = split(x, y, 0.2)
model = nn.Sequential(nn.Linear(1, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 1))
fit(model, x, y, xv, yv, 100, 64, 0.01, F.mse_loss, "rmse")
''',
}
"""Spec name -> the body of its hand-written script (after :data:`PRELUDE`)."""


def timed(cmd: list[str], metrics: Path, env: dict | None = None) -> float:
    """Seconds from starting ``cmd`` to its ``metrics.json`` being written (nan if it fails)."""
    metrics.unlink(missing_ok=True)
    start = time.time()
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, env=env)
    if done.returncode != 0 or not metrics.exists():
        print(f"  failed ({done.returncode}): {' '.join(cmd)}\n  {done.stderr.strip()[-500:]}")
        return float("nan")
    return metrics.stat().st_mtime - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--specs", default="", help="comma-separated names (default: every spec)")
    p.add_argument("--set", action="append", default=[], help="passed to specc run")
    p.add_argument("--modes", default="", help="compile modes to compare, each a column without plots "
                   "(e.g. false,auto), interleaved with the hand-written script")
    p.add_argument("--hand-threads", default="1", help="threads of the hand-written scripts, or 'default'")
    p.add_argument("--write-scripts", type=Path, help="write the hand-written scripts there and stop")
    args = p.parse_args()
    if args.write_scripts:
        args.write_scripts.mkdir(parents=True, exist_ok=True)
        for name, body in SCRIPTS.items():
            (args.write_scripts / f"{name}.py").write_text(PRELUDE + body)
        return
    names = args.specs.split(",") if args.specs else sorted(f.stem for f in SPECS.glob("*.spec"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# {date.today()}  {os.cpu_count()} cores, python {platform.python_version()}, "
          f"load average {load}")
    print(f"# command: python bench/time_to_result.py {' '.join(sys.argv[1:])}")
    sets = [a for kv in args.set for a in ("--set", kv)]
    label = " ".join(args.set) or "as written"
    modes = args.modes.split(",") if args.modes else []
    hand_env = None if args.hand_threads == "default" else {**os.environ, "OMP_NUM_THREADS": args.hand_threads}
    columns = ([f"specc run ({label})", "specc, no plots"] if not modes
               else [f"no plots, compile = {m}" for m in modes])
    print(f"\n| spec | {' | '.join(columns)} | hand-written ({args.hand_threads} thread) | "
          f"{columns[-1]} / hand |")
    print("| --- |" + " ---: |" * (len(columns) + 2))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in names:
            spec = SPECS / f"{name}.spec"
            run = [sys.executable, "-m", "specc", "run", str(spec), "--out", str(tmp / name),
                   "--force", "--quiet", *sets]
            no_plots = run + ["--set", "train.plot=[]"]
            ways = (dict(zip(columns, [run, no_plots])) if not modes
                    else {c: no_plots + ["--set", f"train.compile={m}"] for c, m in zip(columns, modes)})
            if name in SCRIPTS:
                script = tmp / f"{name}.py"
                script.write_text(PRELUDE + SCRIPTS[name])
                ways["hand"] = [sys.executable, str(script), str(tmp / name / "metrics.json")]
            times: dict[str, list[float]] = {w: [] for w in ways}
            for r in range(args.repeats):
                order = list(ways)[r % len(ways):] + list(ways)[:r % len(ways)]
                for way in order:
                    (tmp / name).mkdir(exist_ok=True)
                    times[way].append(timed(ways[way], tmp / name / "metrics.json",
                                            hand_env if way == "hand" else None))
            med = {w: statistics.median(v) for w, v in times.items()}
            hand = med.get("hand")
            cells = " | ".join(f"{med[c]:.2f} s" for c in columns)
            print(f"| {name} | {cells} | "
                  + (f"{hand:.2f} s | {med[columns[-1]] / hand:.2f} |" if hand else "- | - |"), flush=True)

if __name__ == "__main__":
    main()
