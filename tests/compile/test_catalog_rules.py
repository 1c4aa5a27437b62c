"""The torch-free shape rules agree with torch itself.

Each case writes a one-layer (or one-function) spec, and builds the same layer directly with
torch from the same arguments: the oracle. Either both refuse, or both accept and then
- the statically inferred output type, with the batch and symbolic dims filled in,
- the shape of what the built GraphModule returns on a random batch, and
- the shape of what the oracle returns (after copying the GraphModule's weights into it)
are the same, and the two outputs are bitwise equal. Hypothesis draws the sizes and arguments.
"""
from __future__ import annotations

import subprocess
import sys

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
import torch
from torch import nn
import torch.nn.functional as F

import specc
from specc.analysis.names import MODULE_ATTRS
from specc.catalog.layers import RULES
from specc.errors import SpecError
from compilekit import ROOT, build, copy_weights, equal

BATCH = 2
SEQ = 5
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(FAST, max_examples=10)        # layers that are slow to build: recurrent, attention


def spec_text(inputs: dict[str, str], body: str) -> str:
    params = ", ".join(f"{name}: {decl}" for name, decl in inputs.items())
    return f"model M({params}) {{\n    return {body}\n}}\n"


def concrete(t, symbols: dict) -> tuple:
    """A TensorType (or TupleType) as the torch shape(s) it promises."""
    if hasattr(t, "items"):
        return tuple(concrete(i, symbols) for i in t.items)
    return tuple(BATCH if d == "B" else symbols.get(d, d) for d in t.full)


def shapes(value) -> tuple:
    if isinstance(value, (tuple, list)):
        return tuple(shapes(v) for v in value)
    return tuple(value.shape)


def empty(value) -> bool:
    if isinstance(value, (tuple, list)):
        return any(empty(v) for v in value)
    return value.numel() == 0


def agree(text: str, inputs: list, oracle, symbols: dict | None = None) -> bool:
    """Assert specc and torch agree on ``text``; True when both accepted it.

    ``oracle(inputs)`` returns ``(module_or_None, output)``; it may raise, meaning torch refuses.
    Where torch returns an empty tensor (``Linear(0)``, a transposed convolution whose padding
    eats its whole output) specc must refuse: that is a mistake in a spec, not a network.
    """
    symbols = symbols or {}
    try:
        torch.manual_seed(0)
        module, want = oracle(inputs)
        refused = None if not empty(want) else "an empty output"
    except Exception as exc:        # torch's refusal, at construction or at the first call
        refused = exc
    try:
        checked = specc.check(specc.load(text))
    except SpecError as err:
        assert refused is not None, f"specc refuses what torch accepts:\n{text}{err}"
        return False
    assert refused is None, f"specc accepts what torch refuses ({refused!r}):\n{text}"
    (out_type,) = checked.graph.output_types
    gm = build(checked)
    gm.eval()
    if module is not None:
        copy_weights(gm, module)
        module.eval()
        with torch.no_grad():
            want = module(*inputs)
    with torch.no_grad():
        got = gm(*inputs)
    assert concrete(out_type, symbols) == shapes(got) == shapes(want), text
    assert equal(got, want), text
    return True


def layer_oracle(make):
    """An oracle that builds ``make()`` and applies it to the inputs."""
    def oracle(inputs):
        module = make()
        with torch.no_grad():
            return module, module.eval()(*inputs)
    return oracle


def dims(sizes) -> str:
    return "[" + ", ".join(map(str, sizes)) + "]"


def args(*positional, **keywords) -> str:
    def lit(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, tuple):
            return "(" + ", ".join(lit(x) for x in v) + ("," if len(v) == 1 else "") + ")"
        return "none" if v is None else str(v)
    return ", ".join([*map(lit, positional), *(f"{k}={lit(v)}" for k, v in keywords.items())])


# ---------------------------------------------------------------- layers
@FAST
@given(lead=st.lists(st.integers(1, 4), max_size=2), n_in=st.integers(1, 8), n_out=st.integers(0, 8),
       bias=st.booleans())
def test_linear(lead, n_in, n_out, bias):
    x = torch.randn(BATCH, *lead, n_in)
    text = spec_text({"x": f"float{dims([*lead, n_in])}"}, f"x -> Linear({args(n_out, bias=bias)})")
    accepted = agree(text, [x], layer_oracle(lambda: nn.Linear(n_in, n_out, bias=bias)))
    assert accepted == (n_out > 0)


@st.composite
def conv_case(draw, n: int, transpose: bool):
    c_in, c_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kw = {"stride": draw(st.integers(1, 3)), "dilation": draw(st.integers(1, 2)),
          "groups": draw(st.sampled_from([1, 2]))}
    pads = [0, 1, 2] if transpose else [0, 1, 2, "same", "valid"]
    kw["padding"] = draw(st.sampled_from(pads))
    if transpose:
        kw["output_padding"] = draw(st.integers(0, 2))
    else:
        kw["padding_mode"] = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    kernel = draw(st.integers(1, 4))
    size = draw(st.lists(st.integers(1, 9 if n < 3 else 5), min_size=n, max_size=n))
    return c_in, c_out, kernel, kw, size


def _conv(n: int, transpose: bool, case) -> bool:
    c_in, c_out, kernel, kw, size = case
    name = f"Conv{'Transpose' if transpose else ''}{n}d"
    x = torch.randn(BATCH, c_in, *size)
    text = spec_text({"x": f"float{dims([c_in, *size])}"}, f"x -> {name}({args(c_out, kernel, **kw)})")
    return agree(text, [x], layer_oracle(lambda: getattr(nn, name)(c_in, c_out, kernel, **kw)))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_conv(n):
    @FAST
    @given(case=conv_case(n, False))
    def run(case):
        _conv(n, False, case)
    run()


@pytest.mark.parametrize("n", [1, 2])
def test_conv_transpose(n):
    @FAST
    @given(case=conv_case(n, True))
    def run(case):
        _conv(n, True, case)
    run()


@pytest.mark.parametrize("kind, n", [("Max", 1), ("Max", 2), ("Avg", 1), ("Avg", 2), ("Max", 3)])
def test_pool(kind, n):
    @FAST
    @given(kernel=st.integers(1, 4), stride=st.sampled_from([None, 1, 2, 3]), padding=st.integers(0, 2),
           dilation=st.integers(1, 2), ceil=st.booleans(), channels=st.integers(1, 3),
           size=st.lists(st.integers(1, 9), min_size=n, max_size=n))
    def run(kernel, stride, padding, dilation, ceil, channels, size):
        kw = {"stride": stride, "padding": padding, "ceil_mode": ceil}
        if kind == "Max":
            kw["dilation"] = dilation
        name = f"{kind}Pool{n}d"
        x = torch.randn(BATCH, channels, *size)
        text = spec_text({"x": f"float{dims([channels, *size])}"}, f"x -> {name}({args(kernel, **kw)})")
        agree(text, [x], layer_oracle(lambda: getattr(nn, name)(kernel, **kw)))
    run()


@pytest.mark.parametrize("kind", ["Max", "Avg"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_adaptive_pool(kind, n):
    @FAST
    @given(channels=st.integers(1, 3), size=st.lists(st.integers(1, 8), min_size=n, max_size=n),
           out=st.lists(st.one_of(st.none(), st.integers(1, 6)), min_size=n, max_size=n), single=st.booleans())
    def run(channels, size, out, single):
        target = out[0] if single and out[0] is not None else tuple(out)
        if n == 1 and not isinstance(target, int):
            target = target[0] if target[0] is not None else 1
        name = f"Adaptive{kind}Pool{n}d"
        x = torch.randn(BATCH, channels, *size)
        text = spec_text({"x": f"float{dims([channels, *size])}"}, f"x -> {name}({args(target)})")
        agree(text, [x], layer_oracle(lambda: getattr(nn, name)(target)))
    run()


@pytest.mark.parametrize("name, example", [
    ("BatchNorm1d", [4]), ("BatchNorm1d", [4, 6]), ("BatchNorm2d", [3, 5, 4]), ("BatchNorm3d", [2, 3, 4, 5]),
    ("InstanceNorm1d", [3, 6]), ("InstanceNorm2d", [3, 5, 4]), ("InstanceNorm3d", [2, 3, 4, 5]),
    ("LayerNorm", [7]), ("LayerNorm", [3, 7]),
    # ranks these layers do not take: both refuse
    ("BatchNorm1d", [2, 3, 4]), ("BatchNorm2d", [4]), ("BatchNorm2d", [3, 4]), ("InstanceNorm2d", [4]),
])
def test_norms(name, example):
    x = torch.randn(BATCH, *example)
    text = spec_text({"x": f"float{dims(example)}"}, f"x -> {name}")
    features = example[-1] if name == "LayerNorm" else example[0]
    agree(text, [x], layer_oracle(lambda: getattr(nn, name)(features)))


@FAST
@given(vocab=st.integers(2, 20), dim=st.integers(1, 8), shape=st.sampled_from([["seq"], [3], [2, "seq"]]),
       padding_idx=st.one_of(st.none(), st.integers(-25, 25)))
def test_embedding(vocab, dim, shape, padding_idx):
    sizes = [SEQ if d == "seq" else d for d in shape]
    x = torch.randint(0, vocab, (BATCH, *sizes))
    text = spec_text({"x": f"long{dims(shape)}"}, f"x -> Embedding({args(vocab, dim, padding_idx=padding_idx)})")
    agree(text, [x], layer_oracle(lambda: nn.Embedding(vocab, dim, padding_idx=padding_idx)), {"seq": SEQ})


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_recurrent(name):
    @SLOW
    @given(features=st.integers(1, 6), hidden=st.integers(1, 6), layers=st.integers(1, 3),
           bidirectional=st.booleans(), proj=st.integers(0, 6), seq=st.sampled_from(["seq", 4]))
    def run(features, hidden, layers, bidirectional, proj, seq):
        kw = {"num_layers": layers, "bidirectional": bidirectional}
        if name == "LSTM":
            kw["proj_size"] = proj
        x = torch.randn(BATCH, SEQ if seq == "seq" else seq, features)
        text = spec_text({"x": f"float{dims([seq, features])}"}, f"x -> {name}({args(hidden, **kw)})")
        agree(text, [x], layer_oracle(lambda: getattr(nn, name)(features, hidden, batch_first=True, **kw)),
              {"seq": SEQ})
    run()


@SLOW
@given(heads=st.integers(1, 3), per_head=st.integers(1, 3), three=st.booleans(), kdim=st.integers(0, 4),
       vdim=st.integers(0, 4), key_seq=st.integers(1, 6))
def test_multihead_attention(heads, per_head, three, kdim, vdim, key_seq):
    embed = heads * per_head
    kw = {"kdim": kdim or None, "vdim": vdim or None}
    q = torch.randn(BATCH, SEQ, embed)
    inputs = {"q": f"float[seq, {embed}]"}
    tensors = [q]
    if three:
        inputs["k"] = f"float[{key_seq}, {kdim or embed}]"
        inputs["v"] = f"float[{key_seq}, {vdim or embed}]"
        tensors += [torch.randn(BATCH, key_seq, kdim or embed), torch.randn(BATCH, key_seq, vdim or embed)]
    else:
        kw = {}
    call = "(q, k, v)" if three else "(q)"
    text = spec_text(inputs, f"MultiheadAttention({args(heads, **kw)}){call}")

    def oracle(ts):
        module = ThreeWay(nn.MultiheadAttention(embed, heads, batch_first=True, **kw), three).eval()
        with torch.no_grad():
            return module, module(*ts)
    agree(text, tensors, oracle, {"seq": SEQ})


class ThreeWay(nn.Module):
    """Calls a MultiheadAttention as the compiled graph does: applied to q alone means (q, q, q)."""

    def __init__(self, inner: nn.Module, three: bool):
        super().__init__()
        self.inner, self.three = inner, three

    def forward(self, *ts):
        return self.inner(*(ts if self.three else ts * 3))


@SLOW
@given(heads=st.integers(1, 3), per_head=st.integers(1, 3), ff=st.integers(1, 8), seq=st.sampled_from(["seq", 3]),
       nhead_off=st.sampled_from([0, 0, 1]))
def test_transformer_encoder_layer(heads, per_head, ff, seq, nhead_off):
    d = heads * per_head
    nhead = heads + nhead_off
    x = torch.randn(BATCH, SEQ if seq == "seq" else seq, d)
    text = spec_text({"x": f"float{dims([seq, d])}"},
                     f"x -> TransformerEncoderLayer({args(nhead, dim_feedforward=ff, dropout=0.0)})")
    agree(text, [x], layer_oracle(lambda: nn.TransformerEncoderLayer(d, nhead, ff, 0.0, batch_first=True)),
          {"seq": SEQ})


@pytest.mark.parametrize("start, end", [(1, -1), (1, 2), (2, 3), (-2, -1), (3, 3), (2, -2), (1, 1)])
def test_flatten(start, end):
    x = torch.randn(BATCH, 2, 3, 4)
    text = spec_text({"x": "float[2, 3, 4]"}, f"x -> Flatten({args(start_dim=start, end_dim=end)})")
    agree(text, [x], layer_oracle(lambda: nn.Flatten(start, end)))


def test_flatten_refuses_the_batch():
    with pytest.raises(SpecError, match="batch"):
        specc.check(specc.load(spec_text({"x": "float[3]"}, "x -> Flatten(start_dim=0)")))


ACTIVATION_ARGS = {"Threshold": (0.1, 20.0), "Softmax": (-1,), "LogSoftmax": (-1,), "Softmin": (-1,)}
ACTIVATIONS = sorted(name for name, rule in RULES.items() if not rule.infer and name not in {
    "Flatten", "Embedding"} and "Pool" not in name)


@pytest.mark.filterwarnings("ignore:dropout2d:UserWarning", "ignore:dropout3d:UserWarning")
@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("example", [[5], [3, 4], [2, 3, 4], [2, 2, 3, 4]], ids=lambda e: f"rank{len(e)}")
def test_activations_and_dropouts(name, example):
    x = torch.randn(BATCH, *example)
    extra = ACTIVATION_ARGS.get(name, ())
    text = spec_text({"x": f"float{dims(example)}"}, f"x -> {name}({args(*extra)})")
    agree(text, [x], layer_oracle(lambda: getattr(nn, name)(*extra)))


# Stateless layers compile to their function (catalog.layers.FUNCTIONAL): the built graph calls
# the function and has no submodule; arguments it does not take keep the module.
FUNCTION_FORMS = [
    ("LeakyReLU(0.2)", lambda: nn.LeakyReLU(0.2), "call_function"),
    ("LeakyReLU(negative_slope=0.3)", lambda: nn.LeakyReLU(0.3), "call_function"),
    ('GELU(approximate="tanh")', lambda: nn.GELU(approximate="tanh"), "call_function"),
    ("ELU(alpha=0.5)", lambda: nn.ELU(0.5), "call_function"),
    ("Softplus(2.0, 5.0)", lambda: nn.Softplus(2.0, 5.0), "call_function"),
    ("Softmax(dim=1)", lambda: nn.Softmax(1), "call_function"),
    ("LogSoftmax(-2)", lambda: nn.LogSoftmax(-2), "call_function"),
    ("Flatten(2)", lambda: nn.Flatten(2), "call_function"),
    ("ReLU(inplace=true)", lambda: nn.ReLU(inplace=True), "call_module"),
    ("ELU(0.5, true)", lambda: nn.ELU(0.5, True), "call_module"),
]


@pytest.mark.parametrize("layer, make, op", FUNCTION_FORMS, ids=[f[0] for f in FUNCTION_FORMS])
def test_stateless_layers_compile_to_functions(layer, make, op):
    x = torch.randn(BATCH, 2, 3, 4)
    text = spec_text({"x": "float[2, 3, 4]"}, f"x -> {layer}")
    assert agree(text, [x.clone()], layer_oracle(make))
    gm = build(specc.check(specc.load(text)))
    (node,) = [n for n in gm.graph.nodes if n.op not in ("placeholder", "output")]
    assert node.op == op
    assert (len(list(gm.children())) == 0) == (op == "call_function")


def test_every_table_rule_is_exercised():
    covered = {"Linear", "Embedding", "LayerNorm", "LSTM", "GRU", "RNN", "MultiheadAttention",
               "TransformerEncoderLayer", "Flatten", *ACTIVATIONS}
    covered |= {f"{k}Norm{n}d" for k in ("Batch", "Instance") for n in (1, 2, 3)}
    covered |= {f"{p}{n}d" for p in ("Conv", "ConvTranspose", "MaxPool", "AvgPool", "AdaptiveMaxPool",
                                      "AdaptiveAvgPool") for n in (1, 2, 3)}
    assert set(RULES) <= covered, set(RULES) - covered


# ---------------------------------------------------------------- functions
def function_oracle(fn):
    return lambda inputs: (None, fn(*inputs))


FEATURE_DIMS = st.sampled_from([1, 2, 3, -1, -2, -3])       # never the batch of an (B, 2, 3, 4) input


@FAST
@given(d=FEATURE_DIMS, grow=st.integers(1, 3), stack=st.booleans())
def test_cat_and_stack(d, grow, stack):
    base = [2, 3, 4]
    other = list(base)
    if not stack:
        other[d % 4 - 1] = grow
    x, y = torch.randn(BATCH, *base), torch.randn(BATCH, *other)
    name = "stack" if stack else "cat"
    text = spec_text({"x": f"float{dims(base)}", "y": f"float{dims(other)}"}, f"{name}(x, y, dim={d})")
    agree(text, [x, y], function_oracle(lambda a, b: getattr(torch, name)([a, b], dim=d)))


@pytest.mark.parametrize("name, fn", [("mean", torch.mean), ("sum", torch.sum), ("max", torch.amax),
                                      ("min", torch.amin)])
def test_reductions(name, fn):
    @FAST
    @given(d=st.one_of(FEATURE_DIMS, st.just((1, 2)), st.just((-1, 1))), keepdim=st.booleans())
    def run(d, keepdim):
        x = torch.randn(BATCH, 2, 3, 4)
        text = spec_text({"x": "float[2, 3, 4]"}, f"{name}(x, dim={args(d)}, keepdim={args(keepdim)})")
        agree(text, [x], function_oracle(lambda a: fn(a, dim=d, keepdim=keepdim)))
    run()


def test_max_is_the_values_of_torch_max():
    x = torch.randn(BATCH, 3, 4)
    agree(spec_text({"x": "float[3, 4]"}, "max(x, dim=1)"), [x],
          function_oracle(lambda a: torch.max(a, dim=1).values))


def test_reduction_without_dim_keeps_the_batch():
    x = torch.randn(BATCH, 3, 4)
    agree(spec_text({"x": "float[3, 4]"}, "mean(x)"), [x], function_oracle(lambda a: a.mean(dim=(1, 2))))


@FAST
@given(start=FEATURE_DIMS, end=FEATURE_DIMS)
def test_flatten_function(start, end):
    x = torch.randn(BATCH, 2, 3, 4)
    text = spec_text({"x": "float[2, 3, 4]"}, f"flatten(x, {start}, {end})")
    agree(text, [x], function_oracle(lambda a: torch.flatten(a, start, end)))


@FAST
@given(shape=st.sampled_from([(24,), (-1,), (2, 12), (-1, 6), (4, -1, 2), (2, 3, 4), (3, -1), (5, -1), (7, 3)]))
def test_reshape(shape):
    x = torch.randn(BATCH, 2, 3, 4)
    text = spec_text({"x": "float[2, 3, 4]"}, f"reshape(x, {args(*shape)})")
    agree(text, [x], function_oracle(lambda a: a.reshape(BATCH, *shape)))


@FAST
@given(i=FEATURE_DIMS, j=FEATURE_DIMS)
def test_transpose(i, j):
    x = torch.randn(BATCH, 2, 3, 4)
    agree(spec_text({"x": "float[2, 3, 4]"}, f"transpose(x, {i}, {j})"), [x],
          function_oracle(lambda a: torch.transpose(a, i, j)))


@FAST
@given(order=st.permutations([1, 2, 3]))
def test_permute(order):
    x = torch.randn(BATCH, 2, 3, 4)
    agree(spec_text({"x": "float[2, 3, 4]"}, f"permute(x, 0, {args(*order)})"), [x],
          function_oracle(lambda a: torch.permute(a, (0, *order))))


@FAST
@given(d=FEATURE_DIMS)
def test_squeeze(d):
    x = torch.randn(BATCH, 1, 3, 1)
    text = spec_text({"x": "float[1, 3, 1]"}, f"squeeze(x, {d})")
    if x.shape[d] != 1:               # torch quietly does nothing; specc calls it a mistake
        with pytest.raises(SpecError, match="not 1"):
            specc.check(specc.load(text))
        return
    agree(text, [x], function_oracle(lambda a: a.squeeze(d)))


@FAST
@given(d=st.sampled_from([1, 2, 3, -1, -2, -3]))
def test_unsqueeze(d):
    x = torch.randn(BATCH, 3, 4)
    agree(spec_text({"x": "float[3, 4]"}, f"unsqueeze(x, {d})"), [x], function_oracle(lambda a: a.unsqueeze(d)))


@FAST
@given(n=st.integers(1, 6), shape=st.sampled_from([[], [3], ["seq"]]))
def test_one_hot(n, shape):
    sizes = [SEQ if d == "seq" else d for d in shape]
    k = torch.randint(0, n, (BATCH, *sizes))
    agree(spec_text({"k": f"long{dims(shape)}"}, f"one_hot(k, {n})"), [k],
          function_oracle(lambda a: F.one_hot(a, n)), {"seq": SEQ})


@FAST
@given(d=FEATURE_DIMS, log=st.booleans())
def test_softmax(d, log):
    x = torch.randn(BATCH, 2, 3, 4)
    name = "log_softmax" if log else "softmax"
    agree(spec_text({"x": "float[2, 3, 4]"}, f"{name}(x, dim={d})"), [x],
          function_oracle(lambda a: getattr(torch, name)(a, dim=d)))


def per_example_matmul(a, b):
    """torch.matmul on the batched tensors, refused (raises) where a PyTorch user would not get one
    result per example: at batch sizes 2 and 3 (so that a size equal to the batch is no accident)
    the result must keep the batch in front and hold, for each example, the product of that
    example alone."""
    for n in (3, BATCH):
        x, y = a[:1].expand(n, *a.shape[1:]).clone(), b[:1].expand(n, *b.shape[1:]).clone()
        x[1:] += torch.randn_like(x[1:])
        y[1:] += torch.randn_like(y[1:])
        out = torch.matmul(x, y)
        alone = torch.cat([torch.matmul(x[i:i + 1], y[i:i + 1]) for i in range(n)])
        if out.shape != alone.shape or not torch.equal(out, alone):
            raise ValueError("the product mixes examples")
    return torch.matmul(a, b)


@settings(FAST, max_examples=150)
@given(left=st.lists(st.integers(1, 3), min_size=1, max_size=3),
       right=st.lists(st.integers(1, 3), min_size=1, max_size=3), call=st.booleans())
def test_matmul(left, right, call):
    x, y = torch.randn(BATCH, *left), torch.randn(BATCH, *right)
    body = "matmul(x, y)" if call else "x @ y"
    agree(spec_text({"x": f"float{dims(left)}", "y": f"float{dims(right)}"}, body), [x, y],
          function_oracle(per_example_matmul))


@pytest.mark.parametrize("left, right", [([4, 3], [3, 2]), (["seq", 3], [3, 2]), ([2, 4, 3], [2, 3, 1]),
                                         ([1, 4, 3], [5, 3, 2]), ([4, 3], [3, 1])])
def test_matmul_accepts_per_example_products(left, right):
    """Control for test_matmul, whose draws are mostly refused: these keep one product per example."""
    symbols = {"seq": SEQ}
    x = torch.randn(BATCH, *(symbols.get(d, d) for d in left))
    y = torch.randn(BATCH, *right)
    assert agree(spec_text({"x": f"float{dims(left)}", "y": f"float{dims(right)}"}, "x @ y"), [x, y],
                 function_oracle(per_example_matmul), symbols)


@pytest.mark.parametrize("left, right", [("float[3, 4]", "long[4, 2]"), ("int[3, 4]", "long[4, 2]"),
                                         ("bool[3, 4]", "bool[4, 2]")])
def test_matmul_refuses_what_torch_cannot_multiply(left, right):
    with pytest.raises(SpecError, match="number type"):
        specc.check(specc.load(spec_text({"x": left, "y": right}, "x @ y")))


def test_agree_can_fail():
    """Control: a rule that disagrees with torch is caught."""
    x = torch.randn(BATCH, 3, 4)
    with pytest.raises(AssertionError):
        agree(spec_text({"x": "float[3, 4]"}, "transpose(x, 1, 2)"), [x], function_oracle(lambda a: a))


# ---------------------------------------------------------------- names, imports
def test_module_attrs_cover_nn_module():
    public = {name for name in dir(nn.Module) if not name.startswith("_")}
    assert public <= MODULE_ATTRS, sorted(public - MODULE_ATTRS)


def test_module_attrs_cover_what_graph_modules_add():
    public = {name for name in dir(torch.fx.GraphModule) if not name.startswith("_")}
    assert public <= MODULE_ATTRS, sorted(public - MODULE_ATTRS)


@pytest.mark.parametrize("path", ["specs/moons.spec", "specs/cnn.spec", "specs/bilstm.spec",
                                  "tests/syntax/language_examples/s3_block.spec"])
def test_checking_table_layers_does_not_import_torch(path):
    if not (ROOT / path).is_file():
        pytest.skip(f"{path} is not there (test_specs_build reports missing specs)")
    code = ("import sys\nfrom specc.analysis.check import check\nfrom specc.syntax.spec import read_spec_file\n"
            f"check(read_spec_file({str(ROOT / path)!r}))\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
