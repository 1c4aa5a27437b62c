"""Torch's layer, optimizer and scheduler constructor signatures, introspected (imports torch).

The front end reads these as data without importing torch: ``tools/gen_torch_tables.py``
writes them as the literals of ``specc/catalog/torch_tables.py``, and when another torch is
installed, ``specc.catalog.torch_drift`` runs ``python -m specc.torch_signatures`` once, which
prints them as JSON, and caches that. A parameter is ``(name, kind, default)``: kind is "pos"
(positional-or-keyword), "kwonly", "varargs" or "varkw"; default is the literal default (a
scalar, or a tuple of scalars), ``REQUIRED`` when there is none, or ``OBJECT`` when it is not
a plain literal. Optimizers omit ``params`` and schedulers omit ``optimizer``; ``FORWARDS`` holds
each layer's ``forward`` signature (without ``self``), which keyword arguments at application are
checked against.
"""
from __future__ import annotations

import inspect
import json
import math
import typing

import torch
import torch.nn
import torch.optim
import torch.optim.lr_scheduler as lr_scheduler

REQUIRED = "<required>"
OBJECT = "<object>"

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


def default(value: object) -> object:
    """A default as plain data: the scalar, a tuple of scalars, REQUIRED or OBJECT."""
    if value is inspect.Parameter.empty:
        return REQUIRED
    if isinstance(value, (list, tuple)) and all(isinstance(v, SCALARS) for v in value):
        items = tuple(default(v) for v in value)
        return OBJECT if OBJECT in items else items
    if isinstance(value, float) and not math.isfinite(value):
        return OBJECT  # inf is not a literal
    return value if isinstance(value, SCALARS) else OBJECT


def params_of(cls: type, drop: str | None = None) -> tuple[tuple[str, str, object], ...]:
    """``(name, kind, default)`` per constructor parameter, without ``drop``."""
    return _params(cls, init_signature(cls), drop)


def forward_params(cls: type) -> tuple[tuple[str, str, object], ...]:
    """``(name, kind, default)`` per parameter of the layer's ``forward`` (without ``self``)."""
    sig = inspect.signature(cls.forward)
    return _params(cls, sig.replace(parameters=list(sig.parameters.values())[1:]))


def _params(cls: type, sig: inspect.Signature, drop: str | None = None) -> tuple[tuple[str, str, object], ...]:
    out = []
    for p in sig.parameters.values():
        if p.name == drop:
            continue
        if p.kind not in KINDS:
            raise ValueError(f"{cls.__qualname__}: parameter {p.name!r} is {p.kind.description}")
        out.append((p.name, KINDS[p.kind], default(p.default)))
    return tuple(out)


def tables() -> dict[str, dict]:
    """``NN_MODULES``, ``NN_MODULE_PATHS``, ``OPTIMIZERS``, ``SCHEDULERS`` and ``FORWARDS`` (each
    layer's forward signature), sorted by name."""
    modules = module_classes()
    optimizers, schedulers = optimizer_classes(), scheduler_classes()
    return {
        "NN_MODULES": {name: params_of(modules[name]) for name in sorted(modules)},
        "NN_MODULE_PATHS": {name: f"torch.nn.{name}" for name in sorted(modules)},
        "OPTIMIZERS": {name: params_of(optimizers[name], "params") for name in sorted(optimizers)},
        "SCHEDULERS": {name: params_of(schedulers[name], "optimizer") for name in sorted(schedulers)},
        "FORWARDS": {name: forward_params(modules[name]) for name in sorted(modules)},
    }


if __name__ == "__main__":
    print(json.dumps({"torch": torch.__version__, **tables()}))
