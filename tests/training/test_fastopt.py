"""The direct fused step (``fused_step``): bitwise torch.optim's update over hundreds of steps,
for every optimizer and option set it covers, under schedules; the optimizer's state stays a
real torch.optim state, so runs resume across the fast and the plain path."""
from __future__ import annotations

import copy
from dataclasses import replace
import types

import pytest
import torch
from torch import nn
import torch.nn.functional as F

from specc.training import checkpoint
from specc.training.config import TrainConfig
from specc.training.fastopt import FusedStep, fast_step
from specc.training.loop import fit
from specc.training.tuning import Tuning

from trainkit import TinyBatches, mlp, separable

OPTIMIZERS = {
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.01, fused=True),
    "adam_decay_amsgrad": lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.01, amsgrad=True,
                                                      fused=True),
    "adam_maximize_betas": lambda ps: torch.optim.Adam(ps, lr=0.001, betas=(0.8, 0.99), eps=1e-6,
                                                       maximize=True, fused=True),
    "adam_decoupled": lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1,
                                                  decoupled_weight_decay=True, fused=True),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1, fused=True),
    "adamw_amsgrad": lambda ps: torch.optim.AdamW(ps, lr=0.01, amsgrad=True, fused=True),
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.05, fused=True),
    "sgd_momentum_decay": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01,
                                                     fused=True),
    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, fused=True),
    "sgd_dampening_maximize": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.5, dampening=0.3,
                                                         maximize=True, fused=True),
}
SCHEDULES = {
    "none": None,
    "step": lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.9),
    # cycles lr and, for Adam and SGD with momentum, betas / momentum every step
    "one_cycle": lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=260),
}
STEPS = 250
SKIP_FROM = 45      # the branch is left out on steps 45-49 of every 50


class _Net(nn.Module):
    """An MLP with a frozen layer and a branch left out on some steps (its gradient is None
    there, and torch.optim skips it)."""

    def __init__(self):
        super().__init__()
        self.body = mlp(seed=3)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)
        self.branch = nn.Linear(2, 2)

    def forward(self, x, use_branch):
        out = self.body(self.frozen(x))
        return out + self.branch(x) if use_branch else out


def _train(model, optimizer, step, scheduler, steps, start=0):
    x, y = separable(64, seed=1)
    for i in range(start, start + steps):
        F.cross_entropy(model(x, use_branch=i % 50 < SKIP_FROM), y).backward()
        step()
        for p in model.parameters():
            p.grad = None
        if scheduler is not None:
            scheduler.step()


def _states_equal(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    return all(sa["state"][i].keys() == sb["state"][i].keys()
               and all(torch.equal(torch.as_tensor(sa["state"][i][k]), torch.as_tensor(sb["state"][i][k]))
                       for k in sa["state"][i])
               for i in sa["state"])


def _counting(optimizer) -> list:
    """Count ``optimizer.step()`` calls (steps that went through torch.optim)."""
    calls, step = [], type(optimizer).step

    def counted(self, *args):
        calls.append(1)
        return step(self, *args)
    optimizer.step = types.MethodType(counted, optimizer)   # a method, as schedules expect
    return calls


def _pair(name, schedule):
    torch.manual_seed(0)
    plain, fast = _Net(), _Net()
    fast.load_state_dict(plain.state_dict())
    opts = OPTIMIZERS[name](plain.parameters()), OPTIMIZERS[name](fast.parameters())
    through_torch = _counting(opts[1])     # before the schedule wraps optimizer.step
    make = SCHEDULES[schedule]
    scheds = (make(opts[0]), make(opts[1])) if make else (None, None)
    return (plain, fast), opts, scheds, through_torch


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fused_step_is_bitwise_torch_optim_over_many_steps(name, schedule):
    (plain, fast), (p_opt, f_opt), (p_sched, f_sched), through_torch = _pair(name, schedule)
    step = FusedStep(f_opt)
    _train(plain, p_opt, p_opt.step, p_sched, STEPS)
    _train(fast, f_opt, step, f_sched, STEPS)
    for p, q in zip(plain.state_dict().values(), fast.state_dict().values()):
        assert torch.equal(p, q)
    assert _states_equal(p_opt, f_opt)
    # torch.optim ran the first step, and the steps without the branch's gradient
    assert len(through_torch) == 1 + STEPS // 50 * (50 - SKIP_FROM)
    if "momentum" in name and schedule == "one_cycle":
        assert p_opt.param_groups[0]["momentum"] != 0.9    # the schedule changed it


@pytest.mark.parametrize("name", ["adam_decay_amsgrad", "adamw", "sgd_nesterov"])
def test_state_dict_moves_between_the_fused_step_and_torch_optim(name):
    (plain, fast), (p_opt, f_opt), _, _ = _pair(name, "none")
    step = FusedStep(f_opt)
    _train(plain, p_opt, p_opt.step, None, 120)
    _train(fast, f_opt, step, None, 120)
    # swap: the fast run's state goes to torch.optim, the plain run's to the fast path
    p_state, f_state = copy.deepcopy(p_opt.state_dict()), copy.deepcopy(f_opt.state_dict())
    p_opt.load_state_dict(f_state)
    f_opt.load_state_dict(p_state)
    _train(plain, p_opt, p_opt.step, None, 120, start=120)
    _train(fast, f_opt, step, None, 120, start=120)
    for p, q in zip(plain.state_dict().values(), fast.state_dict().values()):
        assert torch.equal(p, q)
    assert _states_equal(p_opt, f_opt)


def test_fast_step_applies_only_where_the_kernel_is_the_update():
    notes: list[str] = []
    params = [nn.Parameter(torch.zeros(3))]
    assert isinstance(fast_step(torch.optim.Adam(params, fused=True), False, True, notes.append),
                      FusedStep)
    for optimizer, enabled in [(torch.optim.Adam(params, fused=True), False),   # switched off
                               (torch.optim.Adam(params), True),               # not fused
                               (torch.optim.Adam(params, foreach=True), True),
                               (torch.optim.RMSprop(params), True)]:           # no kernel
        assert fast_step(optimizer, False, enabled, notes.append) == optimizer.step
    assert notes == []
    scaled = torch.optim.AdamW(params, fused=True)
    assert fast_step(scaled, True, True, notes.append) == scaled.step
    tensor_lr = torch.optim.SGD(params, lr=torch.tensor(0.1), fused=True)
    assert fast_step(tensor_lr, False, True, notes.append) == tensor_lr.step
    assert notes == ["AdamW steps under fp16's gradient scaler: it steps through torch.optim, "
                     "without the direct fused step",
                     "SGD has a tensor lr or betas: it steps through torch.optim, without the "
                     "direct fused step"]


# ---------------------------------------------------------------- in fit: resume across paths

def _fit(tmp_path, epochs, tuning, resume=False, optimizer="adamw", lr=None):
    """fit() with checkpoints; ``lr="one_cycle"``: a OneCycleLR over 4 epochs."""
    x, y = separable()
    train = TinyBatches(x[:160], y[:160], batch=16)
    held = TinyBatches(x[160:], y[160:], batch=16, shuffle=False)
    config = TrainConfig(epochs=epochs, device="cpu", checkpoint=str(tmp_path), seed=0)
    make = OPTIMIZERS[optimizer]
    schedule = (lambda opt, steps, epochs: torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.05, total_steps=steps * 4)) if lr == "one_cycle" else None
    return fit(mlp(dropout=0.2), train, held, None, ["x"], "y", F.cross_entropy, make, schedule,
               config, None, resume=resume, progress=False, tuning=tuning)


FAST, PLAIN = Tuning(), replace(Tuning(), fused_step=False)


@pytest.mark.parametrize("optimizer", ["adamw", "sgd_momentum_decay"])
@pytest.mark.parametrize("first, second", [(FAST, PLAIN), (PLAIN, FAST)], ids=["fast-plain", "plain-fast"])
def test_a_run_resumed_across_the_paths_is_bitwise_the_uninterrupted_one(tmp_path, first, second,
                                                                          optimizer):
    whole = _fit(tmp_path / "whole", 4, FAST, optimizer=optimizer, lr="one_cycle")
    _fit(tmp_path / "split", 2, first, optimizer=optimizer, lr="one_cycle")
    resumed = _fit(tmp_path / "split", 4, second, resume=True, optimizer=optimizer, lr="one_cycle")
    for p, q in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(p, q)
    assert [r["train.loss"] for r in whole.history] == [r["train.loss"] for r in resumed.history]
    a, b = (checkpoint.load(tmp_path / d / checkpoint.LAST)["optimizer"] for d in ("whole", "split"))
    for name, entry in a["state"].items():
        assert entry.keys() == b["state"][name].keys()
        assert all(torch.equal(entry[k], b["state"][name][k]) for k in entry)


def test_switching_fused_step_off_gives_the_same_run(tmp_path, monkeypatch):
    calls, step = [], torch.optim.AdamW.step
    monkeypatch.setattr(torch.optim.AdamW, "step", lambda self, *a: (calls.append(1), step(self, *a))[1])
    fast = _fit(tmp_path / "fast", 3, FAST)
    assert len(calls) == 1     # the first of 30 steps: torch.optim creates the state
    plain = _fit(tmp_path / "plain", 3, PLAIN)
    assert len(calls) == 1 + 30
    for p, q in zip(fast.model.parameters(), plain.model.parameters()):
        assert torch.equal(p, q)
    assert fast.history[-1]["train.loss"] == plain.history[-1]["train.loss"]
    assert Tuning.from_env("-fused_step") == PLAIN
