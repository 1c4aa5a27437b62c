"""What a resume checks before it changes anything: every field of a checkpoint against the
model, optimizer, schedule and batches of this run.

Nothing of a checkpoint reaches the model, the optimizer or the loop before it has been
checked here, because torch trusts what it is given: optimizer state loaded for a parameter
of another shape makes the fused Adam, AdamW and SGD kernels write out of bounds.

Two kinds of failure, both :class:`~specc.training.errors.ResumeError`:

- :class:`~specc.training.errors.ResumeMismatch`: a sound checkpoint of something else
  (another model, parameters of other shapes, another optimizer or schedule, more batches
  per epoch than this run has). A mistake in the spec or its settings.
- a plain ``ResumeError``: the file is damaged (a field missing, of the wrong type or out of
  range, a tensor whose shape or dtype does not fit, a non-finite number).

Optimizer state is stored keyed by parameter name (:func:`named_optimizer_state`), not by
the parameter's position, so reordering independent statements of a spec changes nothing.
What each parameter's state must hold (names, shapes, dtypes) is read from the same
optimizer after one step on zero-filled copies of the parameters, so every torch optimizer,
Adafactor's factored state included, is checked by one rule.
"""
from __future__ import annotations

from pathlib import Path
import warnings
from typing import Any

import torch
from torch import Tensor

from specc.catalog.dims import is_number
from specc.training.errors import ResumeError, ResumeMismatch

DAMAGED = "the file is damaged or was not written by specc; start a fresh run"
MISMATCH = "resume with the spec and settings that wrote it, or start a fresh run in another --out"
BIGGEST = 1 << 62   # a counter beyond this is not a count of epochs or steps


def named_optimizer_state(optimizer: torch.optim.Optimizer, names: dict[int, str]) -> dict:
    """``optimizer.state_dict()`` with each parameter's index replaced by its name
    (``names``: ``id(parameter) -> name``)."""
    order = _order(optimizer, names)
    saved = optimizer.state_dict()
    return {"state": {order[i]: entry for i, entry in saved["state"].items()},
            "param_groups": [{**g, "params": [order[i] for i in g["params"]]}
                             for g in saved["param_groups"]]}


def indexed_optimizer_state(named: dict, optimizer: torch.optim.Optimizer,
                            names: dict[int, str]) -> dict:
    """The inverse of :func:`named_optimizer_state`, for ``optimizer.load_state_dict``: the
    groups list their parameters in this optimizer's order (torch pairs them by position),
    and keep this optimizer's flags (``amsgrad``, ``fused``...: how it was built, which the
    state was checked against), taking the numbers (``lr``, ``betas``...) from the file."""
    index = {name: i for i, name in enumerate(_order(optimizer, names))}
    current = optimizer.state_dict()["param_groups"]
    return {"state": {index[name]: entry for name, entry in named["state"].items()},
            "param_groups": [{**g, **{k: v for k, v in now.items() if v is None or isinstance(v, bool)},
                              "params": now["params"]}
                             for g, now in zip(named["param_groups"], current)]}


def _order(optimizer: torch.optim.Optimizer, names: dict[int, str]) -> list[str]:
    return [names[id(p)] for group in optimizer.param_groups for p in group["params"]]


def optimizer_template(make_optimizer, params: list[Tensor], names: dict[int, str],
                       groups: list[dict]) -> dict:
    """What ``make_optimizer`` keeps per parameter once it has stepped with the numbers of
    ``groups`` (``momentum`` > 0 adds a ``momentum_buffer``; a schedule may have changed it):
    one step of a new optimizer on zero-filled copies of ``params``, named like them."""
    copies = [torch.zeros_like(p, requires_grad=True) for p in params]
    for c in copies:
        c.grad = torch.zeros_like(c)
    optimizer = make_optimizer(copies)
    for group, saved in zip(optimizer.param_groups, groups):
        group.update({k: v for k, v in saved.items()
                      if k in group and (is_number(group[k]) or isinstance(group[k], tuple))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimizer.step()
    by_copy = {id(c): names[id(p)] for c, p in zip(copies, params)}
    return named_optimizer_state(optimizer, by_copy)["state"]


def validate(state: dict, path: Path, trainer: Any, force: bool) -> None:
    """Raise ResumeError unless ``state`` (from :func:`specc.training.checkpoint.load`) fits
    ``trainer`` (a :class:`~specc.training.trainer.Trainer` before its first epoch) in every
    field; without ``force``, also unless it was written by the same spec and model."""
    check = _Check(path)
    for key in ("spec_hash", "model_name", "model", "optimizer", "scheduler", "scaler", "epoch",
                "step_in_epoch", "global_step", "history", "best", "monitor",
                "early_stop_counter", "rng", "partial"):
        if key not in state:
            check.damaged(f"has no {key!r} field")
    if not force:
        _same_origin(state, trainer, check)
    _model(state["model"], trainer.model.state_dict(), check)
    epoch = check.count(state["epoch"], "epoch")
    global_step = check.count(state["global_step"], "global_step")
    _optimizer(state["optimizer"], trainer, global_step, check)
    if trainer.scheduler is not None and state["scheduler"] is not None:
        done = global_step if trainer.stepping == "batch" else epoch
        _scheduler(state["scheduler"], trainer.scheduler.state_dict(), done, check)
    if trainer.scaler is not None and state["scaler"] is not None:
        check.fits(state["scaler"], trainer.scaler.state_dict(), "scaler")
    _history(state["history"], epoch, check)
    if state["best"] is not None and not is_number(state["best"]):
        check.damaged(f"best is {_kind(state['best'])}, not a number")
    if not isinstance(state["monitor"], str):
        check.damaged(f"monitor is {_kind(state['monitor'])}, not a name")
    check.count(state["early_stop_counter"], "early_stop_counter")
    _rng(state["rng"], check)
    step = check.count(state["step_in_epoch"], "step_in_epoch")
    if step >= trainer.batches_per_epoch:
        check.mismatch(f"stopped after batch {step} of an epoch, but this run's epochs have "
                       f"{trainer.batches_per_epoch} batches", "data")
    _partial(state["partial"], step, check)


class _Check:
    """Raises the errors of one checkpoint file."""

    def __init__(self, path: Path):
        self.path = path

    def damaged(self, problem: str) -> None:
        raise ResumeError(f"{self.path} {problem}", hint=DAMAGED)

    def mismatch(self, problem: str, part: str) -> None:
        raise ResumeMismatch(f"{self.path} {problem}", part, MISMATCH)

    def count(self, value: Any, what: str) -> int:
        """A whole number from 0 up, as the counters of a run are."""
        if type(value) is not int:
            self.damaged(f"{what} is {_kind(value)}, not a whole number")
        if not 0 <= value <= BIGGEST:
            self.damaged(f"{what} is {value}, out of range")
        return value

    def fits(self, saved: Any, expected: Any, what: str) -> None:
        problem = _misfit(saved, expected)
        if problem is not None:
            self.damaged(f"{what}: {problem}")


def _same_origin(state: dict, trainer: Any, check: _Check) -> None:
    saved = state["spec_hash"]
    if saved != trainer.spec_hash:
        raise ResumeError(
            f"{check.path} was written by a different spec (hash {saved or '<none>'}); "
            f"this spec has hash {trainer.spec_hash or '<none>'}",
            hint="resume with force to load it anyway, or start a fresh run")
    if state["model_name"] != trainer.model_name:
        check.mismatch(f"was written by model {state['model_name']}; this run trains "
                       f"{trainer.model_name}", "model")


def _model(saved: Any, expected: dict[str, Tensor], check: _Check) -> None:
    if not isinstance(saved, dict):
        check.damaged(f"model is {_kind(saved)}, not a state dict")
    missing = [k for k in expected if k not in saved]
    extra = [k for k in saved if k not in expected]
    if missing or extra:
        parts = ([f"lacks {', '.join(map(str, missing[:3]))}"] if missing else []) + \
                ([f"has no place for {', '.join(map(str, extra[:3]))}"] if extra else [])
        check.mismatch(f"does not fit this model: it {' and '.join(parts)}", "model")
    for key, tensor in expected.items():
        value = saved[key]
        if isinstance(value, Tensor) and value.shape != tensor.shape:
            check.mismatch(f"does not fit this model: {key} has shape {tuple(value.shape)} there, "
                           f"{tuple(tensor.shape)} here", "model")
        check.fits(value, tensor, f"model {key}")


def _optimizer(saved: Any, trainer: Any, global_step: int, check: _Check) -> None:
    if trainer.closure_steps:   # its state is a curvature history, no per-parameter template
        raise ResumeError(f"{check.path} is a run of {type(trainer.optimizer).__name__}, whose state "
                          "(a curvature history) specc cannot check, so it does not resume it",
                          hint="train it again from the start, or use another optimizer")
    expected = named_optimizer_state(trainer.optimizer, trainer.param_names)
    if not (isinstance(saved, dict) and isinstance(saved.get("state"), dict)
            and isinstance(saved.get("param_groups"), list)):
        check.damaged("optimizer is not an optimizer state")
    groups = saved["param_groups"]
    if len(groups) != len(expected["param_groups"]):
        check.mismatch(f"holds {len(groups)} optimizer parameter groups; this optimizer has "
                       f"{len(expected['param_groups'])}", "optimizer")
    for i, (group, now) in enumerate(zip(groups, expected["param_groups"])):
        if not isinstance(group, dict):
            check.damaged(f"optimizer group {i} is {_kind(group)}")
        if set(group) != set(now):
            check.mismatch(f"holds the settings of another optimizer ({', '.join(sorted(map(str, group)))}; "
                           f"{type(trainer.optimizer).__name__} has {', '.join(sorted(now))})",
                           "optimizer")
        listed = group["params"]
        if not (isinstance(listed, list) and all(isinstance(n, str) for n in listed)
                and sorted(listed) == sorted(now["params"])):
            check.damaged(f"optimizer group {i} lists other parameters than the model's")
        check.fits({k: v for k, v in group.items() if k != "params"},
                   {k: v for k, v in now.items() if k != "params"}, f"optimizer group {i}")
    try:
        template = optimizer_template(trainer.make_optimizer, trainer.params, trainer.param_names, groups)
    except (RuntimeError, ValueError, ArithmeticError, TypeError) as exc:
        check.damaged(f"holds optimizer settings it cannot step with: {exc}")
    params = set(trainer.param_names.values())
    for name, entry in saved["state"].items():
        if name not in params:
            check.damaged(f"holds optimizer state for {name!r}, which is no parameter of the model")
        want = template.get(name, {})
        if not isinstance(entry, dict):
            check.damaged(f"optimizer state of {name} is {_kind(entry)}")
        if set(entry) != set(want):
            check.mismatch(f"holds optimizer state of another kind for {name} "
                           f"({', '.join(sorted(map(str, entry)))}; {type(trainer.optimizer).__name__} "
                           f"keeps {', '.join(sorted(want)) or 'nothing'})", "optimizer")
        check.fits(entry, want, f"optimizer state of {name}")
        step = entry.get("step")
        count = float(step) if isinstance(step, Tensor) else step
        if is_number(count) and not 1 <= count <= max(global_step, 1):
            check.damaged(f"optimizer state of {name}: step is {count:g}, but the run made "
                          f"{global_step} steps")


def _scheduler(saved: Any, expected: dict, done: int, check: _Check) -> None:
    if isinstance(saved, dict) and set(saved) != set(expected):
        check.mismatch("holds the state of another schedule", "schedule")
    check.fits(saved, expected, "scheduler")
    if "last_epoch" in expected and saved["last_epoch"] != done:
        check.damaged(f"scheduler: last_epoch is {saved['last_epoch']}, but the run stepped it "
                      f"{done} times")


def _history(saved: Any, epoch: int, check: _Check) -> None:
    if not isinstance(saved, list) or len(saved) != epoch:
        check.damaged(f"history is not a list of {epoch} rows, one per epoch done")
    for i, row in enumerate(saved):
        if not isinstance(row, dict) or row.get("epoch") != i + 1:
            check.damaged(f"history row {i + 1} is not the row of epoch {i + 1}")
        for key, value in row.items():
            if not isinstance(key, str) or not (value is None or is_number(value)):
                check.damaged(f"history row {i + 1}: {key!r} is {_kind(value)}, not a number")


def _rng(saved: Any, check: _Check) -> None:
    expected = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        expected["cuda"] = torch.cuda.get_rng_state_all()
    if torch.backends.mps.is_available():
        expected["mps"] = torch.mps.get_rng_state()
    if not isinstance(saved, dict) or "cpu" not in saved:
        check.damaged("rng is not a random-number state")
    check.fits(saved["cpu"], expected["cpu"], "rng cpu")
    if "cuda" in saved and "cuda" in expected:
        states = saved["cuda"]
        if not isinstance(states, list) or len(states) > len(expected["cuda"]):
            check.damaged(f"rng cuda is not a list of at most {len(expected['cuda'])} states")
        for s in states:
            check.fits(s, expected["cuda"][0], "rng cuda")
    if "mps" in saved and "mps" in expected:
        check.fits(saved["mps"], expected["mps"], "rng mps")


def _partial(saved: Any, step: int, check: _Check) -> None:
    """Mid-epoch: the per-batch values of the ``step`` batches done (see EpochLog.partial)."""
    if step == 0:
        if saved is not None:
            check.damaged("partial holds batches of an epoch that had ended")
        return
    if not isinstance(saved, dict):
        check.damaged(f"stopped after batch {step}, but partial holds no batches")
    losses, norms = saved.get("losses"), saved.get("norms")
    check.fits(losses, torch.zeros(step, dtype=torch.float64), "partial losses")
    if not isinstance(norms, Tensor):
        check.damaged(f"partial norms is {_kind(norms)}, not a tensor")
    check.fits(norms, torch.zeros(len(norms), dtype=torch.float64), "partial norms")
    sizes, norm_steps = saved.get("sizes"), saved.get("norm_steps")
    if not (isinstance(sizes, list) and len(sizes) == step
            and all(type(n) is int and n > 0 for n in sizes)):
        check.damaged(f"partial sizes is not {step} batch sizes")
    if not (isinstance(norm_steps, list) and len(norm_steps) == len(norms)
            and all(type(s) is int and 1 <= s <= step for s in norm_steps)):
        check.damaged("partial norm_steps does not match its norms")
    seconds = saved.get("seconds")
    if not (is_number(seconds) and 0 <= seconds < float("inf")):
        check.damaged(f"partial seconds is {_kind(seconds)}, not a duration")


def _misfit(saved: Any, expected: Any) -> str | None:
    """What keeps ``saved`` from standing in for ``expected``, or None: tensors of the same
    shape and dtype (finite when floating), numbers for numbers, containers with the same
    keys or length whose items fit; None and booleans stand for each other (``fused``)."""
    if isinstance(expected, Tensor):
        if not isinstance(saved, Tensor):
            return f"{_kind(saved)}, not a tensor"
        if saved.shape != expected.shape or saved.dtype != expected.dtype:
            return (f"a {str(saved.dtype).removeprefix('torch.')} tensor of shape {tuple(saved.shape)}, "
                    f"not {str(expected.dtype).removeprefix('torch.')} {tuple(expected.shape)}")
        if saved.is_floating_point() and not bool(torch.isfinite(saved).all()):
            return "a tensor with non-finite values"
        return None
    if isinstance(expected, dict):
        if not isinstance(saved, dict) or set(saved) != set(expected):
            return f"{_kind(saved)}, not a dict of {', '.join(sorted(map(str, expected)))}"
        return next((f"{k}: {p}" for k in expected
                     if (p := _misfit(saved[k], expected[k])) is not None), None)
    if isinstance(expected, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(expected):
            return f"{_kind(saved)}, not a list of {len(expected)}"
        return next((f"item {i}: {p}" for i, (s, e) in enumerate(zip(saved, expected))
                     if (p := _misfit(s, e)) is not None), None)
    if expected is None or isinstance(expected, bool):
        return None if saved is None or isinstance(saved, bool) else f"{_kind(saved)}, not a flag"
    if is_number(expected):
        return None if is_number(saved) else f"{_kind(saved)}, not a number"
    return None if type(saved) is type(expected) else f"{_kind(saved)}, not {_kind(expected)}"


def _kind(value: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = repr(value)
        return f"{type(value).__name__} {text[:40]}"
    return type(value).__name__ if value is not None else "None"
