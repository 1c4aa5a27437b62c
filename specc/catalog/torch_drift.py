"""The torch signature tables for the torch that is installed, not only the one they came from.

``torch_tables.py`` is generated from one torch version. The installed torch's version is read
from its package metadata, without importing it. When the two differ, that torch's own tables
are made once, by ``python -m specc.torch_signatures`` in a subprocess (so torch never enters
this process), and cached as JSON in the user's cache folder,
``$XDG_CACHE_HOME/specc/torch_tables-<version>.json`` (default ``~/.cache``), written
atomically; later runs read the cache, as data only, checked entry by entry. When they cannot
be made, a :class:`~specc.errors.TorchTablesWarning` says so once and the shipped tables are
used.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path
import re
import subprocess
import sys
import tempfile
import warnings

from ..errors import TorchTablesWarning

FORMAT = 2
SIGNATURE_TABLES = ("NN_MODULES", "OPTIMIZERS", "SCHEDULERS", "FORWARDS")
KINDS = frozenset({"pos", "kwonly", "varargs", "varkw"})
SCALARS = (type(None), bool, int, float, str)
MAX_CACHE_BYTES = 16 * 2**20
REGENERATE_TIMEOUT_S = 600
_INTROSPECTING = "SPECC_INTROSPECTING_TORCH"


class Unavailable(Exception):
    """The installed torch's tables could not be made or read; the message says why."""


def installed_torch() -> str | None:
    """The installed torch's version, from its metadata (torch is not imported); None if absent."""
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def cache_path(version: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "specc" / f"torch_tables-{re.sub(r'[^A-Za-z0-9.+_-]', '_', version)}.json"


def for_installed_torch(version: str, modules: dict, paths: dict, optimizers: dict, schedulers: dict,
                        forwards: dict):
    """``(version, modules, paths, optimizers, schedulers, forwards)`` for the installed torch: the
    given (shipped) tables when it is the same torch or none is installed, else its own."""
    installed = installed_torch()
    if installed is None or installed == version or os.environ.get(_INTROSPECTING):
        return version, modules, paths, optimizers, schedulers, forwards
    path = cache_path(installed)
    failed = path.with_suffix(".failed")   # why an earlier run could not make them
    try:
        tables = _read(path, installed)
        if tables is None and failed.is_file():   # not again on every check: one subprocess
            raise Unavailable(f"{_earlier(failed)}, as an earlier run found (delete {failed} to try again)")
        if tables is None:
            try:
                tables = _regenerate(path, installed)
            except Unavailable as exc:
                _remember(failed, str(exc))
                raise
    except Unavailable as exc:
        warnings.warn(TorchTablesWarning(
            f"torch {installed} is installed but specc's signature tables are for torch {version}, and "
            f"{exc}; arguments are checked against torch {version}"), stacklevel=2)
        return version, modules, paths, optimizers, schedulers, forwards
    return (installed, tables["NN_MODULES"], tables["NN_MODULE_PATHS"], tables["OPTIMIZERS"], tables["SCHEDULERS"],
            tables["FORWARDS"])


def _read(path: Path, version: str) -> dict | None:
    """The cached tables, or None when there are none (or they are not a valid cache)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CACHE_BYTES + 1)
    except OSError:
        return None
    try:
        doc = json.loads(raw) if len(raw) <= MAX_CACHE_BYTES else None
        return parse_tables(doc) if isinstance(doc, dict) and doc.get("format") == FORMAT \
            and doc.get("torch") == version else None
    except (ValueError, RecursionError):
        return None


def _regenerate(path: Path, version: str) -> dict:
    """Introspect the installed torch in a subprocess; cache and return its tables."""
    package_root = str(Path(__file__).resolve().parents[2])   # the child imports this very specc
    env = {**os.environ, _INTROSPECTING: "1",                  # and never regenerates in turn
           "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run([sys.executable, "-m", "specc.torch_signatures"], capture_output=True,
                              text=True, timeout=REGENERATE_TIMEOUT_S, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"introspecting it failed ({exc})") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise Unavailable(f"introspecting it failed ({last})")
    try:
        doc = json.loads(done.stdout)
        tables = parse_tables(doc)
    except ValueError as exc:
        raise Unavailable(f"its introspected signatures were not understood ({exc})") from None
    _write(path, {"format": FORMAT, "torch": version, **{k: doc[k] for k in (*SIGNATURE_TABLES, "NN_MODULE_PATHS")}})
    return tables


def _earlier(failed: Path) -> str:
    try:
        with open(failed, "rb") as f:
            return f.read(4096).decode("utf-8", errors="replace").strip() or "introspecting it failed"
    except OSError:
        return "introspecting it failed"


def _remember(failed: Path, reason: str) -> None:
    """Note why the tables could not be made, so later runs warn without trying again."""
    try:
        failed.parent.mkdir(parents=True, exist_ok=True)
        failed.write_text(reason + "\n", encoding="utf-8")
    except OSError:
        pass    # then the next run tries again


def _write(path: Path, doc: dict) -> None:
    """Write the cache atomically (a temporary file renamed over it). One that cannot be
    written is a warning, not an error: the tables are made again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        warnings.warn(TorchTablesWarning(f"cannot cache the signature tables of torch {doc['torch']} in {path} "
                                         f"({exc.strerror or exc}): they are made again on every run"), stacklevel=3)


def parse_tables(doc) -> dict:
    """The five tables from JSON data, checked entry by entry (ValueError if anything is off):
    names are identifiers, kinds known, defaults literals, paths ``torch.nn.<name>``."""
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    out = {table: {_name(n): _params(p) for n, p in _mapping(doc.get(table), table).items()}
           for table in SIGNATURE_TABLES}
    paths = _mapping(doc.get("NN_MODULE_PATHS"), "NN_MODULE_PATHS")
    if paths != {name: f"torch.nn.{name}" for name in out["NN_MODULES"]}:
        raise ValueError("NN_MODULE_PATHS does not name torch.nn.<module> for each module")
    out["NN_MODULE_PATHS"] = dict(paths)
    return out


def _mapping(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a table")
    return value


def _name(value) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise ValueError(f"{value!r} is not a name")
    return value


def _params(value) -> tuple:
    if not isinstance(value, list):
        raise ValueError("a signature is not a list")
    out = []
    for p in value:
        if not (isinstance(p, list) and len(p) == 3 and p[1] in KINDS):
            raise ValueError(f"{p!r} is not a (name, kind, default) parameter")
        out.append((_name(p[0]), p[1], _default(p[2])))
    return tuple(out)


def _default(value):
    if isinstance(value, list) and all(isinstance(v, SCALARS) for v in value):
        return tuple(value)
    if isinstance(value, SCALARS):
        return value
    raise ValueError(f"{value!r} is not a literal default")
