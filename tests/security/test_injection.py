"""A spec runs Python only through its ``import`` lines.

Strings, names and expressions in a spec are never evaluated as code: paths that look like
code are paths, names that shadow builtins are names, dunder attributes are refused, strings
handed to layers and losses are values, ``--set`` values are spec text. The code that
``specc compile`` writes holds only the statements it should (checked with ``ast`` on
generated specs full of hostile identifiers and strings). And specc's own source loads
checkpoints with ``weights_only=True`` and never calls ``eval``/``exec``.

Oracles: a file ``PWNED`` that injected code would create; a sentinel module that writes a
file when (and only when) it is imported; ``sys.modules`` before and after.
"""
from __future__ import annotations

import ast
import builtins
import importlib.util
import keyword
from pathlib import Path
import re
import subprocess
import sys

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
import torch

import specc
from specc.analysis.names import MODULE_ATTRS, safe
from specc.syntax.overrides import apply_overrides
from specc.syntax.to_ast import KEYWORDS

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = "__import__('os').system('touch PWNED')"
TINY_DATA = "data {\n    train = moons(samples=40, noise=0.2)\n}\n"
TINY_MODEL = "model Net(x: float[2]) {\n    return x -> Linear(2)\n}\nloss = cross_entropy\n"
HELPER = '''
from torch import nn


class Lin(nn.Module):
    """Keeps the first n features (a layer an imported file provides)."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        return x[..., : self.n]
'''
SENTINEL_MODULE = '''
from pathlib import Path

Path(__file__).with_name("SENTINEL").write_text("imported")


def double(x):
    return x * 2
'''


def spec_string(value: str) -> str:
    """``value`` written as a spec string literal (escapes: \\" \\\\ \\n \\t)."""
    body = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{body}"'


@pytest.fixture
def box(tmp_path, monkeypatch):
    """A working folder as the current directory, with a helper module and a sentinel module."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "helper.py").write_text(HELPER)
    (tmp_path / "sentinel_mod.py").write_text(SENTINEL_MODULE)
    return tmp_path


def _write(folder: Path, text: str, name: str = "s.spec") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _no_payload_ran(folder: Path) -> None:
    assert not (folder / "PWNED").exists()
    assert not Path("PWNED").exists()
    assert not (folder / "SENTINEL").exists()


def _outcome(path: Path, train: bool = False, **overrides):
    """Take a spec as far as it goes; the SpecError (positioned inside the file) or None."""
    text = path.read_text(encoding="utf-8")
    try:
        spec = specc.load(path)
        specc.check(spec)
        specc.build(spec)
        specc.to_source(spec)
        if train:
            specc.train(spec, out=path.parent / "run", device="cpu", epochs=1, force=True, **overrides)
    except specc.SpecError as err:
        for d in err.diagnostics:
            assert d.span.line >= 1 and d.span.column >= 1
            if d.path == str(path):
                assert d.span.line <= text.count("\n") + 1
        return err
    return None


# ---------------------------------------------------------------- paths that look like code

CODE_PATHS = [f'x.csv"); {PAYLOAD}', f"x.csv'); {PAYLOAD} #", f"$(touch PWNED).csv", f"`touch PWNED`",
              f"{PAYLOAD}", "x.csv\n" + PAYLOAD, "../../" + PAYLOAD]
SOURCES = ['csv({path}, target="y")', "image_folder({path}, size=[8, 8])", "text_folder({path})",
           'image_csv({path}, images={path})']


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("path", CODE_PATHS)
def test_data_paths_that_look_like_code_are_only_paths(box, source, path):
    text = "data {\n    train = " + source.format(path=spec_string(path)) + "\n}\n" + TINY_MODEL
    err = _outcome(_write(box, text))
    assert err is not None and err.line == 2  # no such file: at the source, in the data section
    _no_payload_ran(box)


def test_a_file_named_like_code_is_read_as_data(box):
    name = f'x.csv"); {PAYLOAD}'
    (box / name).write_text("a,b,y\n" + "".join(f"{i % 3},{i % 5},{i % 2}\n" for i in range(20)))
    path = _write(box, f"data {{\n    train = csv({spec_string(name)}, target=\"y\")\n}}\n" + TINY_MODEL)
    assert _outcome(path, train=True) is None
    _no_payload_ran(box)


# ---------------------------------------------------------------- names that shadow builtins

SHADOWS = f"""
import "helper.py" as print
block open(x: float[n], eval: int = 3) {{
    exec = Linear(eval)
    return exec(x)
}}
model __import__(x: float[4]) {{
    getattr = Linear(4)
    compile = getattr(x)
    compile = getattr(compile + x)
    __class__, self = (compile, compile -> Tanh)
    globals = __class__ + self -> open(eval=5) -> print.Lin(3)
    return globals -> Linear(2)
}}
"""


def test_names_shadowing_builtins_are_plain_names(box, monkeypatch):
    path = _write(box, SHADOWS)
    assert _outcome(path) is None
    spec = specc.load(path)
    source = specc.to_source(spec)
    check_generated(source, n_imports=1)
    # The generated module runs like the fx graph, with the same weights.
    monkeypatch.syspath_prepend(str(box))
    (box / "generated.py").write_text(source)
    mod_spec = importlib.util.spec_from_file_location("specc_generated_shadows", box / "generated.py")
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    torch.manual_seed(0)
    graph = specc.build(spec)
    cls = next(v for k, v in vars(module).items() if isinstance(v, type) and issubclass(v, torch.nn.Module)
               and v.__module__ == module.__name__ and "__import__" in (v.__doc__ or ""))
    plain = cls()
    plain.load_state_dict(graph.state_dict())
    x = torch.randn(3, 4)
    assert torch.allclose(plain(x), graph(x))
    _no_payload_ran(box)


# ---------------------------------------------------------------- dunder attributes

DUNDERS = [
    ("model", "return x -> Linear(data.__class__)"),
    ("model", "return x.__class__"),
    ("model", "return x -> my.__dict__"),
    ("model", "return x -> my.__builtins__"),
    ("model", "return x -> my.__loader__(2)"),
    ("model", "h = data.__init__\n    return x"),
    ("model", "return x -> my.double.__globals__"),
    ("loss", "loss = output.__class__"),
    ("loss", "loss = mean(my.__spec__(output))"),
    ("optimizer", "optimizer = Adam(lr=data.__class__)"),
    ("optimizer", "optimizer = Adam(lr=__import__)"),
    ("transform", "transform = x.__class__"),
]


@pytest.mark.parametrize("where, code", DUNDERS)
def test_dunder_attributes_are_refused_at_their_position(box, where, code):
    model = f"model Net(x: float[2]) {{\n    {code if where == 'model' else 'return x -> Linear(2)'}\n}}\n"
    text = ('import "sentinel_mod.py" as my\n' + TINY_DATA.replace("}", (code if where == "transform" else "")
                                                                    + "\n}") + model
            + (code if where in ("loss", "optimizer") else "loss = cross_entropy") + "\n")
    path = _write(box, text)
    (box / "SENTINEL").unlink(missing_ok=True)
    err = _outcome(path)
    assert err is not None, text
    line = next(i for i, ln in enumerate(text.split("\n"), 1) if "__" in ln and "import" not in ln[:6])
    assert any(d.span.line == line for d in err.diagnostics), (str(err), line)
    assert not (box / "PWNED").exists()


# ---------------------------------------------------------------- strings with code in them

STRING_ARGS = [
    f"return x -> Linear(2, bias={spec_string(PAYLOAD)})",
    f"return x -> GELU(approximate={spec_string(PAYLOAD)}) -> Linear(2)",
    f"return x -> Identity({spec_string(PAYLOAD)}) -> Linear(2)",
    f"return x -> Identity(note={spec_string(PAYLOAD)}) -> Linear(2)",
    f"return x -> Dropout({spec_string(PAYLOAD)}) -> Linear(2)",
    f"return x -> Linear(2) -> Softmax(dim={spec_string(PAYLOAD)})",
    f"return x -> Linear(2) -> mean(dim={spec_string(PAYLOAD)})",
    f"return x -> Linear(2) -> {spec_string(PAYLOAD)}",
    f"return {spec_string(PAYLOAD)}",
    f"h = {spec_string(PAYLOAD)}\n    return x -> Linear(2)",
]
STRING_LOSSES = [
    f"loss = cross_entropy(reduction={spec_string(PAYLOAD)})",
    f"loss = cross_entropy(weight={spec_string(PAYLOAD)})",
    f"loss = cross_entropy(label_smoothing={spec_string(PAYLOAD)})",
    f"loss = mean(output - {spec_string(PAYLOAD)})",
    f"loss = {spec_string(PAYLOAD)}",
]


@pytest.mark.parametrize("body", STRING_ARGS)
def test_strings_with_code_passed_to_layers_are_values(box, body):
    text = TINY_DATA + f"model Net(x: float[2]) {{\n    {body}\n}}\nloss = cross_entropy\n"
    err = _outcome(_write(box, text), train=True)
    if err is not None:
        assert err.line == 6 if "h = " in body else err.line == 5, str(err)
    _no_payload_ran(box)


@pytest.mark.parametrize("loss", STRING_LOSSES)
def test_strings_with_code_passed_to_losses_are_values(box, loss):
    text = TINY_DATA + "model Net(x: float[2]) {\n    return x -> Linear(2)\n}\n" + loss + "\n"
    err = _outcome(_write(box, text), train=True)
    assert err is not None and err.line == 7, err
    _no_payload_ran(box)


def test_a_code_string_in_an_accepted_place_is_written_as_a_constant(box):
    text = f"model Net(x: float[2]) {{\n    return x -> Identity(note={spec_string(PAYLOAD)}) -> Linear(2)\n}}\n"
    source = specc.to_source(specc.load(_write(box, text)))
    check_generated(source, n_imports=0)
    assert repr(PAYLOAD) in source


# ---------------------------------------------------------------- --set values

SETS = [
    f"train.epochs={PAYLOAD}",
    f"train.checkpoint={PAYLOAD}",
    f"optimizer.lr={PAYLOAD}",
    "optimizer.lr=eval(\"1\")",
    "data.train=csv(" + spec_string('x.csv"); ' + PAYLOAD) + ")",
    f"data.batch=__import__",
    f"train.model={PAYLOAD}",
    f"schedule.step_size={PAYLOAD}",
    f"{PAYLOAD}=1",
    f"train.__class__=1",
    f"data.transform=x.__class__",
]


@pytest.mark.parametrize("value", SETS)
def test_set_values_with_code_are_spec_text(box, value):
    path = _write(box, TINY_DATA + TINY_MODEL + "optimizer = Adam(lr=0.01)\n")
    try:
        spec = apply_overrides(specc.load(path), [value])
        specc.check(spec)
        specc.train(spec, out=box / "run", device="cpu", epochs=1)
    except specc.SpecError as err:
        assert err.line >= 1 and err.column >= 1
    _no_payload_ran(box)


def test_set_with_code_through_the_cli_is_a_positioned_error(box):
    path = _write(box, TINY_DATA + TINY_MODEL)
    done = subprocess.run([sys.executable, "-m", "specc", "run", str(path), "--out", str(box / "run"), "--quiet",
                           "--set", f"train.epochs={PAYLOAD}"], capture_output=True, text=True, cwd=box)
    assert done.returncode == 2, done.stderr
    assert re.match(r"--set:1:\d+: error: ", done.stderr), done.stderr
    assert "Traceback" not in done.stderr
    _no_payload_ran(box)


# ---------------------------------------------------------------- imports happen only from import lines

def _foreign_modules(before: set[str]) -> list[str]:
    """Modules imported since ``before`` from outside Python, its site-packages and specc."""
    roots = [Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)] + [ROOT / "specc"]
    foreign = []
    for name in set(sys.modules) - before:
        file = getattr(sys.modules[name], "__file__", None)
        if "sentinel" in name or (file and not any(Path(file).resolve().is_relative_to(r) for r in roots)):
            foreign.append(name)
    return foreign


MENTIONS = [
    TINY_DATA + "model Net(x: float[2]) {\n    return x -> sentinel_mod.double -> Linear(2)\n}\nloss = cross_entropy\n",
    TINY_DATA + "model Net(x: float[2]) {\n    return x -> sentinel_mod(2)\n}\n",
    'data {\n    train = csv("sentinel_mod.py", target="y")\n}\n' + TINY_MODEL,
    TINY_DATA + TINY_MODEL.replace("cross_entropy", "sentinel_mod") + "\n",
    TINY_DATA + TINY_MODEL + "optimizer = sentinel_mod(lr=1)\n",
    TINY_DATA + TINY_MODEL + 'optimizer = Adam(lr="sentinel_mod")\n',
    TINY_DATA + TINY_MODEL + "train { model = sentinel_mod }\n",
    TINY_DATA + TINY_MODEL + 'train { checkpoint = "sentinel_mod.py" }\n',
    "block sentinel_mod(x: float[n]) { return x }\nmodel Net(x: float[2]) { return x -> sentinel_mod -> Linear(2) }\n",
    'model Net(x: float[2]) {\n    # import "sentinel_mod.py" as s\n    return x -> Identity("import sentinel_mod") -> Linear(2)\n}\n',
]


@pytest.mark.parametrize("text", MENTIONS)
def test_a_spec_without_import_lines_imports_nothing(box, monkeypatch, text):
    monkeypatch.syspath_prepend(str(box))  # a stray importlib call would find the sentinel
    before = set(sys.modules)
    _outcome(_write(box, text), train=True)
    assert not (box / "SENTINEL").exists()
    assert _foreign_modules(before) == []
    _no_payload_ran(box)


@pytest.mark.parametrize("line", ['import "sentinel_mod.py" as s', "import sentinel_mod as s"])
def test_an_import_line_is_what_runs_the_module(box, monkeypatch, line):
    monkeypatch.syspath_prepend(str(box))
    monkeypatch.delitem(sys.modules, "sentinel_mod", raising=False)
    text = line + "\nmodel Net(x: float[2]) {\n    return x -> s.double -> Linear(2)\n}\n"
    checked = specc.check(specc.load(_write(box, text)))
    assert (box / "SENTINEL").read_text() == "imported"
    assert list(checked.imports) == ["s"]
    for key in [k for k in sys.modules if k == "sentinel_mod" or k.startswith("specc_user_")]:
        monkeypatch.delitem(sys.modules, key)


# ---------------------------------------------------------------- the generated code

FORBIDDEN_CALLS = {"eval", "exec", "__import__", "compile", "open", "getattr", "setattr", "delattr", "globals",
                   "locals", "vars", "breakpoint", "input", "exit", "quit", "help"}
ALLOWED_IMPORTS = {"import torch", "from torch import nn", "import torch.nn.functional as F"}
ALLOWED_GLOBALS = {"torch", "nn", "F", "super", "float", "self"}
SAFE_STATEMENTS = (ast.Assign, ast.Return, ast.Expr)


def check_generated(source: str, n_imports: int) -> None:
    """The generated module holds only the expected statements (see the module docstring)."""
    tree = ast.parse(source)
    aliases, classes, spec_imports = set(), set(), 0
    for node in tree.body:
        text = ast.unparse(node)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if text in ALLOWED_IMPORTS:
                continue
            assert re.fullmatch(r"import [A-Za-z_]\w*(\.[A-Za-z_]\w*)* as [A-Za-z_]\w*", text), text
            aliases.add(node.names[0].asname)
            spec_imports += 1
        elif isinstance(node, ast.ClassDef):
            assert not node.decorator_list and not node.keywords
            assert [ast.unparse(b) for b in node.bases] == ["nn.Module"], text[:200]
            classes.add(node.name)
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                body = body[1:]
            assert [f.name for f in body if isinstance(f, ast.FunctionDef)] == ["__init__", "forward"], text[:300]
            assert all(isinstance(f, ast.FunctionDef) and not f.decorator_list for f in body)
        else:
            pytest.fail(f"unexpected top-level statement: {text[:200]}")
    assert spec_imports == n_imports, source
    assert not aliases & {"torch", "nn", "F"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            assert name not in FORBIDDEN_CALLS, ast.unparse(node)
        assert not isinstance(node, (ast.Lambda, ast.Global, ast.Nonlocal, ast.With, ast.Try, ast.Delete,
                                     ast.While, ast.For, ast.If, ast.IfExp, ast.NamedExpr, ast.Await, ast.Yield,
                                     ast.JoinedStr)), ast.unparse(node)
    # Inside the methods: plain statements, and every free name is an import, a class or a local.
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            local = {a.arg for a in fn.args.args}
            for stmt in fn.body:
                assert isinstance(stmt, SAFE_STATEMENTS), ast.unparse(stmt)
                for node in ast.walk(stmt):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                        assert node.id in local | ALLOWED_GLOBALS | aliases | classes, (node.id, ast.unparse(stmt))
                if isinstance(stmt, ast.Assign):
                    local |= {n.id for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.Name)}


SPEC_NAMES = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z")
HOSTILE = sorted({*keyword.kwlist, *keyword.softkwlist, *dir(builtins), *MODULE_ATTRS, "self", "torch", "nn", "F",
                  "__init__", "__class__", "__dict__", "__builtins__", "__import__", "__name__", "__module__",
                  "__qualname__", "__globals__", "_", "__", "forward", "super"} - KEYWORDS)
IDENTS = st.one_of(st.sampled_from(HOSTILE), SPEC_NAMES).filter(lambda n: n not in KEYWORDS)
HOSTILE_STRINGS = st.one_of(
    st.sampled_from(['"', "\\", '\\"', "\n", '"""', "'''", "\\n", "\\x00", "\x00", "\u2028", "\u202e", "{}",
                     "%s", "#", '");' + PAYLOAD + "#", "'); " + PAYLOAD + " #", "\\N{BULLET}", "\\u0022",
                     '\\"); import os; os.system("touch PWNED") #', "\ud800".encode("utf-8", "surrogatepass")
                     .decode("utf-8", "replace")]),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=30))
CODEGEN_TEMPLATE = """import "helper.py" as {alias}
block {B}(x: float[n], {s}: str = {str1}, {w}: int = 3) {{
    {b1} = x -> Linear({w}) -> Identity({s})
    return {b1}
}}
model {M}({inp}: float[4]) {{
    {v1} = Linear(5)
    {v2} = {v1}({inp})
    {v3}, {v4} = ({v2}, {v2} -> Tanh)
    {v5} = {v3} + {v4} -> {B}({s}={str2}, {w}=4) -> {alias}.Lin(3) -> Identity({kw}={str3})
    return {v5}[:, :2]
}}
"""
FIELDS = ["alias", "B", "s", "w", "b1", "M", "inp", "v1", "v2", "v3", "v4", "v5", "kw"]


@st.composite
def hostile_specs(draw) -> str:
    names = draw(st.lists(IDENTS, min_size=len(FIELDS), max_size=len(FIELDS), unique=True))
    strings = {k: spec_string(draw(HOSTILE_STRINGS)) for k in ("str1", "str2", "str3")}
    return CODEGEN_TEMPLATE.format(**dict(zip(FIELDS, names)), **strings)


def _codegen_fuzz(folder: Path, examples: int, derandomize: bool) -> dict:
    counts = {"compiled": 0, "refused": 0}

    @settings(max_examples=examples, deadline=None, derandomize=derandomize, database=None,
              suppress_health_check=list(HealthCheck))
    @given(hostile_specs())
    def one(text: str) -> None:
        path = _write(folder, text)
        try:
            source = specc.to_source(specc.load(path))
        except specc.SpecError as err:
            assert all(d.span.line >= 1 and d.span.column >= 1 for d in err.diagnostics)
            counts["refused"] += 1
            return
        check_generated(source, n_imports=1)
        counts["compiled"] += 1

    one()
    _no_payload_ran(folder)
    return counts


def test_generated_code_holds_only_the_expected_statements(box):
    counts = _codegen_fuzz(box, 60, derandomize=True)
    assert counts["compiled"] >= 30, counts  # most hostile specs are valid specs


@pytest.mark.fuzz
def test_generated_code_holds_only_the_expected_statements_long(box):
    import json
    import os
    n = int(os.environ.get("SPECC_FUZZ_EXAMPLES", 2000))
    counts = _codegen_fuzz(box, n, derandomize=False)
    assert counts["compiled"] > 0 and sum(counts.values()) == n, counts
    report = os.environ.get("SPECC_FUZZ_REPORT")  # the same report file as tests/fuzz writes
    if report:
        path = Path(report)
        data = json.loads(path.read_text()) if path.exists() else {}
        data["codegen"] = {"examples": n, **counts}
        path.write_text(json.dumps(data, indent=2) + "\n")


def test_safe_names_are_safe_python_identifiers():
    for name in [*HOSTILE, "a" * 500, "_x", "__x__", "9"]:
        out = safe(name)
        assert out.isidentifier() and not keyword.iskeyword(out) and not keyword.issoftkeyword(out)
        assert out not in dir(builtins) and out not in MODULE_ATTRS and not out.startswith("_")


# ---------------------------------------------------------------- specc's own source

SOURCE_FILES = sorted((ROOT / "specc").rglob("*.py"))


def _calls(text: str, head: str) -> list[str]:
    """The full text of every call ``head(...)`` in ``text``, parentheses matched."""
    calls = []
    for m in re.finditer(re.escape(head) + r"\(", text):
        depth, i = 0, m.end() - 1
        while i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                break
            i += 1
        calls.append(text[m.start():i + 1])
    return calls


def test_torch_load_is_only_called_with_weights_only():
    calls = [(p, c) for p in SOURCE_FILES for c in _calls(p.read_text(encoding="utf-8"), "torch.load")]
    assert calls, "specc loads checkpoints somewhere"
    for path, call in calls:
        assert "weights_only=True" in call, f"{path.relative_to(ROOT)}: {call}"
    for path in SOURCE_FILES:  # no other way to unpickle
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bpickle\.loads?\(|\bimport pickle\b|\bdill\b|\bmarshal\.loads?\(", text), path


# Every "eval(" or "exec(" in specc/, each one reviewed: none evaluates spec content.
EVAL_EXEC_ALLOWED = {
    ("specc/analysis/names.py", "# of these names would be shadowed by the method (``self.eval(x)``). A test checks this against torch."),
    ("specc/training/plots.py", "model.eval()"),                       # nn.Module.eval: evaluation mode
    ("specc/training/trainer.py", "self.model.eval()"),                # the same
    ("specc/inference.py", "model.to(dev).eval()"),                    # the same
    ("specc/export.py", "model = model.eval()"),                       # the same
    ("specc/export.py", "subject = with_preprocessing(model, names, steps).eval() if steps else model"),
    ("specc/training/trainer.py", "evaluate every held-out split under eval() and no_grad()"),  # a docstring
}


def _eval_exec_hits() -> set[tuple[str, str]]:
    pattern = re.compile(r"eval\(|exec\(")
    return {(str(p.relative_to(ROOT)), line.strip()) for p in SOURCE_FILES
            for line in p.read_text(encoding="utf-8").splitlines() if pattern.search(line)}


def test_no_eval_or_exec_in_specc_beyond_the_reviewed_lines():
    hits = _eval_exec_hits()
    assert hits - EVAL_EXEC_ALLOWED == set(), sorted(hits - EVAL_EXEC_ALLOWED)


def test_git_grep_for_eval_and_exec_finds_only_the_reviewed_lines():
    try:
        done = subprocess.run(["git", "grep", "-n", r"eval(\|exec(", "--", "specc/"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("git is not available")
    if done.returncode not in (0, 1) or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    hits = {(line.split(":", 2)[0], line.split(":", 2)[2].strip()) for line in done.stdout.splitlines()}
    assert hits <= EVAL_EXEC_ALLOWED, sorted(hits - EVAL_EXEC_ALLOWED)


def test_python_is_loaded_only_by_the_import_pass():
    """importlib (and its ``exec_module``) appears only where ``import`` lines are loaded, in
    specc.training's table of its own lazy exports, (its package metadata only, to read
    torch's version) in the torch drift check, and (``find_spec`` only, which locates a
    package without running it) where export says which of its packages is missing."""
    users = {str(p.relative_to(ROOT)) for p in SOURCE_FILES
             if re.search(r"\bimportlib\b|__import__\(|\bexec_module\(|runpy", p.read_text(encoding="utf-8"))}
    assert users <= {"specc/analysis/imports.py", "specc/training/__init__.py", "specc/catalog/torch_drift.py",
                     "specc/export.py"}, users
    export = (ROOT / "specc/export.py").read_text(encoding="utf-8")
    assert set(re.findall(r"\bimportlib\.[\w.]+", export)) == {"importlib.util.find_spec", "importlib.util"}
    drift = (ROOT / "specc/catalog/torch_drift.py").read_text(encoding="utf-8")
    assert set(re.findall(r"\bimportlib\.\w+", drift)) == {"importlib.metadata"}
    lazy = (ROOT / "specc/training/__init__.py").read_text(encoding="utf-8")
    assert re.search(r"importlib\.import_module\(_EXPORTS\[name\]\)", lazy)
