"""Spec generators, spec mutators and the whole-pipeline harness shared by the fuzz tests.

* :func:`model_specs` draws spec texts from a small generator of model bodies (pipelines of
  layers, random sizes and option values, blocks, shared layers, destructuring, indexing,
  hostile binding names, nested repeats, huge option values) over tiny data sets; it is built
  so that most draws are valid specs.
* :func:`mutated_specs` takes a real spec (``specs/``, the language examples, the fmt cases)
  and damages it: byte flips, token deletions, swapped lines and sections, huge and negative
  numbers, very long names, deep nesting, odd Unicode, NUL, invalid UTF-8.
* :func:`special_path_specs` points sources and imports at paths that are no regular files:
  FIFOs, ``/dev/zero`` and ``/dev/null`` (directly and through symlinks), a FIFO among class
  folder files, a FIFO where a folder should be, a symlink loop; :func:`prepare` makes them.
* :func:`push` runs one spec file through ``specc.load`` -> ``check`` -> ``build`` ->
  ``to_source`` -> (tiny data only) one epoch of ``specc.train``, and fails on any exception
  other than :class:`specc.SpecError`, or on a diagnostic positioned outside the file.

Every spec is written into a fresh folder and loaded by path, so relative paths in a spec
(data files, ``import "layers.py"``, ``train.checkpoint``) point into that folder, never into
the repository.
"""
from __future__ import annotations

import ast
from contextlib import contextmanager
import json
from dataclasses import dataclass, field
import os
from pathlib import Path
import re
import shutil
import signal
import tempfile
import threading

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
CORPUS_FILES = sorted([*(ROOT / "specs").rglob("*.spec"),
                       *(ROOT / "tests" / "syntax" / "language_examples").glob("*.spec"),
                       *(ROOT / "tests" / "syntax" / "fmt_cases").glob("*.spec")])
CORPUS = [p.read_bytes() for p in CORPUS_FILES]

# Binding, layer, block and model names a Python code generator could trip over: keywords,
# builtins, the generated module's own imports, nn.Module attributes, dunders, catalogue names.
HOSTILE_NAMES = ["print", "open", "eval", "exec", "compile", "getattr", "__import__", "__class__",
                 "__init__", "__dict__", "self", "torch", "nn", "F", "class", "def", "lambda", "None",
                 "True", "False", "import_", "forward", "training", "state_dict", "super", "object",
                 "type", "match", "case", "yield", "await", "Linear", "relu", "mean", "cat", "x_",
                 "_", "__", "_private", "v" * 300, "h", "h_1", "out", "pass", "global", "del"]
SPEC_KEYWORDS = set("data model block loss optimizer schedule train import as return true false none "
                    "full not and or if else for in".split())
BIND_NAMES = [n for n in HOSTILE_NAMES if n not in ("_",)]
TYPE_NAMES = ["Net", "print", "Module", "Tensor", "nn", "torch", "F", "object", "type", "self", "super",
              "class", "__init__", "B" * 200, "Sequential", "Linear", "MoonNet"]

def spec_string(value: str) -> str:
    """``value`` as a spec string literal (the language's escapes: \\" \\\\ \\n \\t)."""
    body = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{body}"'


HOSTILE_STRINGS = st.sampled_from([
    "\"); __import__('os').system('touch PWNED') #", "\\", '"""', "'''", "\n", "\u202e", "\x00", "{}",
    "tanh", "none", ""]).map(spec_string)

# Per-example widths stay small so that whatever passes the checks is cheap to build.
SIZE = st.integers(1, 12)
ODD_SIZE = st.sampled_from([0, -1, -7, 10**6, 10**9, 10**12, 2**63, 10**40])

HUGE = st.sampled_from(["1000000", "1000000000", "10000000000", "10 ** 12", "4611686018427387904", "1e10",
                        "1e300"])
# Layers with one option set to a huge value: each must be refused at check time (its size
# estimated), or be harmless; never allocated. ``{h}`` is the huge value.
HUGE_OPTIONS = ["PReLU(num_parameters={h})", "Linear({h}, bias=false)", "Embedding({h}, 4)", "EmbeddingBag({h}, 8)",
                "Softmax(dim={h})", "LeakyReLU({h})", "Hardtanh(-1.0, {h})", "LayerNorm(eps={h})",
                "Dropout(p={h})", "RNN({h})", "LSTM(4, num_layers={h})", "MultiheadAttention({h})",
                "TransformerEncoderLayer(1, dim_feedforward={h})", "Bilinear({h}, {h}, 2)"]
# Nested repeats: tiny ones that build, and products far past the bound (refused before expanding).
NESTED_REPEATS = [(1, 2), (2, 3), (3, 1), (2, 2), (1, 1), (10000, 10000), (11, 10000), (1000, 1000)]

ACTIVATIONS = ["ReLU", "Tanh", "Sigmoid", "GELU", "ELU", "SiLU", "Identity", "LeakyReLU(0.1)",
               "Dropout(0.1)", "LayerNorm", "BatchNorm1d", "Softmax(dim=-1)", "relu", "tanh",
               "sigmoid", "gelu", "dropout(0.2)", "log_softmax(dim=1)", "abs", "exp", "sin", "float"]

# Constructor options a layer on float[width] checks: enumerated strings, ranges, ordered
# bounds, sizes that specc infers, and the keywords a spec may never pass. Each {} is filled
# with a random option value, {w} with the input's width.
OPTION_LAYERS = ["Hardtanh({}, {})", "Hardtanh(min_value={})", "Hardtanh(max_val={})", "RReLU({}, {})", "CELU({})",
                 "Softshrink({})", "Hardshrink({})", "Threshold({}, {})", "ELU(alpha={})", "LeakyReLU({})",
                 "Softplus(beta={}, threshold={})", "GELU(approximate={})", "PReLU({})", "PReLU(init={})",
                 "Softmax(dim={})", "LogSoftmax({})", "LayerNorm({})", "LayerNorm({w}, eps={})",
                 "LayerNorm(normalized_shape={})", "BatchNorm1d({})", "BatchNorm1d({w}, momentum={})",
                 "Dropout({})", "AlphaDropout(p={})", "Identity(self={})", "Linear({w}, device={})",
                 "Linear({w}, dtype={})", "Linear({w}, _weight={})", "Linear(in_features={})",
                 "TransformerEncoderLayer(1, activation={})", "TransformerEncoderLayer(1, dim_feedforward={})",
                 "TransformerEncoderLayer(1, norm_first={})", "Flatten({}, {})", "Softmin(dim={})", "GLU({})"]
OPTION_STRINGS = st.sampled_from(["relu", "gelu", "tanh", "none", "mean", "sum", "zeros", "cuda", "cpu", "meta",
                                  "float64", "bogus", ",,", ""]).map(spec_string)
OPTION_NUMBERS = st.one_of(
    st.integers(-3, 12).map(str),
    st.floats(-20, 20, allow_nan=False, allow_infinity=False).map(lambda v: f"{v:.3f}"),
    st.sampled_from(["0", "-1", "0.0", "1e-3", "1e9", "10 ** 12", "-0.5", "2.5"]))
OPTION_VALUES = st.one_of(OPTION_NUMBERS, OPTION_STRINGS, HOSTILE_STRINGS,
                          st.sampled_from(["true", "false", "none", "[1, 2]", "[]", "[0.5]", "(1,)"]))

DATA = {
    # name: (data section, input parameter, input width or None for tokens, output, loss)
    "moons": ("train = moons(samples=40, noise=0.2)", "x: float[2]", 2, 2, "cross_entropy"),
    "circles": ("train = circles(samples=40, noise=0.1, factor=0.5)\n    valid = 25%", "x: float[2]", 2, 2,
                "cross_entropy(label_smoothing=0.1)"),
    "blobs": ("train = blobs(samples=40, centers=3, features=5)\n    test = 10%", "x: float[5]", 5, 3,
              "nll"),
    "generate": ("train = generate(samples=40, x=uniform(-1, 1), y=2 * x + 1 + normal(0, 0.1))\n"
                 "    batch = full", "x: float[1]", 1, 1, "mse"),
    "tensors": ("train = tensors(x=[[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [1.0, 1.0]], y=[0, 1, 1, 0])\n"
                "    batch = 2", "x: float[2]", 2, 2, "cross_entropy"),
    "sequences": ("train = sequences(samples=40, vocab=20, length=2..6, classes=2)\n    pad = 0",
                  "tokens: long[seq]", None, 2, "cross_entropy"),
    "none": ("", "x: float[4]", 4, 3, ""),
}


@dataclass
class Body:
    """A model body under construction: statements and the width of each tensor name."""

    lines: list[str] = field(default_factory=list)
    widths: dict[str, int] = field(default_factory=dict)
    blocks: dict[str, str] = field(default_factory=dict)


def _layer(draw, width: int, body: Body) -> tuple[str, int]:
    """One pipeline stage applied to a ``float[width]`` value: its text and output width."""
    kind = draw(st.sampled_from(["linear", "act", "act", "repeat", "block", "odd", "string", "option", "option"]))
    if kind == "odd":        # a size or an option past what is sensible, or repeats of repeats
        kind = draw(st.sampled_from(["odd", "huge", "nested"]))
    if kind == "linear":
        n = draw(SIZE)
        return (f"Linear({n})" if draw(st.booleans()) else f"Linear({n}, bias=false)"), n
    if kind == "act":
        return draw(st.sampled_from(ACTIVATIONS)), width
    if kind == "repeat":
        n, k = draw(SIZE), draw(st.integers(1, 3))
        return f"(Linear({n}) -> {draw(st.sampled_from(ACTIVATIONS))}) * {k}", n
    if kind == "nested":
        n, (inner, outer) = draw(SIZE), draw(st.sampled_from(NESTED_REPEATS))
        return f"((Linear({n}) -> {draw(st.sampled_from(ACTIVATIONS))}) * {inner}) * {outer}", n
    if kind == "huge":
        return draw(st.sampled_from(HUGE_OPTIONS)).format(h=draw(HUGE)), -1
    if kind == "block":
        name = draw(st.sampled_from(["Dense", "Mlp", "print", "forward", "Linear_", "self_"]))
        body.blocks[name] = (f"block {name}(x: float[n], width: int = 4, act: str = \"relu\") {{\n"
                             f"    h = x -> Linear(width)\n    return h -> ReLU\n}}")
        n = draw(SIZE)
        return (f"{name}(width={n})" if draw(st.booleans()) else f"{name}({n})"), n
    if kind == "option":  # random option values: the checks accept them or refuse them at the value
        template = draw(st.sampled_from(OPTION_LAYERS))
        values = [draw(st.one_of(OPTION_VALUES, st.just(str(width)))) for _ in range(template.count("{}"))]
        return template.replace("{w}", str(width)).format(*values), (width if not template.startswith("GLU") else -1)
    if kind == "string":  # a hostile string where a layer takes any value, or where it must not
        text = draw(HOSTILE_STRINGS)
        layer = draw(st.sampled_from([f"Identity(note={text})", f"Identity({text})", f"GELU(approximate={text})",
                                      f"Dropout({text})", f"Linear(3, bias={text})"]))
        return layer, (3 if layer.startswith("Linear") else width)
    n = draw(ODD_SIZE)  # a size that the checks must refuse (or accept if it is harmless)
    return draw(st.sampled_from([f"Linear({n})", f"Dropout({n})", f"Linear(-{n})", f"Embedding({n}, 2)"])), -1


def _stmt(draw, body: Body, cur: str) -> str:
    """Append one statement that reads ``cur``; return the name now holding the result."""
    w = body.widths[cur]
    dest = draw(st.sampled_from(BIND_NAMES)) if draw(st.integers(0, 3)) == 0 else f"h{len(body.lines)}"
    kind = draw(st.sampled_from(["pipe", "pipe", "shared", "residual", "cat", "destructure", "index",
                                 "arith", "apply", "if", "for", "compare", "continued"]))
    if kind == "pipe":
        stages, width = [], w
        for _ in range(draw(st.integers(1, 4))):
            text, width = _layer(draw, width, body)
            stages.append(text)
            if width < 0:
                width = w
        body.lines.append(f"{dest} = {cur} -> " + " -> ".join(stages))
    elif kind == "shared":
        layer = draw(st.sampled_from(BIND_NAMES))
        body.lines.append(f"{layer} = Linear({w})")
        body.lines.append(f"{dest} = {layer}({cur})")
        body.lines.append(f"{dest} = {layer}({dest} + {cur})")
        width = w
    elif kind == "residual":
        body.lines.append(f"{dest} = {cur} + ({cur} -> Linear({w}) -> ReLU)")
        width = w
    elif kind == "cat":
        other = draw(st.sampled_from(sorted(body.widths)))
        body.lines.append(f"{dest} = cat({cur}, {other}, dim=-1)")
        width = w + body.widths[other]
    elif kind == "destructure":
        a, b = draw(st.sampled_from(BIND_NAMES)), draw(st.sampled_from(BIND_NAMES + ["_"]))
        if a == b:
            b = "_"
        body.lines.append(f"{a}, {b} = ({cur}, {cur} -> Tanh)")
        body.lines.append(f"{dest} = {a}")
        width = w
    elif kind == "index":
        k = draw(st.integers(1, w))
        body.lines.append(draw(st.sampled_from([f"{dest} = {cur}[:, :{k}]", f"{dest} = {cur}[..., 0:{k}]",
                                                f"{dest} = {cur}[:, -{k}:]"])))
        width = k
    elif kind == "arith":
        body.lines.append(draw(st.sampled_from([f"{dest} = {cur} * 2", f"{dest} = -{cur}",
                                                f"{dest} = {cur} / 2.5", f"{dest} = {cur} ** 2",
                                                f"{dest} = {cur} - {cur} * 0.5",
                                                f"{dest} = mean(unsqueeze({cur}, 1), dim=1)",
                                                f"{dest} = masked_fill({cur}, bool({cur}), 0.0)",
                                                f"{dest} = where(bool({cur}), {cur}, 1.0) + ones({w})",
                                                f"{dest} = {cur} * Parameter({w}, init=uniform(-1, 1))"])))
        width = w
    elif kind in ("if", "for", "compare", "continued"):
        width = _control(draw, body, kind, cur, dest, w)
    else:
        n = draw(SIZE)
        body.lines.append(f"{dest} = Linear({n})({cur})")
        width = n
    body.widths[dest] = width
    return dest


# Conditions: compile-time ones that hold or not, and ones the checks must refuse (a tensor, a
# number, an unknown name, a chain); {w} is the width of the value read, {cur} its name.
CONDITIONS = ["{w} > 3", "{w} == {n}", "true and not false", "1 < 2 or false", "not ({w} != {n} and true)",
              "data.classes >= 2", "{cur} > 0", "3", "seq > 2", "1 < 2 < 3", "not {cur}", "\"a\" == \"a\"",
              "{w} >= 2 and {w} <= 1000"]
LOOPS = ["[({n}, 1), ({n}, 2)]", "1..{k}", "[{n}, {n}]", "({n}, {n}, {n})", "[1, 2]", "{cur}", "1..20000", "[]",
         "[[{n}, 0]]"]


def _control(draw, body: Body, kind: str, cur: str, dest: str, w: int) -> int:
    """Version 1.1 statements: if/else, for, comparisons, lines that continue; the new width."""
    n, k = draw(SIZE), draw(st.integers(1, 3))
    if kind == "if":
        cond = draw(st.sampled_from(CONDITIONS)).format(w=w, n=n, cur=cur)
        then, other = f"{dest} = {cur} -> Linear({n})", f"{dest} = {cur} -> Linear({n}) -> ReLU"
        layout = draw(st.sampled_from(["{c} {{\n        {a}\n    }} else {{\n        {b}\n    }}",
                                       "{c} {{ {a} }}\n    else if {c} {{ {b} }} else {{ {b} }}",
                                       "{c} {{\n        {a}\n    }}"]))   # no else: dest may be unbound after
        body.lines.append("if " + layout.format(c=cond, a=then, b=other))
        return n
    if kind == "for":
        over = draw(st.sampled_from(LOOPS)).format(n=n, k=k, cur=cur)
        shared = draw(st.sampled_from(BIND_NAMES))
        one = draw(st.sampled_from(["{d} = {d} -> Linear({n}) -> ReLU", "{d} = {d} -> {s}",
                                    "if i > 1 {{ {d} = {d} + 1 }}"])).format(d=dest, n=n, s=shared)
        two = "{d} = {d} -> Linear(a) -> Tanh".format(d=dest)
        body.lines.append(f"{shared} = Linear({n})")
        body.lines.append(f"{dest} = {cur} -> Linear({n})")
        head = "a, b" if over.startswith("[(") or over.startswith("[[") or draw(st.booleans()) else "i" \
            if "1.." in over else "a"
        inner = two if head != "i" else one
        body.lines.append(f"for {head} in {over} {{\n        {inner}\n    }}")
        return n
    if kind == "compare":
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        body.lines.append(draw(st.sampled_from([f"{dest}_mask = {cur} {op} 0", f"{dest}_mask = {cur} -> ReLU {op} {cur}",
                                                f"{dest}_mask = 0.5 {op} {cur}"])))
        body.lines.append(draw(st.sampled_from([f"{dest} = {cur} * ({cur} {op} 0)", f"{dest} = {cur}",
                                                f"{dest} = {cur} + {dest}_mask"])))
        return w
    body.lines.append(draw(st.sampled_from([f"{dest} = {cur}\n        -> Linear({w})  # continued\n        -> ReLU",
                                            f"{dest} = {cur} ->\n        Linear({w}) ->\n        Tanh",
                                            f"{dest} = {cur} +\n        # between\n        {cur}",
                                            f"{dest} = cat({cur},\n        {cur}, dim=-1) -> Linear({w})"])))
    return w


@st.composite
def model_specs(draw) -> str:
    """A spec text: tiny data (or none), one model built from random statements, loss, optimizer."""
    data_name = draw(st.sampled_from(sorted(DATA)))
    data, param, width, classes, loss = DATA[data_name]
    body = Body()
    model = draw(st.sampled_from(TYPE_NAMES)) if draw(st.integers(0, 3)) == 0 else "Net"
    if width is None:  # token sequences: embedding, recurrent layer, pooling
        e, rnn = draw(SIZE), draw(st.sampled_from(["LSTM", "GRU", "RNN"]))
        hdim = draw(SIZE)
        body.lines.append(f"e = Embedding(data.vocab, {e})(tokens)")
        if rnn == "LSTM" and draw(st.booleans()):
            body.lines.append(f"out, (hn, cn) = LSTM({hdim}, bidirectional=true)(e)")
            hdim *= 2
        else:
            body.lines.append(f"out, _ = {rnn}({hdim})(e)")
        body.lines.append(draw(st.sampled_from(["p = mean(out, dim=1)", "p = out[:, -1]", "p = max(out, dim=1)",
                                                "p = sum(out, dim=1)"])))
        body.widths["p"] = hdim
        cur = "p"
    else:
        cur = param.split(":")[0]
        body.widths[cur] = width
    for _ in range(draw(st.integers(0, 5))):
        cur = _stmt(draw, body, cur)
    head = f"data.classes" if classes > 1 and data_name != "none" and draw(st.booleans()) else str(classes)
    body.lines.append(f"return {cur} -> Linear({head})")
    parts = list(body.blocks.values())
    if data:
        parts.append("data {\n    " + data + "\n}")
    parts.append(f"model {model}({param}) {{\n    " + "\n    ".join(body.lines) + "\n}")
    if loss:
        parts.append(f"loss = {loss}")
        parts.append(draw(st.sampled_from(["optimizer = Adam(lr=0.01)", "optimizer = SGD(lr=0.1, momentum=0.9)",
                                           "optimizer = AdamW(lr=0.001, weight_decay=0.01)", ""])))
        parts.append(draw(st.sampled_from(["", "schedule = StepLR(step_size=1)",
                                           "schedule = OneCycleLR(max_lr=0.1)"])))
        parts.append(draw(st.sampled_from(["train { epochs = 2 }", "train { epochs = 1, seed = 3 }",
                                           "train { epochs = 1, clip_grad = 1.0, accumulate = 2 }", ""])))
    order = draw(st.permutations(range(len(parts))))  # sections may come in any order
    return "\n".join(parts[i] for i in order) + "\n"


# ---------------------------------------------------------------- mutations

TOKEN = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?%?|\"(?:[^\"\\\n]|\\.)*\"|->|\*\*|//|\.\.|\S")
ODD_TEXT = ["\u200f", "\u202e", "\u2028", "\u2029", "\x00", "\x0c", "\x0b", "\x85", "\ufeff", "\u00e9", "\U0001f600",
            "\u0645\u062f\u0644", "\u3000", "\r", "\t", "\\", "\"", "#", "{", "}", "(", ")", "[", "]", ",", ";",
            "->", "..", "%", "...", "\n"]
ODD_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x80",
             b"\xef\xbb\xbf", b"\x00"]
NUMBERS = [b"0", b"-1", b"-0", b"1e308", b"1e309", b"99999999999999999999999999", b"-99999999", b"4294967296",
           b"9223372036854775808", b"0.0", b"1e-400", b"100%", b"1000%", b"2..1", b"0..0", b"10**12",
           b"(10 ** 12)", b"2 ** 64", b"1" * 500, b"-2.5e4"]


def _tokens(raw: bytes) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in TOKEN.finditer(raw)]


@st.composite
def mutation(draw, raw: bytes) -> bytes:
    """One damaging edit of ``raw``."""
    kind = draw(st.sampled_from(["flip", "delete", "swap_lines", "swap_sections", "number", "number", "number",
                                 "long_name", "nest", "odd_text", "odd_bytes", "duplicate", "truncate", "splice",
                                 "special_path"]))
    toks = _tokens(raw)
    if kind == "flip" and raw:
        i = draw(st.integers(0, len(raw) - 1))
        return raw[:i] + bytes([raw[i] ^ (1 << draw(st.integers(0, 7)))]) + raw[i + 1:]
    if kind == "delete" and toks:
        i = draw(st.integers(0, len(toks) - 1))
        j = min(len(toks) - 1, i + draw(st.integers(0, 2)))
        return raw[:toks[i][0]] + raw[toks[j][1]:]
    if kind == "swap_lines":
        lines = raw.split(b"\n")
        if len(lines) > 1:
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    if kind == "swap_sections":
        parts = re.split(rb"\n(?=\S)", raw)
        if len(parts) > 1:
            parts = [parts[k] for k in draw(st.permutations(range(len(parts))))]
            if draw(st.booleans()):
                parts.append(parts[draw(st.integers(0, len(parts) - 1))])  # a duplicate section
        return b"\n".join(parts)
    if kind == "number":
        nums = [t for t in toks if raw[t[0]:t[0] + 1].isdigit()]
        if nums:
            a, b = draw(st.sampled_from(nums))
            return raw[:a] + draw(st.sampled_from(NUMBERS)) + raw[b:]
    if kind == "long_name" and len(raw) < 50_000:
        names = [t for t in toks if raw[t[0]:t[0] + 1].isalpha() and t[1] - t[0] <= 64]
        if names:
            a, b = draw(st.sampled_from(names))
            return raw[:a] + raw[a:b] * draw(st.sampled_from([50, 400, 5000])) + raw[b:]
    if kind == "nest" and toks and len(raw) < 50_000:
        a, b = draw(st.sampled_from(toks))
        depth = draw(st.sampled_from([10, 150, 199, 201, 1000, 3000]))
        opener, closer = draw(st.sampled_from([(b"(", b")"), (b"[", b"]"), (b"-(", b")"), (b"x + (", b")"),
                                               (b"Linear(", b")"), (b"{", b"}")]))
        return raw[:a] + opener * depth + raw[a:b] + closer * depth + raw[b:]
    if kind == "odd_text":
        i = draw(st.integers(0, len(raw)))
        return raw[:i] + draw(st.sampled_from(ODD_TEXT)).encode("utf-8") + raw[i:]
    if kind == "odd_bytes":
        i = draw(st.integers(0, len(raw)))
        return raw[:i] + draw(st.sampled_from(ODD_BYTES)) + raw[i:]
    if kind == "duplicate" and toks:
        a, b = draw(st.sampled_from(toks))
        return raw[:b] + raw[a:b] + raw[b:]
    if kind == "truncate" and raw:
        return raw[:draw(st.integers(0, len(raw) - 1))]
    if kind == "special_path":
        strings = [t for t in toks if raw[t[0]:t[0] + 1] == b'"']
        path = spec_string(draw(st.sampled_from(SPECIAL_PATHS))).encode()
        if strings:
            a, b = draw(st.sampled_from(strings))
            return raw[:a] + path + raw[b:]
        return b"import " + path + b" as special\n" + raw
    if kind == "splice":
        other = draw(st.sampled_from(CORPUS))
        i, j = draw(st.integers(0, len(raw))), draw(st.integers(0, len(other)))
        return raw[:i] + other[j:]
    return raw + b"\n" + draw(st.sampled_from(ODD_TEXT)).encode("utf-8")


@st.composite
def mutated_specs(draw) -> bytes:
    """A corpus spec (or a generated one) after one to four mutations."""
    raw = draw(st.sampled_from(CORPUS) | model_specs().map(lambda s: s.encode("utf-8")))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 4]))):
        raw = draw(mutation(raw))
    return raw


# ---------------------------------------------------------------- paths that are no regular files

SPECIAL_PATHS = ["pipe.csv", "zero.csv", "/dev/zero", "/dev/null", "/dev/urandom", "pipe.py", "zero.py",
                 "docs", "imgs", "pipe_folder", "loop", "pipe.png", "listing.csv"]
"""Relative ones are made by :func:`prepare` (FIFOs and symlinks to devices need os.mkfifo)."""

SPECIAL_TEMPLATES = [
    'data {{\n    train = csv("{p}")\n}}\nmodel Net(x: float[2]) {{\n    return x -> Linear(2)\n}}\nloss = cross_entropy\n',
    'data {{\n    train = text_folder("{p}")\n    encode = bag_of_words()\n}}\nmodel Net(x: float[2]) {{\n'
    '    return x -> Linear(2)\n}}\nloss = cross_entropy\n',
    'data {{\n    train = image_folder("{p}", size=[4, 4])\n}}\nmodel Net(x: float[3, 4, 4]) {{\n'
    '    return x -> Flatten -> Linear(2)\n}}\nloss = cross_entropy\n',
    'data {{\n    train = image_csv("{p}", size=[4, 4])\n}}\nmodel Net(x: float[3, 4, 4]) {{\n'
    '    return x -> Flatten -> Linear(2)\n}}\nloss = cross_entropy\n',
    'import "{p}" as my\ndata {{\n    train = moons(samples=40)\n}}\nmodel Net(x: float[2]) {{\n'
    '    return x -> Linear(2)\n}}\nloss = cross_entropy\n',
]


@st.composite
def special_path_specs(draw) -> bytes:
    """A spec whose one source or import names a :data:`SPECIAL_PATHS` entry, then (half of
    the time) one :func:`mutation` of it."""
    raw = draw(st.sampled_from(SPECIAL_TEMPLATES)).format(p=draw(st.sampled_from(SPECIAL_PATHS))).encode("utf-8")
    return draw(mutation(raw)) if draw(st.booleans()) else raw


def _special_files(folder: Path) -> None:
    if not hasattr(os, "mkfifo") or (folder / "pipe.csv").exists():
        return
    for fifo in ("pipe.csv", "pipe.py", "pipe_folder", "pipe.png"):
        os.mkfifo(folder / fifo)
    (folder / "zero.csv").symlink_to("/dev/zero")
    (folder / "zero.py").symlink_to("/dev/zero")
    for cls, kind in (("a", "ok"), ("b", "pipe")):
        for sub, ext in (("docs", ".txt"), ("imgs", ".png"), ("loop", ".txt")):
            (folder / sub / cls).mkdir(parents=True, exist_ok=True)
            if kind == "ok" or sub == "loop":
                (folder / sub / cls / f"ok{ext}").write_text("hello world")
            else:
                os.mkfifo(folder / sub / cls / f"pipe{ext}")
    (folder / "loop" / "a" / "again").symlink_to(folder / "loop")
    (folder / "listing.csv").write_text("filename,label\npipe.png,0\nzero.csv,1\n")


@contextmanager
def no_hang(seconds: int):
    """Fail (TimeoutError) instead of blocking when specc hangs, e.g. opening a FIFO."""
    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def hung(*_):
        raise TimeoutError(f"specc did not answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- the harness

TINY_SOURCES = {"moons", "circles", "blobs", "generate", "tensors", "sequences"}
MAX_TRAIN_SAMPLES = 400
MAX_REAL_PARAMS = 200_000   # above this the model is built on the meta device only


@dataclass
class Outcome:
    """How far a spec got: the stage reached, or the SpecError that stopped it."""

    stage: str = "load"
    error: object = None


def check_positions(err, raw_text: str | None, path: str) -> None:
    """Every diagnostic of ``err`` lies inside its file: 1 <= line <= lines + 1, column >= 1."""
    assert err.diagnostics, "a SpecError without diagnostics"
    for d in err.diagnostics:
        assert d.span.line >= 1 and d.span.column >= 1, (d, str(err))
        if raw_text is not None and d.path == path:
            lines = raw_text.count("\n") + 1
            assert d.span.line <= lines + 1, (d, lines, str(err))
        str(err)  # rendering must not fail either


def _tiny(checked) -> bool:
    plan = checked.data
    if plan is None or checked.spec.loss is None or checked.model is None:
        return False
    srcs = [s for s in (plan.train, plan.valid, plan.test) if s is not None and not isinstance(s, float)]
    return all(s.name in TINY_SOURCES and int(s.args.get("samples", 0) or 0) <= MAX_TRAIN_SAMPLES for s in srcs)


def prepare(folder: Path) -> Path:
    """A working folder for :func:`push`: a copy of ``specs/data`` and ``specs/layers.py``, so
    the corpus specs find their files and imports (and nothing a spec writes lands in the
    repository), and the :data:`SPECIAL_PATHS`."""
    folder.mkdir(parents=True, exist_ok=True)
    if (ROOT / "specs" / "data").is_dir() and not (folder / "data").exists():
        shutil.copytree(ROOT / "specs" / "data", folder / "data")
    for py in (ROOT / "specs").glob("*.py"):
        shutil.copy(py, folder / py.name)
    _special_files(folder)
    return folder


def push(raw: bytes, folder: Path, train: bool = True) -> Outcome:
    """Write ``raw`` as ``folder/fuzz.spec`` and take it as far through the pipeline as it goes.

    Raises AssertionError (with the spec) on any exception other than SpecError, and on a
    SpecError positioned outside the file.
    """
    import torch

    import specc

    path = folder / "fuzz.spec"
    path.write_bytes(raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    outcome = Outcome()
    with no_hang(300):  # a FIFO that blocks an open fails the example instead of the run
        try:
            spec = specc.load(path)
            outcome.stage = "check"
            checked = specc.check(spec)
            outcome.stage = "build"
            with torch.device("meta"):
                module = specc.build(spec)
            small = sum(p.numel() for p in module.parameters()) <= MAX_REAL_PARAMS
            if small:
                specc.build(spec)
            outcome.stage = "to_source"
            source = specc.to_source(spec)
            ast.parse(source)
            outcome.stage = "checked"
            if train and small and _tiny(checked):
                outcome.stage = "train"
                out = Path(tempfile.mkdtemp(dir=folder))
                try:
                    specc.train(spec, out=out / "run", device="cpu", epochs=1, plot=[], quiet=True)
                finally:
                    shutil.rmtree(out, ignore_errors=True)
                outcome.stage = "trained"
        except specc.SpecError as err:
            check_positions(err, text, str(path))
            outcome.error = err
        except Exception as exc:  # the property under test: nothing but SpecError comes out
            raise AssertionError(f"{type(exc).__name__} at stage {outcome.stage}: {exc}\n--- spec ---\n"
                                 f"{raw!r}") from exc
    return outcome


def fuzz_examples(default: int) -> int:
    """Examples per test in the long profile (``SPECC_FUZZ_EXAMPLES``, default ``default``)."""
    return int(os.environ.get("SPECC_FUZZ_EXAMPLES", default))


def record_stages(name: str, stages) -> None:
    """Add ``name``'s counts (a Counter) to the JSON file ``$SPECC_FUZZ_REPORT``, if set."""
    report = os.environ.get("SPECC_FUZZ_REPORT")
    if not report:
        return
    path = Path(report)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = {"examples": sum(stages.values()), **dict(stages)}
    path.write_text(json.dumps(data, indent=2) + "\n")
