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
from .torch_tables import NN_MODULES, OBJECT, REQUIRED

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
# String arguments torch accepts only from a fixed set, checked for every layer and loss that
# has them (keyed by argument name, or by (class, argument) where a class differs).
STR_CHOICES: dict = {
    "approximate": ("none", "tanh"),
    "nonlinearity": ("tanh", "relu"),
    "padding_mode": PADDING_MODES,
    "reduction": ("none", "mean", "sum"),
    ("KLDivLoss", "reduction"): ("none", "batchmean", "sum", "mean"),
    ("EmbeddingBag", "mode"): ("sum", "mean", "max"),
    ("Upsample", "mode"): ("nearest", "linear", "bilinear", "bicubic", "trilinear", "nearest-exact"),
    "activation": ("relu", "gelu"),       # Transformer*Layer: a spec names the function, never passes it
}
# Loss options torch wants as tensors; a spec writes them as lists of numbers.
TENSOR_ARGS = frozenset({"weight", "pos_weight"})
# Arguments with a float default that torch also accepts as None.
NONE_FLOATS = frozenset({"momentum"})
# Dimension arguments: a whole number (or none where torch's default is None).
DIM_ARGS = frozenset({"dim", "start_dim", "end_dim"})


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


def _at_least(name: str, low: float, strict: bool) -> Callable[[dict], None]:
    """A number option with a lower bound that torch checks only when the layer or loss first
    runs; a value that is not a number is check_kinds' to report, none is torch's default."""
    def check(a: dict) -> None:
        v = a.get(name)
        if _number(v) and (v <= low if strict else v < low):
            raise ArgProblem(name, f"{name} must be {'greater than' if strict else 'at least'} {low}, got {v!r}")
    return check


def _numbers(*names: str) -> Callable[[dict], None]:
    """Required number options (no literal default tells check_kinds their kind)."""
    def check(a: dict) -> None:
        for name in names:
            if not _number(a.get(name)):
                raise ArgProblem(name, f"{name} must be a number, got {a.get(name)!r}")
    return check


def _ordered(low: str, high: str, strict: bool, aliases: tuple[str, str] | None = None) -> Callable[[dict], None]:
    """Two bounds in order, ``low < high`` (``<=`` unless ``strict``); ``aliases`` are torch's
    deprecated names that replace them when given (Hardtanh's min_value and max_value)."""
    def check(a: dict) -> None:
        names = [alias if a.get(alias) is not None else name
                 for name, alias in zip((low, high), aliases or (low, high))]
        _numbers(*names)(a)
        lo, hi = (a[n] for n in names)
        if hi < lo or (strict and hi == lo):
            raise ArgProblem(names[1], f"{names[1]} must be {'greater than' if strict else 'at least'} "
                                       f"{names[0]}, got {names[0]}={lo!r} and {names[1]}={hi!r}")
    return check


def _nonzero(name: str) -> Callable[[dict], None]:
    def check(a: dict) -> None:
        if a.get(name) == 0:
            raise ArgProblem(name, f"{name} must not be 0 (torch divides by it), got {a[name]!r}")
    return check


def _sizes_or_none(name: str) -> Callable[[dict], None]:
    """Adaptive pooling's output_size: whole numbers >= 1, each may be none (keep that dim)."""
    def check(a: dict) -> None:
        v = a.get(name)
        values = v if isinstance(v, (list, tuple)) else [v]
        if not all(x is None or (_whole(x) and x >= 1) for x in values):
            raise ArgProblem(name, f"{name} must be whole numbers >= 1 (or none), got {v!r}")
    return check


def _embedding(a: dict) -> None:
    (n,) = _ints(a, "num_embeddings", 1, 1)
    _ints(a, "embedding_dim", 1, 1)
    idx = a.get("padding_idx")
    if idx is not None and not (_whole(idx) and -n <= idx < n):
        raise ArgProblem("padding_idx", f"padding_idx must be within num_embeddings ({n}), got {idx!r}")
    if a.get("max_norm") is not None:
        _numbers("max_norm")(a)
        _at_least("max_norm", 0, strict=False)(a)


CHECKS: dict[str, Callable[[dict], None]] = {
    "Linear": lambda a: _ints(a, "out_features", 1, 1),
    "Embedding": _embedding,
    "LSTM": _recurrent(True), "GRU": _recurrent(False), "RNN": _recurrent(False),
    "MultiheadAttention": lambda a: (_ints(a, "num_heads", 1, 1), _fraction(a, "dropout"),
                                     *(_ints(a, d, 1, 1) for d in ("kdim", "vdim") if a.get(d) is not None)),
    "TransformerEncoderLayer": lambda a: (_ints(a, "nhead", 1, 1), _ints(a, "dim_feedforward", 1, 1),
                                          _fraction(a, "dropout")),
    **{name: (lambda a: _fraction(a, "p")) for name in
       ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")},
    "Threshold": _numbers("threshold", "value"),
    "CELU": _nonzero("alpha"),
    "Softshrink": _at_least("lambd", 0, strict=False),
    "PReLU": lambda a: _ints(a, "num_parameters", 1, 1),
    "Hardtanh": _ordered("min_val", "max_val", strict=True, aliases=("min_value", "max_value")),
    "RReLU": _ordered("lower", "upper", strict=False),
    "CrossEntropyLoss": lambda a: _fraction(a, "label_smoothing"),
    "HuberLoss": _at_least("delta", 0, strict=True),
    "SmoothL1Loss": _at_least("beta", 0, strict=False),
}
for _n in (1, 2, 3):
    CHECKS[f"Conv{_n}d"] = _conv(_n, False)
    CHECKS[f"ConvTranspose{_n}d"] = _conv(_n, True)
    CHECKS[f"MaxPool{_n}d"] = _pool(_n, True)
    CHECKS[f"AvgPool{_n}d"] = _pool(_n, False)
    CHECKS[f"AdaptiveMaxPool{_n}d"] = CHECKS[f"AdaptiveAvgPool{_n}d"] = _sizes_or_none("output_size")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number_list(v) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)


def check_kinds(name: str, bound: dict) -> None:
    """The kind of value every torch argument takes, read off its literal default: ``true`` or
    ``false`` where the default is a bool, a string (from :data:`STR_CHOICES` where torch has a
    fixed set) where it is a string or torch takes a function named there (``activation``), a list
    of numbers for :data:`TENSOR_ARGS`."""
    for arg, _, default in NN_MODULES.get(name, ()):
        if arg not in bound:
            continue
        v = bound[arg]
        if isinstance(default, bool) and not isinstance(v, bool):
            raise ArgProblem(arg, f"{arg} is true or false, got {v!r}")
        if isinstance(default, float) and not _number(v) and not (v is None and arg in NONE_FLOATS):
            raise ArgProblem(arg, f"{arg} must be a number, got {v!r}")
        choices = STR_CHOICES.get((name, arg), STR_CHOICES.get(arg))
        if (choices or (isinstance(default, str) and default not in (REQUIRED, OBJECT))) and v != OBJECT:
            if not isinstance(v, str) or (choices is not None and v not in choices):
                expected = ", ".join(map(repr, choices)) if choices else "a string"
                raise ArgProblem(arg, f"{arg} must be {'one of ' if choices else ''}{expected}, got {v!r}")
        if arg in DIM_ARGS and not _whole(v) and not (v is None and default is None):
            raise ArgProblem(arg, f"{arg} must be a whole number, got {v!r}")
        if arg in TENSOR_ARGS and v is not None and not _number_list(v):
            raise ArgProblem(arg, f"{arg} is a list of numbers, got {v!r}")


def check_dims(bound: dict, rank: int) -> None:
    """Dimension arguments within the input's ``rank`` dimensions (batch included), as torch
    counts them; torch itself would only fail at the first forward pass."""
    for arg in sorted(DIM_ARGS & bound.keys()):
        d = bound[arg]
        if _whole(d) and not -rank <= d < rank:
            raise ArgProblem(arg, f"{arg}={d} is out of range for an input of {rank} dimensions (the batch "
                                  f"included); expected {-rank}..{rank - 1}")


def check_args(name: str, bound: dict) -> None:
    """Raise ArgProblem if torch would refuse ``name(**bound)``."""
    check_kinds(name, bound)
    check = CHECKS.get(name)
    if check is not None:
        check(bound)
