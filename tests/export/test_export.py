"""Exported files against the model they came from, loaded by their own runtimes (oracles:
onnxruntime, ``torch.export.load``, ``torch.jit.load``) on inputs the exporter never saw."""
from pathlib import Path

import pytest
import torch

import specc
from specc.export import FORMATS, ExportError, export_model, index_bound, sample_inputs

SPECS = Path(__file__).resolve().parents[2] / "specs"
EXAMPLES = sorted(p.stem for p in SPECS.glob("*.spec"))
# torch.export traces an LSTM step by step, which fixes the sequence length.
FIXED_DIM = {("bilstm", "torch-export")}


def _load(fmt, path):
    if fmt == "onnx":
        import onnxruntime as ort
        s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in s.get_inputs()]

        def run(*xs):   # one tensor, or a tuple for a model of several outputs (multitask.spec)
            outs = [torch.from_numpy(o) for o in s.run(None, {n: x.numpy() for n, x in zip(names, xs)})]
            return outs[0] if len(outs) == 1 else tuple(outs)
        return run
    if fmt == "torch-export":
        return torch.export.load(str(path)).module()
    return torch.jit.load(str(path))


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_exports_and_agrees(name, fmt, tmp_path):
    checked = specc.check(SPECS / f"{name}.spec")
    torch.manual_seed(0)
    model = specc.build(checked).eval()
    out = tmp_path / f"model{FORMATS[fmt].suffix}"
    if (name, fmt) in FIXED_DIM:
        with pytest.raises(ExportError, match="fixes the dimension seq.*LSTM"):
            export_model(model, checked.graph.inputs, fmt, out)
        assert list(tmp_path.iterdir()) == []          # nothing half-written is left
        return
    report = export_model(model, checked.graph.inputs, fmt, out)
    assert report.path == out and out.is_file() and report.max_error <= 1e-5
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    symbolic = {d for _, t in checked.graph.inputs for d in t.shape if isinstance(d, str)}
    assert report.dynamic == ["batch", *sorted(symbolic)]
    # a batch size (and a sequence length) the export never saw
    x = sample_inputs(checked.graph.inputs, 5, 11, index_bound(model), seed=9)
    with torch.no_grad():
        torch.testing.assert_close(_load(fmt, out)(*x), model(*x), atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "run"
    specc.train(SPECS / "digits.spec", out=out, epochs=1)
    return out


def test_a_run_exports_from_the_cli(digits_run, capsys):
    """The journey's last step: the trained run's best weights, verified, as ONNX; then with
    the spec's `transform = x / 16` inside the graph, so it takes raw pixel values 0..16."""
    from specc.cli.main import main

    run = specc.load_run(digits_run)
    raw = torch.randint(0, 17, (4, 64)).float()
    assert main(["export", str(digits_run), "--format", "onnx"]) == 0
    said = capsys.readouterr().out
    assert f"wrote {digits_run / 'model.onnx'}" in said and "dynamic: batch" in said
    with torch.no_grad():
        torch.testing.assert_close(_load("onnx", digits_run / "model.onnx")(raw / 16), run.model(raw / 16),
                                   atol=1e-5, rtol=1e-5)
    # never over an existing file without --force
    assert main(["export", str(digits_run), "--format", "onnx", "--preprocess"]) == 1
    assert "already exists" in capsys.readouterr().err
    for fmt in ("onnx", "torch-export"):   # the transform traced as data-independent tensor ops
        assert main(["export", str(digits_run), "--format", fmt, "--preprocess", "--force"]) == 0
        said = capsys.readouterr().out
        assert "preprocessing included" in said and f"via {'torch.onnx (dynamo)' if fmt == 'onnx' else 'torch.export'}" in said
        with torch.no_grad():
            torch.testing.assert_close(_load(fmt, digits_run / f"model{FORMATS[fmt].suffix}")(raw),
                                       run.model(raw / 16), atol=1e-5, rtol=1e-5)


def test_image_normalisation_goes_into_the_graph(tmp_path):
    from specc.data.images import apply_normalize
    from specc.export import export_run

    spec = tmp_path / "img.spec"
    spec.write_text(f"""
data {{
    train = image_folder("{SPECS / 'data' / 'shapes'}", size=[8, 8], normalize=[[0.5, 0.4, 0.3], [0.2, 0.25, 0.3]])
    valid = 20%
    batch = 32
}}
model Tiny(x: float[3, 8, 8]) {{
    return x -> Flatten -> Linear(data.classes)
}}
loss = cross_entropy
""")
    specc.train(spec, out=tmp_path / "run", epochs=1)
    run = specc.load_run(tmp_path / "run")
    for fmt in ("onnx", "torch-export"):
        done = export_run(run, fmt, tmp_path / f"m{FORMATS[fmt].suffix}", preprocess=True)
        pixels = torch.rand(5, 3, 8, 8)          # as the source decodes them: 0..1, a batch never seen
        want = run.model(apply_normalize(pixels, [[0.5, 0.4, 0.3], [0.2, 0.25, 0.3]]))
        torch.testing.assert_close(_load(fmt, done.path)(pixels), want.detach(), atol=1e-5, rtol=1e-5)


def test_a_format_that_cannot_keep_a_dimension_says_so(tmp_path, capsys):
    from specc.cli.main import main

    out = tmp_path / "run"
    spec = tmp_path / "bilstm.spec"
    spec.write_text((SPECS / "bilstm.spec").read_text().replace("samples=2000, vocab=1000", "samples=64, vocab=50"))
    specc.train(spec, out=out, epochs=1)
    assert main(["export", str(out), "--format", "torch-export"]) == 2
    err = capsys.readouterr().err
    assert "torch-export cannot represent this model: it fixes the dimension seq" in err
    assert "LSTM" in err and "try --format onnx or torchscript" in err
    assert not (out / "model.pt2").exists()


def test_unknown_format_and_missing_package(tmp_path, monkeypatch):
    checked = specc.check(SPECS / "moons.spec")
    model = specc.build(checked)
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        export_model(model, checked.graph.inputs, "tflite", tmp_path / "m")
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "onnxruntime" else real(n, *a))
    with pytest.raises(ExportError, match="needs onnxruntime") as err:
        export_model(model, checked.graph.inputs, "onnx", tmp_path / "m.onnx")
    assert "specc[export]" in err.value.hint
