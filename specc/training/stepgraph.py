"""``train { compile = step }``: one training step — forward, loss, gradients, gradient
clipping and the optimizer update — as one compiled graph.

The step is ``torch.func.functional_call`` of the model on the parameters, the loss, and
``torch.autograd.grad``, then the optimizer's update written as tensor ops (:data:`UPDATES`, the math of
``torch.optim``'s single-tensor implementations), traced by ``make_fx`` on fake tensors and
compiled by inductor (called directly, without dynamo's guards: the caller checks the batch
shape, the only thing that varies; about a third of ``torch.compile``'s per-call cost). Its inputs are the model's own parameter and
buffer tensors and the optimizer's own state tensors (``exp_avg``, ``step``, ...), which the
graph writes back in place: ``model.state_dict()`` and ``optimizer.state_dict()`` stay the real
ones, so checkpoints and ``--resume`` are interchangeable with eager runs. The learning rate of
each parameter group is a tensor input, so schedules change it without recompiling.

The run's first step is an eager ``torch.optim`` step: it creates the optimizer's state in
torch's own layout (an SGD momentum buffer starts as the first gradient) and shows which
parameters get gradients. Batches of another shape than the compiled one (the short last batch
of an epoch) also take the eager step, on the same tensors, instead of compiling again.

What the graph cannot express falls back to the eager step for the whole run, said once
(:func:`unsupported`; a model that does not trace is found when the step is traced).
torch's on-disk caches (inductor's FX graph cache and the AOT autograd cache) live in specc's
cache folder (:func:`use_compile_caches`), so a second run of the same spec skips most of
the compilation.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
import platform
import time
from typing import Callable

import torch
from torch import nn, Tensor
from torch.fx.experimental.proxy_tensor import make_fx
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

from specc.cachedir import cache_folder
from specc.record import write_atomic
from specc.training.feed import Feed


ENV_CACHE = "TORCHINDUCTOR_CACHE_DIR"


def use_compile_caches() -> None:
    """Point torch's on-disk compile caches at ``<specc cache>/inductor`` (unless the
    environment names another folder) and switch them on. Two per-process costs of a cache
    hit on the CPU go too: the probe of the vector instruction sets (a compile and a
    subprocess per set, about 3 s) runs once per machine and torch version, its answer kept
    in that folder; and header precompiling (a g++ run even when the kernels are cached) is
    off."""
    import torch._functorch.config
    import torch._inductor.config as config
    from torch._inductor.runtime.cache_dir_utils import cache_dir, default_cache_dir

    folder = cache_folder()   # torch's import sets the variable to its default: replace that
    if folder is not None and os.environ.get(ENV_CACHE, default_cache_dir()) == default_cache_dir():
        os.environ[ENV_CACHE] = str(folder / "inductor")
    config.fx_graph_cache = True
    torch._functorch.config.enable_autograd_cache = True
    config.cpp_cache_precompile_headers = False
    if config.cpp.simdlen is None and config.cpp.vec_isa_ok is None:
        config.cpp.simdlen = _vector_width(Path(cache_dir()))
        config.cpp.vec_isa_ok = True


def _vector_width(folder: Path) -> int:
    """The bit width of the vector instruction set inductor picks on this machine (0: none),
    probed once and kept in ``folder`` under a key of the CPU's flags and torch's version."""
    from torch._inductor import cpu_vec_isa

    flags = sorted(cpu_vec_isa.x86_isa_checker()) if platform.machine() in ("x86_64", "AMD64") else []
    key = hashlib.sha256(repr((platform.machine(), flags, torch.__version__)).encode()).hexdigest()[:16]
    path = folder / f"specc-vector-width-{key}"
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        pass
    width = cpu_vec_isa.pick_vec_isa().bit_width()
    try:
        path.write_text(str(width))
    except OSError:
        pass
    return width


# ---------------------------------------------------------------- the updates

def _adam(p: Tensor, g: Tensor, state: dict, group: dict, lr: Tensor) -> None:
    """Adam, and AdamW (``decoupled_weight_decay``, which AdamW's groups hold)."""
    beta1, beta2 = group["betas"]
    step = state["step"]
    step.add_(1)
    wd = group["weight_decay"]
    if wd and group["decoupled_weight_decay"]:
        p.mul_(1 - lr * wd)
    elif wd:   # (not g.add(p, alpha=wd): inductor folds that into addmm and drops alpha)
        g = g + p * wd
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg.lerp_(g, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    bias1 = 1 - beta1 ** step.double()   # in double precision, as torch.optim's Python floats
    bias2_sqrt = (1 - beta2 ** step.double()).sqrt()
    denom = (exp_avg_sq.sqrt() / bias2_sqrt).add_(group["eps"])
    p.sub_(exp_avg / denom * (lr / bias1))


def _sgd(p: Tensor, g: Tensor, state: dict, group: dict, lr: Tensor) -> None:
    if group["weight_decay"]:
        g = g + p * group["weight_decay"]
    momentum = group["momentum"]
    if momentum:
        buf = state["momentum_buffer"]
        buf.mul_(momentum).add_(g, alpha=1 - group["dampening"])
        g = g.add(buf, alpha=momentum) if group["nesterov"] else buf
    p.sub_(g * lr)


UPDATES: dict[type, Callable] = {
    torch.optim.Adam: _adam,
    torch.optim.AdamW: _adam,
    torch.optim.SGD: _sgd,
}
"""Optimizers the graph updates, each with its update of one parameter in place."""

_OFF_OPTIONS = ("amsgrad", "maximize", "differentiable", "capturable")
"""Group options that, when on, this module does not express (the step falls back)."""


def unsupported(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, *,
                accumulate: int, mixed: bool, distributed: bool, device: torch.device) -> str | None:
    """Why the step cannot be one graph in this run, or None."""
    name = type(optimizer).__name__
    if type(optimizer) not in UPDATES:
        return f"the optimizer {name} has no graph update (Adam, AdamW and SGD have)"
    for group in optimizer.param_groups:
        on = [k for k in _OFF_OPTIONS if group.get(k)]
        if on:
            return f"{name}({on[0]}=true) has no graph update"
        if isinstance(group["lr"], Tensor):
            return "a tensor learning rate is not supported"
    if scheduler is not None and getattr(scheduler, "cycle_momentum", False):
        return f"{type(scheduler).__name__} changes the momentum at every step"
    if accumulate > 1:
        return "accumulate > 1 is not supported"
    if mixed:
        return "mixed precision is not supported"
    if distributed:
        return "distributed runs are not supported"
    if device.type not in ("cpu", "cuda"):
        return f"the device {device.type} is not supported"
    if any(not isinstance(t, Tensor) for t in model.state_dict(keep_vars=True).values()):
        return "the model holds extra state"
    return None


# ---------------------------------------------------------------- the graph

class StepGraph:
    """The compiled step of one run. Call :meth:`start` after the eager first step; then
    ``graph(inputs, fed)`` (``fed``: the batch fields the loss reads, by name) returns ``(loss,
    output, grad_norm)`` or None when the batch is not the graph's shape (the caller takes an
    eager step)."""

    def __init__(self, model: nn.Module, feed: Feed, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                 clip: float | None):
        self.model, self.loss_fn, self.optimizer, self.clip = model, loss_fn, optimizer, clip
        self.feed, self.fields = feed, feed.fields
        self.update = UPDATES[type(optimizer)]
        self.buffer_names = [n for n, _ in model.named_buffers()]
        self.shapes: tuple = ()
        self.compiled = None
        self.no_gradient: list[str] = []

    def see_gradients(self) -> None:
        """After the first backward pass: note the parameters without a gradient (torch.optim
        leaves them alone; the graph would update them with zeros)."""
        self.no_gradient = [n for n, p in self.model.named_parameters() if p.grad is None]

    def start(self, inputs: list[Tensor], fed: dict[str, Tensor]) -> str | None:
        """Gather the tensors the graph updates, trace the step on fake tensors of these
        shapes (``make_fx``) and compile it with inductor; why not, or None."""
        if self.no_gradient:
            return f"the parameter {self.no_gradient[0]} gets no gradient"
        fields = [fed[name] for name in self.fields]
        layout = self.gather(inputs, fields)

        def flat_step(*tensors):
            loss, output, norm = self._step(*tree_unflatten(list(tensors), layout))
            outputs, self.output_layout = tree_flatten(output)    # a model may return several
            return (loss, *outputs) if norm is None else (loss, *outputs, norm)

        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.fx.experimental.symbolic_shapes import ShapeEnv

        use_compile_caches()
        example = [*self.held, *inputs, *fields]
        # Fake tensors with a shape environment (static shapes): what inductor's FX graph
        # cache needs to key the graph
        fake_mode = FakeTensorMode(shape_env=ShapeEnv(), static_shapes=True)
        fakes = [fake_mode.from_tensor(t, static_shapes=True) for t in example]
        with fake_mode:
            traced = make_fx(flat_step)(*fakes)
        # fallback_random: dropout draws from the eager generator, as the eager step does
        with torch._inductor.config.patch(fallback_random=True):   # (imported by use_compile_caches)
            self.compiled = torch._inductor.compile(traced, fakes)
        self.shapes = tuple(t.shape for t in (*inputs, *fields))
        return None

    def gather(self, inputs: list[Tensor], fields: list[Tensor]):
        """Collect the tensors the step reads and writes (``self.held``: parameters, optimizer
        state, learning rates, buffers); the layout of ``_step``'s arguments."""
        opt = self.optimizer
        by_id = {id(p): n for n, p in self.model.named_parameters()}
        self.groups = [{"names": [by_id[id(p)] for p in group["params"]],
                        "hyper": {k: v for k, v in group.items() if k != "params"}}
                       for group in opt.param_groups]
        self.lr_values = [None] * len(self.groups)
        self.lrs = [torch.zeros((), dtype=torch.float64, device=group["params"][0].device)
                    for group in opt.param_groups]
        held = ([[p.detach() for p in group["params"]] for group in opt.param_groups],
                [[{k: v for k, v in opt.state[p].items() if isinstance(v, Tensor)}
                  for p in group["params"]] for group in opt.param_groups],
                self.lrs, [b for _, b in self.model.named_buffers()])
        self.held, layout = tree_flatten((*held, list(inputs), list(fields)))
        del self.held[len(self.held) - len(inputs) - len(fields):]
        return layout

    def _step(self, params: list[list[Tensor]], states: list[list[dict]], lrs: list[Tensor],
              buffers: list[Tensor], inputs: list[Tensor], fields: list[Tensor]):
        names = [n for g in self.groups for n in g["names"]]
        flat = [p for ps in params for p in ps]

        # autograd, traced into the graph by make_fx (torch.func.grad cannot run a BatchNorm:
        # its running statistics are updated in place, which a grad transform refuses)
        weights = [p.detach().requires_grad_() for p in flat]
        with torch.enable_grad():
            output = torch.func.functional_call(
                self.model, {**dict(zip(names, weights)), **dict(zip(self.buffer_names, buffers))},
                tuple(inputs))
            loss = self.loss_fn(*self.feed.loss_args(output, dict(zip(self.fields, fields))))
        grads = torch.autograd.grad(loss, weights)
        norm = None
        if self.clip is not None:   # clip_grad_norm_: the 2-norm over every gradient
            norm = torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(g, 2) for g in grads]), 2)
            scale = torch.clamp(self.clip / (norm + 1e-6), max=1.0)
            grads = [g * scale for g in grads]
        k = 0
        for group, ps, ss, lr in zip(self.groups, params, states, lrs):
            for p, state in zip(ps, ss):
                self.update(p, grads[k], state, group["hyper"], lr)
                k += 1
        return loss.detach(), tree_map(Tensor.detach, output), norm

    def __call__(self, inputs: list[Tensor], fed: dict[str, Tensor]):
        fields = [fed[name] for name in self.fields]
        if tuple(t.shape for t in (*inputs, *fields)) != self.shapes:
            return None
        for i, group in enumerate(self.optimizer.param_groups):
            if group["lr"] != self.lr_values[i]:
                self.lr_values[i] = group["lr"]
                self.lrs[i].fill_(group["lr"])
        loss, *rest = self.compiled(*self.held, *inputs, *fields)
        n = self.output_layout.num_leaves
        return loss, tree_unflatten(rest[:n], self.output_layout), rest[n] if len(rest) > n else None


# ---------------------------------------------------------------- compile = auto

MODES = ("off", "model", "step")


def signature(trainer) -> str:
    """What decides a run's speed, hashed: the model's code and weight shapes, the optimizer,
    loss, batching, device, threads and torch version (not epochs, seed or learning rate)."""
    model = trainer.model
    parts = [getattr(model, "code", None) or repr(model),
             [(n, tuple(p.shape), str(p.dtype)) for n, p in model.named_parameters()],
             type(trainer.optimizer).__name__, repr(trainer.loss_fn),
             trainer.batches_per_epoch, trainer.train_batches.num_examples, trainer.device.type,
             trainer.config.threads, trainer.config.clip_grad, trainer.config.accumulate,
             trainer.config.precision, bool(trainer.held_out), torch.__version__]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


def _measured_file(trainer) -> "os.PathLike | None":
    folder = cache_folder()
    return folder / "compile" / f"{signature(trainer)}.json" if folder is not None else None


def _measured(trainer) -> dict:
    path = _measured_file(trainer)
    try:
        data = json.loads(path.read_text()) if path is not None else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {mode: m for mode, m in data.items() if mode in MODES and isinstance(m, dict)
            and all(isinstance(m.get(k), (int, float)) for k in ("epoch_seconds", "compile_seconds"))}


def choose(trainer) -> str:
    """``compile = auto``: the mode with the least predicted time for this run's epochs,
    ``compile_seconds + epochs * epoch_seconds``, from the figures that earlier runs with the
    same :func:`signature` measured (:func:`remember`); ``off`` while the eager figure, or
    any compiled one, is missing."""
    measured = _measured(trainer)
    if "off" not in measured:
        return "off"
    epochs = trainer.config.epochs   # the whole run's: the trainer is planned before a resume
    return min(measured, key=lambda mode: measured[mode]["compile_seconds"]
               + epochs * measured[mode]["epoch_seconds"])


def remember(trainer, rows: list[dict]) -> None:
    """After a run: store the mode it ran in with its compile seconds and seconds per epoch
    without them (over ``rows``, this process's epochs), for :func:`choose`, keeping the
    fastest figures each mode has reached (a run slowed by other jobs on the machine must not
    decide later ones). An eager run (``compile = false``) is stored only for a model that
    some run has compiled, so plain runs write nothing. Nothing when no cache folder is
    writable."""
    if not rows:
        return
    mode = "off" if trainer.mode == "step" and trainer.graph is None else trainer.mode
    path = _measured_file(trainer)
    if path is None:
        return
    data = _measured(trainer)
    if trainer.config.compile == "off" and not set(data) - {"off"}:
        return
    epoch_seconds = max(sum(r["seconds"] for r in rows) - trainer.compile_seconds, 0.0) / len(rows)
    before = data.get(mode, {"epoch_seconds": epoch_seconds, "compile_seconds": trainer.compile_seconds})
    data[mode] = {"epoch_seconds": min(epoch_seconds, before["epoch_seconds"]),
                  "compile_seconds": min(trainer.compile_seconds, before["compile_seconds"])}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data, indent=1))
    except OSError:
        pass


# ---------------------------------------------------------------- in the trainer

def plan(trainer) -> tuple[str, StepGraph | None]:
    """The run's compile mode (``off``, ``model`` or ``step``; ``auto`` chosen by
    :func:`choose`) and, for ``step``, its graph; a step that cannot be one graph is said once
    and the run trains eagerly."""
    mode = trainer.config.compile
    if mode == "auto":
        mode = choose(trainer)
    if mode != "step":
        return mode, None
    reason = unsupported(trainer.model, trainer.optimizer, trainer.scheduler,
                         accumulate=trainer.config.accumulate,
                         mixed=trainer.precision.name != "fp32",
                         distributed=trainer.dist is not None, device=trainer.device)
    if reason is not None:
        _fall_back(trainer, reason)
        return mode, None
    return mode, StepGraph(trainer.model, trainer.feed, trainer.loss_fn, trainer.optimizer,
                           trainer.config.clip_grad)


def run(trainer, inputs: list[Tensor], fed: dict[str, Tensor]):
    """One step through ``trainer.graph``: ``(loss, output, grad_norm)``, or None for an eager
    step (this batch's shape is not the graph's; or the graph failed to build, said once)."""
    graph = trainer.graph
    if graph.compiled is None:
        started = time.perf_counter()
        try:
            reason = graph.start(inputs, fed)
        except Exception as exc:   # tracing and compiling, before any tensor is changed
            first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            reason = f"the step does not compile ({type(exc).__name__}: {first[:200]})"
        trainer.compile_seconds += time.perf_counter() - started
        if reason is not None:
            return _fall_back(trainer, reason)
    return graph(inputs, fed)


def _fall_back(trainer, reason: str) -> None:
    trainer.reporter.note(f"compile = step: {reason}; the run trains eagerly")
    trainer.graph = None
