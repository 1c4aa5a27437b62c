"""``specc run SPEC --nproc N``: the same run on N processes, started by torch's own elastic
launcher (``python -m torch.distributed.run``, i.e. torchrun), each process running
``specc run`` as torchrun starts it (see :mod:`specc.training.distributed`).

The spec is checked here first, so a mistake in it is one message and exit 2 before any
worker starts. Workers' output passes through; torchrun's own report of a failed worker (a
block of internals) is left out, since the worker has already printed its error with its
rank. A Ctrl-C reaches every worker (they share the terminal's process group): they stop
after the same step, rank 0 saves ``last.pt`` once, and the exit status is 130.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading


def torchrun_command(nproc: int, nnodes: int, node_rank: int, master_addr: str | None,
                     master_port: int | None, run_args: list[str]) -> list[str]:
    """The launcher's command line for ``specc run`` with ``run_args``."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
           "--nnodes", str(nnodes), "--max-restarts", "0"]
    if nnodes == 1 and master_addr is None and master_port is None:
        cmd.append("--standalone")
    else:
        cmd += ["--node-rank", str(node_rank), "--master-addr", master_addr or "127.0.0.1",
                "--master-port", str(master_port or 29500)]
    return cmd + ["-m", "specc", "run", *run_args]


_LAUNCHER_LOG = re.compile(r"^[DIWEC]\d{4} [\d:.]+ +\d+ \S*torch/distributed/")


class _Filter:
    """Drops torchrun's own stderr: its log lines, and, once it has logged something, the
    traceback and summary it ends with when a worker failed or it was interrupted. The
    workers print their errors and last words before that, so those pass."""

    def __init__(self):
        self.spoke = False        # the launcher has logged a line
        self.reporting = False    # ... and begun its closing traceback

    def keep(self, line: str) -> bool:
        if _LAUNCHER_LOG.match(line):
            self.spoke = True
            return False
        self.reporting = self.reporting or (self.spoke and line.startswith("Traceback (most recent call last)"))
        return not self.reporting


def launch(command: list[str]) -> int:
    """Run the launcher; pass workers' stderr through without torchrun's own lines. Returns
    the exit status: 0, 130 after Ctrl-C, else the failing workers' (1 or 2)."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")      # torchrun's default, without its warning
    env["SPECC_LAUNCHED"] = "1"
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, bufsize=1)
    codes: list[int] = []
    lines = _Filter()

    def pump():
        for line in proc.stderr:
            found = [int(c) for c in _EXIT.findall(line)]
            codes.extend(found)
            line = _EXIT.sub("", line) if found else line
            if line.strip() and lines.keep(line):
                sys.stderr.write(line)
                sys.stderr.flush()
    pumping = threading.Thread(target=pump, daemon=True)
    pumping.start()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)   # the workers handle Ctrl-C
    try:
        status = proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    pumping.join(timeout=5)
    if status == 0:
        return 0
    return 130 if 130 in codes else max(codes, default=1)


EXIT_MARK = "specc-worker-exit:"
"""What a worker under this launcher writes last on stderr, before its exit status (torchrun
reports only that some worker failed); two workers' marks may share a line."""
_EXIT = re.compile(re.escape(EXIT_MARK) + r"(\d+)\n?")
