"""Constructor-argument checks for the layers that have a table rule (torch-free).

A table rule computes the output type from the constructor arguments; it does not ask whether
torch would accept them. Torch refuses some values only when the layer is built
(``padding_mode="nope"``, ``groups`` that do not divide the channels) or first run (a pooling pad
over half the window), and a few would break the shape arithmetic itself (``stride=0``). These
checks run before the rule, so such a spec fails at ``specc check``, at the argument, with
torch's reason. Each raises :class:`ArgProblem` naming the argument.
"""
from __future__ import annotations

from typing import Callable

from .layers import ShapeProblem

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class ArgProblem(ShapeProblem):
    """A constructor argument torch would refuse; ``arg`` is its parameter name."""

    def __init__(self, arg: str, message: str, hint: str | None = None):
        super().__init__(message, hint)
        self.arg = arg


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _ints(a: dict, name: str, n: int, lo: int) -> tuple:
    """``a[name]`` as n whole numbers >= lo (one number stands for all n)."""
    v = a.get(name)
    values = tuple(v) if isinstance(v, (list, tuple)) else (v,)
    kind = "positive" if lo > 0 else "non-negative"
    if len(values) not in (1, n) or not all(_whole(x) and x >= lo for x in values):
        many = "" if n == 1 else f" (or {n} of them)"
        raise ArgProblem(name, f"{name} must be a {kind} whole number{many}, got {v!r}")
    return values * n if len(values) == 1 else values


def _fraction(a: dict, name: str) -> None:
    v = a.get(name, 0)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise ArgProblem(name, f"{name} is a probability between 0 and 1, got {v!r}")


def _conv(n: int, transpose: bool) -> Callable[[dict], None]:
    def check(a: dict) -> None:
        _ints(a, "out_channels", 1, 1)
        _ints(a, "kernel_size", n, 1)
        stride = _ints(a, "stride", n, 1)
        dilation = _ints(a, "dilation", n, 1)
        pad = a.get("padding", 0)
        if isinstance(pad, str) and not transpose:
            if pad not in ("same", "valid"):
                raise ArgProblem("padding", f"padding is 'same', 'valid' or whole numbers, got {pad!r}")
            if pad == "same" and any(s != 1 for s in stride):
                raise ArgProblem("padding", "padding='same' is not supported for strided convolutions",
                                 "use stride=1, or a whole-number padding")
        else:
            _ints(a, "padding", n, 0)
        mode = a.get("padding_mode", "zeros")
        allowed = ("zeros",) if transpose else PADDING_MODES
        if mode not in allowed:
            raise ArgProblem("padding_mode", f"padding_mode must be one of {', '.join(map(repr, allowed))}, "
                                             f"got {mode!r}")
        (groups,) = _ints(a, "groups", 1, 1)
        for side in ("in_channels", "out_channels"):
            if _whole(a.get(side)) and a[side] % groups:
                raise ArgProblem("groups", f"{side} must be divisible by groups, got {side}={a[side]} and "
                                           f"groups={groups}")
        if transpose:
            for op, s, d in zip(_ints(a, "output_padding", n, 0), stride, dilation):
                if op >= max(s, d):
                    raise ArgProblem("output_padding", f"output_padding must be smaller than either stride or "
                                                       f"dilation, got output_padding={op}, stride={s}, "
                                                       f"dilation={d}")
    return check


def _pool(n: int, has_dilation: bool) -> Callable[[dict], None]:
    def check(a: dict) -> None:
        kernel = _ints(a, "kernel_size", n, 1)
        if a.get("stride") is not None:
            _ints(a, "stride", n, 1)
        if has_dilation:
            _ints(a, "dilation", n, 1)
        for p, k in zip(_ints(a, "padding", n, 0), kernel):
            if 2 * p > k:
                raise ArgProblem("padding", f"padding should be at most half of kernel size, but got "
                                            f"padding={p} and kernel_size={k}")
    return check


def _recurrent(lstm: bool) -> Callable[[dict], None]:
    def check(a: dict) -> None:
        (hidden,) = _ints(a, "hidden_size", 1, 1)
        _ints(a, "num_layers", 1, 1)
        _fraction(a, "dropout")
        proj = a.get("proj_size") or 0
        if proj and not lstm:
            raise ArgProblem("proj_size", "proj_size is only supported for LSTM, not RNN or GRU")
        if not _whole(proj) or not 0 <= proj < hidden:
            raise ArgProblem("proj_size", f"proj_size has to be a whole number smaller than hidden_size "
                                          f"({hidden}), got {proj!r}")
    return check


def _embedding(a: dict) -> None:
    (n,) = _ints(a, "num_embeddings", 1, 1)
    _ints(a, "embedding_dim", 1, 1)
    idx = a.get("padding_idx")
    if idx is not None and not (_whole(idx) and -n <= idx < n):
        raise ArgProblem("padding_idx", f"padding_idx must be within num_embeddings ({n}), got {idx!r}")


CHECKS: dict[str, Callable[[dict], None]] = {
    "Linear": lambda a: _ints(a, "out_features", 1, 1),
    "Embedding": _embedding,
    "LSTM": _recurrent(True), "GRU": _recurrent(False), "RNN": _recurrent(False),
    "MultiheadAttention": lambda a: (_ints(a, "num_heads", 1, 1), _fraction(a, "dropout")),
    "TransformerEncoderLayer": lambda a: (_ints(a, "nhead", 1, 1), _ints(a, "dim_feedforward", 1, 1),
                                          _fraction(a, "dropout")),
    **{name: (lambda a: _fraction(a, "p")) for name in
       ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")},
}
for _n in (1, 2, 3):
    CHECKS[f"Conv{_n}d"] = _conv(_n, False)
    CHECKS[f"ConvTranspose{_n}d"] = _conv(_n, True)
    CHECKS[f"MaxPool{_n}d"] = _pool(_n, True)
    CHECKS[f"AvgPool{_n}d"] = _pool(_n, False)


def check_args(name: str, bound: dict) -> None:
    """Raise ArgProblem if torch would refuse ``name(**bound)``."""
    check = CHECKS.get(name)
    if check is not None:
        check(bound)
