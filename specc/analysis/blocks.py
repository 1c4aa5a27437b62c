"""Block specialisation: each distinct (block, settings, input types) becomes one graph.

A block's symbolic dims are bound afresh at each use, like type parameters; inside the body,
a symbolic dim bound to a number can be used as that number (``Linear(c)``).
"""
from __future__ import annotations

from ..catalog.dims import is_int
from ..errors import Span
from ..types import TensorType
from .context import Failed
from .values import BlockSpec, Const, Tensor

_SETTING_TYPES = {
    "int": lambda v: is_int(v),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, (list, tuple)),   # of constants, for a for loop (version 1.1)
}
_SAME_DTYPE = {"long": "index", "int": "index"}


def specialise(lowerer, spec: BlockSpec, inputs: list[Tensor], span: Span) -> str:
    """The name of the graph for this use of ``spec.block``, analysing the body if it is new."""
    from .lower import GraphLowerer, signature_dims

    ctx, block = lowerer.ctx, spec.block
    tensor_params = [p for p in block.params if p.type.is_tensor]
    if len(inputs) != len(tensor_params):
        raise ctx.fail(f"block {block.name} takes {len(tensor_params)} tensor input(s), got {len(inputs)}", span,
                       code="E210")
    bindings: dict[str, object] = {}
    types = []
    for p, v in zip(tensor_params, inputs):
        types.append(_unify(ctx, block.name, p, v.type, bindings, span))
    settings = _settings(lowerer, spec)
    key = (block.name, tuple(sorted((k, repr(v)) for k, v in settings.items())), tuple(map(str, types)))
    if key in ctx.block_keys:
        return _built(ctx.block_keys[key])
    if block.name in ctx.block_stack:
        raise ctx.fail(f"block {block.name} uses itself", span, code="E211")
    taken = {g for g in ctx.program.blocks}
    name = block.name
    n = 1
    while name in taken or name in ctx.model_names:
        n += 1
        name = f"{block.name}_{n}"
    scope_consts = {k: v for k, v in bindings.items() if is_int(v)}
    sub = GraphLowerer(ctx, name, "block", [(p.name, t) for p, t in zip(tensor_params, types)],
                       settings={**scope_consts, **settings}, dims=signature_dims(tensor_params, types)[1])
    sub.symbolic = {d for d, a in bindings.items() if not is_int(a)}
    ctx.block_stack.append(block.name)
    errors = ctx.errors_seen
    try:
        graph = sub.run(block.body, block.name_span)
    finally:
        ctx.block_stack.pop()
    if ctx.errors_seen > errors:   # reported inside the body: the use says nothing more
        ctx.block_keys[key] = None
        return _built(None)
    graph.settings, graph.block = settings, block.name
    return ctx.add_block_graph(key, graph)


def _built(name: str | None) -> str:
    """The graph of a specialisation, or Failed if its body had errors (already reported)."""
    if name is None:
        raise Failed()
    return name


def _unify(ctx, block_name: str, param, actual: TensorType, bindings: dict, span: Span) -> TensorType:
    want = param.type
    same = want.dtype == actual.dtype or _SAME_DTYPE.get(want.dtype, 1) == _SAME_DTYPE.get(actual.dtype, 2)
    if not same:
        raise ctx.fail(f"block {block_name} wants {param.name}: {want.dtype}[...], got {actual.dtype} {actual.batched}",
                       span, code="E212")
    if actual.batch_dim not in (0, None) or len(want.dims) != len(actual.shape):
        shown = f"{want.dtype}[{', '.join(map(str, want.dims))}]"
        raise ctx.fail(f"block {block_name} wants {param.name}: {shown}, got {actual.batched}", span,
                       code="E213")
    for d, a in zip(want.dims, actual.shape):
        if is_int(d):
            if d != a:
                raise ctx.fail(f"block {block_name} wants {param.name} with a dim of {d}, got {actual.batched}", span,
                               code="E213")
        elif d in bindings and bindings[d] != a:
            raise ctx.fail(f"block {block_name}: '{d}' is {bindings[d]} in one input and {a} in {param.name}", span,
                           code="E214")
        else:
            bindings[d] = a
    return actual


def _settings(lowerer, spec: BlockSpec) -> dict:
    ctx, block = lowerer.ctx, spec.block
    out = {}
    for p in block.params:
        if p.type.is_tensor:
            continue
        if p.name in spec.settings:
            value, where = spec.settings[p.name], spec.setting_spans.get(p.name, spec.span)
        elif p.default is not None:
            v = lowerer.expr(p.default)
            if not isinstance(v, Const):
                raise ctx.fail(f"the default of setting '{p.name}' must be a constant", p.default.span, code="E215")
            value, where = v.value, p.default.span
        else:
            raise ctx.fail(f"block {block.name} needs the setting '{p.name}'", spec.span,
                           f"write {block.name}({p.name}=...)", code="E216")
        check = _SETTING_TYPES.get(p.type.dtype)
        if check is None:
            raise ctx.fail(f"unknown setting type '{p.type.dtype}'", p.type.span, "use int, float, bool, str or list",
                           code="E217")
        if not check(value):
            raise ctx.fail(f"setting '{p.name}' of block {block.name} is {p.type.dtype}, got {value!r}", where,
                           code="E218")
        out[p.name] = value
    return out
