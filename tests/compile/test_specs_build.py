"""Every shipped spec builds, has the oracle's parameter count, and computes what the oracle does.

The oracle for ``specs/<name>.spec`` is the hand-written module ``REFERENCE_MODELS[name]`` in
tests/reference_models.py. Weights go from the built GraphModule into the oracle entry by
entry (the oracles construct their layers in the order the specs first use them), and both run
the same batch in eval mode: the outputs must be bitwise equal.
"""
from __future__ import annotations

import pytest
import torch

from compilekit import (SPEC_DIR, SPECS, build, check_or_skip, copy_weights, equal, random_inputs,
                        reference_models)

EXPECTED_PARAMS = reference_models.EXPECTED_PARAMS
REFERENCE_MODELS = reference_models.REFERENCE_MODELS


def test_every_oracle_has_its_spec():
    missing = sorted(name for name in REFERENCE_MODELS if not (SPEC_DIR / name).is_file())
    assert missing == [], f"specs/ lacks {missing}"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_spec_builds_with_the_oracles_parameter_count(path):
    checked = check_or_skip(path)
    gm = build(checked)
    assert isinstance(gm, torch.fx.GraphModule)
    gm.graph.lint()
    assert path.name in EXPECTED_PARAMS, f"tests/reference_models.py has no oracle for {path.name}"
    assert sum(p.numel() for p in gm.parameters()) == EXPECTED_PARAMS[path.name]


@pytest.mark.parametrize("name", sorted(REFERENCE_MODELS), ids=lambda n: n.removesuffix(".spec"))
def test_spec_computes_what_its_oracle_computes(name):
    path = SPEC_DIR / name
    if not path.is_file():
        pytest.skip(f"specs/{name} is not there (test_every_oracle_has_its_spec reports it)")
    checked = check_or_skip(path)
    gm = build(checked, seed=0)
    oracle = REFERENCE_MODELS[name]()
    copy_weights(gm, oracle)
    gm.eval()
    oracle.eval()
    lengths = (5, 11) if any(not isinstance(d, int) for _, t in checked.graph.inputs for d in t.shape) else (None,)
    with torch.no_grad():
        for seq in lengths:
            inputs = random_inputs(checked, gm, seq=seq or 1, batch=4)
            got, want = gm(*inputs), oracle(*inputs)
            assert equal(got, want), f"{name}: max difference {(got - want).abs().max().item():.3g}"


def test_the_oracle_comparison_can_fail():
    """Control: a changed weight must make the comparison above fail."""
    path = SPEC_DIR / "moons.spec"
    if not path.is_file():
        pytest.skip("specs/moons.spec is not there (test_every_oracle_has_its_spec reports it)")
    checked = check_or_skip(path)
    gm = build(checked)
    oracle = REFERENCE_MODELS["moons.spec"]()
    copy_weights(gm, oracle)
    with torch.no_grad():
        next(oracle.parameters()).view(-1)[0] += 1e-3
    x = random_inputs(checked, gm, batch=64)
    assert not equal(gm(*x), oracle(*x))


def test_built_graphs_are_called_like_plain_modules():
    """specc's GraphModule skips fx's per-call traceback wrapper (bench/fx_overhead.py), also
    after a recompile, and still computes what its graph says."""
    import specc
    from torch import fx, nn

    gm = specc.build(SPEC_DIR / "moons.spec")
    assert isinstance(gm, fx.GraphModule)
    x = torch.randn(4, 2)
    before = gm(x)
    gm.recompile()
    assert type(gm).__call__ is nn.Module.__call__
    assert torch.equal(gm(x), before) and torch.equal(gm.forward(x), before)
    ops = [n.op for n in gm.graph.nodes]
    assert ops == ["placeholder", "call_module", "call_function", "call_module", "output"]
