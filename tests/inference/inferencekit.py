"""Helpers for the inference tests: tiny runs of each input kind, trained in tmp_path.

Each run's spec lives in its own folder ``proj`` that the tests delete (or from which they
copy the run folder away), so predict and evaluate must work from the run folder alone.
"""
from __future__ import annotations

from pathlib import Path
import shutil

import specc
from specc.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def train(tmp_path: Path, spec_text: str, files: dict[str, bytes | str] | None = None, **overrides):
    """Write ``proj/net.spec`` (and ``files`` next to it), train it into ``runs/net``; returns
    (result, run folder, project folder)."""
    proj = tmp_path / "proj"
    proj.mkdir(exist_ok=True)
    for name, content in (files or {}).items():
        path = proj / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    (proj / "net.spec").write_text(spec_text)
    result = specc.train(proj / "net.spec", out=tmp_path / "runs" / "net", **overrides)
    return result, tmp_path / "runs" / "net", proj


def moved(run_dir: Path, tmp_path: Path, proj: Path | None = None) -> Path:
    """The run folder copied elsewhere, and the spec's folder deleted."""
    target = tmp_path / "elsewhere" / "run"
    shutil.copytree(run_dir, target)
    if proj is not None:
        shutil.rmtree(proj)
    return target


def best_row(run_dir: Path) -> dict:
    """The history row of the epoch best.pt was saved at."""
    import torch

    state = torch.load(run_dir / "best.pt", weights_only=True)
    return next(r for r in state["history"] if r["epoch"] == state["epoch"])


def png(path: Path, colour: tuple[int, int, int], size: int = 8) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)
