"""Write ``specc/catalog/torch_tables.py``: torch's layer, optimizer and scheduler signatures as literals.

Why a generated file: the front end (parser, catalogue, shape analysis) must not import torch,
yet it has to know every ``torch.nn`` module, optimizer and scheduler by name, with its
parameters, to report "unknown keyword" and "missing argument" before anything is built.
So this tool introspects the installed torch once and writes plain Python literals;
``tests/catalog/test_torch_tables.py`` regenerates the text and compares it with the
committed file, so the catalogue cannot drift from the torch it was made from.

Run from the repository root:  .venv/bin/python tools/gen_torch_tables.py
"""
from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
import typing

import torch
import torch.nn
import torch.optim
import torch.optim.lr_scheduler as lr_scheduler

OUTPUT = Path(__file__).resolve().parent.parent / "specc" / "catalog" / "torch_tables.py"

# containers and abstract bases: not layers a spec can name
EXCLUDED_MODULES = frozenset(
    {"Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Container"}
)
EXCLUDED_SCHEDULERS = frozenset({"LRScheduler", "_LRScheduler"})

KINDS = {
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "pos",
    inspect.Parameter.KEYWORD_ONLY: "kwonly",
    inspect.Parameter.VAR_POSITIONAL: "varargs",
    inspect.Parameter.VAR_KEYWORD: "varkw",
}
SCALARS = (type(None), bool, int, float, str)


def public_classes(namespace: object, keep: typing.Callable[[str, type], bool]) -> dict[str, type]:
    """Classes exported by ``namespace`` (names without a leading underscore) that ``keep`` accepts."""
    found = {}
    for name in dir(namespace):
        obj = getattr(namespace, name)
        if not name.startswith("_") and inspect.isclass(obj) and keep(name, obj):
            found[name] = obj
    return found


def module_classes() -> dict[str, type]:
    return public_classes(torch.nn, lambda name, cls: issubclass(cls, torch.nn.Module)
                          and name not in EXCLUDED_MODULES and not name.startswith("Lazy"))


def optimizer_classes() -> dict[str, type]:
    return public_classes(torch.optim, lambda name, cls: issubclass(cls, torch.optim.Optimizer)
                          and cls is not torch.optim.Optimizer)


def scheduler_classes() -> dict[str, type]:
    return public_classes(lr_scheduler, lambda name, cls: name not in EXCLUDED_SCHEDULERS and (
        issubclass(cls, lr_scheduler.LRScheduler) or cls is lr_scheduler.ReduceLROnPlateau))


def init_signature(cls: type) -> inspect.Signature:
    """The constructor signature a user actually calls.

    A class that inherits ``Module.__init__`` (``Sigmoid``, ``Tanh``) takes no arguments, even
    though that ``__init__`` is written ``(*args, **kwargs)``. ``RNN``, ``LSTM`` and ``GRU``
    declare ``(*args, **kwargs)`` with ``typing.overload``s in front; the first overload is the
    documented signature.
    """
    init = cls.__init__
    if init is torch.nn.Module.__init__:
        return inspect.Signature([])
    overloads = typing.get_overloads(init)
    sig = inspect.signature(overloads[0] if overloads else init)
    return sig.replace(parameters=list(sig.parameters.values())[1:])  # drop self


def string(text: str) -> str:
    """A double-quoted Python string literal (JSON string syntax is valid Python)."""
    return json.dumps(text)


def literal(value: object) -> str:
    """Source text for a default: the literal itself, or the name REQUIRED / OBJECT."""
    if value is inspect.Parameter.empty:
        return "REQUIRED"
    if isinstance(value, (list, tuple)) and all(isinstance(v, SCALARS) for v in value):
        items = [literal(v) for v in value]
        if "OBJECT" not in items:
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, float) and not math.isfinite(value):
        return "OBJECT"  # repr(inf) is not Python source
    if isinstance(value, str):
        return string(value)
    if isinstance(value, SCALARS):
        return repr(value)
    return "OBJECT"


def params_of(cls: type, drop: str | None = None) -> list[str]:
    """One ``(name, kind, default)`` source line per parameter, without ``drop``."""
    lines = []
    for p in init_signature(cls).parameters.values():
        if p.name == drop:
            continue
        if p.kind not in KINDS:
            raise ValueError(f"{cls.__qualname__}: parameter {p.name!r} is {p.kind.description}")
        lines.append(f"({string(p.name)}, {string(KINDS[p.kind])}, {literal(p.default)}),")
    return lines


def table(title: str, classes: dict[str, type], drop: str | None) -> str:
    out = [f"{title}: dict[str, tuple[Param, ...]] = {{"]
    for name in sorted(classes):
        lines = params_of(classes[name], drop)
        if not lines:
            out.append(f"    {string(name)}: (),")
            continue
        out.append(f"    {string(name)}: (")
        out.extend("        " + line for line in lines)
        out.append("    ),")
    out.append("}")
    return "\n".join(out)


HEADER = '''\
# generated by tools/gen_torch_tables.py from torch {version}; do not edit
"""Torch's layer, optimizer and scheduler constructor signatures, as plain literals.

The front end reads these without importing torch. A parameter is ``(name, kind, default)``:
kind is "pos" (positional-or-keyword), "kwonly", "varargs" or "varkw"; default is the literal
default, ``REQUIRED`` when there is none, or ``OBJECT`` when it is not a plain literal.
Optimizers omit ``params`` and schedulers omit ``optimizer``: the compiler passes those.
"""

REQUIRED = "<required>"
OBJECT = "<object>"

Param = tuple[str, str, object]

TORCH_VERSION = {version_literal}
'''


def render() -> str:
    """The full text of ``torch_tables.py`` for the installed torch."""
    modules = module_classes()
    paths = "\n".join(["NN_MODULE_PATHS: dict[str, str] = {"]
                      + [f"    {string(name)}: {string('torch.nn.' + name)}," for name in sorted(modules)] + ["}"])
    parts = [
        HEADER.format(version=torch.__version__, version_literal=string(torch.__version__)).rstrip(),
        table("NN_MODULES", modules, None),
        paths,
        table("OPTIMIZERS", optimizer_classes(), "params"),
        table("SCHEDULERS", scheduler_classes(), "optimizer"),
    ]
    return "\n\n".join(parts) + "\n"


def main() -> None:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
