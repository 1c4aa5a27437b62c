"""Shape rules for torch.nn layers: one table entry per layer family (torch-free).

A rule knows which leading constructor arguments the compiler infers from the input
(``in_features`` of ``Linear``), what element type the input must have, and the output
type. Layers without a rule go through the general rule in ``specc.analysis.meta`` (run
the module on meta tensors). Rules raise :class:`ShapeProblem`; the analysis positions it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..types import Dim, TensorType, TupleType, ValueType
from .dims import conv_out, conv_transpose_out, fmt_shape, is_int


class ShapeProblem(Exception):
    """A shape or type mistake found by a rule: ``message`` names what was expected and got."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class LayerRule:
    """How to size and type one layer family.

    infer: names of the leading constructor parameters the compiler fills in.
    fill: input type -> values for ``infer`` (raises ShapeProblem if the input cannot say).
    out: (input types, every constructor argument by name) -> output type.
    dtype: what the input's elements must be: "float", "index" (long/int) or "any".
    forced: constructor arguments specc always sets (``batch_first=True``).
    inputs: how many tensors the layer is applied to (min, max).
    """

    infer: tuple[str, ...] = ()
    fill: Callable[[TensorType], tuple] = lambda t: ()
    out: Callable[[list[TensorType], dict], ValueType] = lambda ts, a: ts[0]
    dtype: str = "float"
    forced: dict = field(default_factory=dict)
    inputs: tuple[int, int] = (1, 1)


def _need_rank(t: TensorType, ranks: tuple[int, ...], what: str, layout: str) -> None:
    if len(t.shape) not in ranks:
        raise ShapeProblem(f"{what} expects one example to be {layout}, got {fmt_shape(t.shape)} "
                           f"(input {t.batched})")


def _concrete(d: Dim, what: str, which: str) -> int:
    if not is_int(d):
        raise ShapeProblem(f"{what} needs a fixed size for the {which} of its input, got '{d}'",
                           "sizes of weights cannot depend on a dimension that varies between batches")
    return d


def _last(what: str):
    def fill(t: TensorType) -> tuple:
        if not t.shape:
            raise ShapeProblem(f"{what} expects at least one dim per example, got a scalar (input {t.batched})")
        return (_concrete(t.shape[-1], what, "last dim"),)
    return fill


def _first(what: str, ranks: tuple[int, ...], layout: str):
    def fill(t: TensorType) -> tuple:
        _need_rank(t, ranks, what, layout)
        return (_concrete(t.shape[0], what, "channel dim (dim 1)"),)
    return fill


def _tuple(v, n: int) -> tuple:
    if isinstance(v, (list, tuple)):
        return tuple(v)
    return (v,) * n


# ---------------------------------------------------------------- rule bodies
def _linear_out(ts, a):
    t = ts[0]
    return TensorType("float", (*t.shape[:-1], a["out_features"]))


def _conv_out(n: int, transpose: bool):
    def out(ts, a):
        t = ts[0]
        k, s, d = _tuple(a["kernel_size"], n), _tuple(a["stride"], n), _tuple(a["dilation"], n)
        pad = a["padding"]
        spatial = []
        for i, size in enumerate(t.shape[1:]):
            if transpose:
                op = _tuple(a.get("output_padding", 0), n)[i]
                spatial.append(conv_transpose_out(size, k[i], s[i], _tuple(pad, n)[i], d[i], op))
            elif pad == "same":            # torch pads d*(k-1) in all, the larger half on the right
                _wrap_padding(a.get("padding_mode", "zeros"), d[i] * (k[i] - 1) - d[i] * (k[i] - 1) // 2, size, t)
                spatial.append(size)
            else:
                p = 0 if pad == "valid" else _tuple(pad, n)[i]
                _wrap_padding(a.get("padding_mode", "zeros"), p, size, t)
                spatial.append(conv_out(size, k[i], s[i], p, d[i]))
        for size in spatial:
            if is_int(size) and size < 1:
                raise ShapeProblem(f"the input {t.batched} is too small for this kernel: the output would have "
                                   f"{fmt_shape(('B', a['out_channels'], *spatial))}")
        return TensorType("float", (a["out_channels"], *spatial))
    return out


def _wrap_padding(mode: str, pad: int, size: Dim, t: TensorType) -> None:
    """Reflect padding must be shorter than the input, circular padding at most as long."""
    if not is_int(size) or mode not in ("reflect", "circular"):
        return
    if pad > size or (mode == "reflect" and pad == size):
        limit = "less than" if mode == "reflect" else "at most"
        raise ShapeProblem(f"padding_mode={mode!r} needs padding {limit} the input size, got padding={pad} "
                           f"for the input {t.batched}")


def _pool_out(n: int):
    def out(ts, a):
        t = ts[0]
        k = _tuple(a["kernel_size"], n)
        stride = a.get("stride") or a["kernel_size"]
        s = _tuple(stride, n)
        p = _tuple(a.get("padding", 0), n)
        d = _tuple(a.get("dilation", 1), n)
        ceil = bool(a.get("ceil_mode"))
        spatial = [conv_out(size, k[i], s[i], p[i], d[i], ceil) for i, size in enumerate(t.shape[1:])]
        if any(is_int(x) and x < 1 for x in spatial):
            raise ShapeProblem(f"the input {t.batched} is too small for a pooling window of {a['kernel_size']}")
        return _with_indices(TensorType(t.dtype, (t.shape[0], *spatial)), a)
    return out


def _with_indices(t: TensorType, a: dict) -> ValueType:
    """Max pooling with ``return_indices=true`` returns (values, the indices of the maxima)."""
    return TupleType((t, TensorType("long", t.shape))) if a.get("return_indices") else t


def _adaptive_out(n: int):
    def out(ts, a):
        t = ts[0]
        size = _tuple(a["output_size"], n)
        spatial = [old if new is None else new for old, new in zip(t.shape[1:], size)]
        return _with_indices(TensorType(t.dtype, (t.shape[0], *spatial)), a)
    return out


def _embedding_out(ts, a):
    t = ts[0]
    return TensorType("float", (*t.shape, a["embedding_dim"]))


def _rnn_out(lstm: bool, what: str):
    def out(ts, a):
        t = ts[0]
        _need_rank(t, (2,), what, "(seq, features)")
        dirs = 2 if a.get("bidirectional") else 1
        hidden = a["hidden_size"]
        proj = a.get("proj_size") or 0
        h_out = proj if proj else hidden
        layers = a.get("num_layers", 1)
        output = TensorType("float", (t.shape[0], dirs * h_out))
        h = TensorType("float", (dirs * layers, h_out), batch_dim=1)
        if lstm:
            c = TensorType("float", (dirs * layers, hidden), batch_dim=1)
            return TupleType((output, TupleType((h, c))))
        return TupleType((output, h))
    return out


def _mha_out(ts, a):
    q = ts[0]
    k = ts[1] if len(ts) > 1 else q
    v = ts[2] if len(ts) > 2 else k
    for t in (q, k, v):
        _need_rank(t, (2,), "MultiheadAttention", "(seq, embed)")
    for name, t, want in (("key", k, a.get("kdim") or a["embed_dim"]), ("value", v, a.get("vdim") or a["embed_dim"])):
        if t.shape[1] != want:
            raise ShapeProblem(f"MultiheadAttention expects the {name} to have {want} features, got {t.batched}")
    if k.shape[0] != v.shape[0]:
        raise ShapeProblem(f"MultiheadAttention expects key and value of the same length, got {k.batched} and "
                           f"{v.batched}")
    if a["embed_dim"] % a["num_heads"]:
        raise ShapeProblem(f"MultiheadAttention needs embed_dim divisible by num_heads, got "
                           f"{a['embed_dim']} and {a['num_heads']}")
    return TupleType((TensorType("float", q.shape), TensorType("float", (q.shape[0], k.shape[0]))))


def _encoder_out(ts, a):
    t = ts[0]
    if a["d_model"] % a["nhead"]:
        raise ShapeProblem(f"TransformerEncoderLayer needs d_model divisible by nhead, got "
                           f"{a['d_model']} and {a['nhead']}")
    return t


def _flatten_out(ts, a):
    t = ts[0]
    full = t.full
    n = len(full)
    start = a.get("start_dim", 1)
    end = a.get("end_dim", -1)
    start, end = start % n if n else 0, end % n if n else 0
    if start > end:
        raise ShapeProblem(f"Flatten(start_dim={a.get('start_dim', 1)}, end_dim={a.get('end_dim', -1)}): start_dim "
                           f"comes after end_dim for the input {t.batched}")
    if start == 0 and t.batch_dim == 0:
        raise ShapeProblem(f"Flatten(start_dim=0) would merge the batch into the features (input {t.batched})",
                           "keep start_dim=1, the default")
    merged: Dim = 1
    for d in full[start:end + 1]:
        merged = merged * d if is_int(merged) and is_int(d) else f"{merged}*{d}" if merged != 1 else d
    return TensorType.from_full(t.dtype, (*full[:start], merged, *full[end + 1:]))


def _same(ts, a):
    return ts[0]


def _prelu_out(ts, a):
    """One slope, or one per channel (dim 1, as torch counts)."""
    t, n = ts[0], a["num_parameters"]
    if n != 1 and (len(t.shape) < 1 or (is_int(t.shape[0]) and t.shape[0] != n)):
        raise ShapeProblem(f"PReLU(num_parameters={n}) needs 1 or as many channels (dim 1), got the input {t.batched}")
    return t


def _ranked(what: str, ranks: tuple[int, ...], layout: str):
    def out(ts, a):
        _need_rank(ts[0], ranks, what, layout)
        return ts[0]
    return out


def _norm(what: str, ranks: tuple[int, ...], layout: str, arg: str = "num_features") -> LayerRule:
    return LayerRule(infer=(arg,), fill=_first(what, ranks, layout), out=_same)


_ELEMENTWISE = (
    "ReLU ReLU6 Sigmoid Tanh GELU SiLU ELU SELU CELU LeakyReLU PReLU Softplus Softsign Hardtanh "
    "Hardswish Hardsigmoid Mish LogSigmoid Tanhshrink Softshrink Hardshrink Threshold RReLU Softmax "
    "LogSoftmax Softmin Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout Identity"
).split()

_SAME_ANY = LayerRule(out=_same, dtype="any")

RULES: dict[str, LayerRule] = {name: LayerRule(out=_same) for name in _ELEMENTWISE}
RULES["Identity"] = _SAME_ANY
RULES["PReLU"] = LayerRule(out=_prelu_out)
RULES.update({
    "Linear": LayerRule(infer=("in_features",), fill=_last("Linear"), out=_linear_out),
    "Embedding": LayerRule(out=_embedding_out, dtype="index"),
    "LayerNorm": LayerRule(infer=("normalized_shape",), fill=_last("LayerNorm"), out=_same),
    "BatchNorm1d": _norm("BatchNorm1d", (1, 2), "(channels,) or (channels, length)"),
    "BatchNorm2d": _norm("BatchNorm2d", (3,), "(channels, height, width)"),
    "BatchNorm3d": _norm("BatchNorm3d", (4,), "(channels, depth, height, width)"),
    "InstanceNorm1d": _norm("InstanceNorm1d", (2,), "(channels, length)"),
    "InstanceNorm2d": _norm("InstanceNorm2d", (3,), "(channels, height, width)"),
    "InstanceNorm3d": _norm("InstanceNorm3d", (4,), "(channels, depth, height, width)"),
    "LSTM": LayerRule(infer=("input_size",), fill=_last("LSTM"), out=_rnn_out(True, "LSTM"),
                     forced={"batch_first": True}),
    "GRU": LayerRule(infer=("input_size",), fill=_last("GRU"), out=_rnn_out(False, "GRU"),
                     forced={"batch_first": True}),
    "RNN": LayerRule(infer=("input_size",), fill=_last("RNN"), out=_rnn_out(False, "RNN"),
                     forced={"batch_first": True}),
    "MultiheadAttention": LayerRule(infer=("embed_dim",), fill=_last("MultiheadAttention"), out=_mha_out,
                                    forced={"batch_first": True}, inputs=(1, 3)),
    "TransformerEncoderLayer": LayerRule(infer=("d_model",), fill=_last("TransformerEncoderLayer"),
                                         out=_encoder_out, forced={"batch_first": True}),
    "Flatten": LayerRule(out=_flatten_out, dtype="any"),
    # channel-wise dropout over a length: torch refuses other ranks, even in eval mode
    "Dropout1d": LayerRule(out=_ranked("Dropout1d", (1, 2), "(channels, length)")),
})
_LAYOUTS = {1: "(channels, length)", 2: "(channels, height, width)", 3: "(channels, depth, height, width)"}
for _n in (1, 2, 3):
    RULES[f"Conv{_n}d"] = LayerRule(infer=("in_channels",), fill=_first(f"Conv{_n}d", (_n + 1,), _LAYOUTS[_n]),
                                    out=_conv_out(_n, False))
    RULES[f"ConvTranspose{_n}d"] = LayerRule(infer=("in_channels",),
                                             fill=_first(f"ConvTranspose{_n}d", (_n + 1,), _LAYOUTS[_n]),
                                             out=_conv_out(_n, True))
    for _kind in ("Max", "Avg"):
        RULES[f"{_kind}Pool{_n}d"] = LayerRule(out=_pool_out(_n), dtype="any")
        RULES[f"Adaptive{_kind}Pool{_n}d"] = LayerRule(out=_adaptive_out(_n), dtype="any")


# The masks a layer's forward takes by keyword (10.1): "attn" is (query length, key length),
# without a batch dim; "padding" is (B, key length). Other tensors are not taken by keyword.
FORWARD_MASKS = {
    "MultiheadAttention": {"attn_mask": "attn", "key_padding_mask": "padding"},
    "TransformerEncoderLayer": {"src_mask": "attn", "src_key_padding_mask": "padding"},
    "TransformerDecoderLayer": {"tgt_mask": "attn", "tgt_key_padding_mask": "padding"},
}


# Parameters and buffers of the layers whose size the spec sets, from torch's own layouts (bias
# included). A layer without an entry holds none, unless it has no table rule either: then the
# analysis counts the module it builds on the meta device (``specc.analysis.meta``).
MAX_PARAMS = 2 * 10**9


def _prod(v) -> int:
    """The number of values of a size: ``3`` or ``[3, 4]``."""
    n = 1
    for d in (v if isinstance(v, (list, tuple)) else [v]):
        n *= d
    return n


def _bias(a: dict, n) -> int:
    return n if a.get("bias", True) else 0


def _rnn_params(gates: int):
    def count(a: dict) -> int:
        h, layers = a["hidden_size"], a.get("num_layers") or 1
        dirs = 2 if a.get("bidirectional") else 1
        first = gates * h * (a["input_size"] + h)
        later = gates * h * (h * dirs + h) * (layers - 1)
        return dirs * (first + later + layers * _bias(a, 2 * gates * h))
    return count


def _attention_params(a: dict) -> int:
    e = a["embed_dim"]
    return e * (e + (a.get("kdim") or e) + (a.get("vdim") or e)) + e * e + _bias(a, 4 * e)


def _encoder_params(a: dict) -> int:
    d, ff = a["d_model"], a["dim_feedforward"]
    attention = _attention_params({"embed_dim": d, "bias": a.get("bias", True)})
    return attention + 2 * d * ff + _bias(a, ff + d) + 2 * (d + _bias(a, d))


def _norm_params(a: dict) -> int:
    n = a["num_features"]
    return (2 * n if a.get("affine") else 0) + (2 * n + 1 if a.get("track_running_stats") else 0)


def _with_bias(a: dict, weight: tuple, bias: tuple) -> dict:
    return {"weight": weight, **({"bias": bias} if a.get("bias", True) else {})}


def _conv_shapes(n: int, transpose: bool):
    def shapes(a: dict) -> dict:
        kernel = _tuple(a["kernel_size"], n)      # one number stands for every spatial dim
        groups = max(a.get("groups") or 1, 1)
        i, o = a["in_channels"], a["out_channels"]
        weight = (i, o // groups, *kernel) if transpose else (o, i // groups, *kernel)
        return _with_bias(a, weight, (o,))
    return shapes


def _layer_norm_shapes(a: dict) -> dict:
    n = a["normalized_shape"]
    n = tuple(n) if isinstance(n, (list, tuple)) else (n,)
    return _with_bias(a, n, n) if a.get("elementwise_affine", True) else {}


def _norm_shapes(a: dict) -> dict:
    n = a["num_features"]
    return {"weight": (n,), "bias": (n,)} if a.get("affine") else {}


def _attention_shapes(a: dict) -> dict:
    e = a["embed_dim"]
    if (a.get("kdim") or e) != e or (a.get("vdim") or e) != e:
        return {"q_proj_weight": (e, e), "k_proj_weight": (e, a["kdim"] or e), "v_proj_weight": (e, a["vdim"] or e)}
    return {"in_proj_weight": (3 * e, e), **({"in_proj_bias": (3 * e,)} if a.get("bias", True) else {})}


# The parameters a layer declares itself (``name.weight``, 10.6), by name, with their shapes.
PARAM_SHAPES: dict[str, Callable[[dict], dict[str, tuple]]] = {
    "Linear": lambda a: _with_bias(a, (a["out_features"], a["in_features"]), (a["out_features"],)),
    "Embedding": lambda a: {"weight": (a["num_embeddings"], a["embedding_dim"])},
    "PReLU": lambda a: {"weight": (a["num_parameters"],)},
    "LayerNorm": _layer_norm_shapes,
    "MultiheadAttention": _attention_shapes,
    **{f"{kind}Norm{n}d": _norm_shapes for kind in ("Batch", "Instance") for n in (1, 2, 3)},
    **{f"Conv{n}d": _conv_shapes(n, False) for n in (1, 2, 3)},
    **{f"ConvTranspose{n}d": _conv_shapes(n, True) for n in (1, 2, 3)},
}


def _counted(name: str):
    """The size of a layer whose parameters are all in :data:`PARAM_SHAPES` (no buffers)."""
    return lambda a: sum(_prod(shape) for shape in PARAM_SHAPES[name](a).values())


PARAM_ESTIMATES = {
    **{name: _counted(name) for name in ("Linear", "Embedding", "PReLU", "LayerNorm")},
    "LSTM": _rnn_params(4), "GRU": _rnn_params(3), "RNN": _rnn_params(1),
    "MultiheadAttention": _attention_params,
    "TransformerEncoderLayer": _encoder_params,
    **{f"{kind}Norm{n}d": _norm_params for kind in ("Batch", "Instance") for n in (1, 2, 3)},
    **{name: _counted(name) for n in (1, 2, 3) for name in (f"Conv{n}d", f"ConvTranspose{n}d")},
}


def check_param_count(name: str, n) -> None:
    """Refuse, before anything is allocated, a layer whose weights could not fit anywhere."""
    if isinstance(n, (int, float)) and not isinstance(n, bool) and n > MAX_PARAMS:
        raise ShapeProblem(f"{name} would hold {n:.2g} parameters ({4 * n / 2**30:,.0f} GiB as float32), "
                           f"more than the {MAX_PARAMS:.0e} specc accepts", "check the sizes for a typo")


def check_size(name: str, bound: dict) -> int:
    """The estimated parameters of a table layer built with ``bound`` (refused when too many)."""
    estimate = PARAM_ESTIMATES.get(name)
    if estimate is None:
        return 0
    try:
        n = estimate(bound)
    except (TypeError, KeyError):
        return 0                         # an argument of the wrong kind: the layer's own checks say so
    check_param_count(name, n)
    return int(n) if isinstance(n, (int, float)) else 0


def check_rank_for_pool(name: str, t: TensorType) -> None:
    """Pooling and convolutions want (channels, *spatial) per example."""
    for n in (1, 2, 3):
        if name.endswith(f"Pool{n}d"):
            _need_rank(t, (n + 1,), name, _LAYOUTS[n])


# Stateless, parameter-free layers whose forward is one torch function. The compiler calls
# the function instead (one call_function node, no submodule): the same kernel, without the
# cost of a module call, which is a few percent of a small MLP's step. Each entry names the
# function and the constructor arguments it takes under the same names; a layer given any
# other argument (``ReLU(inplace=true)``) stays a module.
FUNCTIONAL: dict[str, tuple[str, tuple[str, ...]]] = {
    "ReLU": ("torch.relu", ()),
    "Sigmoid": ("torch.sigmoid", ()),
    "Tanh": ("torch.tanh", ()),
    "SiLU": ("torch.nn.functional.silu", ()),
    "Mish": ("torch.nn.functional.mish", ()),
    "GELU": ("torch.nn.functional.gelu", ("approximate",)),
    "ELU": ("torch.nn.functional.elu", ("alpha",)),
    "LeakyReLU": ("torch.nn.functional.leaky_relu", ("negative_slope",)),
    "Softplus": ("torch.nn.functional.softplus", ("beta", "threshold")),
    "Softmax": ("torch.softmax", ("dim",)),
    "LogSoftmax": ("torch.log_softmax", ("dim",)),
    "Flatten": ("torch.flatten", ("start_dim", "end_dim")),
}


def functional_form(name: str, given: dict, defaults: dict) -> tuple[str, dict] | None:
    """``(function, kwargs)`` computing what layer ``name`` computes when built with the
    arguments ``given`` (by name; the rest take ``defaults``), or None."""
    if name not in FUNCTIONAL:
        return None
    target, takes = FUNCTIONAL[name]
    bound = {**defaults, **given}
    if not set(given) <= set(takes) or any(bound.get(k) is None for k in takes):
        return None     # another argument (inplace), or Softmax's legacy implicit dim
    return target, {k: bound[k] for k in takes}
