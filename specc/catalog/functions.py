"""The function catalogue of the language (section 3.2): shape rules and torch lowering.

One entry per name. ``out`` computes the output type from the input types and the
arguments (dimension arguments count with the batch as dim 0, as in PyTorch). ``lower``
says how the call becomes torch calls: a list of steps ``(op, target, args, kwargs)`` where
``op`` is "function" (target: dotted torch callable), "method" (target: Tensor method name)
or "module" (target: a torch.nn class name, args: its constructor arguments), and the
marker :data:`PREV` stands for the previous step's result. Nothing here imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Callable

from ..types import BATCH, Ref, TensorType
from .dims import fmt_shape, is_int
from .layers import ShapeProblem

REQUIRED = object()
PREV = Ref("<prev>")


@dataclass(frozen=True)
class FunctionRule:
    """tensors: how many leading tensor arguments (None: any number, as for ``cat``).
    params: the other arguments, ``(name, default)`` in order (REQUIRED: no default).
    variadic: the remaining positional arguments are collected into ``params[0]`` (``reshape``).
    """

    tensors: int | None
    params: tuple[tuple[str, object], ...]
    out: Callable[[list[TensorType], dict, bool], TensorType]
    lower: Callable[[list[Ref], dict, list[TensorType], bool], list[tuple]]
    variadic: bool = False


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
    shape = tuple(shape)
    if any(not is_int(d) or (d < 1 and d != -1) for d in shape):
        raise ShapeProblem(f"reshape wants sizes that are positive whole numbers (or one -1), got {fmt_shape(shape)}")
    if shape.count(-1) > 1:
        raise ShapeProblem("reshape takes at most one -1")
    total = prod(t.shape) if all(is_int(d) for d in t.shape) else None
    known = prod(d for d in shape if d != -1)
    if total is None:
        return shape
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
    return TensorType(ts[0].dtype, tuple(d if d != -1 else "?" for d in shape), 0)


def _reshape_lower(refs, a, ts, loss):
    shape = _resolve_shape(a["shape"], ts[0])
    if -1 not in shape:
        return [("method", "reshape", (refs[0], -1, *shape), {})]
    return [("method", "flatten", (refs[0], 1), {}), ("method", "unflatten", (PREV, 1, shape), {})]


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
