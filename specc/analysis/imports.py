"""``import "layers.py" as my`` / ``import pkg.mod as my``: the only way a spec runs Python.

Files are found relative to the spec and must be regular files (:mod:`specc.files`). Loading
a file executes it (it is the user's own code, named in the spec); nothing is imported for a
spec without ``import`` lines. An import that raises, or calls ``sys.exit``, is an error at
its ``import`` line; Ctrl-C (KeyboardInterrupt) still stops specc.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
from pathlib import Path
import sys

from ..files import FileProblem, check_file
from ..syntax import ast
from .context import Context


def import_target(spec, item: ast.Import) -> str:
    """The file path or module name an import would load."""
    if item.path is not None:
        return str((spec.base_dir / item.path).resolve())
    return item.module


def module_key(spec, item: ast.Import) -> str:
    """The ``sys.modules`` name an import is loaded under."""
    if item.path is None:
        return item.module
    return "specc_user_" + hashlib.sha1(import_target(spec, item).encode()).hexdigest()[:12]


def found_elsewhere(name: str, own: Path) -> str | None:
    """Where ``import name`` finds a module on ``sys.path`` when that is not ``own`` (the spec's
    file or folder of that name): the standard library's ``json``, an installed package, a
    built-in; None when it finds ``own`` or nothing. Imports nothing, and ignores modules
    already loaded (``sys.modules``)."""
    if name in sys.builtin_module_names:
        return "Python's built-in module"
    found = importlib.machinery.PathFinder.find_spec(name)
    if found is None:
        return None
    locations = found.submodule_search_locations or [found.origin]
    return next((str(loc) for loc in locations if Path(loc).resolve() != own.resolve()), None)


def loaded_modules(spec) -> dict[str, object]:
    """alias -> module for a spec whose imports :func:`load_imports` has loaded."""
    return {item.alias: sys.modules[module_key(spec, item)] for item in spec.imports}


def load_imports(ctx: Context, spec) -> dict[str, str]:
    """Load every import into ``ctx.imports``; return alias -> what was loaded."""
    loaded = {}
    for item in spec.imports:
        if item.alias in ctx.imports:
            ctx.error(f"the name '{item.alias}' is imported twice", item.span, code="E600")
            continue
        target = import_target(spec, item)
        module = _load_file(ctx, spec, item, Path(target)) if item.path is not None else _load_module(ctx, item)
        if module is not None:
            ctx.imports[item.alias] = module
            loaded[item.alias] = target
        else:
            ctx.failed_imports.add(item.alias)
    return loaded


def _load_file(ctx: Context, spec, item: ast.Import, path: Path):
    try:
        check_file(path, "Python")
    except FileProblem as exc:
        why = f"no such file ({path})" if exc.missing else exc.message
        ctx.error(f"cannot import \"{item.path}\": {why}", item.span, code="E601")
        return None
    if path.suffix != ".py":
        ctx.error(f"cannot import \"{item.path}\": only Python files (.py) can be imported", item.span, code="E602")
        return None
    name = module_key(spec, item)
    if name in sys.modules:
        return sys.modules[name]
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    except (Exception, SystemExit) as exc:  # the user's file failed while loading: say where
        sys.modules.pop(name, None)
        ctx.error(f"importing \"{item.path}\" failed: {type(exc).__name__}: {exc}", item.span, code="E603")
        return None


def _load_module(ctx: Context, item: ast.Import):
    try:
        return importlib.import_module(item.module)
    except ModuleNotFoundError as exc:
        ctx.error(f"cannot import {item.module}: {exc}", item.span, code="E604")
    except (Exception, SystemExit) as exc:
        ctx.error(f"importing {item.module} failed: {type(exc).__name__}: {exc}", item.span, code="E603")
    return None
