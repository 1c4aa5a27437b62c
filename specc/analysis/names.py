"""Unique, safe Python names for values and submodules, derived from the user's names.

Like torch.fx's ``_Namespace``: each object gets one name, unique in its graph, that never
shadows a Python keyword, a builtin, the modules generated code imports (``torch``, ``nn``,
``F``) or an attribute of ``nn.Module`` (a layer called ``eval`` becomes ``eval_``). Names
that start with two underscores would be mangled inside a class body, so they get a prefix.
"""
from __future__ import annotations

import builtins
import keyword
import re

# Public attributes of torch.nn.Module and of torch.fx.GraphModule (torch 2.x): a submodule with one
# of these names would be shadowed by the method (``self.eval(x)``). A test checks this against torch.
MODULE_ATTRS = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule
half ipu load_state_dict modules mtia named_buffers named_children named_modules named_parameters
parameters register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict to
to_empty train type xpu zero_grad training graph code meta
add_submodule delete_all_unused_submodules delete_submodule print_readable recompile to_folder
""".split())

RESERVED = frozenset({*keyword.kwlist, *keyword.softkwlist, *dir(builtins), "self", "torch", "nn", "F",
                      "operator", "math"}) | MODULE_ATTRS

_IDENT = re.compile(r"[^A-Za-z0-9_]")


def safe(name: str) -> str:
    """A Python identifier close to ``name`` that is safe as a local or an attribute."""
    name = _IDENT.sub("_", name) or "v"
    if name[0].isdigit() or name.startswith("__"):
        name = "v" + name
    while name in RESERVED or name.startswith("_"):
        name = (name + "_") if not name.startswith("_") else "v" + name
    return name


class Namespace:
    """Hands out unique safe names: ``h``, ``h_1``, ``h_2``..."""

    def __init__(self, taken: set[str] | None = None):
        self._taken: set[str] = set(taken or ())
        self._count: dict[str, int] = {}

    def fresh(self, base: str) -> str:
        base = safe(base)
        name = base
        while name in self._taken:
            self._count[base] = self._count.get(base, 0) + 1
            name = f"{base}_{self._count[base]}"
        self._taken.add(name)
        return name


def snake(type_name: str) -> str:
    """``BatchNorm2d`` -> ``batchnorm2d``, ``MyLinear`` -> ``mylinear``: a layer's default name."""
    return type_name.split(".")[-1].lower()
