"""Reading files: every file specc reads (a spec, an imported ``.py`` file, a CSV, a text
document, an image) goes through :func:`read_file` or, before another library opens it,
:func:`check_file`.

The rule (docs/safety.md): a path is looked up following symlinks, and only a regular file is
read. A folder, FIFO, socket or device is refused by name (``data.csv is a FIFO, not a
file``), so nothing can hang on a pipe or read ``/dev/zero`` until memory runs out. A file
larger than the limit for its kind (:data:`LIMITS`) is refused with both sizes. The file is
opened without blocking and checked again on the open descriptor, so a path swapped for a
FIFO between the two looks cannot hang the open either; then at most the limit is read.
"""
from __future__ import annotations

import os
from pathlib import Path
import stat

MB = 2**20

LIMITS = {
    "spec": 16 * MB,
    "Python": 16 * MB,
    "CSV": 512 * MB,
    "text": 64 * MB,
    "image": 256 * MB,
    "streamed CSV": float("inf"),   # specc predict reads it in chunks, never whole
}
"""The largest file specc reads, per kind (bytes)."""

_NOT_FILES = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class FileProblem(Exception):
    """A path that specc will not read: ``message`` says why; ``missing`` when it does not exist."""

    def __init__(self, message: str, missing: bool = False):
        super().__init__(message)
        self.message = message
        self.missing = missing


def kind_of(mode: int) -> str | None:
    """``"a FIFO"``, ``"a folder"``, ...: what a non-regular file is; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _NOT_FILES if test(mode)), "not a regular file")


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n} bytes"


def _check(path: Path, st: os.stat_result, kind: str) -> None:
    what = kind_of(st.st_mode)
    if what is not None:
        raise FileProblem(f"{path} is {what}, not a file")
    if st.st_size > LIMITS[kind]:
        raise FileProblem(f"{path} is {_size(st.st_size)}; specc reads {kind} files of at most "
                          f"{_size(LIMITS[kind])}")


def _failed(path: Path, exc: OSError) -> FileProblem:
    if isinstance(exc, FileNotFoundError):
        return FileProblem(f"file not found: {path}", missing=True)
    return FileProblem(f"cannot read {path}: {exc.strerror or exc}")


def check_file(path: str | Path, kind: str) -> None:
    """Refuse ``path`` unless it is a regular file within ``LIMITS[kind]`` (raises FileProblem)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _failed(path, exc) from None
    _check(path, st, kind)


def read_file(path: str | Path, kind: str) -> bytes:
    """The bytes of a regular file of at most ``LIMITS[kind]`` bytes (raises FileProblem)."""
    path = Path(path)
    check_file(path, kind)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _failed(path, exc) from None
    with os.fdopen(fd, "rb") as f:
        _check(path, os.fstat(f.fileno()), kind)
        try:
            data = f.read(LIMITS[kind] + 1)
        except OSError as exc:
            raise _failed(path, exc) from None
    if len(data) > LIMITS[kind]:
        raise FileProblem(f"{path} grew past {_size(LIMITS[kind])} while it was read")
    return data
