"""``specc run`` / ``specc.train``: data, model, loss and optimiser from a checked spec, into
the trainer. This is where the compile-time facts become run-time speed settings: in-memory
batching, a fused optimiser where torch has one, a loss called as its module, wide evaluation
batches, the thread count for the model's size (:mod:`specc.training.tuning` lists them).
"""
from __future__ import annotations

from datetime import datetime
import hashlib
import inspect
from pathlib import Path
import re

import torch

from .analysis.check import CheckedSpec
from .analysis.imports import loaded_modules
from .analysis.optim import RUN_ARGS
from .compile.fx_build import build_graph
from .data.batches import InMemoryBatches
from .data.plan import batches, load_splits
from .data.table import Table
from .errors import Diagnostic, RunError, Span, SpecError
from .training import distributed
from .training.config import EarlyStop, TrainConfig
from .training.errors import DivergenceError, TrainError
from .training.loop import fit
from .training.shortcuts import batch_independent, direct_module, eval_batch_size, mean_loss
from .training.tuning import WIDE_EVAL_ELEMENTS, Tuning

DEFAULT_OPTIMIZER = ("Adam", [], {"lr": 0.001})
def spec_hash(checked: CheckedSpec) -> str:
    """Identifies the spec a checkpoint was written from (its text, overrides aside)."""
    return hashlib.sha256(checked.spec.source.encode()).hexdigest()[:16]


def overrides_to_sets(overrides: dict) -> list[str]:
    """``{"epochs": 5, "data_batch": 64}`` -> ``["train.epochs=5", "data.batch=64"]``."""
    sets = []
    for key, value in overrides.items():
        section, _, name = key.partition("_")
        if section not in ("data", "train", "optimizer", "schedule") or not name:
            section, name = "train", key
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str) and not value.replace(".", "").replace(":", "").isalnum():
            text = value
        elif isinstance(value, str) and value.isidentifier():
            text = value
        elif isinstance(value, str):
            text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            text = repr(value)
        sets.append(f"{section}.{name}={text}")
    return sets


def _spec_error(checked: CheckedSpec, message: str, span: Span, hint: str | None = None) -> SpecError:
    return SpecError(Diagnostic(message, span, hint, "E800", checked.spec.path or "<spec>"), checked.spec.source)


def _require(checked: CheckedSpec) -> None:
    spec = checked.spec
    first = next(iter(spec.models.values()))
    if checked.data is None:
        raise _spec_error(checked, "this spec has no data section, so it cannot be trained", first.name_span,
                          "add data { train = ... }; a spec without data can be checked, summarised and compiled")
    if spec.loss is None:
        raise _spec_error(checked, "this spec has no loss, so it cannot be trained", first.name_span,
                          "add for example: loss = cross_entropy")
    if checked.model is None:
        raise _spec_error(checked, "which model should be trained?", first.name_span,
                          f"add train {{ model = {first.name} }}")


def config_from(checked: CheckedSpec, device: str | None, checkpoint: Path) -> TrainConfig:
    o = checked.spec.train_options
    early = None
    if o.early_stop is not None:
        early = EarlyStop(monitor=o.early_stop.monitor, patience=o.early_stop.patience,
                          min_delta=o.early_stop.min_delta)
    return TrainConfig(epochs=o.epochs, device=device or o.device, seed=o.seed, metrics=tuple(o.metrics),
                       precision=o.precision, clip_grad=o.clip_grad, accumulate=o.accumulate, compile=o.compile,
                       early_stop=early, checkpoint=str(checkpoint), plot=tuple(o.plot), threads=o.threads)


def make_optimizer_factory(checked: CheckedSpec, device_type: str, fused: bool = True):
    name, args, kwargs = (checked.optimizer.name, checked.optimizer.args, checked.optimizer.kwargs) \
        if checked.optimizer else DEFAULT_OPTIMIZER
    cls = getattr(torch.optim, name)
    kwargs = dict(kwargs)
    params = inspect.signature(cls).parameters
    # Fused kernels where torch has them for this device; the same update up to float rounding,
    # 2-3x faster per step than the default for-each-parameter loop on small CPU models.
    if fused and "fused" in params and "fused" not in kwargs and "foreach" not in kwargs \
            and device_type in ("cpu", "cuda"):
        kwargs["fused"] = True

    def make(model_params):
        return cls(model_params, *args, **kwargs)
    return make


def make_scheduler_factory(checked: CheckedSpec):
    if checked.schedule is None:
        return None
    s = checked.schedule
    cls = getattr(torch.optim.lr_scheduler, s.name)
    params = inspect.signature(cls).parameters

    def make(optimizer, steps_per_epoch, epochs):
        kwargs = dict(s.kwargs)
        for key, fill in RUN_ARGS.items():
            if key in params and key not in kwargs and params[key].default in (inspect.Parameter.empty, None):
                kwargs[key] = fill(steps_per_epoch, epochs)
        return cls(optimizer, *s.args, **kwargs)
    return make


def _probe_optim(checked: CheckedSpec, epochs: int) -> None:
    """Build the optimizer and schedule once on a stand-in parameter and step them twice, so a
    value torch refuses (``lr=-1``, ``step_size=0``) is a SpecError at that entry of the spec,
    before any data is loaded, instead of a crash inside the first epoch."""
    import warnings

    from .training.control import scheduler_stepping

    param = torch.nn.Parameter(torch.zeros(1))
    item, what = checked.spec.optimizer, "optimizer"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimizer = make_optimizer_factory(checked, "cpu", fused=False)([param])
            make_scheduler = make_scheduler_factory(checked)
            if make_scheduler is None:
                return
            item, what = checked.spec.schedule, "schedule"
            scheduler = make_scheduler(optimizer, 4, epochs)  # room for the two steps below
            plateau = scheduler_stepping(scheduler) == "plateau"
            for _ in range(2):
                param.grad = torch.zeros_like(param)
                optimizer.step()
                scheduler.step(0.0) if plateau else scheduler.step()
    except Exception as exc:  # torch's own check of a value: point at the entry
        if item is None:      # the default optimizer failed: not the spec's doing
            raise
        message = str(exc) or type(exc).__name__
        call = item.value
        span = next((k.span for k in getattr(call, "kwargs", []) if re.search(rf"\b{k.name}\b", message)),
                    call.span)
        raise _spec_error(checked, f"the {what} refuses its arguments: {message}", span,
                          "check the values against torch's documentation of "
                          f"{checked.optimizer.name if what == 'optimizer' else checked.schedule.name}") from None


def _out_dir(checked: CheckedSpec, out, resume: bool, force: bool) -> Path:
    if out is None:
        if resume:
            raise RunError("--resume needs the run's folder", "pass --out DIR of the run to continue")
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / checked.spec.name / stamp
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file, not a folder", "choose another --out folder")
    if out.is_dir() and any(out.iterdir()) and not resume and not force:
        raise RunError(f"--out {out} already holds a run", "use --resume to continue it, --force to write over it, "
                       "or another folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".specc-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise RunError(f"cannot write to {out}: {exc.strerror or exc}", "choose another --out folder") from None
    return out


def _checkpoint_dir(checked: CheckedSpec, out_dir: Path) -> Path:
    """``train.checkpoint`` (relative to the spec) made ready for writing, else ``out_dir``."""
    ckpt = checked.spec.train_options.checkpoint
    if not ckpt:
        return out_dir
    path = checked.spec.base_dir / ckpt
    entry = next(e for e in checked.spec.train.entries if e.key == "checkpoint")
    if path.exists() and not path.is_dir():
        raise _spec_error(checked, f"checkpoint = \"{ckpt}\" names a file, not a folder", entry.value.span,
                          "name a folder for last.pt and best.pt")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the checkpoint folder {path}: {exc.strerror or exc}",
                       "change train.checkpoint, or check the folder's permissions") from None
    return path


def _write_error(exc: OSError) -> RunError:
    """A file the run could not write (disk full, permission denied), as one plain message."""
    import errno

    where = f" {exc.filename}" if exc.filename else ""
    hint = {errno.ENOSPC: "free some disk space (or choose another --out) and resume with --resume",
            errno.EDQUOT: "free some disk space (or choose another --out) and resume with --resume",
            errno.EACCES: "choose another --out folder, or check its permissions",
            errno.EROFS: "choose an --out folder on a writable disk"}.get(exc.errno)
    return RunError(f"cannot write{where}: {exc.strerror or exc}", hint)


def _loss_fn(checked: CheckedSpec, imports, tuning: Tuning):
    """The loss graph, or (``direct_loss``) the one module it forwards to."""
    graph = build_graph(checked.program.loss, checked.program, imports)
    module = direct_module(graph)
    return module if module is not None and tuning.direct_loss else graph


def _held_out_batches(table, checked: CheckedSpec, dev, model, loss_fn, tuning: Tuning):
    """A held-out split's batches; with ``wide_eval``, wider than training batches where that
    changes only the summation order (fixed-shape fields in memory, a mean loss, a model
    whose eval output per example does not depend on the batch)."""
    plan = checked.data
    if not (tuning.wide_eval and isinstance(table, Table) and not table.lengths and plan.batch
            and mean_loss(direct_module(loss_fn) or loss_fn) and batch_independent(model)):
        return batches(table, plan, dev, False)
    per_example = sum(t[:1].numel() for t in table.fields.values())
    size = eval_batch_size(per_example, plan.batch, len(table), WIDE_EVAL_ELEMENTS)
    return InMemoryBatches(table, size, False, plan.seed, dev, plan.pad)


def _plot_data(splits, inputs, target):
    table = splits.train
    if len(inputs) != 1 or not hasattr(table, "fields") or target not in table.fields:
        return None
    return table.fields[inputs[0]], table.fields[target]


def run_checked(checked: CheckedSpec, out=None, device: str | None = None, resume: bool = False,
                force: bool = False, quiet: bool = False, hooks=(), tuning: Tuning | None = None):
    """Train a checked spec; returns the trainer's RunResult (with ``out_dir`` set).

    ``hooks`` go to :func:`specc.training.loop.fit`; ``tuning`` (default: all on, less what
    ``SPECC_TUNING`` turns off) picks the speed settings.
    """
    _require(checked)
    _probe_optim(checked, checked.spec.train_options.epochs)
    if tuning is None:
        try:
            tuning = Tuning.from_env()
        except ValueError as exc:
            raise RunError(str(exc), "unset it, or name settings from specc.training.tuning") from None
    dist = distributed.from_env()
    if dist is None:
        out_dir = _out_dir(checked, out, resume, force)
    else:
        device, out_dir = _join_group(checked, dist, device, out, resume, force)
    config = config_from(checked, device, _checkpoint_dir(checked, out_dir))
    imports = loaded_modules(checked.spec)
    splits = load_splits(checked.spec, checked.data, checked.target)
    torch.manual_seed(config.seed)
    model = build_graph(checked.graph, checked.program, imports)
    loss_fn = _loss_fn(checked, imports, tuning)
    train_b = None
    try:
        from .training.device import resolve_device
        dev = resolve_device(config.device)
        shuffle = checked.data.shuffle
        train_b = batches(splits.train, checked.data, dev, shuffle)
        valid_b, test_b = (_held_out_batches(table, checked, dev, model, loss_fn, tuning)
                           if table is not None else None for table in (splits.valid, splits.test))
        if dist is not None:
            for b in (train_b, valid_b, test_b):
                if b is not None:
                    b.shard(dist.rank, dist.world)
        loss_name = getattr(checked.spec.loss.value, "id", None) or getattr(getattr(checked.spec.loss.value, "func", None), "id", None)
        result = fit(model, train_b, valid_b, test_b, checked.inputs, checked.target, loss_fn,
                     make_optimizer_factory(checked, dev.type, tuning.fused_optimizer),
                     make_scheduler_factory(checked), config, out_dir,
                     resume=resume, spec_hash=spec_hash(checked), progress=not quiet,
                     plot_data=_plot_data(splits, checked.inputs, checked.target), force=force,
                     binary_threshold=0.5 if loss_name == "bce" else 0.0, hooks=hooks, tuning=tuning,
                     dist=dist)
    except DivergenceError as err:
        raise _divergence(checked, err) from None
    except TrainError as err:
        raise RunError(err.message, err.hint) from None
    except OSError as exc:
        raise _write_error(exc) from None
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        located = _locate(checked, model, loss_fn, train_b, exc) if train_b is not None else None
        if located is None:
            raise
        raise located from None
    finally:
        if dist is not None:
            distributed.close()
    result.out_dir = out_dir
    _tell(result, out_dir, quiet or (dist is not None and not dist.writer))
    return result


def _join_group(checked: CheckedSpec, dist: distributed.Dist, device: str | None, out, resume: bool,
                force: bool) -> tuple[str, Path]:
    """Under a launcher: this process's device (``cuda`` -> its own GPU), the process group,
    and the run folder that rank 0 chose (and made), the same on every rank."""
    from .training.device import resolve_device

    try:
        name = distributed.device_for(dist, str(resolve_device(device or checked.spec.train_options.device)))
        distributed.init(dist, checked.spec.train_options.backend, resolve_device(name))
    except TrainError as err:
        raise RunError(err.message, err.hint) from None
    chosen = None
    if dist.writer:
        try:
            chosen = (str(_out_dir(checked, out, resume, force)), None)
        except RunError as err:
            chosen = (None, (err.message, err.hint))
    path, error = distributed.broadcast(chosen, resolve_device(name))
    if error is not None:
        distributed.close()
        raise RunError(*error)
    return name, Path(path)


def _locate(checked: CheckedSpec, model, loss_fn, train_b, error: BaseException) -> SpecError | None:
    """A failure torch reports only on real data (``bce`` targets outside 0..1, an imported
    layer that raises), as a SpecError at the application that raised: the first batch is
    replayed through the model, then the loss, node by node. None if the replay runs clean."""
    from .compile.locate import failing_node, first_line

    try:
        batch = next(iter(train_b))
        inputs = [batch[name] for name in checked.inputs]
        target = batch[checked.target]
        found = failing_node(model, *inputs)
        what = "the model"
        if found is None:
            output = model(*inputs)
            what = "the loss"
            if isinstance(loss_fn, torch.fx.GraphModule):
                found = failing_node(loss_fn, output, target)
            else:
                try:
                    loss_fn(output, target)
                except Exception as exc:  # the loss module itself: the loss statement
                    return _spec_error(checked, f"the loss fails on the data: {first_line(exc)}",
                                       checked.spec.loss.span, "torch checks this only when the loss first runs")
    except Exception:  # the replay itself went wrong: keep the original error
        return None
    if found is None:
        return None
    node, exc = found
    span = node.meta.get("span") or checked.spec.loss.span
    return _spec_error(checked, f"{what} fails on the data: {first_line(exc)}", span,
                       "torch checks this only when the layer first runs on a batch")


def _divergence(checked: CheckedSpec, err: DivergenceError) -> SpecError:
    """Point at the learning rate (or the optimizer) that most likely caused it."""
    opt = checked.spec.optimizer
    span = opt.span if opt is not None else next(iter(checked.spec.models.values())).name_span
    if opt is not None and hasattr(opt.value, "kwargs"):
        span = next((k.value.span for k in opt.value.kwargs if k.name == "lr"), span)
    return _spec_error(checked, err.message, span, err.hint)


def _tell(result, out_dir: Path, quiet: bool) -> None:
    import sys
    if result.interrupted:
        print(f"interrupted: last.pt saved in {out_dir}; continue with --out {out_dir} --resume", file=sys.stderr)
    if quiet:
        return
    parts = [f"{split}: " + ", ".join(f"{k} {v:.4g}" for k, v in m.items() if v is not None)
             for split, m in result.metrics.items()]
    print("; ".join(parts))
    print(f"outputs in {out_dir}: " + ", ".join(sorted(p.name for p in out_dir.iterdir() if not p.name.startswith("."))),
          file=sys.stdout)
