"""Train every spec in specs/ as written and print what each reached (the README's table).

    python tools/run_specs.py [NAME ...] [--out runs/specs]

Full-length runs; the test suite trains shortened versions of the same specs.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import sys
import time

import torch

import specc
from specc.errors import SpecError

ROOT = Path(__file__).resolve().parent.parent


def _linear_weights(model) -> tuple[list[float], float]:
    layer = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    return [round(w, 3) for w in layer.weight.detach().reshape(-1).tolist()], round(float(layer.bias), 3)


def _fits(result) -> str:
    x = torch.tensor([[1, 0, 1, 0], [1, 0, 1, 1], [0, 1, 0, 1]], dtype=torch.float)
    out = result.model.eval()(x).reshape(-1).tolist()
    return "outputs " + ", ".join(f"{v:.3f}" for v in out) + " for targets 1, 1, 0"


# spec name -> what to report from its RunResult
REPORTS = {
    "linear": lambda r: "weight, bias = %s, %s" % _linear_weights(r.model),
    "poly": lambda r: "weights (x, x^2), bias = %s, %s" % _linear_weights(r.model),
    "tiny431": _fits,
}


def describe(name: str, result) -> str:
    if name in REPORTS:
        return REPORTS[name](result)
    parts = []
    for split, metrics in result.metrics.items():
        parts += [f"{split} {k} {v:.4f}" for k, v in metrics.items() if v is not None]
    return ", ".join(parts)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("names", nargs="*")
    p.add_argument("--out", default="runs/specs")
    a = p.parse_args()
    names = a.names or sorted(f.stem for f in (ROOT / "specs").glob("*.spec"))
    for name in names:
        start = time.perf_counter()
        try:
            result = specc.train(specc.load(ROOT / "specs" / f"{name}.spec"), out=Path(a.out) / name, force=True)
            line = describe(name, result)
        except SpecError as err:
            line = "stopped: " + err.diagnostics[0].message
        print(f"{name:16s} {line}  ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
