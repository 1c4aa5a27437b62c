"""Helpers for tests that train: small specs written into tmp_path, the CLI as a subprocess."""
from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

import pytest

MOONS = """
data {
    train = moons(samples=600, noise=0.2)
    valid = 20%
    batch = 32
}
model MoonNet(x: float[2]) {
    return x -> Linear(16) -> ReLU -> Dropout(0.1) -> Linear(2)
}
loss = cross_entropy
optimizer = Adam(lr=0.01)
train { epochs = EPOCHS, seed = SEED, metrics = [accuracy] }
"""


def moons_spec(tmp_path: Path, epochs: int = 3, seed: int = 0, name: str = "moons.spec") -> Path:
    path = tmp_path / name
    path.write_text(MOONS.replace("EPOCHS", str(epochs)).replace("SEED", str(seed)))
    return path


def specc(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "specc", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=env)


@pytest.fixture
def run_cli():
    return specc
