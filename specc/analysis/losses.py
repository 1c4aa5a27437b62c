"""The loss (section 5): a graph over ``output`` and ``target`` that must end in one number."""
from __future__ import annotations

from ..catalog import signatures
from ..catalog.layer_args import ArgProblem, check_args
from ..catalog.layers import ShapeProblem
from ..catalog.losses import LOSSES
from ..catalog.torch_tables import NN_MODULES
from ..errors import Span
from ..syntax import ast
from ..types import TensorType
from .context import Context, Failed
from .ir import GraphIR
from .values import Const, FuncStage, Poison, Tensor, describe

SCALAR = TensorType("float", (), None)


def lower_loss(ctx: Context, loss: ast.Loss, output: TensorType | None, target: TensorType | None) -> GraphIR | None:
    """The loss graph, or None when it has errors (recorded in ``ctx``). With the types
    unknown (None: the model or the data is broken), ``output`` and ``target`` are poisoned:
    the loss's names and options are checked, nothing that needs their shapes."""
    from .lower import GraphLowerer

    known = output is not None and target is not None
    g = GraphLowerer(ctx, "Loss", "loss", [("output", output), ("target", target)] if known else [], loss=True)
    if not known:
        g.scope.update(output=Poison(), target=Poison())
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
    return g.ir


def _check_options(ctx: Context, stage: FuncStage, module: str, options: dict, out: TensorType, span: Span) -> None:
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
            want, what = ((out.shape[0],), f"the model scores {out.shape[0]} classes") if out.shape else ((), "")
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
    classes = ctx.data.attrs.get("classes") if ctx.data else None
    _check_options(ctx, stage, rule.module, options, out, span)
    try:
        rule.check(out, tgt, classes, stage.name)
    except ShapeProblem as p:
        raise ctx.fail(p.message, span, p.hint, code="E404")
    from ..analysis.ir import LayerInst
    name = g.layer_names.fresh(stage.name)
    g.ir.layers[name] = LayerInst(name, "torch", rule.module, (), options, span, [span], [out, tgt], SCALAR)
    return g.emit("module", name, (values[0].ref, values[1].ref), {}, SCALAR, span, stage.name)
