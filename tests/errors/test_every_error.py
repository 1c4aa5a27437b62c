"""One ``specc check`` reports every independent mistake, once each.

The sections (data, each model, loss, optimizer, schedule, train) are checked independently;
a broken section's facts are left unknown, so what depends on them says nothing more; a
mistake inside a block is reported in the block, not again where the block is used.
"""
from __future__ import annotations

import re

import pytest

import specc
from specc.cli.main import main

DIAGNOSTIC = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<message>.*)$", re.M)

SIX = """data {
    train = moons(samples=100, nosie=0.2)
    valid = 20%
}

model Net(x: float[2]) {
    h = x -> Linaer(50)
    g = h -> ReLU
    return g -> Linear(2)
}

loss = cross_entropi
optimizer = Adamw(lr=0.01)
schedule = StepLR(step_sise=10)

train { epochs = 3, metrics = [acuracy] }
"""


def check_cli(tmp_path, capsys, text: str, name: str = "bad.spec") -> tuple[int, list[tuple[int, int, str]], str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code = main(["check", str(path)])
    captured = capsys.readouterr()
    out = captured.out + captured.err
    found = [(int(m["line"]), int(m["col"]), m["message"]) for m in DIAGNOSTIC.finditer(out)]
    return code, found, out


def test_six_independent_mistakes_give_six_messages_in_one_check(tmp_path, capsys):
    code, found, out = check_cli(tmp_path, capsys, SIX)
    assert code == 2
    assert [(line, col) for line, col, _ in found] == [(2, 38), (7, 14), (12, 8), (13, 13), (14, 19), (16, 31)], out
    words = ["no argument 'nosie'", "unknown name 'Linaer'", "unknown name 'cross_entropi'",
             "unknown optimizer 'Adamw'", "unexpected keyword argument 'step_sise'", "unknown metric 'acuracy'"]
    assert [w for w, (_, _, message) in zip(words, found) if w not in message] == [], out
    # the misspelt step_size is one mistake: not also "missing required argument 'step_size'"
    assert "missing required" not in out


def test_the_python_api_collects_the_same(tmp_path):
    path = tmp_path / "bad.spec"
    path.write_text(SIX, encoding="utf-8")
    with pytest.raises(specc.SpecError) as info:
        specc.check(path)
    assert len(info.value.diagnostics) == 6
    assert {d.path for d in info.value.diagnostics} == {str(path)}
    with pytest.raises(specc.SpecError) as info:   # load alone still refuses the bad section value
        specc.load(path)
    assert [d.span.line for d in info.value.diagnostics] == [16]


def test_did_you_mean_compares_case_insensitively_first(tmp_path, capsys):
    text = SIX.split("loss =")[0].replace("nosie", "noise").replace("Linaer", "Linear")
    code, found, out = check_cli(tmp_path, capsys, text + "loss = cross_entropy\noptimizer = Adamw(lr=0.01)\n")
    assert code == 2
    assert [(line, col) for line, col, _ in found] == [(13, 13)], out
    assert "hint: did you mean 'AdamW'?" in out


def test_a_mistake_inside_a_block_is_not_repeated_at_its_use(tmp_path, capsys):
    text = """block Mlp(x: float[n], width: int = 8) {
    return x -> Linaer(width) -> ReLU
}

model Net(x: float[2]) {
    a = x -> Mlp -> Linear(2)
    b = x -> Mlp(width=16) -> Linear(2)
    return a + b
}
"""
    code, found, out = check_cli(tmp_path, capsys, text)
    assert code == 2
    assert [(line, col) for line, col, _ in found] == [(2, 17)], out
    assert "applied to a tuple" not in out


def test_a_refused_section_value_does_not_cascade(tmp_path, capsys):
    # target refused (not a name): no "no target field 'y'"; model refused: no "say which one";
    # a refused data value: the data's fields are unknown, so no "no field 'x'" for the models
    text = """data {
    train = moons(samples=100)
    batch = 0
}
model A(x: float[3]) { return x -> Linear(2) }
model B(x: float[2]) { return x -> Linear(2) }
loss = cross_entropy
train { model = 3, target = [1] }
"""
    code, found, out = check_cli(tmp_path, capsys, text)
    assert code == 2
    assert [(line, col) for line, col, _ in found] == [(3, 13), (8, 17), (8, 29)], out


def test_set_on_a_spec_with_refused_values_reports_the_file(tmp_path, capsys):
    path = tmp_path / "bad.spec"
    path.write_text(SIX, encoding="utf-8")
    assert main(["run", str(path), "--set", "train.epochs=1", "--out", str(tmp_path / "out")]) == 2
    out = capsys.readouterr().err
    assert f"{path}:16:31: error: train.metrics: unknown metric 'acuracy'" in out
    assert not (tmp_path / "out").exists()


def test_the_weight_of_a_failed_layer_says_nothing_more(tmp_path, capsys):
    text = """model M(x: float[8]) {
    lin = Linaer(4)
    h = linear(x, lin.weight)
    return h + lin.bias
}
"""
    code, found, out = check_cli(tmp_path, capsys, text)
    assert code == 2
    assert [(line, col) for line, col, _ in found] == [(2, 11)], out
