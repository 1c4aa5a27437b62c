"""The loss (section 5): a graph over ``output`` and ``target`` that must end in one number."""
from __future__ import annotations

from typing import Optional

from ..catalog import signatures
from ..catalog.layer_args import ArgProblem, check_args
from ..catalog.layers import ShapeProblem
from ..catalog.losses import LOSSES, Classes
from ..catalog.torch_tables import NN_MODULES
from ..errors import Span
from ..syntax import ast
from ..types import TensorType
from .context import Context, Failed
from .ir import GraphIR, _refs
from .values import Const, FuncStage, Poison, Tensor, describe

SCALAR = TensorType("float", (), None)


def lower_loss(ctx: Context, loss: ast.Loss, names: dict[str, TensorType] | None) -> GraphIR | None:
    """The loss graph, or None when it has errors (recorded in ``ctx``). ``names`` are what
    the loss may read (``output``, ``target``, the model's outputs by name, the data's fields)
    and their types; the graph's inputs are those it reads, in this order. With ``names``
    None (the model or the data is broken) every name is poisoned: the loss's own names and
    options are checked, nothing that needs their shapes."""
    from .lower import GraphLowerer

    g = GraphLowerer(ctx, "Loss", "loss", list((names or {}).items()), loss=True)
    if names is None:   # what the loss applies (a loss, a function) is still checked: a misspelling is reported
        called = {n.func.id for n in walk(loss.value) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        values = [] if isinstance(loss.value, ast.Name) else names_read(loss.value)
        g.scope.update({n: Poison() for n in (*values, "output", "target") if n not in called and n != "data"})
    e = loss.value
    try:
        if isinstance(e, ast.Name) and e.id in LOSSES:
            value = apply_loss(g, FuncStage(e.id, [], {}, e.span), _pair(g), e.span)
        elif isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id in LOSSES and not e.args:
            stage = FuncStage(e.func.id, [], {k.name: g.expr(k.value) for k in e.kwargs}, e.span,
                              kwarg_spans={k.name: k.span for k in e.kwargs})
            value = apply_loss(g, stage, _pair(g), e.span)
        else:
            value = g.expr(e)
    except Failed:
        return None
    if isinstance(value, Poison):
        return None
    if not isinstance(value, Tensor) or value.type.batch_dim is not None or value.type.shape:
        shown = value.type.batched if isinstance(value, Tensor) else describe(value)
        ctx.error(f"the loss must be one number per batch, got {shown}", e.span,
                  "reduce it, e.g. mean((output - target) ** 2)", code="E400")
        return None
    g.ir.outputs = [value.ref]
    g.ir.output_types = [value.type]
    read = {r.name for op in g.ir.ops for r in _refs((op.args, op.kwargs))} | {r.name for r in _refs(g.ir.outputs)}
    kept = [i for i, (name, _) in enumerate(g.ir.inputs) if name in read]
    ctx.program.loss_reads = [list(names)[i] for i in kept]
    g.ir.inputs = [g.ir.inputs[i] for i in kept]
    return g.ir


def walk(node) -> list[ast.Node]:
    """Every node of an expression, outermost first."""
    if isinstance(node, (list, tuple)):
        return [n for item in node for n in walk(item)]
    if isinstance(node, ast.Node):
        return [node, *(n for f in type(node).model_fields for n in walk(getattr(node, f)))]
    return []


def names_read(node) -> list[str]:
    """Every plain name in an expression, in order (``cross_entropy(logits, kind)``: all three)."""
    return [n.id for n in walk(node) if isinstance(n, ast.Name)]


def class_pairs(loss: ast.Expr) -> dict[str, str]:
    """``cross_entropy(logits, kind)`` (or ``nll``) -> ``{"logits": "kind"}``: the values a class
    loss scores as classes, and the fields that hold their classes; ``loss = cross_entropy``
    scores ``output`` against ``target``."""
    func = loss.func if isinstance(loss, ast.Call) and not loss.args else loss
    if isinstance(func, ast.Name) and func.id in ("cross_entropy", "nll"):
        return {"output": "target"}
    pairs: dict[str, str] = {}
    for n in walk(loss):
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("cross_entropy", "nll")
                and len(n.args) == 2 and all(isinstance(a, ast.Name) for a in n.args)):
            pairs.setdefault(n.args[0].id, n.args[1].id)
    return pairs


def _check_options(ctx: Context, stage: FuncStage, module: str, options: dict, out: TensorType, class_dim: int,
                   span: Span) -> None:
    """Values torch would refuse when the loss is built or first run, refused here at the option."""
    try:
        check_args(module, {**signatures.defaults(NN_MODULES[module]), **options})
    except ArgProblem as p:
        raise ctx.fail(f"{stage.name}: {p.message}", stage.kwarg_spans.get(p.arg, span), p.hint, code="E405")
    if options.get("reduction") == "none":
        raise ctx.fail(f"{stage.name}: reduction='none' gives one loss per example, but the loss must be one "
                       "number", stage.kwarg_spans.get("reduction", span), "use reduction='mean' or 'sum'",
                       code="E405")
    for key in ("weight", "pos_weight"):
        weight = options.get(key)
        if weight is None:
            continue
        if module in ("CrossEntropyLoss", "NLLLoss"):   # one weight per class
            scored = out.shape[class_dim] if out.shape else None
            want, what = ((scored,), f"the model scores {scored} classes") if out.shape else ((), "")
        else:                                           # broadcast over the output's last dim
            last = out.shape[-1] if out.shape else None
            want, what = (1, last) if last is not None else (1,), f"the output is {out.batched}"
        if all(isinstance(n, int) for n in want) and want and len(weight) not in want:
            raise ctx.fail(f"{stage.name}: {key} has {len(weight)} values, but {what}", stage.kwarg_spans.get(key, span),
                           f"give {' or '.join(map(str, sorted(set(want))))} values", code="E405")


def _pair(g) -> list:
    return [g.scope["output"], g.scope["target"]]


def apply_loss(g, stage: FuncStage, lead: list, span: Span):
    """``cross_entropy(output, target, label_smoothing=0.1)`` -> a loss module applied."""
    ctx: Context = g.ctx
    rule = LOSSES[stage.name]
    values = [*lead, *stage.args]
    if len(values) != 2:
        raise ctx.fail(f"{stage.name} takes two tensors (output, target), got {len(values)}", span,
                       f"write {stage.name}(output, target) or just {stage.name}", code="E401")
    options = {}
    for k, v in stage.kwargs.items():
        if not isinstance(v, Const):
            raise ctx.fail(f"{stage.name}: option '{k}' must be a constant", stage.kwarg_spans.get(k, span),
                           code="E402")
        options[k] = v.value
    for p in signatures.check_call(NN_MODULES[rule.module], 0, list(options), name=stage.name):
        raise ctx.fail(p.message, stage.kwarg_spans.get(p.arg, span) if isinstance(p.arg, str) else span,
                       p.hint, code="E403")
    for v in values:
        if isinstance(v, Poison):
            raise Failed()
        if not isinstance(v, Tensor):
            raise ctx.fail(f"{stage.name} takes tensors, got {describe(v)}", span, code="E401")
    out, tgt = values[0].type, values[1].type
    try:
        class_dim = rule.check(out, tgt, _target_classes(ctx, values[1]), stage.name)
    except ShapeProblem as p:
        _check_options(ctx, stage, rule.module, options, out, 0, span)
        raise ctx.fail(p.message, span, p.hint, code="E404")
    _check_options(ctx, stage, rule.module, options, out, class_dim or 0, span)
    refs = (values[0].ref, values[1].ref)
    if class_dim is not None:
        options = {**_default_ignore(ctx, tgt), **options}
        if ctx.program.class_dim is None:   # the metrics read class scores as the first class loss does
            ctx.program.class_dim = -1 if class_dim else 1
            ctx.program.ignore_index = options.get("ignore_index")
        if class_dim:
            refs = _flatten_classes(g, values[0], values[1], span)
    from ..analysis.ir import LayerInst
    name = g.layer_names.fresh(stage.name)
    g.ir.layers[name] = LayerInst(name, "torch", rule.module, (), options, span, [span], [out, tgt], SCALAR)
    return g.emit("module", name, refs, {}, SCALAR, span, stage.name)


def _target_classes(ctx: Context, target: Tensor) -> Optional[Classes]:
    """What a class-index target ranges over: a class column of several targets over its own
    ``data.classes_of.<name>``, token ids (a target with positions) over ``data.vocab``, one class
    per example over ``data.classes``."""
    tgt = target.type
    if ctx.data is None or tgt.dtype not in ("long", "int"):
        return None
    if target.ref.name in ctx.data.classes_of:
        return Classes(ctx.data.classes_of[target.ref.name], f"data.classes_of.{target.ref.name}")
    source = "vocab" if tgt.shape else "classes"
    count = ctx.data.attrs.get(source)
    if count is None and source == "vocab":
        source, count = "classes", ctx.data.attrs.get("classes")
    return Classes(count, f"data.{source}") if count is not None else None


def _default_ignore(ctx: Context, tgt: TensorType) -> dict:
    """``ignore_index`` defaults to the data's pad when the target is padded per batch (a
    variable-length field: it has a named dim), so padding adds nothing to the loss."""
    padded = tgt.dtype in ("long", "int") and any(isinstance(d, str) for d in tgt.shape)
    if not padded or ctx.data is None or ctx.data.pad is None:
        return {}
    return {"ignore_index": int(ctx.data.pad)}


def _flatten_classes(g, output: Tensor, target: Tensor, span: Span) -> tuple:
    """``(B, ..., C)`` scores and ``(B, ...)`` targets as ``(N, C)`` and ``(N,)``: what
    ``cross_entropy(logits.reshape(-1, C), y.reshape(-1))`` computes."""
    out, tgt = output.type, target.type
    flat_out = g.emit("method", "flatten", (output.ref, 0, -2), {}, TensorType(out.dtype, out.shape[-1:]), span,
                      "scores")
    flat_tgt = g.emit("method", "flatten", (target.ref,), {}, TensorType(tgt.dtype, ()), span, "targets")
    return flat_out.ref, flat_tgt.ref
