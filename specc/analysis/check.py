"""Run every analysis pass over a Spec and collect the diagnostics -> :class:`CheckedSpec`.

Passes, in order: imports, data section, models (names, shapes, dtypes; blocks specialised
as they are used), loss, optimizer and schedule. Each pass records what it finds and goes on,
so one ``specc check`` reports every independent mistake, sorted by position.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Optional

from ..catalog.dims import is_int
from ..catalog.layers import MAX_PARAMS
from ..errors import Diagnostic, SpecError, did_you_mean
from ..gc_pause import gc_paused
from ..syntax import ast
from ..syntax.spec import Spec
from ..types import DTYPES, TensorType
from .context import Context, DataFacts, Failed
from .data import DataPlan, analyse_data
from .imports import load_imports
from .ir import GraphIR, LayerInst, Program
from ..catalog.losses import LOSSES
from ..syntax.sections import metric_name
from .losses import class_pairs, lower_loss, names_read
from .lower import MAX_NODES, GraphLowerer, signature_dims
from .optim import OptimSpec, check_drivable, check_optimizer, check_schedule



@dataclass
class CheckedSpec:
    """A spec whose names, shapes and arguments are all known to be right.

    Invariants: ``program.lint()`` passes; ``model`` names a graph in ``program.models``
    (None only for a library spec with several models and no choice); when ``data`` is set,
    every input of the trained model is a field the data yields, with the same type.
    """

    spec: Spec
    program: Program
    model: Optional[str]
    data: Optional[DataPlan] = None
    imports: dict[str, str] = field(default_factory=dict)
    optimizer: Optional[OptimSpec] = None
    schedule: Optional[OptimSpec] = None
    target: Optional[str] = None
    loss_sources: dict = field(default_factory=dict)   # each loss input's name -> ("output", i) | ("field", name)
    metric_sources: dict = field(default_factory=dict)  # a metric call's key -> (output source, target source)
    heads: dict = field(default_factory=dict)   # a model of several outputs: each one's name -> its class field or None

    @property
    def graph(self) -> GraphIR:
        return self.program.models[self.model]

    def model_name(self, model: str | None = None) -> str:
        """``model`` if given, else the spec's model, else (a library of models) the first."""
        return model or self.model or next(iter(self.program.models))

    @property
    def inputs(self) -> list[str]:
        """The data fields the model takes, in signature order: the spec's names, which the
        graph may have renamed (an input called ``input`` is ``input_`` in Python)."""
        return [p.name for p in self.spec.models[self.model].params]


@gc_paused
def check(spec: Spec, model: str | None = None, facts: DataFacts | None = None) -> CheckedSpec:
    """Analyse ``spec``; raise SpecError with every diagnostic if anything is wrong.

    The sections are checked independently (a mistake in one does not hide those in the
    others) and what a broken section would have told the others is left unknown rather than
    guessed, so that one mistake gives one message; ``spec.problems`` (refused section values)
    are reported with the rest. ``facts`` (recorded by a run) stand in for the data section,
    which is then not read."""
    ctx = Context(blocks=spec.blocks, model_names=frozenset(spec.models))
    imports = load_imports(ctx, spec)
    plan = None
    ctx.data = facts
    try:
        plan = analyse_data(ctx, spec) if facts is None else None
    except Failed:
        pass
    if facts is None and spec.data is not None and (plan is None or _refused(spec.data)):
        ctx.data, plan, ctx.data_failed = None, None, True
    bound = plan is not None or facts is not None
    chosen = _choose_model(ctx, spec, model)
    for m in spec.models.values():
        inputs = _inputs(ctx, m, bind_data=(m.name == chosen and bound))
        if inputs is None:
            continue
        known, varying = signature_dims(m.params, [t for _, t in inputs])
        graph = GraphLowerer(ctx, m.name, "model", inputs, settings=known, dims=varying).run(m.body, m.name_span)
        ctx.program.models[m.name] = graph
    target, heads = None, {}
    if spec.loss is not None:
        trained = ctx.program.models.get(chosen) if bound else None
        readable = _loss(ctx, spec, trained, chosen)
        if readable is not None:
            target = _target_field(spec, ctx.loss_sources, readable)
            ctx.metric_sources = _metrics(ctx, spec, readable)
            heads = _heads(spec, chosen, readable)
    optimizer, schedule = check_optimizer(ctx, spec), check_schedule(ctx, spec)
    check_drivable(ctx, spec, optimizer, ctx.program, chosen)
    _monitor(ctx, spec, plan)
    memo: dict = {}
    for graph in ctx.program.models.values():
        _total_size(ctx, graph, memo)
    if ctx.diags or spec.problems:
        diags = sorted([*spec.problems, *ctx.diags], key=lambda d: (d.span.line, d.span.column))
        raise SpecError([Diagnostic(d.message, d.span, d.hint, d.code, spec.path or "<spec>") for d in diags],
                        spec.source)
    ctx.program.lint()
    return CheckedSpec(spec, ctx.program, chosen, plan, imports, optimizer, schedule, target,
                       ctx.loss_sources, ctx.metric_sources, heads)


def _choose_model(ctx: Context, spec: Spec, model: str | None) -> Optional[str]:
    models = spec.models
    wanted = model or spec.train_options.model
    if wanted is None and "model" in _refused(spec.train) and len(models) > 1:
        return None   # the refused value is reported; which model it meant is not known
    if wanted is not None:
        if wanted not in models:
            entry = next((e for e in (spec.train.entries if spec.train else []) if e.key == "model"), None)
            where = entry.value.span if entry is not None and model is None else next(iter(models.values())).name_span
            ctx.error(f"no model named '{wanted}'", where, did_you_mean(wanted, models) or
                      f"the models are {', '.join(models)}", code="E700")
            return None
        return wanted
    if len(models) == 1:
        return next(iter(models))
    if spec.data is not None:   # at the train section, where the choice goes, else the second model
        where = spec.train.span if spec.train is not None else list(models.values())[1].name_span
        ctx.error(f"the spec has {len(models)} models: say which one to train", where,
                  f"add train {{ model = {next(iter(models))} }}", code="E701")
    return None


def _inputs(ctx: Context, m: ast.Model, bind_data: bool) -> Optional[list[tuple[str, TensorType]]]:
    """The model's typed inputs; with data, each bound to the field of the same name."""
    out, ok = [], True
    for p in m.params:
        t = p.type
        if not t.is_tensor:
            ctx.error(f"a model's parameters are its input tensors: give {p.name} a shape, like {p.name}: float[2]",
                      p.span, "settings with defaults belong to blocks", code="E710")
            ok = False
            continue
        if t.dtype not in DTYPES:
            ctx.error(f"unknown element type '{t.dtype}'", t.span, did_you_mean(t.dtype, DTYPES) or
                      "use float, long, int or bool", code="E711")
            ok = False
            continue
        declared = TensorType(t.dtype, tuple(t.dims))
        if bind_data:
            declared = _bind_field(ctx, p, declared)
            if declared is None:
                ok = False
                continue
        out.append((p.name, declared))
    return out if ok else None


def _bind_field(ctx: Context, p: ast.Param, declared: TensorType) -> Optional[TensorType]:
    fields = ctx.data.fields if ctx.data else {}
    if p.name not in fields:
        ctx.error(f"the data has no field '{p.name}' for this input", p.span,
                  did_you_mean(p.name, fields) or f"the data yields {', '.join(f'{k}: {v}' for k, v in fields.items())}",
                  code="E712")
        return None
    have = fields[p.name]
    if not isinstance(have, TensorType):
        ctx.error(f"the field '{p.name}' is text ({have}): encode it first, e.g. encode = bag_of_words()", p.span,
                  code="E713")
        return None
    same_kind = have.dtype == declared.dtype or {have.dtype, declared.dtype} <= {"long", "int"}
    if not same_kind or len(have.shape) != len(declared.shape):
        ctx.error(f"{p.name}: {declared} does not match the data, which yields {p.name}: {have}", p.type.span,
                  code="E714")
        return None
    dims, bound = [], {}
    for want, got in zip(declared.shape, have.shape):
        if is_int(want):
            if want != got:
                ctx.error(f"{p.name}: {declared} does not match the data, which yields {p.name}: {have}",
                          p.type.span, code="E714")
                return None
            dims.append(want)
        else:
            if want in bound and bound[want] != got:
                ctx.error(f"'{want}' stands for both {bound[want]} and {got} in {p.name}", p.type.span, code="E715")
                return None
            bound[want] = got
            dims.append(got if is_int(got) else want)
    return TensorType(declared.dtype, tuple(dims))


def _layer_size(program: Program, layer: LayerInst, memo: dict) -> tuple[int, int]:
    """(parameters, operations) a layer adds to the built model, a block instance opened (its
    graph once per instance: each instance has its own weights and module)."""
    if layer.source != "block":
        return layer.params, 0
    if layer.target not in memo:
        graph = program.blocks.get(layer.target)
        parts = [_layer_size(program, sub, memo) for sub in (graph.layers.values() if graph else ())]
        memo[layer.target] = (sum(p for p, _ in parts), len(graph.ops if graph else ()) + sum(n for _, n in parts))
    return memo[layer.target]


def _total_size(ctx: Context, graph: GraphIR, memo: dict) -> None:
    """Each layer and each graph is bounded as it is checked; the whole model, blocks opened, is
    bounded here, so that a hundred layers just under the bound, or blocks of blocks of
    repeats, are refused too, at their largest part."""
    sizes = [(layer, *_layer_size(ctx.program, layer, memo)) for layer in graph.layers.values()]
    params = sum(p for _, p, _ in sizes)
    if params > MAX_PARAMS:
        layer, n, _ = max(sizes, key=lambda s: s[1])
        ctx.error(f"{graph.name} would hold about {params:.2g} parameters ({4 * params / 2**30:,.0f} GiB as float32), "
                  f"more than the {MAX_PARAMS:.0e} specc accepts; the largest layer here has {n:.2g}", layer.span,
                  "check the sizes for a typo", code="E740")
    nodes = len(graph.ops) + sum(n for _, _, n in sizes)
    if nodes > MAX_NODES and len(graph.ops) <= MAX_NODES:     # else the graph itself was refused
        layer, _, n = max(sizes, key=lambda s: s[2])
        ctx.error(f"{graph.name} would run {nodes:,} operations with its blocks opened, more than the "
                  f"{MAX_NODES:,} specc accepts; this block instance alone runs {n:,}", layer.span,
                  "each use of a block builds its whole body again", code="E741")


def _monitor(ctx: Context, spec: Spec, plan: Optional[DataPlan]) -> None:
    """``monitor = valid.accuracy`` (or early_stop's, valid.loss by default) needs the data to
    have a valid split."""
    options = spec.train_options
    early = options.early_stop and (options.early_stop.monitor or "valid.loss")
    monitor = options.monitor or early
    if monitor is None or plan is None or not monitor.startswith("valid.") or plan.valid is not None:
        return
    key = "monitor" if options.monitor else "early_stop"
    entry = next(e for e in spec.train.entries if e.key == key)
    ctx.error(f"{key} monitors {monitor}, but the data has no valid split", entry.value.span,
              "add valid = 20% to data, or monitor a train value", code="E730")


def _class_scores(out: TensorType, target: TensorType) -> bool:
    return len(out.shape) == len(target.shape) + 1 and target.dtype != "float"


def _same_elements(out: TensorType, target: TensorType) -> bool:
    sizes = [t.shape for t in (out, target)]
    if not all(is_int(d) for s in sizes for d in s):
        return True                         # a symbolic size: the run compares them
    return math.prod(sizes[0]) == math.prod(sizes[1])


# What each metric needs of the model's output and the target (per example), as
# specc.training.metrics computes it: (test, what it expects).
_CLASSES = (lambda o, t: _class_scores(o, t) or _same_elements(o, t),
            "class scores with class-index targets, or one score per target element")
_ELEMENTWISE = (_same_elements, "an output with as many elements as the target")
METRIC_FITS = {"accuracy": _CLASSES, "f1": _CLASSES, "precision": _CLASSES, "recall": _CLASSES,
               "top5": (_class_scores, "class scores with class-index targets"),
               "mae": _ELEMENTWISE, "rmse": _ELEMENTWISE, "r2": _ELEMENTWISE}


CLASS_METRICS = ("accuracy", "top5", "f1", "precision", "recall")


def _metrics(ctx: Context, spec: Spec, readable: dict) -> dict:
    """Each metric fits what it reads, or the first evaluation would fail: a plain name reads
    ``output`` and ``target``, a call (``accuracy(logits, kind)``) the two names it gives, from
    what the loss may read. Returns each call's key -> (output source, target source)."""
    entries = {e.key: e for e in spec.train.entries} if spec.train else {}
    items = entries["metrics"].value.items if "metrics" in entries and isinstance(
        entries["metrics"].value, ast.ListExpr) else []
    options = spec.train_options
    keys = [(k, next((i for i in items if _metric_text(i) == k), None)) for k in options.metrics]
    early = options.early_stop.monitor if options.early_stop else None
    monitored = (options.monitor or early or "").partition(".")[2]
    where = entries.get("monitor", entries.get("early_stop"))
    if "(" in monitored and monitored not in options.metrics:
        keys.append((monitored, where.value if where else None))
    if "output" not in readable or "target" not in readable:   # plain metrics only plotted or monitored
        for key, entry in [*((p, entries.get("plot")) for p in options.plot), (monitored, where)]:
            if key in METRIC_FITS and key not in options.metrics:
                ctx.error(f"the metric {key} compares output and target, but the data has no target field "
                          f"'{options.target or 'y'}'", entry.value.span, "list it in metrics as a call, "
                          f"e.g. metrics = [{key}(output, {_a_target(spec, readable)})]", code="E723")
    sources = {}
    for key, item in keys:
        where = item.span if item is not None else entries["metrics"].value.span
        name = metric_name(key)
        if "(" in key:
            args = [a.id for a in item.args] if isinstance(item, ast.Call) else key[len(name) + 1:-1].split(", ")
            spans = [a.span for a in item.args] if isinstance(item, ast.Call) else [where, where]
            unknown = next((i for i, a in enumerate(args) if a not in readable), None)
            if unknown is not None:
                ctx.error(f"the metric {key} reads '{args[unknown]}', which is neither an output of the model nor a "
                          "field of the data", spans[unknown],
                          did_you_mean(args[unknown], readable) or f"it may read {', '.join(readable)}", code="E723")
                continue
            (out_src, out), (tgt_src, tgt) = readable[args[0]], readable[args[1]]
            sources[key] = (out_src, tgt_src)
            if name in CLASS_METRICS and tgt.dtype == "float":
                ctx.error(f"the metric {key} counts classes, but {args[1]} holds numbers ({tgt.dtype} {tgt.batched})",
                          spans[1], "regression metrics are mae, rmse and r2; a classification metric compares "
                          "scores with a class-index field", code="E722")
                continue
        else:
            if "output" not in readable or "target" not in readable:
                ctx.error(f"the metric {key} compares output and target, but the data has no target field "
                          f"'{options.target or 'y'}'", where,
                          f"name what it compares, e.g. {key}(output, {_a_target(spec, readable)})",
                          code="E723")
                continue
            out, tgt = readable["output"][1], readable["target"][1]
        fits, expected = METRIC_FITS[name]
        if not fits(out, tgt):
            ctx.error(f"the metric {key} needs {expected}; the model gives {out.batched} for the target "
                      f"{tgt.dtype} {tgt.batched}", where,
                      "regression metrics are mae, rmse and r2; classification metrics are accuracy, top5, f1, "
                      "precision and recall", code="E722")
    return sources


def _heads(spec: Spec, model: str, readable: dict) -> dict[str, Optional[str]]:
    """For a model that returns several values: each one's name (``output_<i>`` when it is not
    written as a name) -> the class-index field a class loss scores it against, or None (numbers)."""
    names = _return_names(spec, model)
    if len(names) < 2:
        return {}
    pairs = class_pairs(spec.loss.value)
    heads = {}
    for i, name in enumerate(names):
        src = readable.get(pairs.get(name) or (pairs.get("output") if i == 0 else None))
        heads[name or f"output_{i}"] = src[0][1] if src and src[0][0] == "field" else None
    return heads


def _a_target(spec: Spec, readable: dict) -> str:
    """A field that no model takes, for a hint: the first target-like field."""
    inputs = {p.name for m in spec.models.values() for p in m.params}
    return next((n for n, (src, _) in readable.items() if src[0] == "field" and n not in inputs and n != "target"),
                "target")


def _metric_text(item) -> Optional[str]:
    """A metrics list item as its key: ``accuracy``, ``accuracy(logits, kind)``."""
    if isinstance(item, ast.Name):
        return item.id
    if (isinstance(item, ast.Call) and isinstance(item.func, ast.Name)
            and all(isinstance(a, ast.Name) for a in item.args)):
        return f"{item.func.id}({', '.join(a.id for a in item.args)})"
    return None


def _refused(section) -> set[str]:
    """The keys of a data or train section whose values were refused (in ``spec.problems``)."""
    if section is None:
        return set()
    kept = section.options.model_fields_set if section.options is not None else set()
    return {e.key for e in section.entries} - kept


def _loss(ctx: Context, spec: Spec, graph: Optional[GraphIR], model: Optional[str]) -> Optional[dict]:
    """The loss graph, in ``ctx.program.loss``, with what feeds each of its inputs in
    ``ctx.program.loss_reads`` (names) and ``ctx.loss_sources``; returns what the loss and the
    metrics may read (:func:`_loss_names`). When the model's outputs or the data are not known,
    the loss's own names and options are still checked."""
    readable = _loss_names(ctx, spec, graph, model)
    if readable is None:
        lower_loss(ctx, spec.loss, None)
        return None
    ctx.program.loss = lower_loss(ctx, spec.loss, {n: t for n, (_, t) in readable.items()})
    ctx.loss_sources = {n: readable[n][0] for n in ctx.program.loss_reads}
    return readable


def _target_field(spec: Spec, sources: dict, readable: dict) -> Optional[str]:
    """The field that is "the target" of the run (stratified splits, the record, plots):
    ``train.target`` (``y``) when the data has it, else the first field the loss reads."""
    if "target" in readable:
        return spec.train_options.target or "y"
    return next((key for kind, key in sources.values() if kind == "field"), None)


def _builtin_form(e) -> bool:
    """``loss = cross_entropy`` or ``cross_entropy(label_smoothing=0.1)``: applied to (output, target)."""
    func = e.func if isinstance(e, ast.Call) and not e.args else e
    return isinstance(func, ast.Name) and func.id in LOSSES


def _return_names(spec: Spec, model: str) -> list[Optional[str]]:
    """The name each returned value is written as (``return logits, amount``), or None."""
    ret = next((s for s in spec.models[model].body if isinstance(s, ast.Return)), None)
    return [v.id if isinstance(v, ast.Name) else None for v in (ret.values if ret else [])]


def _loss_names(ctx: Context, spec: Spec, graph: Optional[GraphIR], model: Optional[str]) -> Optional[dict]:
    """What the loss may read, name -> (source, type): ``output`` (the model's first output),
    ``target`` (the ``train.target`` field), each returned name, each data field; a source is
    ``("output", i)`` or ``("field", name)``. None (after saying why, unless the cause is
    reported elsewhere) when the model's outputs or the data are not known."""
    if graph is None or "target" in _refused(spec.train):
        return None
    fields = ctx.data.fields if ctx.data else {}
    reads = {*names_read(spec.loss.value), *(("output", "target") if _builtin_form(spec.loss.value) else ())}
    target = spec.train_options.target or "y"
    readable: dict = {}
    outputs = graph.output_types
    if outputs and isinstance(outputs[0], TensorType):
        readable["output"] = (("output", 0), outputs[0])
    elif "output" in reads:
        if outputs:
            ctx.error(f"the loss needs the model's output to be a tensor, got {outputs[0]}", spec.loss.span,
                      code="E721")
        return None
    if target in fields:
        readable["target"] = (("field", target), fields[target])
    elif "target" in reads:
        entry = next((e for e in (spec.train.entries if spec.train else []) if e.key == "target"), None)
        ctx.error(f"the data has no target field '{target}'", entry.value.span if entry else spec.loss.span,
                  did_you_mean(target, fields) or f"the fields are {', '.join(fields)}; set train {{ target = ... }}"
                  " or name the fields in the loss", code="E720")
        return None
    for i, name in enumerate(_return_names(spec, model)):
        if name is not None and i < len(outputs) and isinstance(outputs[i], TensorType):
            readable.setdefault(name, (("output", i), outputs[i]))
    for name, t in fields.items():
        if isinstance(t, TensorType):
            readable.setdefault(name, (("field", name), t))
    return readable


__all__ = ["CheckedSpec", "check"]
