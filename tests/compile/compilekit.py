"""Shared pieces for the compiler tests: the oracle modules, random inputs, loading generated code.

The oracles live in ``tests/reference_models.py``; tests in this folder load that file by path
(pytest puts only this folder on ``sys.path``).
"""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
import re
import sys

import pytest
import torch
from torch import nn

import specc
from specc.errors import SpecError

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT / "specs"
SPECS = sorted(SPEC_DIR.glob("*.spec"))
SEQ = 7          # the length every symbolic dim gets in a random batch
BATCH = 3

_MISSING = re.compile(r"(?:file|folder) not found: (.+)$")


def _load_reference_models():
    if "reference_models" in sys.modules:
        return sys.modules["reference_models"]
    spec = importlib.util.spec_from_file_location("reference_models", ROOT / "tests" / "reference_models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["reference_models"] = module
    spec.loader.exec_module(module)
    return module


reference_models = _load_reference_models()


def check_or_skip(path: Path):
    """``specc.check(path)``; skip (naming the file) only when a data file it reads is not there yet."""
    try:
        return specc.check(specc.load(path))
    except SpecError as err:
        for d in err.diagnostics:
            m = _MISSING.search(d.message)
            if m and not Path(m.group(1)).exists():
                pytest.skip(f"{path.name}: data file {m.group(1)} is not there yet")
        raise


def build(checked, seed: int = 0):
    """The fx GraphModule of a checked spec, with weights from ``seed``."""
    from specc.analysis.imports import loaded_modules
    from specc.compile.fx_build import build_graph

    torch.manual_seed(seed)
    return build_graph(checked.graph, checked.program, loaded_modules(checked.spec))


def random_inputs(checked, module: nn.Module, seq: int = SEQ, batch: int = BATCH, seed: int = 1) -> list:
    """One random batch for the model's inputs: floats from a normal, ids below every vocabulary."""
    g = torch.Generator().manual_seed(seed)
    vocab = min([m.num_embeddings for m in module.modules() if isinstance(m, nn.Embedding)], default=2)
    out = []
    for _, t in checked.graph.inputs:
        shape = (batch, *(d if isinstance(d, int) else seq for d in t.shape))
        if t.dtype == "float":
            out.append(torch.randn(shape, generator=g))
        elif t.dtype == "bool":
            out.append(torch.randint(0, 2, shape, generator=g).bool())
        else:
            out.append(torch.randint(0, vocab, shape, generator=g, dtype=torch.long if t.dtype == "long" else
                                     torch.int32))
    return out


def equal(a, b) -> bool:
    """Bitwise equality of two outputs (tensors or nested tuples of them)."""
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    return isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy ``src``'s state into ``dst`` entry by entry, in order, checking every shape."""
    values = list(src.state_dict().values())
    target = dst.state_dict()
    assert len(values) == len(target), f"{len(values)} state entries, the oracle has {len(target)}"
    for (key, old), new in zip(target.items(), values):
        assert old.shape == new.shape, f"{key}: oracle {tuple(old.shape)}, spec {tuple(new.shape)}"
    dst.load_state_dict(dict(zip(target, values)))


def load_source(source: str, folder: Path, name: str):
    """Write generated source to ``folder/name.py``, import it as a fresh module and return it."""
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def model_class_name(source: str) -> str:
    """The model's class: codegen writes it last, after the blocks it uses."""
    classes = [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]
    return classes[-1]
