"""Checkpoint files: atomic writes, safe loads, random-number state.

A checkpoint is a dict of tensors, numbers, strings, None, lists and dicts only, so it loads
with ``torch.load(weights_only=True)`` (no pickled code runs on load). What the trainer
stores (see ``specc.training.loop``):

========================  ==========================================================
``format``                2 (bumped when the layout changes)
``model_name``            the name of the trained model in the spec
``model``                 the model's ``state_dict`` (of the uncompiled module)
``optimizer``             ``optimizer.state_dict()`` keyed by parameter name, not index
                          (:func:`specc.training.resume.named_optimizer_state`)
``scheduler``             ``scheduler.state_dict()`` or None
``scaler``                ``GradScaler.state_dict()`` (fp16 on CUDA) or None
``epoch``                 epochs completed
``step_in_epoch``         batches of the next epoch already trained (0 at an epoch end)
``global_step``           optimizer steps so far
``spec_hash``             hash of the spec that produced the run
``history``               the history rows so far (list of dicts)
``best``                  best monitored value so far, or None
``monitor``               the history key it was read from, e.g. ``"valid.loss"``
``early_stop_counter``    epochs since the monitored value last improved
``rng``                   ``{"cpu": ByteTensor, "cuda": [ByteTensor, ...]}``
``partial``               mid-epoch only: the epoch's per-batch losses, batch sizes,
                          gradient norms and seconds so far; None at an epoch end
========================  ==========================================================

:func:`specc.training.resume.validate` checks every field before a resume uses it.
"""
from __future__ import annotations

import io
import os
from pickle import UnpicklingError
from pathlib import Path
import tempfile
import threading
import warnings
from typing import Any

import torch

from specc.training.errors import ResumeError

FORMAT = 2
LAST = "last.pt"
BEST = "best.pt"


def save(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` to ``path`` so that a crash never leaves a torn file there.

    The bytes go to a temporary file in the same directory, are flushed and fsync'd, and the
    file is renamed over ``path`` (``os.replace`` is atomic on one file system); then the
    directory is fsync'd so the rename itself survives a power cut. If writing fails the
    temporary file is removed and ``path`` keeps its previous content.
    """
    write_bytes(path, serialize(state))


def serialize(state: dict) -> bytes:
    """The bytes :func:`save` writes: a snapshot, so training may change the tensors after."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def snapshot(value: Any, memo: dict | None = None) -> Any:
    """A copy of a checkpoint state that later training cannot change: tensors cloned (a
    tensor that appears twice stays one tensor), dicts, lists and tuples copied."""
    memo = {} if memo is None else memo
    if isinstance(value, torch.Tensor):
        if id(value) not in memo:
            memo[id(value)] = value.detach().clone()
        return memo[id(value)]
    if isinstance(value, dict):
        return {k: snapshot(v, memo) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(snapshot(v, memo) for v in value)
    return value


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Atomically replace ``path`` by ``data`` (see :func:`save`). An OSError names ``path``
    (a failed ``write`` or ``fsync``, a full disk, names no file of its own)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _naming(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _naming(exc, path) from exc
        raise
    _fsync_dir(path.parent)


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc`` about ``path`` (the file meant, not its temporary name)."""
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


class Writer:
    """Writes checkpoints in order, on a background thread or (``background=False``) at once.

    In the background, :meth:`write` copies the state first (tensors cloned, containers
    copied: a memory copy, well under a millisecond for a small model), so the file holds the
    state as it was when asked even though training goes on; pickling, writing and fsync'ing
    (several milliseconds per file, as long as ten training steps of a small model) then
    overlap the next epoch. :meth:`wait` blocks until every write so far is on disk and
    re-raises the first error; the trainer calls it before each save (a write overlaps at
    most one epoch, and a failed one stops the run at the next epoch end) and before it
    returns or raises.
    """

    def __init__(self, background: bool = True):
        self.background = background
        self._pending: list[threading.Thread] = []
        self._error: BaseException | None = None

    def write(self, paths: list[Path], state: dict) -> None:
        if not self.background:
            data = serialize(state)
            for path in paths:
                write_bytes(path, data)
            return
        previous = self._pending[-1] if self._pending else None
        thread = threading.Thread(target=self._run, args=(previous, paths, snapshot(state)),
                                  name="specc-checkpoint", daemon=True)
        self._pending = [t for t in self._pending if t.is_alive()] + [thread]
        thread.start()

    def _run(self, previous: threading.Thread | None, paths: list[Path], state: dict) -> None:
        if previous is not None:
            previous.join()  # keep the files in the order they were written
        try:
            data = serialize(state)
            for path in paths:
                write_bytes(path, data)
        except BaseException as exc:  # handed to the training thread by wait()
            self._error = self._error or exc

    def wait(self, raise_errors: bool = True) -> None:
        """Block until every write is done; re-raise the first error unless told not to (when
        another exception is already on its way out)."""
        pending, self._pending = self._pending, []
        for thread in pending:
            thread.join()
        error, self._error = self._error, None
        if error is not None and raise_errors:
            raise error


def remove_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of saves that never finished (a run killed mid-write).

    Called before a run starts writing checkpoints into ``directory``; only names that
    :func:`save` creates (``.last.pt.*.tmp``, ``.best.pt.*.tmp``) are touched.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = [p for name in (LAST, BEST) for p in directory.glob(f".{name}.*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _fsync_dir(directory: Path) -> None:
    """Persist a rename; some platforms (Windows) cannot open a directory, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path: str | os.PathLike) -> dict:
    """Read a checkpoint onto the CPU without running pickled code.

    Raises:
        ResumeError: the file is missing or is not a checkpoint this version can read.
    """
    path = Path(path)
    if not path.is_file():
        raise ResumeError(f"no checkpoint to resume from: {path} does not exist",
                          hint="run without resume first, with train.checkpoint set")
    try:
        with warnings.catch_warnings():  # torch's remarks on odd files; the error below says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: say which (torch's first line), keep the cause
        if isinstance(exc, UnpicklingError):  # torch's long advice to drop weights_only: not ours
            raise ResumeError(f"cannot read checkpoint {path}: torch.load(weights_only=True) refused it",
                              hint="the file is damaged, or holds Python objects (which could run code); "
                                   "start a fresh run") from exc
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ResumeError(f"cannot read checkpoint {path}: {first.strip()}",
                          hint="the file is damaged or not a checkpoint; start a fresh run") from exc
    if not isinstance(state, dict) or "format" not in state:
        raise ResumeError(f"{path} is not a specc checkpoint", hint="start a fresh run")
    if state["format"] != FORMAT:
        raise ResumeError(f"{path} has checkpoint format {state['format']!r}; this specc reads "
                          f"format {FORMAT}", hint="resume it with the specc that wrote it, or "
                                                   "start a fresh run")
    return state


def rng_state(device: torch.device) -> dict[str, Any]:
    """The random-number state the loop draws from (dropout), as tensors."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    if device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (devices absent here are skipped)."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "mps" in state and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])

