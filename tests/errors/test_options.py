"""Options torch (or Python's csv reader) would refuse only when a run builds or reads them, and
names given twice: ``specc check`` refuses each at the line and column of the mistake, exit 2,
and ``specc run`` stops there too instead of crashing with an internal error.

Each case is a whole spec (tiny data: ``a.csv`` beside it, or forty moons) with the position and
words of its first diagnostic.
"""
from __future__ import annotations

import pytest
import torch

import specc
from specc.cli.main import main

CSV = "a,b,y\n1,2,0\n2,3,1\n3,1,0\n4,4,1\n"


def _moons(model: str, train: str = "epochs = 1") -> str:
    return ("data {\n    train = moons(samples=40, noise=0.2)\n    batch = 8\n}\n"
            f"model Net(x: float[2]) {{\n    return x -> {model}\n}}\n"
            f"loss = cross_entropy\ntrain {{ {train} }}\n")


def _data(call: str) -> str:
    """A spec whose data section is `train = call` (a csv file, generate, a toy source)."""
    return (f"data {{\n    train = {call}\n}}\nmodel Net(x: float[2]) {{\n    return x -> Linear(2)\n}}\n"
            "loss = cross_entropy\ntrain { epochs = 1 }\n")


# id: (spec, line, column, words of the first diagnostic)
CASES = {
    "model_param_twice": ("model Net(x: float[2], x: float[3]) {\n    return x -> Linear(2)\n}\n",
                          1, 24, ["parameter 'x' is given twice", "line 1, column 11"]),
    "block_setting_twice": ("block B(x: float[2], k: int = 1,\n        k: int = 2) {\n    return x -> Linear(k)\n}\n"
                            "model Net(x: float[2]) {\n    return x -> B(k=3)\n}\n",
                            2, 9, ["parameter 'k' is given twice", "line 1"]),
    "generate_field_twice": (_data("generate(samples=20, x=uniform(-1, 1), y=x,\n        x=normal(0, 1))"),
                             3, 9, ["keyword argument 'x' is given twice", "line 2"]),
    "source_keyword_twice": (_data("moons(samples=40, noise=0.2, samples=50)"),
                             2, 42, ["keyword argument 'samples' is given twice", "line 2, column 19"]),
    "layer_keyword_twice": (_moons("Linear(4, bias=true, bias=false) -> Linear(2)"),
                            6, 38, ["keyword argument 'bias' is given twice", "line 6, column 27"]),
    "loss_keyword_twice": (_moons("Linear(2)").replace("loss = cross_entropy", "loss = cross_entropy(\n"
                                                       "    label_smoothing=0.1, label_smoothing=0.2)"),
                           9, 26, ["keyword argument 'label_smoothing' is given twice", "line 9, column 5"]),
    "early_stop_keyword_twice": (_moons("Linear(2)", "early_stop = early_stop(patience=1, patience=2)"),
                                 9, 45, ["keyword argument 'patience' is given twice", "line 9"]),
    "csv_feature_twice": (_data('csv("a.csv", target="y", features=["a", "a"])'),
                          2, 53, ["'a' is given twice", "line 2, column 48"]),
    "metric_twice": (_moons("Linear(2)", "metrics = [accuracy, f1, accuracy]"),
                     9, 34, ["'accuracy' is given twice", "line 9, column 20"]),
    "csv_delimiter": (_data('csv("a.csv", target="y", delimiter=",,")'),
                      2, 48, ["delimiter must be one character", "got ',,'"]),
    # constructor options torch refuses only when it builds or first runs the layer
    "device": (_moons('Linear(2, device="cuda")'), 6, 27, ["cannot be given 'device'", "train { device = cuda }"]),
    "dtype": (_moons('Linear(2, dtype="float64")'), 6, 27, ["cannot be given 'dtype'", "precision = bf16"]),
    "self": (_moons("Identity(self=1) -> Linear(2)"), 6, 26, ["Identity() cannot be given 'self'"]),
    "private": (_moons("Linear(2, _weight=[1, 2])"), 6, 27, ["'_weight': it is private to torch"]),
    "hardtanh_order": (_moons("Hardtanh(5, 1) -> Linear(2)"), 6, 29,
                       ["max_val must be greater than min_val", "min_val=5 and max_val=1"]),
    "hardtanh_alias": (_moons("Hardtanh(min_value=2.0) -> Linear(2)"), 6, 17, ["min_value=2.0 and max_val=1.0"]),
    "rrelu_order": (_moons("RReLU(0.5, 0.1) -> Linear(2)"), 6, 28, ["upper must be at least lower"]),
    "celu_zero": (_moons("CELU(0) -> Linear(2)"), 6, 22, ["alpha must not be 0"]),
    "threshold_kind": (_moons('Threshold("a", 1) -> Linear(2)'), 6, 27, ["threshold must be a number"]),
    "softshrink_negative": (_moons("Softshrink(-1) -> Linear(2)"), 6, 28, ["lambd must be at least 0"]),
    "prelu_channels": (_moons("PReLU(3) -> Linear(2)"), 6, 17, ["PReLU(num_parameters=3)", "(B, 2)"]),
    "transformer_activation": (_moons('Linear(4) -> TransformerEncoderLayer(2, activation="bogus") -> Linear(2)'),
                               6, 57, ["activation must be one of 'relu', 'gelu'", "got 'bogus'"]),
    "randint_bounds": (_data("generate(samples=20, x=randint(5, 1), y=x)").replace("float[2]", "long[1]").replace(
        "Linear(2)", "Embedding(10, 2) -> Flatten"), 2, 36, ["randint(low, high)", "low must be below high"]),
    "normal_std": (_data("generate(samples=20, x=normal(0, -1), y=x)").replace("float[2]", "float[1]"),
                   2, 36, ["normal(mean, std)", "std must be at least 0"]),
    # train entries the first epoch would refuse
    "early_stop_min_delta": (_moons("Linear(2)", "epochs = 2, early_stop = early_stop(monitor=train.loss, "
                                    "min_delta=-1)"), 9, 34, ["min_delta: must not be negative", "got -1"]),
    "r2_on_a_classifier": (_moons("Linear(2)", "metrics = [accuracy, r2]"), 9, 30,
                           ["metric r2 needs an output with as many elements as the target", "(B, 2)", "long (B,)"]),
    "top5_on_a_regression": (_data("generate(samples=20, x=uniform(-1, 1), y=2 * x)").replace(
        "cross_entropy", "mse").replace("float[2]", "float[1]").replace("Linear(2)", "Linear(1)")
        .replace("epochs = 1", "epochs = 1, metrics = [top5]"), 8, 32, ["metric top5 needs class scores"]),
    # a size given where specc infers it is checked against the input
    "layernorm_size": (_moons("LayerNorm(4) -> Linear(2)"), 6, 27, ["normalized_shape is 2", "got 4"]),
    "batchnorm_size": (_moons("BatchNorm1d(4) -> Linear(2)"), 6, 29, ["num_features is 2", "got 4"]),
    "layernorm_size_by_keyword": (_moons("LayerNorm(normalized_shape=3) -> Linear(2)"), 6, 27,
                                  ["normalized_shape is 2", "got 3"]),
}


def _write(tmp_path, text: str) -> str:
    (tmp_path / "a.csv").write_text(CSV)
    path = tmp_path / "s.spec"
    path.write_text(text)
    return str(path)


def _assert_refused(capsys, code: int, path: str, line: int, column: int, words: list[str]) -> None:
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"{path}:{line}:{column}: error: "), err
    assert "Traceback" not in err and "internal error" not in err, err
    first = err.split(f"\n{path}:")[0]
    assert [w for w in words if w not in first] == [], first


@pytest.mark.parametrize("name", CASES)
def test_check_refuses_it_at_its_position(tmp_path, capsys, name):
    text, line, column, words = CASES[name]
    path = _write(tmp_path, text)
    _assert_refused(capsys, main(["check", path]), path, line, column, words)


@pytest.mark.parametrize("name", ["csv_delimiter", "randint_bounds", "device", "dtype", "self", "hardtanh_order",
                                  "transformer_activation", "layernorm_size", "early_stop_min_delta",
                                  "r2_on_a_classifier"])
def test_run_refuses_it_at_its_position(tmp_path, capsys, name):
    text, line, column, words = CASES[name]
    path = _write(tmp_path, text)
    _assert_refused(capsys, main(["run", path, "--out", str(tmp_path / "run"), "--quiet"]), path, line, column,
                    words)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_size_equal_to_the_inferred_one_is_the_size(tmp_path):
    """``BatchNorm1d(2)`` on two features is torch's ``BatchNorm1d(2)``, not ``eps=2``."""
    model = specc.build(specc.load(_moons("BatchNorm1d(2, 0.01) -> LayerNorm(2) -> LayerNorm([2], 0.5) -> Linear(2)")))
    norms = [m for m in model.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.LayerNorm))]
    assert [(type(m).__name__, m.eps) for m in norms] == [("BatchNorm1d", 0.01), ("LayerNorm", 1e-5),
                                                          ("LayerNorm", 0.5)]
    assert norms[0].num_features == 2 and norms[1].normalized_shape == (2,)


def test_a_constructor_that_refuses_at_build_time_is_a_positioned_error(tmp_path, capsys, monkeypatch):
    """Whatever the checks let through, a layer constructor's exception is an error at the layer."""
    def refuse(self, *args, **kwargs):
        raise ValueError("no such thing\nmore detail")

    monkeypatch.setattr(torch.nn.Hardtanh, "__init__", refuse)
    path = _write(tmp_path, _moons("Linear(4) -> Hardtanh(-2, 2) -> Linear(2)"))
    for command in (["summary", path], ["run", path, "--out", str(tmp_path / "run"), "--quiet"]):
        _assert_refused(capsys, main(command), path, 6, 30, ["Hardtanh(...) refuses its arguments: no such thing"])
    with pytest.raises(specc.SpecError) as info:
        specc.build(path)
    assert (info.value.line, info.value.column) == (6, 30)


@pytest.mark.parametrize("side", [12, 16], ids=["bomb_warning", "bomb_error"])
def test_an_image_above_pillows_limit_is_a_positioned_data_error(tmp_path, capsys, monkeypatch, side):
    """Pillow warns above ``MAX_IMAGE_PIXELS`` and refuses above twice that (a decompression bomb);
    either is a data error at the source's path naming the file. The limit is lowered here so
    that a 12x12 image is over it (144 > 100 pixels) and a 16x16 one over twice it."""
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    for cls in ("a", "b"):
        (tmp_path / "img" / cls).mkdir(parents=True)
        Image.new("RGB", (side, side)).save(tmp_path / "img" / cls / "0.png")
    path = _write(tmp_path, 'data {\n    train = image_folder("img", size=[4, 4])\n    batch = 2\n}\n'
                            "model Net(x: float[3, 4, 4]) {\n    return x -> Flatten -> Linear(2)\n}\n"
                            "loss = cross_entropy\ntrain { epochs = 1 }\n")
    code = main(["run", path, "--out", str(tmp_path / "run"), "--quiet"])
    _assert_refused(capsys, code, path, 2, 13, ["too large to decode", str(tmp_path / "img" / "a" / "0.png")])
