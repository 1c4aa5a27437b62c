"""IR -> a standalone, readable PyTorch module (``specc compile``).

One ``nn.Module`` class per block specialisation and per model; ``__init__`` spells out every
inferred size, ``forward`` uses the spec's names with a shape comment per line. Safe by
construction: every name the spec chose comes from :func:`specc.analysis.names.safe`; an
attribute of torch or of an imported module is written as it is, after :func:`attr` has made
sure it is a plain identifier; every constant is written with ``repr`` of a plain Python value.
"""
from __future__ import annotations

import keyword
import math
from pathlib import PurePosixPath

from .. import __version__
from ..analysis.check import CheckedSpec
from ..analysis.imports import found_elsewhere
from ..analysis.ir import GraphIR, LayerInst
from ..analysis.names import Namespace, safe
from ..errors import Diagnostic, SpecError
from ..types import IntType, Ref, TensorType, TupleType

_INFIX = {"operator.add": "+", "operator.sub": "-", "operator.mul": "*", "operator.truediv": "/",
          "operator.floordiv": "//", "operator.pow": "**", "operator.matmul": "@", "operator.eq": "==",
          "operator.ne": "!=", "operator.lt": "<", "operator.le": "<=", "operator.gt": ">", "operator.ge": ">="}


def const(v) -> str:
    """Python source for a constant from the IR (only plain values ever reach here)."""
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return repr(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else f"float({str(v)!r})"
    if isinstance(v, tuple):
        inner = ", ".join(const(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(const(x) for x in v) + "]"
    if isinstance(v, slice):
        parts = ["" if p is None else const(p) for p in (v.start, v.stop, v.step)]
        return ":".join(parts[:2]) + (f":{parts[2]}" if v.step is not None else "")
    if v is Ellipsis:
        return "..."
    raise TypeError(f"cannot write {type(v).__name__} into generated code")


def attr(name: str) -> str:
    """An attribute name (``torch.sum``, ``my.MyLinear``) exactly as it is: renaming it (``sum_``)
    would name something else, and it never shadows anything. Refuse what is not an identifier."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise TypeError(f"{name!r} cannot be written as a Python attribute")
    return name


def _value(v, inline: dict) -> str:
    """Source for an op argument; ``inline`` holds the values written in place (``self.tok.weight``)."""
    if isinstance(v, Ref):
        return inline.get(v.name) or safe(v.name)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x, inline) for x in v) + "]"
    if isinstance(v, tuple):
        inner = ", ".join(_value(x, inline) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, slice) and any(isinstance(p, Ref) for p in (v.start, v.stop, v.step)):
        parts = ["" if p is None else _value(p, inline) for p in (v.start, v.stop, v.step)]
        return ":".join(parts[:2]) + (f":{parts[2]}" if v.step is not None else "")
    return const(v)


def _call_args(args, kwargs, inline: dict) -> str:
    parts = [_value(a, inline) for a in args]
    plain = {k: v for k, v in kwargs.items() if k.isidentifier() and not keyword.iskeyword(k)}
    parts += [f"{k}={_value(v, inline)}" for k, v in plain.items()]
    other = {k: v for k, v in kwargs.items() if k not in plain}   # e.g. class=1 for an imported **kwargs
    if other:
        parts.append("**{" + ", ".join(f"{const(k)}: {_value(v, inline)}" for k, v in other.items()) + "}")
    return ", ".join(parts)


def _shape_comment(t) -> str:
    if isinstance(t, (TensorType, IntType)):
        return t.batched
    if isinstance(t, TupleType):
        return "(" + ", ".join(_shape_comment(i) for i in t.items) + ")"
    return ""


def _index(key, inline: dict) -> str:
    keys = key if isinstance(key, tuple) else (key,)
    return ", ".join(_value(k, inline) for k in keys)


def _inline(op) -> str | None:
    """How a parameter (``self.pos``, ``self.tok.weight``) or ``x.device`` is written where it is used."""
    if op.op == "param":
        return "self." + ".".join(safe(p) if i == 0 else attr(p) for i, p in enumerate(op.target.split(".")))
    if op.op == "attr":
        return f"{safe(op.args[0].name)}.{attr(op.target)}"
    return None


def _expr(op, imports: dict, inline: dict) -> str:
    if op.op == "module":
        return f"self.{safe(op.target)}({_call_args(op.args, op.kwargs, inline)})"
    if op.op == "method":
        return f"{_value(op.args[0], inline)}.{attr(op.target)}({_call_args(op.args[1:], op.kwargs, inline)})"
    if op.op == "getitem" or op.target == "operator.getitem":
        return f"{_value(op.args[0], inline)}[{_index(op.args[1], inline)}]"
    if op.target in _INFIX:
        return f"{_value(op.args[0], inline)} {_INFIX[op.target]} {_value(op.args[1], inline)}"
    if op.target == "operator.neg":
        return f"-{_value(op.args[0], inline)}"
    parts = op.target.split(".")
    if parts[0] in imports:
        target = ".".join([safe(parts[0]), *map(attr, parts[1:])])
    elif op.target.startswith("torch.nn.functional."):
        target = "F." + attr(parts[-1])
    else:
        target = "torch." + ".".join(map(attr, parts[1:]))
    return f"{target}({_call_args(op.args, op.kwargs, inline)})"


_INIT_CALLS = {"normal": ("nn.init.normal_", ("mean", "std")), "uniform": ("nn.init.uniform_", ("a", "b"))}


def _parameter(name: str, layer: LayerInst) -> list[str]:
    """``self.pos = nn.Parameter(torch.zeros(64, 128))`` and its initialiser, as fx_build makes it."""
    init, args = layer.kwargs["init"]
    make = "ones" if init == "ones" else "zeros"
    lines = [f"        self.{safe(name)} = nn.Parameter(torch.{make}({', '.join(map(const, layer.args))}))"]
    if init in _INIT_CALLS:
        fn, names = _INIT_CALLS[init]
        lines.append(f"        {fn}(self.{safe(name)}, {', '.join(f'{k}={const(v)}' for k, v in zip(names, args))})")
    return lines


def _layer(layer: LayerInst, class_names: dict) -> str:
    if layer.source == "block":
        return f"{class_names[layer.target]}()"
    if layer.source == "import":
        alias, name = layer.target.split(".")
        head = f"{safe(alias)}.{attr(name)}"
    else:
        head = f"nn.{attr(layer.target)}"
    return f"{head}({_call_args(layer.args, layer.kwargs, {})})"


def _class(g: GraphIR, class_names: dict, imports: dict, doc: str) -> list[str]:
    lines = [f"class {class_names[g.name]}(nn.Module):", f'    """{doc}"""', "",
             "    def __init__(self):", "        super().__init__()"]
    for name, layer in g.layers.items():
        if layer.source == "param":
            lines += _parameter(name, layer)
        elif layer.call is None:
            lines.append(f"        self.{safe(name)} = {_layer(layer, class_names)}")
    args = ", ".join(safe(n) for n, _ in g.inputs)
    lines += ["", f"    def forward(self, {args}):"]
    for n, t in g.inputs:
        lines.append(f"        # {safe(n)}: {_shape_comment(t)}")
    inline: dict[str, str] = {}
    for op in g.ops:
        written = _inline(op)
        if written is not None:
            inline[op.out] = written
            continue
        stmt = f"        {safe(op.out)} = {_expr(op, imports, inline)}"
        comment = _shape_comment(op.type)
        lines.append(f"{stmt}  # {comment}" if comment else stmt)
    outs = [_value(o, inline) for o in g.outputs]
    lines.append(f"        return {', '.join(outs)}")
    return lines


def _import_lines(checked: CheckedSpec) -> list[str]:
    """``import layers as my``: a file import becomes the module of that name, found beside the
    generated file; a path that is no Python module name is an error at the import."""
    lines = []
    for item in checked.spec.imports:
        alias = safe(item.alias)
        if item.module is not None:
            parts = item.module.split(".")
        else:
            parts = [p for p in PurePosixPath(item.path.replace("\\", "/")).with_suffix("").parts if p != "."]
        try:
            mod = ".".join(map(attr, parts))
        except TypeError:
            raise _import_error(checked, item, f"{'.'.join(parts)!r} is not a module name",
                                "name the file like a Python module (letters, digits, _) beside the spec") from None
        own = checked.spec.base_dir / (parts[0] if len(parts) > 1 else f"{parts[0]}.py")
        elsewhere = found_elsewhere(parts[0], own) if item.path is not None else None
        if elsewhere is not None:
            raise _import_error(checked, item, f"'import {mod}' would load {elsewhere}, not the spec's file",
                                f"rename {item.path}: the name '{parts[0]}' is taken by another module")
        lines.append(f"import {mod} as {alias}")
    return lines


def _import_error(checked: CheckedSpec, item, why: str, hint: str) -> SpecError:
    return SpecError(Diagnostic(f"cannot write 'import {item.path or item.module}' as Python: {why}", item.span,
                                hint, "E800", checked.spec.path or "<spec>"), checked.spec.source)


def to_source(checked: CheckedSpec, model: str | None = None, data=None) -> str:
    """Python source for ``model`` and the blocks it uses; without ``model``, for every model of
    the spec (one class each, in the spec's order) and the blocks they use. With ``data`` =
    ``(preprocessing, vocab)`` also the data preprocessing as functions
    (:mod:`specc.compile.datagen`)."""
    program = checked.program
    models = [model] if model is not None else list(program.models)
    needed: list[str] = []
    for name in models:
        needed += [b for b in _blocks_used(program, program.models[name]) if b not in needed]
    imports = {i.alias: i for i in checked.spec.imports}
    classes = Namespace(taken={safe(a) for a in imports})    # a class must not hide an import
    class_names = {b: classes.fresh(b) for b in [*needed, *models]}
    trained = class_names[checked.model_name(model)]
    source_name = checked.spec.path or "<spec>"
    out = [f"# Generated by specc {__version__} from {source_name!r}.",
           "# Standalone PyTorch: it needs only torch" + (" and the files the spec imports." if imports else "."),
           f"# Load trained weights with {trained}().load_state_dict(torch.load(path, weights_only=True)['model']).",
           *(["import re", ""] if data is not None and data[0].encode is not None else []),
           "import torch", "from torch import nn", "import torch.nn.functional as F"]
    out += _import_lines(checked)
    for b in needed:
        g = program.blocks[b]
        settings = ", ".join(f"{k}={v!r}" for k, v in g.settings.items())
        doc = f"Block {g.block}({settings}) as used in the spec.".replace('"', "'")
        out += ["", ""] + _class(g, class_names, imports, doc)
    for name in models:
        out += ["", ""] + _class(program.models[name], class_names, imports, f"Model {name} from the spec.")
    text = "\n".join(out) + "\n"
    if data is not None:
        from ..catalog.data_exprs import ExprProblem
        from .datagen import data_source
        try:
            text += data_source(*data, checked.data.transform)
        except ExprProblem as p:
            raise SpecError(Diagnostic(p.message, p.span, p.hint, "E801", checked.spec.path or "<spec>"),
                            checked.spec.source) from None
    return text


def _blocks_used(program, g: GraphIR) -> list[str]:
    """Block graphs ``g`` needs, dependencies first."""
    order: list[str] = []

    def visit(graph: GraphIR):
        for layer in graph.layers.values():
            if layer.source == "block" and layer.target not in order:
                visit(program.blocks[layer.target])
                order.append(layer.target)
    visit(g)
    return order
