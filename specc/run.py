"""``specc run`` / ``specc.train``: data, model, loss and optimiser from a checked spec, into
the trainer. This is where the compile-time facts become run-time speed settings: in-memory
batching, a fused optimiser where torch has one, a loss called as its module, wide evaluation
batches, the thread count for the model's size (:mod:`specc.training.tuning` lists them).
"""
from __future__ import annotations

from datetime import datetime
import inspect
import itertools
import math
from pathlib import Path
import re
import sys

import torch

from . import __version__, record
from .analysis.check import CheckedSpec, check
from .analysis.imports import loaded_modules
from .analysis.optim import RUN_ARGS
from .compile.fx_build import build
from .data.batches import InMemoryBatches
from .data.plan import batches, load_splits
from .data.table import Table
from .errors import Diagnostic, Origin, RunError, Span, SpecError
from .syntax.fmt import quote
from .syntax.overrides import DEFAULT_OPTIMIZER, apply_overrides
from .syntax.sections import device_mistake
from .syntax.spec import Spec, parse_spec
from .training import checkpoint, distributed
from .training.config import EarlyStop, TrainConfig
from .training.device import resolve_device
from .training.errors import DivergenceError, MetricError, ResumeMismatch, TrainError
from .training.loop import fit
from .training.feed import OUTPUT, Feed
from .training.metrics import Scoring
from .training.shortcuts import batch_independent, direct_module, eval_batch_size, mean_loss
from .training.tuning import WIDE_EVAL_ELEMENTS, Tuning


def spec_hash(checked: CheckedSpec) -> str:
    """Identifies the spec a checkpoint was written from (its text, overrides aside)."""
    return record.spec_hash(checked.spec.source)


def overrides_to_sets(overrides: dict) -> list[str]:
    """``{"epochs": 5, "data_batch": 64}`` -> ``["train.epochs=5", "data.batch=64"]``."""
    sets = []
    for key, value in overrides.items():
        section, _, name = key.partition("_")
        if section not in ("data", "train", "optimizer", "schedule") or not name:
            section, name = "train", key
        sets.append(f"{section}.{name}={spec_text(value)}")
    return sets


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def spec_text(value) -> str:
    """A Python value written in spec syntax: ``True`` -> ``true``, ``None`` -> ``none``, a
    name or dotted name (``"accuracy"``, ``"valid.loss"``) as it is, any other string quoted,
    lists as ``[a, b]`` and tuples as ``(a, b)``, nested as deep as they go.

    Raises:
        ValueError: a value that has no spec form (a dict, an object, ``nan``).
    """
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "none"}[value]
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return repr(value)
    if isinstance(value, str):
        return value if _NAME.fullmatch(value) else quote(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(spec_text, value)) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(spec_text, value)) + ("," if len(value) == 1 else "") + ")"
    raise ValueError(f"{value!r} cannot be written in a spec: use numbers, strings, true/false/none, "
                     f"lists and tuples")


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
                       early_stop=early, checkpoint=str(checkpoint), plot=tuple(o.plot), threads=o.threads,
                       log_every=o.log_every, monitor=o.monitor, log=o.log)


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

            def closure():  # what LBFGS evaluates; any other optimizer calls it once
                param.grad = torch.zeros_like(param)
                return torch.zeros(())
            for _ in range(2):
                optimizer.step(closure)
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


def resolve_run_device(checked: CheckedSpec, device: str | None) -> torch.device:
    """The run's device, settled before anything is written: a ``--device`` name the language
    does not know is a mistake at that name; a device this machine lacks is an environment problem."""
    mistake = device_mistake(device) if device is not None else None
    if mistake is not None:
        span = Span(1, 1, 0, len(device), 1, len(device) + 1, Origin("--device", device))
        raise SpecError(Diagnostic(mistake, span, code="E061"))
    try:
        return resolve_device(device or checked.spec.train_options.device)
    except TrainError as err:
        raise RunError(err.message, err.hint) from None


def _out_dir(checked: CheckedSpec, out, resume: bool, force: bool) -> Path:
    if out is None:
        if resume:
            raise RunError("--resume needs the run's folder", "pass --out DIR of the run to continue")
        out = _fresh_folder(Path("runs") / checked.spec.name, datetime.now().strftime("%Y%m%d-%H%M%S"))
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


def _fresh_folder(parent: Path, stamp: str) -> Path:
    """``parent/stamp``, created here (atomically), or ``stamp-2``, ``stamp-3``... when another
    run started in the same second took it."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for n in itertools.count(1):
            path = parent / (stamp if n == 1 else f"{stamp}-{n}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except OSError as exc:
        raise RunError(f"cannot write to {parent}: {exc.strerror or exc}", "choose an --out folder") from None


def _checkpoint_dir(checked: CheckedSpec, resume: bool, force: bool) -> Path | None:
    """``train.checkpoint`` (relative to the spec) made ready for writing; None if unset (the
    run folder). Like ``--out``, a folder that holds files is written over only with ``force``
    (or continued with ``resume``): another run's checkpoints, or the files of ``"/"``."""
    ckpt = checked.spec.train_options.checkpoint
    if not ckpt:
        return None
    path = checked.spec.base_dir / ckpt
    entry = next(e for e in checked.spec.train.entries if e.key == "checkpoint")
    if path.exists() and not path.is_dir():
        raise _spec_error(checked, f"checkpoint = \"{ckpt}\" names a file, not a folder", entry.value.span,
                          "name a folder for last.pt and best.pt")
    held = sorted(p.name for p in path.iterdir()) if path.is_dir() and not (resume or force) else []
    if held:
        listed = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
        raise _spec_error(checked, f"checkpoint = \"{ckpt}\" names a folder that already holds files "
                          f"({listed})", entry.value.span,
                          "use --resume to continue the run it holds, --force to write over it, "
                          "or name a new folder")
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


def loss_function(checked: CheckedSpec, imports, tuning: Tuning):
    """The loss graph, or (``direct_loss``) the one module it forwards to."""
    graph = build(checked, checked.program.loss, imports)
    module = direct_module(graph)
    return module if module is not None and tuning.direct_loss else graph


def held_out_batches(table, checked: CheckedSpec, dev, model, loss_fn, tuning: Tuning):
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


def run_spec(spec: Spec, sets: list[str] = (), out=None, device: str | None = None, resume: bool = False,
             force: bool = False, quiet: bool = False, hooks=(), tuning: Tuning | None = None):
    """``specc run``: apply ``sets``, check, train. Resuming a run folder that has a record
    follows the resume rule (docs/run-folder.md): the recorded ``--set`` values come first,
    and a configuration that differs from the recorded one other than in ``train.epochs``
    (or an observation-only entry) is refused unless ``force``, which
    restarts from the checkpoint's weights with the new settings."""
    sets = list(sets)
    recorded = record.read_record(Path(out)) if resume and out is not None and record.has_record(Path(out)) else None
    if recorded is not None:
        sets = record.merge_sets(recorded.sets, sets)
    checked = check(apply_overrides(spec, sets) if sets else spec)
    if recorded is None:
        return run_checked(checked, out, device, resume, force, quiet, hooks, tuning, sets=sets)
    now = parse_spec(record.resolved_text(checked.spec)[0], checked.spec.path or "<spec>")
    changes = record.config_changes(record.flatten(record.read_resolved(Path(out))), record.flatten(now))
    if not changes:
        return run_checked(checked, out, device, resume, force, quiet, hooks, tuning, sets=sets, resumed=recorded)
    if not force:
        raise SpecError(Diagnostic(
            "--resume continues the same run, but the configuration differs from the recorded one: "
            + "; ".join(f"{key}: {old} -> {new}" for key, old, new in changes),
            _entry_span(checked.spec, changes[0][0]),
            "resume without these changes, start a new run (another --out), or add --force to "
            "restart from the checkpoint's weights with the new settings", "E901", checked.spec.path or "<spec>"),
            checked.spec.source)
    weights = Path(recorded.checkpoint) / checkpoint.LAST
    print(f"note: the configuration changed ({', '.join(key for key, _, _ in changes)}); restarting from the "
          f"weights of {weights} with the new settings", file=sys.stderr)
    return run_checked(checked, out, device, False, True, quiet, hooks, tuning, sets=sets, weights=weights)


def _entry_span(spec: Spec, key: str) -> Span:
    """Where the setting ``key`` of :func:`record.flatten` (``train.epochs``, ``optimizer``,
    ``model Net``) is written in ``spec``, a ``--set`` text included; the section, or the top of
    the file, when the spec leaves it out."""
    kind, _, name = key.partition(".") if "." in key else key.partition(" ")
    for item in spec.items:
        if item.kind != kind:
            continue
        if kind in ("data", "train"):
            return next((e.span for e in item.entries if e.key == name), item.span)
        if kind in ("loss", "optimizer", "schedule"):
            return item.span
        if (item.alias if kind == "import" else item.name) == name:
            return getattr(item, "name_span", item.span)
    return Span()


def run_checked(checked: CheckedSpec, out=None, device: str | None = None, resume: bool = False,
                force: bool = False, quiet: bool = False, hooks=(), tuning: Tuning | None = None, *,
                sets: list[str] = (), resumed: record.RunRecord | None = None, weights: Path | None = None):
    """Train a checked spec; returns the trainer's RunResult (with ``out_dir`` set).

    ``hooks`` go to :func:`specc.training.loop.fit`; ``tuning`` (default: all on, less what
    ``SPECC_TUNING`` turns off) picks the speed settings. ``sets`` are recorded in run.json;
    ``resumed`` is the record of the run a resume continues (its spec hash is the one the
    checkpoint carries); ``weights`` a checkpoint whose model weights the run starts from.
    """
    _require(checked)
    _probe_optim(checked, checked.spec.train_options.epochs)
    tuning = tuning if tuning is not None else tuning_from_env()
    dev = resolve_run_device(checked, device)
    dist = distributed.from_env()
    if dist is None:
        ckpt_dir = _checkpoint_dir(checked, resume, force)
        out_dir = _out_dir(checked, out, resume, force)
    else:
        dev, ckpt_dir, out_dir = _join_group(checked, dist, dev, out, resume, force)
        device = str(dev)
    config = config_from(checked, device, ckpt_dir or out_dir)
    imports = loaded_modules(checked.spec)
    splits = load_splits(checked.spec, checked.data, checked.target)
    torch.manual_seed(config.seed)
    model = build(checked, checked.graph, imports)
    if weights is not None:
        _load_weights(model, weights)
    loss_fn = loss_function(checked, imports, tuning)
    train_b = None
    loss_name = _loss_name(checked)
    try:
        if (not resume or resumed is not None) and (dist is None or dist.writer):
            _write_record(checked, out_dir, splits, sets, config, str(dev), resumed)  # (a folder made
            # without a record keeps none)
        shuffle = checked.data.shuffle
        train_b = batches(splits.train, checked.data, dev, shuffle)
        valid_b, test_b = (held_out_batches(table, checked, dev, model, loss_fn, tuning)
                           if table is not None else None for table in (splits.valid, splits.test))
        if dist is not None:
            for split, b in (("train", train_b), ("valid", valid_b), ("test", test_b)):
                if b is not None:
                    distributed.check_batches(b.num_examples, b.batch_size, dist.world, split)
                    b.shard(dist.rank, dist.world)
        result = fit(model, train_b, valid_b, test_b, checked.inputs, feed(checked), loss_fn,
                     make_optimizer_factory(checked, dev.type, tuning.fused_optimizer),
                     make_scheduler_factory(checked), config, out_dir,
                     resume=resume, spec_hash=resumed.spec_hash if resumed else spec_hash(checked),
                     progress=not quiet,
                     plot_data=_plot_data(splits, checked.inputs, checked.target), force=force,
                     scoring=scoring(checked), hooks=hooks, tuning=tuning,
                     title=f"{checked.model_name()} ({checked.spec.name}.spec)",
                     loss_name=loss_name or "loss", model_name=checked.model, dist=dist)
    except DivergenceError as err:
        raise _divergence(checked, err) from None
    except MetricError as err:
        raise _metric_error(checked, err) from None
    except ResumeMismatch as err:
        raise _resume_mismatch(checked, err) from None
    except TrainError as err:
        raise RunError(err.message, err.hint) from None
    except OSError as exc:
        raise _write_error(exc) from None
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        located = _locate(checked, model, loss_fn, train_b, exc) if train_b is not None else None
        if located is None:
            raise
        raise located from None
    if dist is not None:      # (a failing rank leaves the group as it exits; closing it here
        distributed.close()   # could wait on ranks still inside a collective)
    result.out_dir = out_dir
    if dist is None or dist.writer:
        _tell(result, out_dir, quiet)
    return result


def tuning_from_env() -> Tuning:
    """The speed settings ``SPECC_TUNING`` leaves on; a bad value is a RunError."""
    try:
        return Tuning.from_env()
    except ValueError as exc:
        raise RunError(str(exc), "unset it, or name settings from specc.training.tuning") from None


def _loss_name(checked: CheckedSpec) -> str:
    value = checked.spec.loss.value
    return getattr(value, "id", None) or getattr(getattr(value, "func", None), "id", None) or ""


def binary_threshold(loss_name: str) -> float:
    """Where a single-score output turns from class 0 to class 1: 0.5 after a sigmoid (bce),
    else 0 (logits)."""
    return 0.5 if loss_name == "bce" else 0.0


def feed(checked: CheckedSpec) -> Feed:
    """What the loss and the metrics read: the loss graph's inputs, each metric call's two
    values, and for a plain metric the output and the ``train.target`` field (when the data has it)."""
    target = checked.spec.train_options.target or "y"
    pair = (OUTPUT, ("field", target)) if checked.target == target else None
    return Feed(tuple(checked.loss_sources[n] for n in checked.program.loss_reads), pair, checked.metric_sources)


def scoring(checked: CheckedSpec) -> Scoring:
    """How the metrics read the model's outputs as classes: the binary threshold, and where
    the class loss found the class scores and which target value it skips."""
    program = checked.program
    return Scoring(binary_threshold(_loss_name(checked)), program.class_dim or 1, program.ignore_index)


def _load_weights(model, path: Path) -> None:
    try:
        model.load_state_dict(checkpoint.load(path)["model"])
    except TrainError as err:   # no checkpoint, or not one
        raise RunError(err.message, err.hint) from None
    except (RuntimeError, KeyError) as exc:
        raise RunError(f"{path} does not fit this model: {exc}", "start a fresh run in another --out") from None


def _spec_path(spec: Spec) -> str | None:
    return str(Path(spec.path).resolve()) if spec.path and not spec.path.startswith("<") else None


def _data_facts(checked: CheckedSpec, splits) -> tuple[record.Preprocessing, list[str] | None]:
    loss_name = _loss_name(checked)
    prep = record.preprocessing(checked, getattr(splits.train, "feature_names", None), splits.vocab is not None,
                                loss_name, binary_threshold(loss_name))
    return prep, splits.vocab


def data_facts(checked: CheckedSpec) -> tuple[record.Preprocessing, list[str] | None]:
    """What the spec's data pipeline applies to raw inputs (the run record's preprocessing and
    vocabulary), found by loading the data as a run would."""
    _require(checked)
    return _data_facts(checked, load_splits(checked.spec, checked.data, checked.target))


def _write_record(checked: CheckedSpec, out_dir: Path, splits, sets, config: TrainConfig, device: str,
                  resumed: record.RunRecord | None) -> None:
    """run.json, spec.spec, source.spec (vocab.json) at the start of the run; a resumed run
    keeps its recorded source and hash and records the ``--set`` list now in force."""
    prep, vocab = _data_facts(checked, splits)
    new = record.RunRecord(
        specc=__version__, torch=torch.__version__, spec_path=_spec_path(checked.spec),
        spec_hash=spec_hash(checked), sets=list(sets), model=checked.model, seed=config.seed, device=device,
        checkpoint=str(Path(config.checkpoint).resolve()), imports=record.import_names(checked.spec),
        preprocessing=prep)
    if resumed is not None:
        new = new.model_copy(update={"spec_path": resumed.spec_path, "spec_hash": resumed.spec_hash})
    record.write_run_folder(out_dir, checked.spec, new, vocab, source=resumed is None)


def _join_group(checked: CheckedSpec, dist: distributed.Dist, dev: torch.device, out, resume: bool,
                force: bool) -> tuple[torch.device, Path | None, Path]:
    """Under a launcher: this process's device (``cuda`` -> its own GPU), the process group,
    and the checkpoint and run folders that rank 0 chose (and made), the same on every rank."""
    dev = torch.device(distributed.device_for(dist, str(dev)))
    try:
        distributed.init(dist, checked.spec.train_options.backend, dev)
    except TrainError as err:
        raise RunError(err.message, err.hint) from None
    folders = None
    try:
        if dist.writer:
            folders = (_checkpoint_dir(checked, resume, force), _out_dir(checked, out, resume, force))
    finally:   # the other ranks learn what rank 0 chose, or that it stopped (its error says why)
        folders = distributed.broadcast(folders, dev)
    if folders is None:
        raise RunError("rank 0 could not prepare the run (its message says why)")
    return dev, *folders


def _locate(checked: CheckedSpec, model, loss_fn, train_b, error: BaseException) -> SpecError | None:
    """A failure torch reports only on real data (``bce`` targets outside 0..1, an imported
    layer that raises), as a SpecError at the application that raised: the first batch is
    replayed through the model, then the loss, node by node. None if the replay runs clean."""
    from .compile.locate import failing_node, first_line

    try:
        batch = next(iter(train_b))
        inputs = [batch[name] for name in checked.inputs]
        found = failing_node(model, *inputs)
        what = "the model"
        if found is None:
            args = feed(checked).loss_args(model(*inputs), batch)
            what = "the loss"
            if isinstance(loss_fn, torch.fx.GraphModule):
                found = failing_node(loss_fn, *args)
            else:
                try:
                    loss_fn(*args)
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


def _metric_error(checked: CheckedSpec, err: MetricError) -> SpecError:
    """Point at the metric that cannot apply: its name in ``metrics`` or ``plot``, else the
    monitor that asked for it."""
    entries = {e.key: e for e in checked.spec.train.entries} if checked.spec.train else {}
    named = [item.span for key in ("metrics", "plot") if key in entries
             for item in getattr(entries[key].value, "items", []) if getattr(item, "id", None) == err.metric]
    monitors = [entries[key].value.span for key in ("monitor", "early_stop") if key in entries]
    span = (named + monitors + [next(iter(checked.spec.models.values())).name_span])[0]
    return _spec_error(checked, err.message, span, err.hint)


def _divergence(checked: CheckedSpec, err: DivergenceError) -> SpecError:
    """Point at the learning rate (or the optimizer) that most likely caused it."""
    opt = checked.spec.optimizer
    span = opt.span if opt is not None else next(iter(checked.spec.models.values())).name_span
    if opt is not None and hasattr(opt.value, "kwargs"):
        span = next((k.value.span for k in opt.value.kwargs if k.name == "lr"), span)
    return _spec_error(checked, err.message, span, err.hint)


def _model_span(checked: CheckedSpec) -> Span:
    return checked.spec.models[checked.model].name_span


def _data_span(checked: CheckedSpec) -> Span:
    batch = next((e for e in checked.spec.data.entries if e.key == "batch"), None)
    return batch.value.span if batch is not None else checked.spec.data.span


# The part of the spec a checkpoint of something else differs in -> where to point.
RESUME_SPANS = {
    "model": _model_span,
    "optimizer": lambda checked: checked.spec.optimizer.value.span if checked.spec.optimizer
    else _model_span(checked),
    "schedule": lambda checked: checked.spec.schedule.value.span if checked.spec.schedule
    else _model_span(checked),
    "data": _data_span,
}


def _resume_mismatch(checked: CheckedSpec, err: ResumeMismatch) -> SpecError:
    """A checkpoint of another model, optimizer, schedule or batching, at what differs here."""
    return _spec_error(checked, err.message, RESUME_SPANS[err.part](checked), err.hint)


def _tell(result, out_dir: Path, quiet: bool) -> None:
    if result.interrupted:
        print(f"interrupted: last.pt saved in {out_dir}; continue with --out {out_dir} --resume", file=sys.stderr)
    if quiet:
        return
    parts = [f"{split}: " + ", ".join(f"{k} {v:.4g}" for k, v in m.items() if v is not None)
             for split, m in result.metrics.items()]
    if result.epoch is not None:
        best = result.history and result.epoch != result.history[-1]["epoch"]
        parts.insert(0, f"epoch {result.epoch}" + (f" (best {result.monitor})" if best else ""))
    print("; ".join(parts))
    print(f"outputs in {out_dir}: " + ", ".join(sorted(p.name for p in out_dir.iterdir() if not p.name.startswith("."))),
          file=sys.stdout)
