"""Every crash the fuzzers and the injection tests found, with the exact input, and what
specc does with it now: a SpecError at the right line, or a normal result.

The files in ``regressions/`` are the fuzzers' inputs byte for byte (run through
:func:`fuzzkit.push`, the whole pipeline); the inline cases are the ones found by hand.
"""
from __future__ import annotations

from pathlib import Path

import pytest

import specc
from fuzzkit import prepare, push

HERE = Path(__file__).parent / "regressions"

# file -> (the stage it stops at, text on the line its SpecError points to; None: no error)
FOUND_BY_FUZZING = {
    "steplr_step_size_zero": ("train", "StepLR(step_size=0)"),       # ZeroDivisionError in the 1st epoch
    "huge_accumulate": ("load", "accumulate = 111"),                  # OneCycleLR total_steps=0
    "huge_clip_grad": ("load", "clip_grad = 111"),                    # OverflowError in validation
    "huge_seed": ("load", "seed = 111"),                              # torch.manual_seed overflow
    "huge_embedding": ("load", "Embedding(data.vocab, 111"),          # OverflowError in the size bound
    "huge_samples": ("load", "samples=111"),                          # OverflowError in the size bound
    "destructure_same_tensor_twice": ("trained", None),               # IR lint: a, b = (h, h)
    "label_smoothing_huge": ("check", "label_smoothing"),             # RuntimeError in the 1st step
    "pad_huge_float": ("check", "pad = "),                            # int64 overflow padding token ids
    "sequences_huge_length": ("check", "length=2..4294967296"),       # a 1.3 TB allocation attempted
}


def _line_of(raw: bytes, marker: str) -> int:
    text = raw.decode("utf-8")
    return next(i for i, line in enumerate(text.split("\n"), 1) if marker in line)


@pytest.mark.parametrize("name", sorted(FOUND_BY_FUZZING))
def test_fuzzer_findings_stay_fixed(tmp_path, name):
    raw = (HERE / f"{name}.spec").read_bytes()
    stage, marker = FOUND_BY_FUZZING[name]
    outcome = push(raw, prepare(tmp_path))
    assert outcome.stage == stage, (outcome.stage, outcome.error)
    if marker is None:
        assert outcome.error is None
    else:
        assert outcome.error is not None and outcome.error.line == _line_of(raw, marker), str(outcome.error)


BASE = """data {
    train = moons(samples=40, noise=0.2)
    valid = 25%
}
model Net(x: float[2]) {
    return x -> Linear(4) -> ReLU -> Linear(2)
}
loss = cross_entropy
optimizer = Adam(lr=0.01)
train { epochs = 1 }
"""
# name -> (edit of BASE as (old, new), stage, text on the error's line or None)
FOUND_BY_HAND = {
    "negative_lr": (("lr=0.01", "lr=-1"), "train", "optimizer"),
    "onecycle_one_epoch": (("train {", "schedule = OneCycleLR(max_lr=0.1)\ntrain {"), "trained", None),
    "softmax_dim_out_of_range": (("-> Linear(2)", "-> Linear(2) -> Softmax(dim=5)"), "check", "Softmax"),
    "softmax_dim_string": (("-> Linear(2)", '-> Linear(2) -> Softmax(dim="a")'), "check", "Softmax"),
    "flatten_dim_out_of_range": (("-> ReLU", "-> Flatten(start_dim=7)"), "check", "Flatten"),
    "gelu_approximate": (("-> ReLU", '-> GELU(approximate="fast")'), "check", "GELU"),
    "linear_bias_string": (("Linear(4)", 'Linear(4, bias="no")'), "check", "bias"),
    "label_smoothing_string": (("= cross_entropy", '= cross_entropy(label_smoothing="x")'), "check", "loss"),
    "reduction_none": (("= cross_entropy", '= cross_entropy(reduction="none")'), "check", "loss"),
    "class_weights": (("= cross_entropy", "= cross_entropy(weight=[1.0, 2.0])"), "trained", None),
    "class_weights_wrong_length": (("= cross_entropy", "= cross_entropy(weight=[1.0])"), "check", "loss"),
    "float_overflow_in_folding": (("Linear(4)", "Linear(4) -> Dropout(1e300 * 1e300)"), "check", "Dropout"),
    "power_too_large": (("Linear(4)", "Linear(1000000 ** 4)"), "check", "Linear"),
    "huge_dimension": (("float[2]", "float[99999999999999999999]"), "load", "model"),
    "optimizer_name_argument": (("lr=0.01", "lr=data.__class__"), "check", "optimizer"),
    "early_stop_bad_monitor": (("epochs = 1", "epochs = 1, early_stop = early_stop(monitor=foo)"), "load", "train {"),
    "early_stop_without_split": (("    valid = 25%\n", ""), "check", "train {"),
    "checkpoint_is_a_file": (("epochs = 1", 'epochs = 1, checkpoint = "fuzz.spec"'), "train", "train {"),
    "huber_delta_zero": (("= cross_entropy", "= huber(delta=0)"), "check", "loss"),
    "model_too_large_in_total": (("Linear(4) -> ReLU", "(Linear(40000) -> ReLU) * 3"), "check", "Linear(40000)"),
    "bce_weight_length": (("-> Linear(2)\n", "-> Linear(1) -> Sigmoid\n"), "check", "loss"),
    "bce_targets_outside_0_1": (("-> Linear(2)\n", "-> Linear(1) -> Sigmoid\n"), "train", "loss"),
}


@pytest.mark.parametrize("name", sorted(FOUND_BY_HAND))
def test_hand_findings_stay_fixed(tmp_path, name):
    (old, new), stage, marker = FOUND_BY_HAND[name]
    assert old in BASE
    text = BASE.replace(old, new, 1)
    if name == "early_stop_without_split":
        text = text.replace("epochs = 1", "epochs = 1, early_stop = early_stop()")
    if name.startswith("bce"):  # a float target: x itself, so values outside 0..1
        text = text.replace("moons(samples=40, noise=0.2)", "generate(samples=40, x=uniform(-1, 1), y=x)") \
            .replace("float[2]", "float[1]")
        text = text.replace("= cross_entropy", "= bce(weight=[1.0, 2.0])" if "weight" in name else "= bce")
    outcome = push(text.encode(), prepare(tmp_path))
    assert outcome.stage == stage, (outcome.stage, outcome.error)
    if marker is None:
        assert outcome.error is None
    else:
        assert outcome.error is not None and outcome.error.line == _line_of(text.encode(), marker), str(outcome.error)


@pytest.mark.parametrize("breaker", ["\x0c", "\u2028", "\x1c", "\x85"])
def test_the_caret_is_under_the_line_the_parser_counted(breaker):
    """str.splitlines splits at form feeds, U+2028 and friends; lark counts only \\n."""
    text = f"# a{breaker}b\nmodel M(x: float[2]) {{\n  return x -> Lineer(3)\n}}\n"
    with pytest.raises(specc.SpecError) as info:
        specc.check(specc.load(text))
    err = info.value
    assert err.line == 3
    assert str(err).split("\n")[1].strip() == "return x -> Lineer(3)"


SEQUENCES = """data {
    train = sequences(samples=40, vocab=20, length=2..6, classes=2)
    pad = PAD
}
model Net(tokens: long[seq]) {
    e = Embedding(data.vocab, 2)(tokens)
    out, _ = GRU(3)(e)
    return mean(out, dim=1) -> Linear(2)
}
loss = cross_entropy
"""


@pytest.mark.parametrize("pad, stage, marker", [("0", "trained", None), ("1.5", "check", "pad = "),
                                                ("-1", "train", "Embedding"), ("20", "train", "Embedding")])
def test_a_pad_value_the_embedding_cannot_look_up_is_a_positioned_error(tmp_path, pad, stage, marker):
    """Found while fixing pad_huge_float: the replay of the first batch points at the layer."""
    text = SEQUENCES.replace("PAD", pad)
    outcome = push(text.encode(), prepare(tmp_path))
    assert outcome.stage == stage, (outcome.stage, outcome.error)
    if marker is not None:
        assert outcome.error.line == _line_of(text.encode(), marker), str(outcome.error)
