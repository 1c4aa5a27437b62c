"""Language 1.1, the values part (keywords at application, builders, tensors without a batch
dim, dim names as values, Parameter, a layer's weights and tied heads), against oracles.

The specs live in tests/compile/specs; their hand-written oracles are
``reference_models.LANGUAGE_1_1_MODELS``. Each spec builds with the oracle's parameter count (a
tied head counted once), computes what the oracle computes after its weights are copied in, and
compiles to source that computes the same bitwise; the causal models are causal when built.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import specc
from compilekit import build, copy_weights, equal, random_inputs, reference_models
from specc.compile.codegen import to_source
from specc.compile.summary import summarise
from test_codegen import assert_same_as_build

HERE = Path(__file__).parent / "specs"
ORACLES = reference_models.LANGUAGE_1_1_MODELS
CAUSAL = ["gpt_tied.spec", "causal_encoder.spec"]


def checked(name: str):
    return specc.check(specc.load(HERE / name))


@pytest.mark.parametrize("name", sorted(ORACLES), ids=lambda n: n.removesuffix(".spec"))
def test_spec_has_the_oracles_parameters_and_outputs(name):
    c = checked(name)
    gm = build(c, seed=0)
    oracle = ORACLES[name]()
    assert sum(p.numel() for p in gm.parameters()) == reference_models.parameter_count(oracle)
    copy_weights(gm, oracle)
    gm.eval()
    oracle.eval()
    with torch.no_grad():
        for seq in (5, 11):
            inputs = random_inputs(c, gm, seq=seq, batch=4)
            got, want = gm(*inputs), oracle(*inputs)
            assert equal(got, want), f"{name}: max difference {(got - want).abs().max().item():.3g}"


def test_the_comparison_can_fail():
    """Control: the causal mask left out of the oracle must make the comparison fail."""
    c = checked("gpt_tied.spec")
    gm = build(c, seed=0)
    oracle = ORACLES["gpt_tied.spec"]()
    copy_weights(gm, oracle)
    gm.eval()
    oracle.eval()
    x = random_inputs(c, gm, seq=6, batch=2)
    original = reference_models.causal_mask
    try:
        reference_models.causal_mask = lambda t, device=None: torch.zeros(t, t, dtype=torch.bool)
        with torch.no_grad():
            assert not equal(gm(*x), oracle(*x))
    finally:
        reference_models.causal_mask = original


def test_tied_head_is_one_parameter_counted_once():
    c = checked("gpt_tied.spec")
    gm = build(c)
    summary = summarise(c, gm)
    # tok 50*32, positions 16*32, per block 2 LayerNorms, attention 4*32*32 + 4*32, MLP 32*128+128 + 128*32+32
    block = 2 * 64 + (4 * 32 * 32 + 4 * 32) + (32 * 128 + 128) + (128 * 32 + 32)
    assert summary["total_params"] == 50 * 32 + 16 * 32 + 2 * block + 64
    assert summary["output_shape"] == "(B, t, 50)"
    assert [n for n, _ in gm.named_parameters() if n.endswith("weight") and "tok" in n] == ["tok.weight"]
    assert "F.linear(layernorm_1, self.tok.weight)" in to_source(c)


@pytest.mark.parametrize("name", CAUSAL, ids=lambda n: n.removesuffix(".spec"))
def test_a_later_token_does_not_change_earlier_outputs(name):
    gm = build(checked(name), seed=3)
    gm.eval()
    tokens = torch.randint(1, 50, (3, 12), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[:, 8:] = (changed[:, 8:] + 7) % 49 + 1
    with torch.no_grad():
        a, b = gm(tokens), gm(changed)
    assert torch.allclose(a[:, :8], b[:, :8], atol=1e-6, rtol=0)
    assert not torch.allclose(a[:, 8:], b[:, 8:], atol=1e-3)      # control: the later positions do change


@pytest.mark.parametrize("name", sorted(ORACLES), ids=lambda n: n.removesuffix(".spec"))
def test_spec_compiles_to_equal_source(name, tmp_path, monkeypatch):
    source = assert_same_as_build(checked(name), tmp_path, name.removesuffix(".spec"), monkeypatch)
    assert "= tokens.size(1)  # int t" in source       # a dim name as a value is read from its input


def test_parameter_is_declared_in_init_and_listed_in_summary():
    c = checked("padded_classifier.spec")
    source = to_source(c)
    assert "        self.pos = nn.Parameter(torch.zeros(16, 32))\n" \
           "        nn.init.normal_(self.pos, mean=0.0, std=0.02)\n" in source
    rows = summarise(c, build(c))["layers"]
    assert {"name": "pos", "type": "Parameter", "output_shape": "(16, 32)", "params": 512, "shared_with": ""} in rows


def test_parameter_init_is_reproducible_and_follows_its_initialiser():
    text = "model M(x: float[4]) {\n    p = Parameter(1000, 4, init=uniform(-2, 3))\n" \
           "    q = Parameter(4, init=ones)\n    return x + p[0] + q\n}\n"
    a, b = build(specc.check(specc.load(text)), seed=5), build(specc.check(specc.load(text)), seed=5)
    assert torch.equal(a.p, b.p) and a.p.min() >= -2 and a.p.max() <= 3 and a.p.std() > 1
    assert torch.equal(a.q, torch.ones(4))
    assert isinstance(a.p, torch.nn.Parameter)
    assert [n.op for n in a.graph.nodes].count("get_attr") == 2


def test_unbatched_types_and_dim_values_through_check():
    text = """model M(tokens: long[t]) {
    e = Embedding(16, 8)(arange(t))
    m = causal_mask(t)
    h = Embedding(50, 8)(tokens) + e
    n = reshape(h, t, 2, 8 // 2)
    seen = unsqueeze(sum(where(m, 0.0, 1.0), dim=-1), -1)
    return n, masked_fill(h, padding_mask(tokens) -> unsqueeze(-1), 0.0) + zeros(t - 1 + 1, 8) + seen
}
"""
    c = specc.check(specc.load(text))
    types = {op.out: op.type for op in c.graph.ops}
    assert types["e"].batched == "(t, 8)"
    assert types["m"].batched == "(t, t)" and types["m"].dtype == "bool"
    assert types["seen"].batched == "(t, 1)"
    assert types["h"].batched == "(B, t, 8)"
    assert types["n"].batched == "(B, t, 2, 4)"
    assert c.graph.output_types[1].batched == "(B, t, 8)"
    gm = build(c)
    out = gm(torch.randint(0, 16, (2, 6)))
    assert out[0].shape == (2, 6, 2, 4) and out[1].shape == (2, 6, 8)
    assert [n.args[1:] for n in gm.graph.find_nodes(op="call_method", target="size")] == [(1,)]
    padded = gm(torch.zeros(2, 6, dtype=torch.long))[1]       # all pad: only what position i sees is left
    assert torch.equal(padded[0, :, 0], torch.arange(1.0, 7.0))


def test_a_shared_layer_may_see_other_lengths():
    text = """model M(a: float[6, 8], b: float[3, 8]) {
    lin = Linear(5)
    return cat(lin(a), lin(b), dim=1)
}
"""
    c = specc.check(specc.load(text))
    gm = build(c)
    assert sum(p.numel() for p in gm.parameters()) == 8 * 5 + 5
    assert gm(torch.randn(2, 6, 8), torch.randn(2, 3, 8)).shape == (2, 9, 5)


def test_block_tensor_inputs_by_keyword():
    text = """block Gate(x: float[n], g: float[n]) {
    return x * sigmoid(g)
}
model M(a: float[4], b: float[4]) {
    return Gate(g=b, x=a) - Gate(a, g=b)
}
"""
    gm = build(specc.check(specc.load(text)))
    assert torch.equal(gm(torch.randn(2, 4), torch.randn(2, 4)), torch.zeros(2, 4))


def test_padded_classifier_trains(tmp_path):
    result = specc.train(HERE / "padded_classifier.spec", out=tmp_path / "run")
    assert torch.isfinite(torch.tensor(result.metrics["train"]["loss"]))


@pytest.mark.parametrize("name", CAUSAL, ids=lambda n: n.removesuffix(".spec"))
def test_builders_make_their_tensors_on_the_inputs_device(name, tmp_path, monkeypatch):
    """The masks and positions are made where the input is: on the meta device here (a tensor
    made on the CPU would refuse to meet them), as on a GPU."""
    c = checked(name)
    source = assert_same_as_build(c, tmp_path, name.removesuffix(".spec"), monkeypatch)
    assert "torch.ones(t, t, device=" in source and ".triu(1)" in source
    tokens = torch.zeros(2, 5, dtype=torch.long, device="meta")
    assert build(c).to("meta")(tokens).shape == (2, 5, 50)
    with pytest.raises(RuntimeError, match="device"):              # control: a CPU tensor does not mix
        torch.zeros(5, device="meta") + torch.arange(5)


def test_a_weight_used_before_its_layer_is_applied(tmp_path, monkeypatch):
    """An Embedding writes all its sizes, so its weight exists before it is applied; the first
    application fills in the input it sees (a Linear's would not: tests/errors/shape)."""
    path = tmp_path / "early.spec"
    path.write_text("""model M(tokens: long[t]) {
    tok = Embedding(50, 8)
    w = tok.weight
    h = tokens -> tok
    spare = Embedding(3, 4)
    return linear(h, w), spare.weight
}
""", encoding="utf-8")
    c = specc.check(specc.load(path))
    rows = {r["name"]: r for r in summarise(c, build(c))["layers"]}
    assert (rows["tok"]["output_shape"], rows["tok"]["params"]) == ("(B, t, 8)", 400)
    assert (rows["spare"]["output_shape"], rows["spare"]["params"]) == ("-", 12)
    assert_same_as_build(c, tmp_path, "early", monkeypatch)
