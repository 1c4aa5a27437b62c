"""The function catalogue of the language (section 3.2): shape rules and torch lowering.

One entry per name. ``out`` computes the output type from the input types and the
arguments (dimension arguments count with the batch as dim 0, as in PyTorch). ``lower``
says how the call becomes torch calls: a list of steps ``(op, target, args, kwargs)`` where
``op`` is "function" (target: dotted torch callable), "method" (target: Tensor method name)
or "module" (target: a torch.nn class name, args: its constructor arguments), and the
marker :data:`PREV` stands for the previous step's result, :data:`DEVICE` for the device of the
graph's first input (where a builder such as ``arange`` makes its tensor). A size argument may be
a :class:`~specc.types.SymInt` (a dim that varies between batches); the analysis writes its
reference into the steps. Nothing here imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Callable

from ..types import BATCH, Ref, SymInt, TensorType, TupleType, size_of
from .dims import fmt_shape, is_int
from .layers import ShapeProblem

REQUIRED = object()
PREV = Ref("<prev>")
DEVICE = Ref("<device>")


@dataclass(frozen=True)
class FunctionRule:
    """tensors: how many leading tensor arguments (None: any number, as for ``cat``).
    params: the other arguments, ``(name, default)`` in order (REQUIRED: no default).
    variadic: the remaining positional arguments are collected into ``params[0]`` (``reshape``).
    scalars: a number may stand where a tensor is taken (``where(mask, x, 0.0)``).
    tensor_kwargs: keyword arguments that take a tensor (or ``none``), appended to the tensors
    (``linear(x, w, bias=b)``).
    A rule with ``tensors=0`` is a builder: it makes a tensor without a batch dim from sizes.
    """

    tensors: int | None
    params: tuple[tuple[str, object], ...]
    out: Callable[[list[TensorType], dict, bool], TensorType]
    lower: Callable[[list[Ref], dict, list[TensorType], bool], list[tuple]]
    variadic: bool = False
    scalars: bool = False
    tensor_kwargs: tuple[str, ...] = ()


def norm_dim(d, t: TensorType, what: str, allow_new: bool = False) -> int:
    """A PyTorch dim (batch counted) as an index into ``t.full``; the batch may not be touched."""
    n = len(t.full) + (1 if allow_new else 0)
    if not isinstance(d, int) or isinstance(d, bool):
        raise ShapeProblem(f"{what} wants a whole-number dim, got {d!r}")
    if not -n <= d < n:
        raise ShapeProblem(f"{what}: dim {d} is out of range for an input of shape {t.batched}")
    i = d % n
    if t.batch_dim is not None and i == t.batch_dim and not allow_new:
        raise ShapeProblem(f"{what}: dim {d} is the batch dimension of {t.batched}",
                           "dims count as in PyTorch: the batch is dim 0, the first feature dim is 1")
    return i


def _elementwise(keep_dtype: bool):
    def out(ts, a, loss):
        t = ts[0]
        return TensorType(t.dtype if keep_dtype else "float", t.shape, t.batch_dim)
    return out


def _call(target: str, *extra_names):
    def lower(refs, a, ts, loss):
        return [("function", target, (*refs, *(a[n] for n in extra_names)), {})]
    return lower


def _kw_call(target: str, *kw_names):
    def lower(refs, a, ts, loss):
        return [("function", target, tuple(refs), {n: a[n] for n in kw_names})]
    return lower


def _kw_call_after(target: str, pos_names: tuple, kw_names: tuple):
    def lower(refs, a, ts, loss):
        return [("function", target, (*refs, *(a[n] for n in pos_names)), {n: a[n] for n in kw_names})]
    return lower


def _softmax_out(ts, a, loss):
    norm_dim(a["dim"], ts[0], "softmax")
    return TensorType("float", ts[0].shape, ts[0].batch_dim)


def _join_out(stack: bool):
    def out(ts, a, loss):
        what = "stack" if stack else "cat"
        if not ts:
            raise ShapeProblem(f"{what} needs at least one tensor")
        first = ts[0]
        for t in ts[1:]:
            if len(t.full) != len(first.full) or t.batch_dim != first.batch_dim:
                raise ShapeProblem(f"{what} needs inputs of the same rank, got {first.batched} and {t.batched}")
        i = norm_dim(a["dim"], first, what, allow_new=stack)
        for t in ts[1:]:
            for j, (x, y) in enumerate(zip(first.full, t.full)):
                if (stack or j != i) and x != y:
                    raise ShapeProblem(f"{what} along dim {a['dim']} needs the other dims to match, "
                                       f"got {first.batched} and {t.batched}")
        dtype = "float" if any(t.dtype == "float" for t in ts) else first.dtype
        full = list(first.full)
        if stack:
            full.insert(i, len(ts))
        else:
            sizes = [t.full[i] for t in ts]
            full[i] = sum(sizes) if all(is_int(s) for s in sizes) else " + ".join(map(str, sizes))
        return TensorType.from_full(dtype, tuple(full))
    return out


def _join_lower(target: str):
    def lower(refs, a, ts, loss):
        return [("function", target, (list(refs),), {"dim": a["dim"]})]
    return lower


def _dims_arg(a, t: TensorType, what: str, loss: bool):
    """The dims a reduction works on: the given ones, else all but the batch (all in a loss)."""
    d = a["dim"]
    if d is None:
        if loss or t.batch_dim is None:
            return None
        return tuple(i for i in range(len(t.full)) if i != t.batch_dim)
    ds = d if isinstance(d, (list, tuple)) else [d]
    return tuple(norm_dim(x, t, what) for x in ds)


def _reduce(what: str):
    def out(ts, a, loss):
        t = ts[0]
        dims = _dims_arg(a, t, what, loss)
        dtype = "float" if what == "mean" else t.dtype
        if dims is None:
            return TensorType(dtype, (), None)
        full = [("keep1" if i in dims else d) for i, d in enumerate(t.full)]
        kept = [1 if d == "keep1" else d for d in full] if a["keepdim"] else [d for d in full if d != "keep1"]
        return TensorType.from_full(dtype, tuple(kept))
    return out


def _reduce_lower(target: str, what: str):
    def lower(refs, a, ts, loss):
        dims = _dims_arg(a, ts[0], what, loss)
        if dims is None:
            return [("function", target, tuple(refs), {})]
        d = dims[0] if len(dims) == 1 else dims
        kw = {"dim": d}
        if a["keepdim"]:
            kw["keepdim"] = True
        return [("function", target, tuple(refs), kw)]
    return lower


def _flatten_out(ts, a, loss):
    t = ts[0]
    s = norm_dim(a["start_dim"], t, "flatten")
    e = norm_dim(a["end_dim"], t, "flatten")
    if e < s:
        raise ShapeProblem(f"flatten: end_dim {a['end_dim']} comes before start_dim {a['start_dim']}")
    seg = t.full[s:e + 1]
    merged = prod(seg) if all(is_int(d) for d in seg) else "*".join(map(str, seg))
    return TensorType.from_full(t.dtype, (*t.full[:s], merged, *t.full[e + 1:]))


def _resolve_shape(shape, t: TensorType) -> tuple:
    """The sizes asked for (a -1 worked out where it can be); a dim that varies between
    batches (a :class:`SymInt`) stays its symbol."""
    shape = tuple(size_of(d) for d in shape)
    if any(not isinstance(d, str) and (not is_int(d) or (d < 1 and d != -1)) for d in shape):
        raise ShapeProblem(f"reshape wants sizes that are positive whole numbers (or one -1), got {fmt_shape(shape)}")
    if shape.count(-1) > 1:
        raise ShapeProblem("reshape takes at most one -1")
    total = prod(t.shape) if all(is_int(d) for d in t.shape) else None
    if total is None or not all(is_int(d) for d in shape):
        return shape
    known = prod(d for d in shape if d != -1)
    if -1 in shape:
        if total % known:
            raise ShapeProblem(f"cannot reshape one example of {fmt_shape(t.shape)} ({total} values) into {fmt_shape(shape)}")
        return tuple(total // known if d == -1 else d for d in shape)
    if known != total:
        raise ShapeProblem(f"cannot reshape one example of {fmt_shape(t.shape)} ({total} values) "
                           f"into {fmt_shape(shape)} ({known} values)")
    return shape


def _reshape_out(ts, a, loss):
    shape = _resolve_shape(a["shape"], ts[0])
    return TensorType(ts[0].dtype, tuple(d if d != -1 else "?" for d in shape), ts[0].batch_dim and 0)


def _reshape_lower(refs, a, ts, loss):
    shape = _resolve_shape(a["shape"], ts[0])
    sizes = shape if all(is_int(d) for d in shape) else a["shape"]     # a SymInt is passed as itself
    if ts[0].batch_dim is None:                  # no batch to keep in front
        return [("method", "reshape", (refs[0], *sizes), {})]
    if -1 not in shape:
        return [("method", "reshape", (refs[0], -1, *sizes), {})]
    return [("method", "flatten", (refs[0], 1), {}), ("method", "unflatten", (PREV, 1, tuple(sizes)), {})]


def _transpose_out(ts, a, loss):
    t = ts[0]
    i, j = norm_dim(a["dim0"], t, "transpose"), norm_dim(a["dim1"], t, "transpose")
    full = list(t.full)
    full[i], full[j] = full[j], full[i]
    return TensorType.from_full(t.dtype, tuple(full))


def _permute_out(ts, a, loss):
    t = ts[0]
    dims = list(a["dims"])
    if len(dims) != len(t.full):
        raise ShapeProblem(f"permute wants {len(t.full)} dims for an input of shape {t.batched}, got {len(dims)}")
    idx = [d % len(t.full) if isinstance(d, int) else d for d in dims]
    if sorted(idx) != list(range(len(t.full))):
        raise ShapeProblem(f"permute wants each dim of {t.batched} once, got {tuple(dims)}")
    if t.batch_dim is not None and idx[t.batch_dim] != t.batch_dim:
        raise ShapeProblem(f"permute may not move the batch dim {t.batch_dim} of {t.batched}")
    return TensorType.from_full(t.dtype, tuple(t.full[i] for i in idx))


def _squeeze_out(ts, a, loss):
    t = ts[0]
    i = norm_dim(a["dim"], t, "squeeze")
    if is_int(t.full[i]) and t.full[i] != 1:
        raise ShapeProblem(f"squeeze: dim {a['dim']} of {t.batched} has size {t.full[i]}, not 1")
    return TensorType.from_full(t.dtype, tuple(d for j, d in enumerate(t.full) if j != i))


def _unsqueeze_out(ts, a, loss):
    t = ts[0]
    i = norm_dim(a["dim"], t, "unsqueeze", allow_new=True)
    if t.batch_dim is not None and i <= t.batch_dim:
        raise ShapeProblem(f"unsqueeze: dim {a['dim']} would come before the batch of {t.batched}")
    full = list(t.full)
    full.insert(i, 1)
    return TensorType.from_full(t.dtype, tuple(full))


def _one_hot_out(ts, a, loss):
    t = ts[0]
    if t.dtype not in ("long", "int"):
        raise ShapeProblem(f"one_hot wants class indices (long), got {t.dtype} {t.batched}")
    return TensorType("long", (*t.shape, a["num_classes"]), t.batch_dim)


def _dropout_out(ts, a, loss):
    p = a["p"]
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ShapeProblem(f"dropout: p is a probability between 0 and 1, got {p!r}")
    return ts[0]


def _dropout_lower(refs, a, ts, loss):
    return [("module", "Dropout", (a["p"],), {})]


_UNARY = {"relu": "torch.relu", "sigmoid": "torch.sigmoid", "tanh": "torch.tanh", "abs": "torch.abs",
          "exp": "torch.exp", "log": "torch.log", "sqrt": "torch.sqrt", "sin": "torch.sin", "cos": "torch.cos",
          "gelu": "torch.nn.functional.gelu"}

FUNCTIONS: dict[str, FunctionRule] = {
    name: FunctionRule(1, (), _elementwise(name == "abs"), _call(target)) for name, target in _UNARY.items()
}
FUNCTIONS.update({
    "softmax": FunctionRule(1, (("dim", -1),), _softmax_out, _kw_call("torch.softmax", "dim")),
    "log_softmax": FunctionRule(1, (("dim", -1),), _softmax_out, _kw_call("torch.log_softmax", "dim")),
    "cat": FunctionRule(None, (("dim", -1),), _join_out(False), _join_lower("torch.cat")),
    "stack": FunctionRule(None, (("dim", -1),), _join_out(True), _join_lower("torch.stack")),
    "mean": FunctionRule(1, (("dim", None), ("keepdim", False)), _reduce("mean"), _reduce_lower("torch.mean", "mean")),
    "sum": FunctionRule(1, (("dim", None), ("keepdim", False)), _reduce("sum"), _reduce_lower("torch.sum", "sum")),
    "max": FunctionRule(1, (("dim", None), ("keepdim", False)), _reduce("max"), _reduce_lower("torch.amax", "max")),
    "min": FunctionRule(1, (("dim", None), ("keepdim", False)), _reduce("min"), _reduce_lower("torch.amin", "min")),
    "flatten": FunctionRule(1, (("start_dim", 1), ("end_dim", -1)), _flatten_out,
                            _kw_call("torch.flatten", "start_dim", "end_dim")),
    "reshape": FunctionRule(1, (("shape", REQUIRED),), _reshape_out, _reshape_lower, variadic=True),
    "transpose": FunctionRule(1, (("dim0", REQUIRED), ("dim1", REQUIRED)), _transpose_out,
                              _call("torch.transpose", "dim0", "dim1")),
    "permute": FunctionRule(1, (("dims", REQUIRED),), _permute_out,
                            lambda refs, a, ts, loss: [("function", "torch.permute", (refs[0], tuple(a["dims"])), {})],
                            variadic=True),
    "squeeze": FunctionRule(1, (("dim", REQUIRED),), _squeeze_out, _call("torch.squeeze", "dim")),
    "unsqueeze": FunctionRule(1, (("dim", REQUIRED),), _unsqueeze_out, _call("torch.unsqueeze", "dim")),
    "matmul": FunctionRule(2, (), lambda ts, a, loss: matmul_type(ts[0], ts[1]), _call("torch.matmul")),
    "dropout": FunctionRule(1, (("p", 0.5),), _dropout_out, _dropout_lower),
    "one_hot": FunctionRule(1, (("num_classes", REQUIRED),), _one_hot_out,
                            _call("torch.nn.functional.one_hot", "num_classes")),
})


def _size(v, what: str):
    """A size argument: a whole number (0 or more), or a dim that varies between batches."""
    if isinstance(v, SymInt):
        return v.size
    if not is_int(v) or v < 0:
        raise ShapeProblem(f"{what} wants sizes that are whole numbers (0 or more), got {v!r}")
    return v


def _sizes(a, what: str) -> tuple:
    return tuple(_size(d, what) for d in a["shape"])


def _builder(target: str):
    def lower(refs, a, ts, loss):
        return [("function", target, tuple(a["shape"]), {"device": DEVICE})]
    return lower


def _arange_out(ts, a, loss):
    return TensorType("long", (_size(a["end"], "arange"),), None)


def _causal_out(ts, a, loss):
    n = _size(a["n"], "causal_mask")
    return TensorType("bool", (n, n), None)


def _causal_lower(refs, a, ts, loss):
    n = a["n"]
    return [("function", "torch.ones", (n, n), {"device": DEVICE}), ("method", "triu", (PREV, 1), {}),
            ("method", "bool", (PREV,), {})]


def _cast(dtype: str):
    def out(ts, a, loss):
        return TensorType(dtype, ts[0].shape, ts[0].batch_dim)
    return out


def _need_dtype(what: str, t: TensorType, want: tuple[str, ...], role: str, hint: str | None = None) -> None:
    if t.dtype not in want:
        raise ShapeProblem(f"{what} wants {role} of {' or '.join(want)}, got {t.dtype} {t.batched}", hint)


def _tri_out(what: str):
    def out(ts, a, loss):
        t = ts[0]
        if len(t.full) < 2:
            raise ShapeProblem(f"{what} needs at least 2 dims, got {t.batched}")
        if not is_int(a["diagonal"]):
            raise ShapeProblem(f"{what}: diagonal is a whole number, got {a['diagonal']!r}")
        if t.batch_dim is not None and t.batch_dim >= len(t.full) - 2:
            raise ShapeProblem(f"{what} works on the last two dims, and one of them is the batch of {t.batched}")
        return t
    return out


def _padding_out(ts, a, loss):
    _need_dtype("padding_mask", ts[0], ("long", "int"), "token ids")
    if not is_int(a["pad"]):
        raise ShapeProblem(f"padding_mask: pad is a token id (a whole number), got {a['pad']!r}")
    return TensorType("bool", ts[0].shape, ts[0].batch_dim)


def _masked_fill_out(ts, a, loss):
    x, mask = ts
    _need_dtype("masked_fill", mask, ("bool",), "a mask",
                "make one with causal_mask(n), padding_mask(tokens) or bool(x)")
    value = a["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ShapeProblem(f"masked_fill: value is a number, got {value!r}")
    out = broadcast(x, mask, "masked_fill")
    if out.full != x.full:
        raise ShapeProblem(f"masked_fill: the mask {mask.batched} would grow the input {x.batched} to {out.batched}")
    return x


def _where_out(ts, a, loss):
    cond, x, y = ts
    _need_dtype("where", cond, ("bool",), "a condition", "compare first (x > 0), or use bool(x)")
    out = broadcast(broadcast(cond, x, "where"), y, "where")
    dtype = "float" if "float" in (x.dtype, y.dtype) else x.dtype
    return TensorType(dtype, out.shape, out.batch_dim)


def _pieces(what: str, t: TensorType, a, sizes) -> TupleType:
    i = norm_dim(a["dim"], t, what)
    full = list(t.full)
    return TupleType(tuple(TensorType.from_full(t.dtype, (*full[:i], s, *full[i + 1:])) for s in sizes))


def _fixed_along(what: str, t: TensorType, a) -> int:
    i = norm_dim(a["dim"], t, what)
    size = t.full[i]
    if not is_int(size):
        raise ShapeProblem(f"{what} needs a fixed size along dim {a['dim']}, got '{size}' in {t.batched}",
                           "the number of pieces must be known when the spec is checked")
    return size


def _split_out(ts, a, loss):
    t, piece = ts[0], a["split_size"]
    if not is_int(piece) or piece < 1:
        raise ShapeProblem(f"split: the size of a piece is a whole number of at least 1, got {piece!r}")
    size = _fixed_along("split", t, a)
    return _pieces("split", t, a, [min(piece, size - k) for k in range(0, size, piece)])


def _chunk_out(ts, a, loss):
    t, n = ts[0], a["chunks"]
    if not is_int(n) or n < 1:
        raise ShapeProblem(f"chunk: the number of pieces is a whole number of at least 1, got {n!r}")
    size = _fixed_along("chunk", t, a)
    piece = -(-size // n)                  # torch.chunk: pieces of ceil(size / n), the last one shorter
    return _pieces("chunk", t, a, [min(piece, size - k) for k in range(0, size, piece)] if size else [0])


def _linear_fn_out(ts, a, loss):
    if len(ts) not in (2, 3):
        raise ShapeProblem(f"linear takes an input, a weight and an optional bias, got {len(ts)} tensors")
    x, w = ts[0], ts[1]
    for t, role in ((x, "an input"), (w, "a weight")):
        _need_dtype("linear", t, ("float",), role)
    if w.batch_dim is not None or len(w.shape) != 2:
        raise ShapeProblem(f"linear wants a weight (out_features, in_features) without a batch dim, got {w.batched}",
                           "a layer's weight, e.g. tok.weight, or a Parameter(out, in)")
    if not x.full or x.full[-1] != w.shape[1]:
        raise ShapeProblem(f"linear: the last dim of the input {x.batched} must equal the weight's in_features "
                           f"(dim 1 of {w.batched})")
    if len(ts) == 3 and (ts[2].batch_dim is not None or ts[2].shape != (w.shape[0],)):
        raise ShapeProblem(f"linear wants a bias ({w.shape[0]},) for the weight {w.batched}, got {ts[2].batched}")
    return TensorType.from_full("float", (*x.full[:-1], w.shape[0]))


_NEW = {
    "where": FunctionRule(3, (), _where_out, _call("torch.where"), scalars=True),
    "masked_fill": FunctionRule(2, (("value", REQUIRED),), _masked_fill_out,
                                lambda refs, a, ts, loss: [("method", "masked_fill", (*refs, a["value"]), {})]),
    "float": FunctionRule(1, (), _cast("float"), lambda refs, a, ts, loss: [("method", "float", tuple(refs), {})]),
    "long": FunctionRule(1, (), _cast("long"), lambda refs, a, ts, loss: [("method", "long", tuple(refs), {})]),
    "bool": FunctionRule(1, (), _cast("bool"), lambda refs, a, ts, loss: [("method", "bool", tuple(refs), {})]),
    "split": FunctionRule(1, (("split_size", REQUIRED), ("dim", -1)), _split_out,
                          _kw_call_after("torch.split", ("split_size",), ("dim",))),
    "chunk": FunctionRule(1, (("chunks", REQUIRED), ("dim", -1)), _chunk_out,
                          _kw_call_after("torch.chunk", ("chunks",), ("dim",))),
    "arange": FunctionRule(0, (("end", REQUIRED),), _arange_out,
                           lambda refs, a, ts, loss: [("function", "torch.arange", (a["end"],), {"device": DEVICE})]),
    "ones": FunctionRule(0, (("shape", REQUIRED),), lambda ts, a, loss: TensorType("float", _sizes(a, "ones"), None),
                         _builder("torch.ones"), variadic=True),
    "zeros": FunctionRule(0, (("shape", REQUIRED),), lambda ts, a, loss: TensorType("float", _sizes(a, "zeros"), None),
                          _builder("torch.zeros"), variadic=True),
    "tril": FunctionRule(1, (("diagonal", 0),), _tri_out("tril"), _kw_call("torch.tril", "diagonal")),
    "triu": FunctionRule(1, (("diagonal", 0),), _tri_out("triu"), _kw_call("torch.triu", "diagonal")),
    "causal_mask": FunctionRule(0, (("n", REQUIRED),), _causal_out, _causal_lower),
    "padding_mask": FunctionRule(1, (("pad", 0),), _padding_out, _call("torch.eq", "pad")),
    "linear": FunctionRule(None, (), _linear_fn_out, _call("torch.nn.functional.linear"), tensor_kwargs=("bias",)),
}


def _broadcast_dims(fa: tuple, fb: tuple) -> tuple | None:
    """PyTorch broadcasting of two full shapes, or None; the batch aligns only with itself or 1."""
    n = max(len(fa), len(fb))
    fa = (1,) * (n - len(fa)) + tuple(fa)
    fb = (1,) * (n - len(fb)) + tuple(fb)
    out = []
    for x, y in zip(fa, fb):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(out)


def broadcast(a: TensorType, b: TensorType, what: str) -> TensorType:
    """PyTorch broadcasting of two full shapes (the batch aligns only with itself or 1)."""
    out = _broadcast_dims(a.full, b.full)
    if out is None:
        raise ShapeProblem(f"{what} cannot broadcast {a.batched} with {b.batched}")
    dtype = "float" if "float" in (a.dtype, b.dtype) else a.dtype
    return TensorType.from_full(dtype, out)


_MATMUL_HINT = ("shapes count as in PyTorch, with the batch as dim 0: for one dot product per example write "
                "sum(x * y, dim=-1); for a matrix times a vector, x @ unsqueeze(y, -1)")


def matmul_type(a: TensorType, b: TensorType) -> TensorType:
    """``a @ b`` exactly as ``torch.matmul`` does it on the batched tensors.

    A 1-D side gets a dim of 1 added (in front on the left, behind on the right) that the result
    drops again; the last dim of the left meets the second-to-last of the right; the dims before
    those broadcast. The batch must come through as one broadcast dim: a product that sums over
    it, or pairs every example with every other, mixes examples and is refused.
    """
    fa, fb = tuple(a.full), tuple(b.full)
    what = f"{a.batched} @ {b.batched}"
    if not fa or not fb:
        raise ShapeProblem(f"@ needs at least one dim on each side, got {what}")
    if a.dtype != b.dtype or a.dtype == "bool":
        raise ShapeProblem(f"@ needs both sides of one number type (not bool), got {a.dtype} {a.batched} @ "
                           f"{b.dtype} {b.batched}", "torch.matmul does not mix element types")
    left = (1, *fa) if len(fa) == 1 else fa
    right = (*fb, 1) if len(fb) == 1 else fb
    k, k2 = left[-1], right[-2]
    if BATCH in (k, k2):
        raise ShapeProblem(f"@ would sum over the batch: {what}", _MATMUL_HINT)
    if k != k2 and is_int(k) and is_int(k2):
        raise ShapeProblem(f"@ needs the last dim of the left side to equal the "
                           f"{'only' if len(fb) == 1 else 'second-to-last'} dim of the right, got {what}")
    lead = _broadcast_dims(left[:-2], right[:-2])
    if lead is None:
        raise ShapeProblem(f"@ cannot broadcast the dims before the last two of {what}", _MATMUL_HINT)
    rows = () if len(fa) == 1 else (left[-2],)
    cols = () if len(fb) == 1 else (right[-1],)
    full = (*lead, *rows, *cols)
    if full.count(BATCH) > 1:
        raise ShapeProblem(f"@ would pair every example with every other: {what}", _MATMUL_HINT)
    return TensorType.from_full(a.dtype, full)


FUNCTIONS.update(_NEW)
