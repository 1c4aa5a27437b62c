"""Which spec position a failing forward pass came from.

Torch checks some things only when a layer or a loss first runs on real data: ``bce`` wants
targets between 0 and 1, an imported layer may raise on its input. When training fails like
that, :func:`failing_node` replays the graph node by node on the same batch and returns the
node that raised, whose ``meta["span"]`` is the spec position of the application. A block's
use is one node of its parent graph, so the position is where the block is applied.
"""
from __future__ import annotations

from torch import fx


class _Failed(Exception):
    def __init__(self, node: fx.Node, error: BaseException):
        super().__init__(str(error))
        self.node = node
        self.error = error


class _Replay(fx.Interpreter):
    def run_node(self, n: fx.Node):
        try:
            return super().run_node(n)
        except _Failed:
            raise
        except Exception as exc:  # the op that failed, with its cause
            raise _Failed(n, exc) from exc


def failing_node(graph: fx.GraphModule, *args) -> tuple[fx.Node, BaseException] | None:
    """The first node of ``graph`` that raises on ``args``, and its exception; None if none does."""
    try:
        _Replay(graph).run(*args)
    except _Failed as failed:
        return failed.node, failed.error
    return None


def first_line(error: BaseException) -> str:
    """Torch's message, its first line (the rest is often a long explanation)."""
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
