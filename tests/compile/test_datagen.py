"""``specc compile --with-data``: the generated preprocessing against specc's own data pipeline
(the oracle: the decoder, encoders and transform a run uses), bit for bit, and the generated
model + answer() against the built graph."""
import csv
import importlib.util
from pathlib import Path

import pytest
import torch

import specc
from specc.catalog.text import tokenize
from specc.cli.main import main
from specc.data.encode import encode_bag_of_words, encode_tokens
from specc.data.images import decode_image
from specc.run import data_facts

SPECS = Path(__file__).resolve().parents[2] / "specs"
DATA = SPECS / "data"


def _generate(spec: Path, tmp_path, capsys):
    out = tmp_path / "generated.py"
    assert main(["compile", str(spec), "--with-data", "-o", str(out)]) == 0
    capsys.readouterr()
    module_spec = importlib.util.spec_from_file_location("generated", out)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_images_are_read_as_the_run_reads_them(tmp_path, capsys):
    gen = _generate(SPECS / "cnn.spec", tmp_path, capsys)
    paths = sorted((DATA / "shapes").glob("*/*.png"))[::40]
    want = torch.stack([decode_image(p, (32, 32), False) for p in paths])
    assert torch.equal(gen.preprocess(paths), want)
    assert gen.CLASSES == ["circle", "square", "triangle"]


def test_a_resized_grayscale_normalised_image(tmp_path, capsys):
    spec = _write(tmp_path, "g.spec", f"""
data {{
    train = image_folder("{DATA / 'shapes'}", size=[20, 24], grayscale=true, normalize=[0.5, 0.25])
    batch = 8
}}
model G(x: float[1, 20, 24]) {{
    return x -> Flatten -> Linear(data.classes)
}}
loss = cross_entropy
""")
    gen = _generate(spec, tmp_path, capsys)
    paths = sorted((DATA / "shapes").glob("*/*.png"))[:5]
    want = torch.stack([decode_image(p, (20, 24), True, [0.5, 0.25]) for p in paths])
    assert torch.equal(gen.preprocess(paths), want)


def test_bag_of_words_and_the_model_answer(tmp_path, capsys):
    gen = _generate(SPECS / "news.spec", tmp_path, capsys)
    _, vocab = data_facts(specc.check(SPECS / "news.spec"))
    files = sorted((DATA / "news").glob("*/*.txt"))[::7]
    texts = [f.read_text() for f in files]
    x = gen.preprocess(texts)
    assert torch.equal(x, encode_bag_of_words(texts, vocab=vocab)[0])
    torch.manual_seed(0)
    built = specc.build(SPECS / "news.spec").eval()
    model = gen.NewsNet().eval()
    model.load_state_dict(built.state_dict())
    with torch.no_grad():
        names = gen.answer(model(x))
        index = built(x).argmax(dim=-1).tolist()
    assert names == [gen.CLASSES[i] for i in index]


def test_token_ids_padded_like_the_run(tmp_path, capsys):
    spec = _write(tmp_path, "t.spec", f"""
data {{
    train = text_folder("{DATA / 'news'}")
    encode = tokens(max_vocab=50, max_len=12)
    batch = 8
}}
model T(tokens: long[seq]) {{
    return Embedding(data.vocab, 8)(tokens) -> mean(dim=1) -> Linear(data.classes)
}}
loss = cross_entropy
""")
    gen = _generate(spec, tmp_path, capsys)
    texts = ["The Mets won the game", "", "nasa launched a probe to saturn " * 5]
    tokens, _, _ = encode_tokens(texts, vocab=gen.VOCAB, max_len=12)
    assert torch.equal(gen.preprocess(texts), tokens)
    assert gen.words("Don't panic, NASA!") == tokenize("Don't panic, NASA!")


def test_a_transform_and_csv_rows(tmp_path, capsys):
    gen = _generate(SPECS / "digits.spec", tmp_path, capsys)
    raw = torch.randint(0, 17, (6, 64)).tolist()
    assert torch.equal(gen.preprocess(raw), torch.tensor(raw, dtype=torch.float32) / 16)

    spec = _write(tmp_path, "iris.spec", f"""
data {{
    train = csv("{DATA / 'iris_like.csv'}", target="species")
    transform = x * 2 - 1
}}
model Iris(x: float[4]) {{
    return x -> Linear(data.classes)
}}
loss = cross_entropy
""")
    gen = _generate(spec, tmp_path, capsys)
    with open(DATA / "iris_like.csv") as f:
        rows = [[float(v) for v in list(r.values())[:4]] for r in csv.DictReader(f)][:5]
    assert torch.equal(gen.preprocess(rows), torch.tensor(rows) * 2 - 1)
    assert gen.CLASSES == ["setosa", "versicolor", "virginica"]
    assert "(sepal_length, sepal_width, petal_length, petal_width)" in gen.preprocess.__doc__


def test_regression_answers_numbers(tmp_path, capsys):
    gen = _generate(SPECS / "linear.spec", tmp_path, capsys)
    assert not hasattr(gen, "CLASSES")
    assert gen.answer(torch.tensor([[1.5], [2.0]])) == [[1.5], [2.0]]


def test_without_data_a_spec_cannot_compile_with_data(tmp_path, capsys):
    spec = _write(tmp_path, "lib.spec", "model M(x: float[2]) {\n    return x -> Linear(1)\n}\n")
    assert main(["compile", str(spec), "--with-data"]) == 2
    assert "has no data section" in capsys.readouterr().err


def test_images_of_more_than_8_bits_are_scaled_as_the_run_scales_them(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    folder = tmp_path / "wide"
    for cls, value in (("a", 40000), ("b", 1000)):
        (folder / cls).mkdir(parents=True)
        pixels = np.full((6, 5), value, dtype=np.uint16)
        pixels[0, 0] = 65535
        Image.fromarray(pixels).save(folder / cls / "0.png")   # mode I;16
        Image.fromarray(pixels.astype(np.float32) / 70000).save(folder / cls / "1.tiff")  # mode F
    spec = _write(tmp_path, "w.spec", f"""
data {{
    train = image_folder("{folder}", size=[4, 4], grayscale=true)
    batch = 2
}}
model W(x: float[1, 4, 4]) {{
    return x -> Flatten -> Linear(data.classes)
}}
loss = cross_entropy
""")
    gen = _generate(spec, tmp_path, capsys)
    paths = sorted(folder.glob("*/*"))
    want = torch.stack([decode_image(p, (4, 4), True) for p in paths])
    assert torch.equal(gen.preprocess(paths), want)
    assert float(want[0].max()) > 0.6          # 40000 / 65535, not saturated


def test_only_a_transform_of_the_input_is_written_and_numbers_divide_as_tensors(tmp_path, capsys):
    source = f'generate(samples=8, x=uniform(0, 1), y=2 * x)'
    model = "model L(x: float[1]) {\n    return x -> Linear(1)\n}\nloss = mse\n"
    gen = _generate(_write(tmp_path, "t.spec", f"data {{\n    train = {source}\n    transform = y / 100\n}}\n{model}"),
                    tmp_path, capsys)
    assert not hasattr(gen, "transform") and torch.equal(gen.preprocess([[0.5]]), torch.tensor([[0.5]]))
    gen = _generate(_write(tmp_path, "u.spec", f"data {{\n    train = {source}\n    transform = 1 / (x + 10)\n}}\n{model}"),
                    tmp_path, capsys)
    x = torch.tensor([[0.5], [3.0]])
    assert torch.equal(gen.preprocess(x.tolist()), 1 / (x + 10))


def test_a_transform_that_draws_random_numbers_cannot_be_written(tmp_path, capsys):
    spec = _write(tmp_path, "r.spec", "data {\n    train = generate(samples=8, x=uniform(0, 1), y=2 * x)\n"
                  "    transform = x + uniform(0, 1)\n}\nmodel L(x: float[1]) {\n    return x -> Linear(1)\n}\n"
                  "loss = mse\n")
    assert main(["compile", str(spec), "--with-data"]) == 2
    err = capsys.readouterr().err
    assert f"{spec}:3:21: error: uniform(...) draws random numbers" in err and "internal error" not in err
