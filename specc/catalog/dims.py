"""Arithmetic on dimensions that may be symbolic.

A dimension is an ``int`` or a ``str``: a symbol (``"seq"``) or, after arithmetic on a
symbol, a readable expression (``"(seq - 2) // 2 + 1"``). Only ints are ever used to size
weights; symbolic results exist so that messages and summaries can show them.
"""
from __future__ import annotations

import operator
import re

from ..types import Dim

_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv}


def is_int(d: Dim) -> bool:
    return isinstance(d, int) and not isinstance(d, bool)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def arith(a: Dim, op: str, b: Dim) -> Dim:
    """``a op b`` for ints; a readable expression when either side is symbolic. Whole numbers
    added to a symbolic dim add up (``t - 1`` plus 1 is ``t``), so equal sizes compare equal."""
    if is_int(a) and is_int(b):
        return _OPS[op](a, b)
    if op in ("+", "-") and is_int(b):
        return _shifted(a, b if op == "+" else -b)
    if op == "+" and is_int(a):
        return _shifted(b, a)
    if op in ("*", "//") and b == 1:
        return a
    left = a if is_int(a) or _atomic(a) else f"({a})"
    right = b if is_int(b) or _atomic(b) else f"({b})"
    return f"{left} {op} {right}"


def _shifted(size: str, k: int) -> Dim:
    m = re.fullmatch(r"(.+) ([+-]) (\d+)", size)
    base, offset = (m.group(1), int(m.group(3)) * (1 if m.group(2) == "+" else -1)) if m else (size, 0)
    total = offset + k
    if total == 0:
        return base
    left = base if m or _atomic(base) else f"({base})"
    return f"{left} {'+' if total > 0 else '-'} {abs(total)}"


def _atomic(d: str) -> bool:
    return d.isidentifier()


def conv_out(size: Dim, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool = False) -> Dim:
    """Output length of a convolution or pooling window (floor mode; pooling may ask for ceil mode,
    where a last partial window counts unless it would start inside the right padding)."""
    if is_int(size):
        inner = size + 2 * padding - dilation * (kernel - 1) - 1
        if not ceil_mode:
            return inner // stride + 1
        out = -(-inner // stride) + 1
        return out - 1 if (out - 1) * stride >= size + padding else out
    span = dilation * (kernel - 1) + 1
    inner = arith(arith(size, "+", 2 * padding), "-", span)
    if ceil_mode:
        inner = arith(inner, "+", stride - 1)
    return arith(arith(inner, "//", stride), "+", 1)


def conv_transpose_out(size: Dim, kernel: int, stride: int, padding: int, dilation: int,
                       output_padding: int) -> Dim:
    if is_int(size):
        return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    grown = arith(arith(size, "-", 1), "*", stride)
    return arith(grown, "+", dilation * (kernel - 1) + output_padding + 1 - 2 * padding)


def fmt_shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
