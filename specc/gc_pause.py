"""Parsing and checking with Python's cyclic garbage collector paused.

Reading and checking a spec allocates many small objects (lark trees, AST nodes, IR ops) that
all live until the end, and almost none of them forms a reference cycle. The cyclic collector
still scans them, every few hundred allocations, and its full passes scan every live object:
on a 40,000-statement spec that was half the time of ``specc check``, and a larger share the
longer the spec. Paused, parsing and checking take time in proportion to the spec, and the
little cyclic garbage made meanwhile is collected once the collector runs again.
"""
from __future__ import annotations

import functools
import gc


def gc_paused(fn):
    """``fn`` run with the cyclic collector off (left off if the caller had turned it off)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()
    return wrapper
