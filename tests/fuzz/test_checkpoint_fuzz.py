"""Damaged checkpoints: whatever a ``last.pt`` holds, ``specc run --resume`` ends in a result,
one positioned spec error (exit 2) or one plain error (exit 1), never a crash, an internal
error or a traceback.

Two real checkpoints (an epoch end, and a run stopped mid-epoch, with Adam and a per-batch
OneCycleLR schedule) are damaged field by field: a tensor of another shape or dtype, or
non-finite; a huge, negative or fractional count; a string or None for a number; a field
deleted, added, or swapped with another. The resumed run goes through the real CLI,
in process, so memory corruption would kill the test.

The quick profile (the default run) is derandomized; ``pytest -m fuzz`` draws
``SPECC_FUZZ_EXAMPLES`` fresh examples and writes the outcome counts to
``$SPECC_FUZZ_REPORT`` when set.
"""
from __future__ import annotations

from collections import Counter
import contextlib
import io
from pathlib import Path
import shutil
import signal

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
import torch

from fuzzkit import fuzz_examples, record_stages

from specc.cli.main import main

SPEC = """data {
    train = moons(samples=48, noise=0.2)
    valid = 25%
    batch = 8
}
model Net(x: float[2]) {
    a = x -> Linear(4)
    b = x -> LayerNorm(2)
    return cat(a, b) -> ReLU -> Dropout(0.1) -> Linear(2)
}
loss = cross_entropy
optimizer = Adam(lr=0.01, amsgrad=true)
schedule = OneCycleLR(max_lr=0.05)
train { epochs = 3, metrics = [accuracy] }
"""
QUICK = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
LONG = {**QUICK, "derandomize": False}


class StopAt:
    """SIGINT after the ``at``-th optimizer step: a mid-epoch checkpoint."""

    def __init__(self, at):
        self.at, self.steps = at, 0

    def on_step(self, epoch, step):
        self.steps += 1
        if self.steps == self.at:
            signal.raise_signal(signal.SIGINT)


def _bases(folder: Path) -> tuple[Path, dict[str, dict]]:
    """The spec, and its checkpoints at an epoch end and mid-epoch."""
    import specc

    spec = folder / "net.spec"
    spec.write_text(SPEC)
    bases = {}
    for name, hooks in (("epoch_end", [StopAt(5)]), ("mid_epoch", [StopAt(8)])):
        out = folder / name
        specc.train(str(spec), out=out, device="cpu", quiet=True, hooks=hooks)
        bases[name] = torch.load(out / "last.pt", weights_only=True)
    assert bases["epoch_end"]["partial"] is None and bases["mid_epoch"]["partial"] is not None
    return spec, bases


def _paths(value, path=()):
    """Every place in a checkpoint: dict keys and list items, down to tensors and numbers."""
    if path:
        yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _paths(item, (*path, i))


def _get(state, path):
    for key in path:
        state = state[key]
    return state


def _damaged_value(draw, old):
    """A value of another shape, dtype, size or kind than ``old``."""
    choices = ["huge_int", "negative_int", "fraction", "non_finite", "string", "none", "bool",
               "empty_list", "empty_dict", "nested"]
    if isinstance(old, torch.Tensor):
        choices += ["tensor_shape", "tensor_dtype", "tensor_non_finite", "tensor_empty", "tensor_huge"] * 3
    kind = draw(st.sampled_from(choices))
    shape = tuple(old.shape) if isinstance(old, torch.Tensor) else ()
    return {
        "huge_int": lambda: 10 ** draw(st.integers(10, 40)),
        "negative_int": lambda: -draw(st.integers(1, 10 ** 6)),
        "fraction": lambda: draw(st.sampled_from([0.5, 1.0, 1e308, -0.0])),
        "non_finite": lambda: draw(st.sampled_from([float("nan"), float("inf"), float("-inf")])),
        "string": lambda: draw(st.sampled_from(["", "1", "Net", "x" * 1000, "valid.loss"])),
        "none": lambda: None,
        "bool": lambda: draw(st.booleans()),
        "empty_list": lambda: [],
        "empty_dict": lambda: {},
        "nested": lambda: [1, [2, {"a": torch.zeros(2)}]],
        "tensor_shape": lambda: torch.zeros(draw(st.lists(st.integers(0, 9), max_size=3)).copy() or [3]),
        "tensor_dtype": lambda: torch.zeros(shape, dtype=draw(st.sampled_from(
            [torch.int64, torch.float64, torch.uint8, torch.bool, torch.float16]))),
        "tensor_non_finite": lambda: torch.full(shape, draw(st.sampled_from([float("nan"), float("inf")]))),
        "tensor_empty": lambda: torch.zeros(0),
        "tensor_huge": lambda: torch.full(shape, 1e30),
    }[kind]()


@st.composite
def damaged(draw, bases):
    """A base checkpoint with one to three fields damaged."""
    from specc.training.checkpoint import snapshot

    name = draw(st.sampled_from(sorted(bases)))
    state = snapshot(bases[name])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(state))))
        parent, key = _get(state, path[:-1]), path[-1]
        action = draw(st.sampled_from(["replace"] * 4 + ["delete", "add", "swap"]))
        if isinstance(parent, tuple):   # betas: rebuild the tuple around the change
            action = "replace"
        if action == "delete":
            del parent[key]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "step", "exp_avg", 0, "lr"]))] = _damaged_value(draw, None)
        elif action == "swap" and len(parent) > 1:
            other = draw(st.sampled_from([k for k in (parent if isinstance(parent, dict) else range(len(parent)))
                                          if k != key]))
            parent[key], parent[other] = parent[other], parent[key]
        else:
            value = _damaged_value(draw, parent[key])
            if isinstance(parent, tuple):
                grand = _get(state, path[:-2])
                grand[path[-2]] = (*parent[:key], value, *parent[key + 1:])
            else:
                parent[key] = value
    return name, state, draw(st.booleans())


def resume(spec: Path, folder: Path, state: dict, force: bool) -> tuple[int, str]:
    """Resume from ``state`` through the CLI; (exit code, stderr)."""
    out = folder / "run"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    torch.save(state, out / "last.pt")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", str(spec), "--out", str(out), "--resume", "--quiet", "--device", "cpu",
                     *(["--force"] if force else [])])
    return code, err.getvalue()


def _outcomes(folder: Path, examples: int, profile: dict) -> Counter:
    spec, bases = _bases(folder)
    outcomes: Counter = Counter()

    @settings(max_examples=examples, **profile)
    @given(damaged(bases))
    def one(drawn) -> None:
        name, state, force = drawn
        code, err = resume(spec, folder, state, force)
        assert "internal error" not in err and "Traceback" not in err, err
        assert code in (0, 1, 2), (code, err)
        if code == 1:
            assert err.startswith("specc: error: ") and err.count("error:") == 1, err
        if code == 2:
            assert err.startswith(f"{spec}:"), err
        outcomes[{0: "resumed", 1: "run_error", 2: "spec_error"}[code]] += 1

    one()
    return outcomes


def test_damaged_checkpoints_end_in_one_clear_error(tmp_path):
    outcomes = _outcomes(tmp_path, 30, QUICK)
    assert sum(outcomes.values()) == 30
    assert outcomes["run_error"] >= 10, outcomes   # most damage is caught, not trained through


@pytest.mark.fuzz
def test_long_damaged_checkpoints(tmp_path):
    n = fuzz_examples(500)
    outcomes = _outcomes(tmp_path, n, LONG)
    record_stages("checkpoints", outcomes)
    assert sum(outcomes.values()) == n
