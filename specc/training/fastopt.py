"""The fused optimizer update, called directly (the ``fused_step`` speed setting).

``torch.optim.Adam(fused=True).step()`` spends about 35 us of Python on a small model around
a kernel that takes 3 us: it regathers every parameter, gradient and state tensor into new
lists, checks them, groups them by device and dtype, and increments the step counters one
tensor at a time. :class:`FusedStep` does that work once and then, each step, reads the
gradients and the group's numbers (a schedule changes ``lr``, ``betas`` or ``momentum``),
adds 1 to every step counter with one op, and calls the kernel: the same kernel with the same
arguments, so the update is bitwise the one ``optimizer.step()`` makes.

The state stays the optimizer's own (``optimizer.state`` holds the tensors the kernel
updates; ``state_dict()`` and ``load_state_dict()`` work as ever): the step counters become
views into one tensor, which changes only where they are stored. A step the fast path does
not cover goes through ``optimizer.step()``: the first one (torch creates the state), one
where a trainable parameter has no gradient, one after ``load_state_dict`` (the state is
bound again after it), an SGD step whose momentum starts or stops being zero.

:data:`KERNELS` lists the optimizers that have one (``Adam``, ``AdamW`` and ``SGD``);
:func:`fast_step` says why a run cannot use it (for instance ``foreach`` set in the spec,
or fp16's gradient scaler) and steps with ``optimizer.step`` then.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor


@dataclass(frozen=True)
class Kernel:
    """How one optimizer's fused update is called: ``states(group)`` names the per-parameter
    state tensors the kernel updates, in its argument order (the group's numbers may change
    them: SGD keeps a momentum buffer only while ``momentum`` is not 0); ``counts_steps``: it
    reads a ``step`` counter per parameter, incremented before the call;
    ``call(group, params, grads, states, steps)`` runs it."""

    states: Callable[[dict], tuple[str, ...]]
    counts_steps: bool
    call: Callable[[dict, list[Tensor], list[Tensor], list[list[Tensor]], list[Tensor]], None]


def _adam_states(group: dict) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if group["amsgrad"] else ("exp_avg", "exp_avg_sq")


def _adam(group: dict, params: list[Tensor], grads: list[Tensor], states: list[list[Tensor]],
          steps: list[Tensor]) -> None:
    beta1, beta2 = group["betas"]
    kernel = torch._fused_adamw_ if group["decoupled_weight_decay"] else torch._fused_adam_
    kernel(params, grads, states[0], states[1], states[2] if len(states) > 2 else [], steps,
           amsgrad=group["amsgrad"], lr=group["lr"], beta1=beta1, beta2=beta2,
           weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
           grad_scale=None, found_inf=None)


def _sgd_states(group: dict) -> tuple[str, ...]:
    return ("momentum_buffer",) if group["momentum"] != 0 else ()


def _sgd(group: dict, params: list[Tensor], grads: list[Tensor], states: list[list[Tensor]],
         steps: list[Tensor]) -> None:
    torch._fused_sgd_(params, grads, states[0] if states else [],
                      weight_decay=group["weight_decay"], momentum=group["momentum"],
                      lr=group["lr"], dampening=group["dampening"], nesterov=group["nesterov"],
                      maximize=group["maximize"], is_first_step=False,
                      grad_scale=None, found_inf=None)


ADAM = Kernel(_adam_states, True, _adam)
KERNELS: dict[type, Kernel] = {
    torch.optim.Adam: ADAM,
    torch.optim.AdamW: ADAM,
    torch.optim.SGD: Kernel(_sgd_states, False, _sgd),
}
"""Optimizer class (exactly: a subclass may step otherwise) -> its fused kernel."""


def unsupported(optimizer: torch.optim.Optimizer, scaled: bool) -> str | None:
    """Why a fused ``optimizer`` of :data:`KERNELS` cannot step through :class:`FusedStep`
    (None: it can)."""
    name = type(optimizer).__name__
    if scaled:
        return f"{name} steps under fp16's gradient scaler"
    for group in optimizer.param_groups:
        flag = next((f for f in ("capturable", "differentiable") if group.get(f)), None)
        if flag is not None:
            return f"{name} is built with {flag}=True"
        if any(isinstance(v, Tensor) for v in (group["lr"], *group.get("betas", ()))):
            return f"{name} has a tensor lr or betas"
    return None


@dataclass
class _Part:
    """The trainable parameters of one group on one device and dtype, and their state."""

    group: dict
    keys: tuple[str, ...]         # the state layout they were bound with
    params: list[Tensor] = field(default_factory=list)
    states: list[list[Tensor]] = field(default_factory=list)   # one list per key
    steps: list[Tensor] = field(default_factory=list)


class FusedStep:
    """``optimizer.step()`` for a fused optimizer of :data:`KERNELS` that
    :func:`unsupported` lets through: bitwise the same update."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer
        self.kernel = KERNELS[type(optimizer)]
        self.bound: object = None     # the optimizer.state the parts were taken from
        self.parts: list[_Part] = []
        self.counters: list[Tensor] = []   # every step counter: one tensor per device

    def __call__(self) -> None:
        if self.optimizer.state is not self.bound:
            return self._through_torch()
        layout, grads = self.kernel.states, []
        for part in self.parts:
            part_grads = [p.grad for p in part.params]
            if any(g is None for g in part_grads) or layout(part.group) != part.keys:
                return self._through_torch()
            grads.append(part_grads)
        for counters in self.counters:
            counters.add_(1)
        call = self.kernel.call
        for part, part_grads in zip(self.parts, grads):
            call(part.group, part.params, part_grads, part.states, part.steps)

    def _through_torch(self) -> None:
        """One step by torch.optim (it creates any missing state), then bind again."""
        self.optimizer.step()
        self._bind()

    def _bind(self) -> None:
        """Take the trainable parameters and their state tensors into parts, the step
        counters as views of one tensor per device; unbound (every step through torch)
        while some state is missing."""
        optimizer, kernel = self.optimizer, self.kernel
        self.bound, self.parts, self.counters = None, [], []
        parts: dict[tuple, _Part] = {}
        for index, group in enumerate(optimizer.param_groups):
            keys = kernel.states(group)
            needed = (*keys, "step") if kernel.counts_steps else keys
            for p in group["params"]:
                if not p.requires_grad:
                    continue
                state = optimizer.state.get(p, {})
                if any(k not in state for k in needed):
                    return
                part = parts.setdefault((index, p.device, p.dtype),
                                        _Part(group, keys, states=[[] for _ in keys]))
                part.params.append(p)
                for column, key in zip(part.states, keys):
                    column.append(state[key])
        self.parts = list(parts.values())
        if kernel.counts_steps:
            self._join_counters()
        self.bound = optimizer.state

    def _join_counters(self) -> None:
        """Put the ``step`` counters of each device into one tensor, each state's ``step``
        a 0-d view of it (the same values), so that one op increments them all."""
        state = self.optimizer.state
        by_device: dict[torch.device, list[Tensor]] = {}
        for part in self.parts:
            for p in part.params:
                by_device.setdefault(state[p]["step"].device, []).append(p)
        for params in by_device.values():
            counters = torch.stack([state[p]["step"].detach() for p in params])
            for i, p in enumerate(params):
                state[p]["step"] = counters[i]
            self.counters.append(counters)
        for part in self.parts:
            part.steps = [state[p]["step"] for p in part.params]


def fast_step(optimizer: torch.optim.Optimizer, scaled: bool, enabled: bool,
              note: Callable[[str], None]) -> Callable[[], None]:
    """The optimizer's step: a :class:`FusedStep` where it applies, else ``optimizer.step``
    (with a note saying why when a fused optimizer of :data:`KERNELS` cannot use it)."""
    fused = type(optimizer) in KERNELS and all(g.get("fused") for g in optimizer.param_groups)
    if not enabled or not fused:
        return optimizer.step
    reason = unsupported(optimizer, scaled)
    if reason is not None:
        note(f"{reason}: it steps through torch.optim, without the direct fused step")
        return optimizer.step
    return FusedStep(optimizer)
