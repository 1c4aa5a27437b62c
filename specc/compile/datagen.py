"""The run's data preprocessing as plain Python (``specc compile --with-data``).

Appended to the model's source, so that the generated file alone turns raw inputs (image files,
texts, rows of numbers) into the model's input tensors and its outputs into answers (class
names, numbers). Written from the run record's :class:`~specc.record.Preprocessing` (the same
facts ``specc predict`` applies), and tested against specc's own data pipeline, bit for bit.

Torch-free: it writes text.
"""
from __future__ import annotations

from ..catalog.data_exprs import ELEMENTWISE, ExprProblem
from ..catalog.datafiles import WIDE_MODES
from ..catalog.text import _WORD, PAD_ID, UNK_ID
from ..syntax import ast
from .codegen import const



def _expr(e, field: str) -> str:
    """A ``transform`` expression as Python over the tensor ``field`` (as specc evaluates it:
    ``/`` divides in float, functions apply to float)."""
    if isinstance(e, (ast.Number, ast.Percent)):
        return f"torch.tensor({float(e.value)!r})"    # a tensor, as specc evaluates a number
    if isinstance(e, ast.Name):
        return field
    if isinstance(e, ast.Neg):
        return f"-({_expr(e.operand, field)})"
    if isinstance(e, ast.BinOp):
        left = _expr(e.left, field)
        return f"({left}{'.float()' if e.op == '/' else ''} {e.op} {_expr(e.right, field)})"
    if e.func.id not in ELEMENTWISE:
        raise ExprProblem(f"{e.func.id}(...) draws random numbers; compile --with-data writes only "
                          "deterministic transforms", e.span, "draw the values in data.train = generate(...)")
    return f"{ELEMENTWISE[e.func.id]}(({_expr(e.args[0], field)}).float())"


def _image(prep) -> list[str]:
    s = prep.image
    h, w = s.size
    channels = 1 if s.mode == "L" else 3
    lines = [
        "def read_image(path):",
        f'    """An image file as the model sees it: float[{channels}, {h}, {w}], values 0..1'
        + (", normalised" if s.normalize is not None else "") + '."""',
        "    from PIL import Image",
        "",
        "    with Image.open(path) as opened:   # more than 8 bits: scaled by the mode's range",
        "        wide = opened.mode in WIDE_MODES",
        f"        image = opened.convert('F' if wide else {s.mode!r})",
        "        scale = WIDE_MODES.get(opened.mode, 255.0)",
        "    h, w = image.height, image.width",
        "    if wide:",
        "        x = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.float32).view(1, h, w) / scale",
        *([] if channels == 1 else ["        x = x.expand(3, h, w)"]),
        "    else:",
        "        pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)",
        f"        x = pixels.view(h, w, {channels}).permute(2, 0, 1).to(torch.float32).div_(255.0)",
        f"    if (h, w) != ({h}, {w}):",
        f"        x = F.interpolate(x.unsqueeze(0), size=({h}, {w}), mode='bilinear', antialias=True,",
        "                          align_corners=False)[0]",
        "        if scale != 1.0:   # integer pixels lie in [0, 1]",
        "            x = x.clamp_(0.0, 1.0)",
    ]
    if s.normalize is not None:
        lines += [f"    mean, std = (torch.as_tensor(v, dtype=x.dtype).reshape(-1, 1, 1) for v in {const(s.normalize)})",
                  "    x = (x - mean) / std"]
    return lines + ["    return x.contiguous()"]


def _wrapped(head: str, items: list[str], tail: str, width: int = 100) -> list[str]:
    """A long list literal over lines of at most ``width`` columns."""
    lines, line = [head], "    "
    for item in items:
        if len(line) + len(item) + 2 > width and line.strip():
            lines.append(line.rstrip())
            line = "    "
        line += item + ", "
    return lines + [line.rstrip(), tail] if line.strip() else lines + [tail]


def _text(prep) -> list[str]:
    enc = prep.encode
    lines = [f"WORD = re.compile({_WORD.pattern!r})", "",
             "def words(text):", '    """Lowercased runs of letters and digits."""',
             "    return WORD.findall(text.lower())", ""]
    if enc.name == "bag_of_words":
        return lines + [
            "COLUMN = {w: j for j, w in enumerate(VOCAB)}", "",
            "def encode_text(text):", '    """Word counts over VOCAB: float[len(VOCAB)]."""',
            "    x = torch.zeros(len(VOCAB))",
            "    for w in words(text):",
            "        if w in COLUMN:",
            "            x[COLUMN[w]] += 1",
            "    return x"]
    cut = enc.args.get("max_len")
    return lines + [
        "TOKEN_ID = {w: i for i, w in enumerate(VOCAB)}", "",
        "def encode_text(text):",
        f'    """Word ids (0 padding, 1 unknown word){f", cut to {cut}" if cut else ""}: long[seq]."""',
        f"    ids = [TOKEN_ID.get(w, {UNK_ID}) for w in words(text)]{f'[:{cut}]' if cut else ''} or [{UNK_ID}]",
        "    return torch.tensor(ids, dtype=torch.long)"]


def data_source(prep, vocab: list[str] | None, transform) -> str:
    """Python for ``prep`` (a Preprocessing of a one-input model), ``vocab`` and the
    ``(field, expression AST)`` of ``data.transform``."""
    name, info = next(iter(prep.inputs.items()))
    out = ["", "", "# " + "-" * 70 + " data",
           "# What the run's data pipeline does to raw inputs, as plain functions: preprocess() makes",
           f"# the model's input '{name}', answer() turns the model's output into predictions."]
    if prep.classes is not None:
        out += ["", f"CLASSES = {const(list(prep.classes))}  # class index -> name"]
    if vocab is not None:
        out += [""] + _wrapped("VOCAB = [", [const(w) for w in vocab], "]")
    if prep.image is not None:
        modes = ", ".join(f"{const(m)}: {const(v)}" for m, v in WIDE_MODES.items())
        out += ["", f"WIDE_MODES = {{{modes}}}  # Pillow modes over 8 bits -> the value read as 1.0"]
        out += ["", ""] + _image(prep)
    if prep.encode is not None:
        out += ["", ""] + _text(prep)
    transformed = transform is not None and transform[0] == name   # (a transform of the target stays out)
    if transformed:
        field, expr = transform
        out += ["", "", f"def transform({field}):",
                f'    """data.transform: {field} = {_expr(expr, field)}."""',
                f"    value = {_expr(expr, field)}",
                "    return value.float() if value.dtype != torch.long else value"]
    out += ["", ""] + _preprocess(prep, name, info, transformed) + ["", ""] + _answer(prep)
    return "\n".join(out) + "\n"


def _preprocess(prep, name: str, info, transformed: bool) -> list[str]:
    shape = ", ".join(str(d) for d in info.shape)
    if prep.image is not None:
        doc, body = "image file paths", "torch.stack([read_image(p) for p in raw])"
    elif prep.encode is not None and prep.encode.name == "bag_of_words":
        doc, body = "texts", "torch.stack([encode_text(t) for t in raw])"
    elif prep.encode is not None:
        doc = "texts"
        body = f"nn.utils.rnn.pad_sequence([encode_text(t) for t in raw], batch_first=True, padding_value={PAD_ID})"
    elif info.dtype == "long":
        doc = "sequences of token ids"
        body = (f"nn.utils.rnn.pad_sequence([torch.as_tensor(s, dtype=torch.long) for s in raw], "
                f"batch_first=True, padding_value={int(prep.pad)})")
    else:
        columns = f" ({', '.join(prep.columns)})" if prep.columns else ""
        doc = f"rows of {'x'.join(str(d) for d in info.shape) or 'one'} number(s){columns}"
        body = f"torch.as_tensor(raw, dtype=torch.float32).reshape(-1, {shape or 1})" if info.shape \
            else "torch.as_tensor(raw, dtype=torch.float32).reshape(-1)"
    lines = ["def preprocess(raw):",
             f'    """{doc} -> the model\'s input {name}: {info.dtype}[B{", " + shape if shape else ""}]."""',
             f"    {name} = {body}"]
    if transformed:
        lines.append(f"    {name} = transform({name})")
    return lines + [f"    return {name}"]


def _answer(prep) -> list[str]:
    if prep.task == "regression":
        return ["def answer(output):", '    """The model\'s output as numbers, one row per input."""',
                "    return output.tolist()"]
    return ["def answer(output):", '    """The predicted class name of each input."""',
            "    if output.dim() == 1 or output.shape[-1] == 1:   # one score: above the threshold is class 1",
            f"        index = (output.reshape(-1) > {prep.threshold!r}).long()",
            "    else:",
            "        index = output.argmax(dim=-1)",
            "    return [CLASSES[i] for i in index.tolist()]"]
