"""``specc compile`` output is valid, standalone Python that computes exactly what ``specc.build`` does.

For every shipped spec and for inline specs that exercise each construct of the language, the
generated source must pass ``py_compile``; its model class, built with no arguments and loaded
with the GraphModule's ``state_dict`` (strictly: same names, same shapes), must give bitwise
equal outputs on random inputs in eval mode. The hostile-input tests feed identifiers and
strings that would break or subvert naive code generation.
"""
from __future__ import annotations

import ast
from pathlib import Path
import py_compile
import sys

import pytest
import torch

import specc
from specc.compile.codegen import to_source
from compilekit import ROOT, SPEC_DIR, SPECS, build, check_or_skip, equal, load_source, model_class_name, random_inputs

# The imports' file, written next to the inline spec: the example spec's MyLinear and a function.
LAYERS_PY = (SPEC_DIR / "layers.py").read_text(encoding="utf-8") + '''

def swish(x, beta=1.0):
    return x * torch.sigmoid(beta * x)
'''

INLINE = {
    "control_flow_and_comparisons": """
block Stage(x: float[n], width: int, gate: bool = false) {
    h = x -> Linear(width) -> ReLU
    if gate and width > 4 {
        h = h -> ReLU -> Linear(n)
    } else if n != width {
        h = h + (x -> Linear(width))
    } else {
        h = h + x
    }
    return h
}
model Net(x: float[6]) {
    shared = Linear(6)
    h = x
    for width, gate in [(6, false), (8, true), (8, false)] {
        h = h -> Stage(width=width, gate=gate)
    }
    for i in 1..2 {
        h = shared(h -> Linear(6))
    }
    return h, h -> ReLU > 0, x <= 0.5
}
""",
    "blocks_two_settings_and_shared_instance": """
block Res(x: float[n], width: int = 8) {
    h = x -> Linear(width) -> ReLU -> Linear(n)
    return x + h
}
block Head(x: float[n], classes: int, p: float = 0.5) {
    return x -> Dropout(p) -> Linear(classes)
}
model Net(x: float[6]) {
    shared = Res(width=5)
    a = shared(x)
    a = shared(a)
    b = x -> Res(width=3) -> Res
    return cat(a, b) -> Head(classes=4, p=0.1)
}
""",
    "shared_layers": """
model CrazyNet(x: float[12]) {
    lin1 = Linear(5)
    lin2 = Linear(12)
    lin3 = Linear(3)
    h = lin1(x)
    h = lin1(x + lin2(h))
    h = lin1(x - lin2(h))
    return lin3(h)
}
""",
    "recurrent_destructuring": """
model Rnn(tokens: long[seq]) {
    e = Embedding(20, 8)(tokens)
    out, (h, c) = LSTM(6, num_layers=2, bidirectional=true)(e)
    g, hg = GRU(5)(out)
    r, _ = RNN(4, nonlinearity="relu")(g)
    return cat(out[:, -1], h[-1], c[0], hg[0], r[:, 0], mean(g, dim=1))
}
""",
    "indexing_and_slicing": """
model Idx(x: float[4, 6, 5]) {
    a = x[:, -1]
    b = x[..., 1:3]
    c = x[:, 1:4:2, ::2, 0]
    d = x[:, :, -2:]
    e = x[..., 0]
    return flatten(a), flatten(b), flatten(c), flatten(d), flatten(e)
}
""",
    "reshape_transpose_permute_squeeze": """
model Shapes(x: float[4, 6]) {
    a = reshape(x, 6, 4) -> transpose(1, 2) -> permute(0, 2, 1) -> unsqueeze(1) -> squeeze(1)
    b = reshape(x, -1, 2)
    c = reshape(x, [3, 8])
    d = x -> flatten -> reshape(2, 3, 4) -> flatten(start_dim=2)
    return a, b, c, d
}
""",
    "arithmetic_matmul_power": """
model Arith(x: float[4, 6], y: float[6, 3]) {
    z = x @ y
    w = matmul(x, y) ** 2 - z / 2 * -z // 3 + 1
    v = 2 ** x + abs(x) ** 0.5 - 3 * x
    return z, w, v, x @ transpose(x, 1, 2)
}
""",
    "reductions_and_joins": """
model Reduce(x: float[4, 6]) {
    a = cat(mean(x, dim=1), max(x, dim=1), min(x, dim=2), sum(x, dim=-1))
    b = stack(mean(x, dim=1), max(x, dim=1), dim=1)
    c = mean(x, dim=1, keepdim=true)
    d = cat(x, x, dim=1)
    e = sum(x)
    return a, b, c, d, e -> unsqueeze(1)
}
""",
    "repetition": """
model Deep(x: float[5]) {
    h = x -> (Linear(7) -> ReLU) * 3
    g = x -> 2 * (Linear(5) -> Tanh) -> Linear(4)
    return cat(h, g)
}
""",
    "functions_catalogue": """
model Fns(x: float[6], k: long[3]) {
    a = x -> relu -> gelu -> sigmoid -> tanh
    b = softmax(x) + log_softmax(x, dim=1) + exp(x) + log(abs(x) + 1) + sqrt(abs(x)) + sin(x) + cos(x)
    c = one_hot(k, 5)
    d = x -> dropout(0.3) -> Softmax(dim=-1)
    return a, b, c, d
}
""",
    "cnn_with_block": """
block ConvBlock(x: float[c, h, w], channels: int, k: int = 3) {
    return x -> Conv2d(channels, k, padding=k // 2) -> BatchNorm2d -> ReLU -> MaxPool2d(2)
}
model Cnn(x: float[3, 16, 12]) {
    h = x -> ConvBlock(channels=4) -> ConvBlock(channels=6, k=5)
    a = h -> AdaptiveAvgPool2d(1) -> Flatten
    b = h -> AvgPool2d(2, stride=1, padding=1) -> Flatten
    c = Conv1d(4, 3, stride=2)(reshape(x, 3, 192)) -> flatten
    return cat(a, b) -> Linear(10), c
}
""",
    "attention_and_transformer": """
model Attn(tokens: long[seq]) {
    e = Embedding(30, 8)(tokens) -> LayerNorm
    att, weights = MultiheadAttention(2)(e)
    t = e -> TransformerEncoderLayer(2, dim_feedforward=16, dropout=0.0)
    return att + t, weights
}
""",
    "imported_layer_and_function": """
import "layers.py" as my
model Custom(x: float[2]) {
    h = x -> my.MyLinear(2, 50) -> ReLU -> my.swish -> my.MyLinear(50, 2)
    return my.swish(h, 2.0), h -> my.swish(beta=0.5)
}
""",
    # language 1.1 (values): keywords at application, builders, dim names as values, Parameter, tied head
    "causal_decoder_tied_head": """
block Decoder(h: float[t, d], heads: int) {
    a, _ = MultiheadAttention(heads)(h -> LayerNorm, h -> LayerNorm, h -> LayerNorm, attn_mask=causal_mask(t),
                                     need_weights=false)
    h = h + a
    return TransformerEncoderLayer(heads, dim_feedforward=32, dropout=0.0)(h, src_mask=causal_mask(t), is_causal=true)
}
model Gpt(tokens: long[t]) {
    tok = Embedding(20, 16)
    pos = Parameter(12, 16, init=normal(0, 0.02))
    h = tokens -> tok
    h = h + pos[:t] + Embedding(12, 16)(arange(t))
    h = Decoder(heads=2)(h=h)
    return linear(h -> LayerNorm, tok.weight)
}
""",
    "padding_mask_and_functions": """
model Classifier(tokens: long[t]) {
    pad = padding_mask(tokens)
    h = Embedding(20, 16)(tokens) + Parameter(16, init=uniform(-0.1, 0.1))
    h = TransformerEncoderLayer(2, dim_feedforward=32, dropout=0.0)(h, src_key_padding_mask=pad)
    q, k, v = split(Linear(48)(h), 16, dim=-1)
    a, b = chunk(q, 2)
    g = where(pad -> unsqueeze(-1), 0.0, cat(a, b) + k * v)
    g = masked_fill(g, pad -> unsqueeze(-1), 0.0) + tril(ones(t, 16)) + triu(zeros(t, 16), diagonal=1)
    n = float(long(bool(g)))
    s = reshape(g, t, 4, 16 // 4)
    return mean(s, dim=1) -> flatten -> Linear(3), n
}
""",
}


def compiled(checked, tmp_path, name: str):
    """The generated source (checked by py_compile) and an instance of its model class."""
    source = to_source(checked)
    path = tmp_path / f"compiled_{name}.py"
    path.write_text(source, encoding="utf-8")
    py_compile.compile(str(path), cfile=str(tmp_path / f"compiled_{name}.pyc"), doraise=True)
    module = load_source(source, tmp_path, f"compiled_{name}")
    return source, getattr(module, model_class_name(source))()


def assert_same_as_build(checked, tmp_path, name: str, monkeypatch) -> str:
    monkeypatch.syspath_prepend(str(checked.spec.base_dir))      # where the spec's imports live
    for alias_module in ("layers", "hostile"):
        monkeypatch.delitem(sys.modules, alias_module, raising=False)
    gm = build(checked)
    source, model = compiled(checked, tmp_path, name)
    model.load_state_dict(gm.state_dict(), strict=True)
    gm.eval()
    model.eval()
    with torch.no_grad():
        for seed in (1, 2):
            inputs = random_inputs(checked, gm, seed=seed)
            got, want = model(*inputs), gm(*inputs)
            assert equal(got, want), source
    return source


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_shipped_spec_compiles_to_equal_source(path, tmp_path, monkeypatch):
    assert_same_as_build(check_or_skip(path), tmp_path, path.stem, monkeypatch)


LANGUAGE_1_1 = sorted((ROOT / "tests" / "syntax" / "language_examples").glob("s10_*.spec"))


@pytest.mark.parametrize("path", LANGUAGE_1_1, ids=lambda p: p.stem)
def test_language_1_1_example_checks_builds_and_compiles_to_equal_source(path, tmp_path, monkeypatch):
    """Each example of the design's section 10, as written there, checks, builds, and compiles to
    source that computes what the fx graph computes."""
    assert_same_as_build(specc.check(specc.load(path)), tmp_path, path.stem, monkeypatch)


@pytest.mark.parametrize("name", sorted(INLINE))
def test_inline_spec_compiles_to_equal_source(name, tmp_path, monkeypatch):
    (tmp_path / "layers.py").write_text(LAYERS_PY, encoding="utf-8")
    spec_path = tmp_path / f"{name}.spec"
    spec_path.write_text(INLINE[name], encoding="utf-8")
    assert_same_as_build(specc.check(specc.load(spec_path)), tmp_path, name, monkeypatch)


def test_equality_check_can_fail(tmp_path, monkeypatch):
    """Control: a model whose weights differ from the GraphModule's must be caught."""
    spec_path = tmp_path / "net.spec"
    spec_path.write_text(INLINE["shared_layers"], encoding="utf-8")
    checked = specc.check(specc.load(spec_path))
    gm = build(checked, seed=0)
    _, model = compiled(checked, tmp_path, "control")
    state = gm.state_dict()
    state["lin3.bias"] = state["lin3.bias"] + 1e-3
    model.load_state_dict(state)
    inputs = random_inputs(checked, gm)
    assert not equal(model(*inputs), gm(*inputs))


def test_block_specialisations_are_separate_classes():
    source = specc.to_source(specc.load(INLINE["blocks_two_settings_and_shared_instance"]))
    tree = ast.parse(source)
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    # Res(width=5), Res(width=3), Res(width=8), Head(classes=4, p=0.1), then the model
    assert len(classes) == 5 and classes[-1] == "Net" and len(set(classes)) == 5
    assert source.count("self.shared(") == 2          # the shared instance, applied twice


# ---------------------------------------------------------------- hostile input
HOSTILE_PY = '''
import torch
from torch import nn


class Tagged(nn.Module):
    """Keeps whatever strings and keywords it is given; adds a learned linear map."""

    def __init__(self, n, tag="", **extra):
        super().__init__()
        self.lin = nn.Linear(n, n)
        self.tag = tag
        self.extra = extra

    def forward(self, x):
        return self.lin(x) * (1 + len(self.tag) % 3)


def sum(x):
    return x * 2


def input(x, type=1):
    return x + type
'''

PWN = r'''"\"); __import__('os').system('touch PWNED')\n#"'''

HOSTILE = {
    # Python keywords, builtins, the generated code's own names and nn.Module attributes as
    # spec names; an import alias that collides with `F` and with an input called F_.
    "names": r"""
import "hostile.py" as F
block forward(torch: float[n], nn: int = 3, eval: str = "\"); __import__('os').system('x')\n#") {
    print = torch -> Linear(nn) -> ReLU
    self = Linear(n)
    return self(print)
}
model torch(self: float[4], F_: float[4]) {
    __init__ = self + F_
    _x = __init__ -> forward(nn=4, eval="'''\"\"\"\\") -> F.Tagged(4, tag=PWN)
    class = _x -> Identity("\"); exec('1')") -> F.sum -> F.input(type=2)
    def = Conv1d(4, 1, padding_mode="zeros")(unsqueeze(class, 2))
    lambda = squeeze(def, 2) -> F.Tagged(4, class=1, lambda="x")
    type = lambda
    state_dict = type + 1
    return type, self, state_dict
}
""".replace("PWN", PWN),
    # module attributes and dunder-ish names as layers bound to names
    "layer_names": """
model Module(x: float[3]) {
    eval = Linear(3)
    cuda = Linear(3)
    parameters = ReLU
    __class__ = Linear(3)
    _ = x -> eval -> cuda
    h = _ -> parameters -> __class__
    return h + eval(h)
}
""",
    # strings that try to break out of a literal, to layers that keep them
    "strings": r"""
model Strings(x: float[2, 5]) {
    a = x -> Identity("\"\"\"", "'''", "\\", "\n", PWN, tag=PWN)
    b = a -> Conv1d(2, 3, padding=1, padding_mode="circular")
    return b -> Flatten -> Linear(2)
}
""".replace("PWN", PWN),
}

ALLOWED_IMPORTS = {"torch", "torch.nn.functional", "hostile"}
FORBIDDEN_CALLS = {"__import__", "eval", "exec", "compile", "getattr", "setattr", "open", "globals", "locals",
                   "vars", "breakpoint", "input", "print"}


def assert_only_declarations(source: str) -> None:
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Import):
            assert {a.name for a in node.names} <= ALLOWED_IMPORTS, ast.unparse(node)
        elif isinstance(node, ast.ImportFrom):
            assert node.module == "torch" and [a.name for a in node.names] == ["nn"], ast.unparse(node)
        else:
            assert isinstance(node, ast.ClassDef), f"unexpected top-level statement: {ast.unparse(node)[:80]}"
            assert [ast.unparse(b) for b in node.bases] == ["nn.Module"] and not node.decorator_list
            for item in node.body:      # a docstring, __init__ and forward; nothing else
                if isinstance(item, ast.Expr):
                    assert isinstance(item.value, ast.Constant) and item is node.body[0]
                else:
                    assert isinstance(item, ast.FunctionDef) and item.name in ("__init__", "forward")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, ast.unparse(node)
        assert not isinstance(node, (ast.Global, ast.Nonlocal, ast.Lambda, ast.Delete)), ast.unparse(node)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_spec_compiles_to_safe_equal_source(name, tmp_path, monkeypatch):
    (tmp_path / "hostile.py").write_text(HOSTILE_PY, encoding="utf-8")
    spec_path = tmp_path / f"{name}.spec"
    spec_path.write_text(HOSTILE[name], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    source = assert_same_as_build(specc.check(specc.load(spec_path)), tmp_path, f"hostile_{name}", monkeypatch)
    assert_only_declarations(source)
    assert not (tmp_path / "PWNED").exists()


def test_hostile_strings_survive_verbatim(tmp_path, monkeypatch):
    """The constructor arguments reach the layer unchanged, in the fx build and in the source."""
    (tmp_path / "hostile.py").write_text(HOSTILE_PY, encoding="utf-8")
    spec_path = tmp_path / "names.spec"
    spec_path.write_text(HOSTILE["names"], encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "hostile", raising=False)
    checked = specc.check(specc.load(spec_path))
    want = "\"); __import__('os').system('touch PWNED')\n#"
    gm = build(checked)
    assert [m.tag for m in gm.modules() if type(m).__name__ == "Tagged"] == [want, ""]
    assert [m.extra for m in gm.modules() if type(m).__name__ == "Tagged"] == [{}, {"class": 1, "lambda": "x"}]
    _, model = compiled(checked, tmp_path, "verbatim")
    assert [m.tag for m in model.modules() if type(m).__name__ == "Tagged"] == [want, ""]


def test_forbidden_call_detector_can_fail():
    """Control for assert_only_declarations: injected statements are caught."""
    bad = ["import os", "x = 1", "class A(nn.Module):\n    def f(self):\n        __import__('os')",
           "class A(nn.Module):\n    def __init__(self):\n        eval('1')"]
    for source in bad:
        with pytest.raises(AssertionError):
            assert_only_declarations(source)


def test_block_classes_name_the_spec_block_even_when_it_looks_numbered():
    text = """
block A(x: float[n]) {
    return x -> Linear(4)
}
block A_2(x: float[n], w: int = 3) {
    return x -> Linear(w)
}
model M(x: float[2]) {
    return x -> A -> A_2 -> A_2(w=5)
}
"""
    source = to_source(specc.check(specc.load(text)))
    docs = [line.strip() for line in source.splitlines() if line.strip().startswith('"""Block')]
    assert docs == ['"""Block A() as used in the spec."""', '"""Block A_2(w=3) as used in the spec."""',
                    '"""Block A_2(w=5) as used in the spec."""']


LIBRARY = """
block Mlp(x: float[n], width: int) {
    return x -> Linear(width) -> ReLU
}
model Small(x: float[4]) {
    return x -> Mlp(width=8) -> Linear(2)
}
model Large(x: float[4]) {
    return x -> Mlp(width=8) -> Mlp(width=16) -> Linear(3)
}
"""


def test_compile_without_model_writes_every_model_with_its_blocks_once(tmp_path, capsys):
    """It used to write the first model only, silently."""
    from specc.cli.main import main

    path = tmp_path / "library.spec"
    path.write_text(LIBRARY)
    assert main(["compile", str(path)]) == 0
    source = capsys.readouterr().out
    classes = [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]
    assert classes == ["Mlp", "Mlp_2", "Small", "Large"]
    module = load_source(source, tmp_path, "compiled_library")
    for name in ("Small", "Large"):
        checked = specc.check(specc.load(path), name)
        gm = build(checked)
        model = getattr(module, name)()
        model.load_state_dict(gm.state_dict(), strict=True)
        (x,) = random_inputs(checked, gm)
        with torch.no_grad():
            assert equal(model(x), gm(x))


def test_compile_with_model_writes_that_model_only(tmp_path, capsys):
    from specc.cli.main import main

    path = tmp_path / "library.spec"
    path.write_text(LIBRARY)
    assert main(["compile", str(path), "--model", "Small"]) == 0
    source = capsys.readouterr().out
    assert [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)] == ["Mlp", "Small"]


def test_a_text_file_language_model_compiles_to_equal_source(tmp_path, monkeypatch):
    """Version 1.1's char LSTM (tests/run/specs/charlm.spec): data.vocab from text_file."""
    path = Path(__file__).resolve().parents[1] / "run" / "specs" / "charlm.spec"
    assert_same_as_build(specc.check(specc.load(path)), tmp_path, "charlm", monkeypatch)
