"""The general shape rule: run a layer on meta tensors (no memory, no compute).

Used for torch.nn layers without a table rule and for imported code. Only this module of
the analysis imports torch, and only when such a layer is used, so ``specc check`` of a spec
made of table layers never loads torch. Symbolic dims are stood in for by distinct unusual
sizes and mapped back on the way out.
"""
from __future__ import annotations

import inspect

from ..catalog.layers import ShapeProblem, check_param_count
from ..errors import Span
from ..types import TensorType, TupleType, ValueType

_STAND_INS = [1009, 1013, 1019, 1021, 1031, 1033, 1039, 1049, 1051, 1061]
_BATCH = 997
_DTYPES = {"float": "float32", "long": "int64", "int": "int32", "bool": "bool"}


def kind_of(obj) -> str | None:
    """"module" for an nn.Module subclass, "function" for a plain function, else None."""
    import torch

    if isinstance(obj, type) and issubclass(obj, torch.nn.Module):
        return "module"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "function"
    return None


def check_signature(cls, args, kwargs) -> str | None:
    """Why ``cls(*args, **kwargs)`` would fail to bind, or None."""
    if "self" in kwargs:      # inspect's signature of a class leaves ``self`` out; **kwargs would take it
        return "got multiple values for argument 'self'"
    try:
        inspect.signature(cls).bind(*args, **kwargs)
    except TypeError as exc:
        return str(exc)
    except ValueError:
        return None
    return None


def _to_meta(types: list[TensorType]):
    import torch

    symbols: dict[str, int] = {}
    tensors = []
    for t in types:
        sizes = []
        for d in t.full:
            if d == "B":
                sizes.append(_BATCH)
            elif isinstance(d, int):
                sizes.append(d)
            else:
                if d not in symbols:
                    symbols[d] = _STAND_INS[len(symbols) % len(_STAND_INS)]
                sizes.append(symbols[d])
        tensors.append(torch.empty(sizes, dtype=getattr(torch, _DTYPES[t.dtype]), device="meta"))
    return tensors, {v: k for k, v in symbols.items()}


def _from_meta(value, back: dict[int, str]) -> ValueType:
    import torch

    if isinstance(value, (tuple, list)):
        return TupleType(tuple(_from_meta(v, back) for v in value))
    if not isinstance(value, torch.Tensor):
        raise ShapeProblem(f"it returned {type(value).__name__}, not a tensor")
    dtype = "float" if value.dtype.is_floating_point else {"torch.int64": "long", "torch.int32": "int",
                                                          "torch.bool": "bool"}.get(str(value.dtype), "long")
    full = tuple("B" if s == _BATCH else back.get(s, s) for s in value.shape)
    return TensorType.from_full(dtype, full)


def run(factory, types: list[TensorType], what: str) -> tuple[ValueType, int]:
    """Build with ``factory()`` on the meta device and apply it to meta tensors of ``types``.

    Returns the output type and, when ``factory()`` made a module, the number of values in its
    parameters and buffers (refused past the limit before the module is ever really built).
    """
    import torch

    tensors, back = _to_meta(types)
    try:
        with torch.device("meta"):
            fn = factory()
        size = 0
        if isinstance(fn, torch.nn.Module):
            size = sum(t.numel() for t in [*fn.parameters(), *fn.buffers()])
            check_param_count(what, size)
        with torch.no_grad():
            return _from_meta(fn(*tensors), back), size
    except ShapeProblem:
        raise
    except Exception as exc:  # the layer's own complaint, in its own words
        shapes = ", ".join(t.batched for t in types)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShapeProblem(f"{what} cannot take an input of shape {shapes}: {first}") from None


def infer_layer(ctx, spec, types: list[TensorType]) -> tuple[ValueType, int]:
    """Output type and size (see :func:`run`) of a layer without a table rule (torch.nn or imported)."""
    import torch

    if spec.source == "torch":
        cls = getattr(torch.nn, spec.type_name)
    else:
        alias, name = spec.type_name.split(".")
        cls = getattr(ctx.imports[alias], name)
    return run(lambda: cls(*spec.args, **spec.kwargs), types, spec.type_name)


def call_imported_function(lowerer, stage, lead, span: Span):
    """``my.fn(x, ...)``: an imported function applied to tensors (and constants)."""
    from .context import Failed
    from .values import Const, Poison, Tensor, describe

    values = [*lead, *stage.args]
    for v in values:
        if isinstance(v, Poison):
            raise Failed()
        if not isinstance(v, (Tensor, Const)):
            raise lowerer.ctx.fail(f"{stage.name} takes tensors and constants, got {describe(v)}", span, code="E163")
    for k, v in stage.kwargs.items():
        if not isinstance(v, Const):
            raise lowerer.ctx.fail(f"{stage.name}: '{k}' must be a constant", stage.kwarg_spans.get(k, span),
                                   code="E163")
    alias, name = stage.name.split(".")
    fn = getattr(lowerer.ctx.imports[alias], name)
    tensors = [v for v in values if isinstance(v, Tensor)]
    kwargs = {k: v.value for k, v in stage.kwargs.items()}

    def call(*ts):
        it = iter(ts)
        return fn(*(next(it) if isinstance(v, Tensor) else v.value for v in values), **kwargs)

    try:
        out, _ = run(lambda: call, [t.type for t in tensors], stage.name)
    except ShapeProblem as p:
        raise lowerer.ctx.fail(p.message, span, p.hint, code="E205")
    args = tuple(v.ref if isinstance(v, Tensor) else v.value for v in values)
    return lowerer.emit("function", stage.name, args, kwargs, out, span, name)
