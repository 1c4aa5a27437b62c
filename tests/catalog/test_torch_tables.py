"""The torch catalogue matches the installed torch, stays torch-free, and checks calls."""
from __future__ import annotations

import importlib.util
from pathlib import Path
import subprocess
import sys

import pytest

from specc.catalog import signatures, torch_tables
from specc.catalog.signatures import Problem, check_call
from specc.catalog.torch_tables import NN_MODULES, OPTIMIZERS, REQUIRED, SCHEDULERS

ROOT = Path(__file__).resolve().parents[2]


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_torch_tables", ROOT / "tools" / "gen_torch_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the generator reads typing.get_overloads (3.11+)")
def test_committed_tables_match_installed_torch():
    committed = (ROOT / "specc" / "catalog" / "torch_tables.py").read_text(encoding="utf-8")
    assert load_generator().render() == committed, "run: .venv/bin/python tools/gen_torch_tables.py"


def test_tables_cover_torch_by_name():
    import torch
    assert torch_tables.TORCH_VERSION == torch.__version__
    for name in ("Linear", "Conv2d", "LSTM", "Sigmoid", "MultiheadAttention", "CrossEntropyLoss"):
        assert torch_tables.NN_MODULE_PATHS[name] == f"torch.nn.{name}"
    for excluded in ("Module", "Sequential", "ModuleList", "ModuleDict", "LazyLinear", "Container"):
        assert excluded not in NN_MODULES
    assert {"SGD", "Adam", "AdamW", "LBFGS", "SparseAdam"} <= set(OPTIMIZERS)
    assert {"StepLR", "OneCycleLR", "ReduceLROnPlateau"} <= set(SCHEDULERS)
    assert not {"Optimizer", "LRScheduler", "_LRScheduler"} & (set(OPTIMIZERS) | set(SCHEDULERS))
    assert list(NN_MODULES) == sorted(NN_MODULES)


def test_entries_follow_torch_signatures():
    assert NN_MODULES["Linear"] == (("in_features", "pos", REQUIRED), ("out_features", "pos", REQUIRED),
                                    ("bias", "pos", True), ("device", "pos", None), ("dtype", "pos", None))
    assert NN_MODULES["Sigmoid"] == ()  # inherits Module.__init__(*args, **kwargs): takes nothing
    assert signatures.param_names(NN_MODULES["LSTM"])[:3] == ("input_size", "hidden_size", "num_layers")
    assert ("betas", "pos", (0.9, 0.999)) in OPTIMIZERS["Adam"]
    assert ("foreach", "kwonly", None) in OPTIMIZERS["Adam"]
    assert ("activation", "pos", torch_tables.OBJECT) in NN_MODULES["TransformerEncoderLayer"]
    assert "params" not in signatures.param_names(OPTIMIZERS["SGD"])
    assert "optimizer" not in signatures.param_names(SCHEDULERS["StepLR"])


def test_importing_the_catalogue_does_not_import_torch():
    code = ("import sys, specc.catalog.torch_tables, specc.catalog.signatures; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_helpers():
    linear = NN_MODULES["Linear"]
    assert signatures.required_names(linear) == ("in_features", "out_features")
    assert signatures.defaults(linear) == {"bias": True, "device": None, "dtype": None}
    assert signatures.defaults(SCHEDULERS["OneCycleLR"])["total_steps"] is None
    assert signatures.suggest("Linaer", NN_MODULES) == "did you mean 'Linear'?"
    assert signatures.suggest("Adamm", OPTIMIZERS) == "did you mean 'Adam'?"
    assert signatures.suggest("Zzzzzz", OPTIMIZERS) is None


def messages(problems: list[Problem]) -> list[str]:
    return [p.message for p in problems]


@pytest.mark.parametrize("table, name, n_pos, kwargs, skip", [
    (NN_MODULES, "Linear", 1, [], 1),
    (NN_MODULES, "Linear", 1, ["bias"], 1),
    (NN_MODULES, "Linear", 1, ["in_features"], 1),  # an inferred argument may be named
    (NN_MODULES, "Conv2d", 2, ["padding"], 1),
    (NN_MODULES, "LSTM", 1, ["num_layers", "batch_first"], 1),
    (NN_MODULES, "Identity", 3, ["anything"], 0),
    (OPTIMIZERS, "Adam", 0, ["lr", "betas"], 0),
    (OPTIMIZERS, "SGD", 0, ["lr", "momentum", "nesterov"], 0),
    (SCHEDULERS, "StepLR", 0, ["step_size"], 0),
    (SCHEDULERS, "OneCycleLR", 0, ["max_lr"], 0),  # total_steps defaults to None
])
def test_valid_calls(table, name, n_pos, kwargs, skip):
    assert check_call(table[name], n_pos, kwargs, skip, name=name) == []


def test_unknown_keyword_with_hint():
    [p] = check_call(NN_MODULES["Linear"], 1, ["bais"], 1, name="Linear")
    assert p == Problem("Linear() got an unexpected keyword argument 'bais'", "bais", "did you mean 'bias'?")
    # one misspelling, one problem: the parameter it was meant for is not also reported missing
    [p] = check_call(NN_MODULES["Linear"], 0, ["out_feature"], 1, name="Linear")
    assert p.message == "Linear() got an unexpected keyword argument 'out_feature'"
    assert p.hint == "did you mean 'out_features'?"
    [p] = check_call(OPTIMIZERS["Adam"], 0, ["lr", "momentum"], name="Adam")
    assert (p.message, p.arg) == ("Adam() got an unexpected keyword argument 'momentum'", "momentum")
    [p] = check_call(NN_MODULES["ReLU"], 0, ["zzzzzz"], name="ReLU")
    assert p.hint is None


def test_missing_required():
    [p] = check_call(NN_MODULES["Linear"], 0, [], 1, name="Linear")
    assert p == Problem("Linear() missing required argument 'out_features'", None, None)
    assert messages(check_call(SCHEDULERS["StepLR"], 0, [], name="StepLR")) == [
        "StepLR() missing required argument 'step_size'"]
    assert messages(check_call(SCHEDULERS["CosineAnnealingLR"], 0, [], name="CosineAnnealingLR")) == [
        "CosineAnnealingLR() missing required argument 'T_max'"]
    assert check_call(SCHEDULERS["CosineAnnealingLR"], 0, [], name="CosineAnnealingLR", filled={"T_max"}) == []
    assert messages(check_call(NN_MODULES["Conv2d"], 1, [], 1, name="Conv2d")) == [
        "Conv2d() missing required argument 'kernel_size'"]


def test_too_many_positional():
    [p] = check_call(NN_MODULES["Linear"], 4, [], 1, name="Linear")
    assert p == Problem("Linear() takes at most 2 positional arguments after the inferred 'in_features', got 4", 2)
    [p] = check_call(NN_MODULES["Linear"], 3, [], 1, name="Linear")
    assert p.message == "Linear() takes at most 2 positional arguments after the inferred 'in_features', got 3"
    [p] = check_call(NN_MODULES["Sigmoid"], 1, [], name="Sigmoid")
    assert (p.message, p.arg) == ("Sigmoid() takes no positional arguments, got 1", 0)
    [p] = check_call(NN_MODULES["Dropout"], 3, [], name="Dropout")
    assert p.message == "Dropout() takes at most 2 positional arguments, got 3"


def test_keyword_also_given_by_position():
    [p] = check_call(NN_MODULES["Linear"], 2, ["bias"], 1, name="Linear")
    assert (p.message, p.arg) == ("Linear() got multiple values for argument 'bias'", "bias")


def test_problems_come_in_order():
    problems = check_call(NN_MODULES["Conv2d"], 0, ["paddin"], 1, name="Conv2d")
    assert [p.arg for p in problems] == ["paddin", None, None]
    assert problems[1:] == [Problem("Conv2d() missing required argument 'out_channels'"),
                            Problem("Conv2d() missing required argument 'kernel_size'")]
