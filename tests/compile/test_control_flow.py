"""Version 1.1 control flow through ``specc.check`` and ``specc.build``: comparisons, ``if``
decided when a block is specialised, ``for`` unrolled with fresh layers per iteration, and a
ResNet-50 written with nested loops that has torchvision's parameter count."""
from __future__ import annotations

import pytest
import torch

import specc
from specc.errors import SpecError


def built(tmp_path, text: str):
    path = tmp_path / "net.spec"
    path.write_text(text, encoding="utf-8")
    checked = specc.check(specc.load(path))
    return checked, specc.build(checked)


def params(module) -> int:
    return sum(p.numel() for p in module.parameters())


RESNET50 = """
block Bottleneck(x: float[c, h, w], width: int, stride: int = 1) {
    out = x -> Conv2d(width, 1, bias=false) -> BatchNorm2d -> ReLU
          -> Conv2d(width, 3, stride=stride, padding=1, bias=false) -> BatchNorm2d -> ReLU
          -> Conv2d(4 * width, 1, bias=false) -> BatchNorm2d
    if stride != 1 or c != 4 * width {
        shortcut = x -> Conv2d(4 * width, 1, stride=stride, bias=false) -> BatchNorm2d
    } else {
        shortcut = x
    }
    return out + shortcut -> ReLU
}

model ResNet50(x: float[3, 224, 224]) {
    h = x -> Conv2d(64, 7, stride=2, padding=3, bias=false) -> BatchNorm2d -> ReLU
          -> MaxPool2d(3, stride=2, padding=1)
    for width, strides in [(64, [1, 1, 1]), (128, [2, 1, 1, 1]), (256, [2, 1, 1, 1, 1, 1]), (512, [2, 1, 1])] {
        for stride in strides {
            h = h -> Bottleneck(width=width, stride=stride)
        }
    }
    return h -> AdaptiveAvgPool2d(1) -> Flatten -> Linear(1000)
}
"""


def test_resnet50_from_nested_loops_has_torchvisions_parameter_count(tmp_path):
    checked, gm = built(tmp_path, RESNET50)
    assert params(gm) == 25_557_032
    assert checked.graph.output_types[0].batched == "(B, 1000)"


def test_only_the_taken_branch_makes_layers(tmp_path):
    text = """
block B(x: float[n], wide: bool) {
    if wide {
        h = x -> Linear(100)
    } else if n > 3 {
        h = x -> Linear(10)
    } else {
        h = x -> Linear(1)
    }
    return h
}
model Net(x: float[4]) {
    return x -> B(wide=false)
}
"""
    _, gm = built(tmp_path, text)
    assert params(gm) == 4 * 10 + 10


def test_each_iteration_makes_fresh_layers_and_an_outer_layer_is_shared(tmp_path):
    text = """
model Net(x: float[8]) {
    shared = Linear(8)
    h = x
    for i in 1..3 {
        h = h -> Linear(8) -> shared
    }
    return h, i
}
"""
    with pytest.raises(SpecError, match="returns tensors"):   # the loop variable is a constant after the loop
        built(tmp_path, text)
    _, gm = built(tmp_path, text.replace("return h, i", "return h"))
    assert params(gm) == 4 * (8 * 8 + 8)
    torch.manual_seed(0)
    x = torch.randn(2, 8)
    with torch.no_grad():
        want = x
        for lin in (gm.linear_1, gm.linear_2, gm.linear_3):
            want = gm.shared(lin(want))
        assert torch.equal(gm(x), want)


def test_comparisons_give_bool_tensors_and_bind_weaker_than_the_pipeline(tmp_path):
    checked, gm = built(tmp_path, """
model Net(x: float[3]) {
    return x, x -> ReLU > 0, 0.5 >= x
}
""")
    assert [t.dtype for t in checked.graph.output_types] == ["float", "bool", "bool"]
    x = torch.tensor([[-1.0, 0.5, 2.0]])
    _, pos, small = gm(x)
    assert pos.tolist() == [[False, True, True]] and small.tolist() == [[True, True, False]]


def test_conditions_fold_settings_dims_and_literals(tmp_path):
    text = """
block B(x: float[n], k: int) {
    if not (k == 2 and n >= 4) or k < 0 {
        h = x -> Linear(1)
    } else {
        h = x -> Linear(2)
    }
    return h
}
model Net(x: float[4]) {
    return x -> B(k=2)
}
"""
    checked, _ = built(tmp_path, text)
    assert checked.graph.output_types[0].batched == "(B, 2)"


def test_loop_variables_unpack_nested_tuples(tmp_path):
    checked, _ = built(tmp_path, """
model Net(x: float[4]) {
    h = x
    for (a, b), c in [((2, 3), 4), ((5, 6), 7)] {
        h = h -> Linear(a + b + c)
    }
    return h
}
""")
    assert checked.graph.output_types[0].batched == "(B, 18)"


def test_a_name_bound_in_every_branch_is_usable_after_the_if(tmp_path):
    checked, _ = built(tmp_path, """
model Net(x: float[4]) {
    if 2 > 1 {
        h = x -> Linear(3)
    } else {
        h = x
    }
    return h
}
""")
    assert checked.graph.output_types[0].batched == "(B, 3)"


def test_a_loop_runs_over_a_list_setting_of_a_block(tmp_path):
    _, gm = built(tmp_path, """
block Stage(x: float[n], widths: list = [4, 8]) {
    h = x
    for w in widths {
        h = h -> Linear(w) -> ReLU
    }
    return h
}
model Net(x: float[3]) {
    return x -> Stage(widths=[5, 6, 7]) -> Stage
}
""")
    assert params(gm) == (3 * 5 + 5) + (5 * 6 + 6) + (6 * 7 + 7) + (7 * 4 + 4) + (4 * 8 + 8)


def test_a_list_setting_refuses_a_number(tmp_path):
    with pytest.raises(SpecError, match="setting 'widths' of block Stage is list, got 3"):
        built(tmp_path, """
block Stage(x: float[n], widths: list) {
    return x
}
model Net(x: float[3]) {
    return x -> Stage(widths=3)
}
""")
