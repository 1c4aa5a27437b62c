"""specc predict / evaluate / load_run on tiny runs of each input kind, from the run folder
alone: the spec's folder is deleted (or the run copied away) before predicting, and the
predictions must equal the in-memory model's on the same raw inputs, preprocessed by hand."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import specc
from specc.data.encode import encode_bag_of_words
from specc.data.images import decode_image
from inferencekit import REPO, best_row, cli, moved, png, train

IRIS = """
data {
    train = csv("../shared/iris.csv", target="species")
    valid = 25%
    batch = 16
}
model Iris(x: float[4]) { return x -> Linear(8) -> ReLU -> Linear(data.classes) }
loss = cross_entropy
optimizer = Adam(lr=0.01)
train { epochs = 1, metrics = [accuracy, f1] }
"""

CLASSES = ["setosa", "versicolor", "virginica"]


def _held_out(row: dict, split: str = "valid") -> dict:
    return {k.split(".", 1)[1]: v for k, v in row.items() if k.startswith(split + ".")}


@pytest.fixture
def iris_run(tmp_path):
    (tmp_path / "shared").mkdir()
    shutil.copy(REPO / "specs" / "data" / "iris_like.csv", tmp_path / "shared" / "iris.csv")
    result, run_dir, proj = train(tmp_path, IRIS)
    return result, moved(run_dir, tmp_path, proj)


def test_csv_predict_from_a_moved_run_matches_the_model_by_column_name(iris_run, tmp_path, capsys):
    result, run = iris_run
    raw = tmp_path / "new.csv"      # columns in another order, no species column, an extra one
    raw.write_text("petal_width,id,sepal_length,petal_length,sepal_width\n0.2,a,5.0,1.7,3.7\n2.1,b,6.9,5.7,3.1\n")
    code, out, err = cli(capsys, "predict", str(run), str(raw), "--json", "--proba")
    assert code == 0, err
    got = json.loads(out)
    x = torch.tensor([[5.0, 3.7, 1.7, 0.2], [6.9, 3.1, 5.7, 2.1]])
    with torch.no_grad():
        probs = torch.softmax(result.model.eval()(x), dim=1)
    assert [g["input"] for g in got] == [f"{raw}:2", f"{raw}:3"]
    assert [g["prediction"] for g in got] == [CLASSES[i] for i in probs.argmax(1).tolist()]
    for g, p in zip(got, probs.tolist()):
        assert list(g["probabilities"]) == CLASSES
        assert list(g["probabilities"].values()) == pytest.approx(p, abs=1e-6)


def test_csv_evaluate_reproduces_the_best_epoch_exactly(iris_run, capsys):
    result, run = iris_run
    code, out, err = cli(capsys, "evaluate", str(run), "--json")
    assert code == 0, err
    scores = json.loads(out)
    assert scores.pop("data") == "valid split"
    assert scores == _held_out(best_row(run))


def test_csv_predict_writes_a_complete_csv_and_streams_in_chunks(iris_run, tmp_path, capsys):
    result, run = iris_run
    source = tmp_path / "shared" / "iris.csv"
    out_csv = tmp_path / "pred.csv"
    code, out, err = cli(capsys, "predict", str(run), str(source), "-o", str(out_csv), "--batch", "7")
    assert code == 0, err
    lines = out_csv.read_text().splitlines()
    assert lines[0] == "input,prediction"
    rows = source.read_text().splitlines()[1:]
    x = torch.tensor([[float(v) for v in r.split(",")[:4]] for r in rows])
    with torch.no_grad():
        want = [CLASSES[i] for i in result.model.eval()(x).argmax(1).tolist()]
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == want
    assert not list(tmp_path.glob(".pred.csv*"))


def test_a_csv_without_a_trained_column_is_one_message(iris_run, tmp_path, capsys):
    _, run = iris_run
    raw = tmp_path / "short.csv"
    raw.write_text("sepal_length,sepal_width,petal_length\n5.0,3.7,1.7\n")
    code, out, err = cli(capsys, "predict", str(run), str(raw))
    assert code == 2 and out == ""
    assert f"{raw}:1:1: error: {raw} has no column 'petal_width', which the run was trained on" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.0,3.7,x,0.2\n")
    code, out, err = cli(capsys, "predict", str(run), str(bad), "--json")
    assert code == 2 and out == "" and f"{bad}, line 2: column 'petal_length' holds 'x', not a number" in err
    assert "Traceback" not in err
    bad.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.0,3.7,1.7,0.2\n5.0,nan,1.7,0.2\n")
    code, out, err = cli(capsys, "predict", str(run), str(bad))
    assert code == 2 and out == ""
    assert f"{bad}, line 3: column 'sepal_width' holds 'nan'; features must be finite numbers" in err


def test_load_run_gives_model_metrics_history_classes_and_predict(iris_run):
    result, run_dir = iris_run
    run = specc.load_run(run_dir)
    assert run.classes == CLASSES
    assert not run.model.training
    assert run.history[0]["epoch"] == 1 and run.history[0]["valid.loss"] == result.history[0]["valid.loss"]
    assert run.metrics == json.loads((run_dir / "metrics.json").read_text())
    x = [[5.0, 3.7, 1.7, 0.2], [6.9, 3.1, 5.7, 2.1]]
    with torch.no_grad():
        want = [CLASSES[i] for i in result.model.eval()(torch.tensor(x)).argmax(1).tolist()]
    for given in (x, np.array(x), torch.tensor(x)):
        assert [p["prediction"] for p in run.predict(given)] == want
    assert run.evaluate() == _held_out(best_row(run_dir))


IMAGES = """
data { train = image_folder("img", size=[8, 8]), valid = 25%, batch = 4 }
model Img(x: float[3, 8, 8]) { return x -> Flatten -> Linear(data.classes) }
loss = cross_entropy
optimizer = Adam(lr=0.01)
train { epochs = 1, metrics = [accuracy] }
"""


def test_image_folder_predict_and_evaluate(tmp_path, capsys):
    proj_images = {}
    for i in range(4):
        proj_images[f"img/dark/{i}.png"] = (20 * i, 10, 30)
        proj_images[f"img/light/{i}.png"] = (200, 180 + 10 * i, 220)
    proj = tmp_path / "proj"
    for name, colour in proj_images.items():
        png(proj / name, colour)
    result, run_dir, _ = train(tmp_path, IMAGES)
    code, out, err = cli(capsys, "evaluate", str(run_dir), "--json")   # the images are still there
    assert code == 0, err
    assert {k: v for k, v in json.loads(out).items() if k != "data"} == _held_out(best_row(run_dir))

    run = moved(run_dir, tmp_path, proj)
    new = tmp_path / "new"
    png(new / "a.png", (10, 10, 40), size=12)       # another size: resized as in training
    png(new / "b.png", (210, 190, 230), size=12)
    code, out, err = cli(capsys, "predict", str(run), str(new), "--json")
    assert code == 0, err
    x = torch.stack([decode_image(new / n, (8, 8), False) for n in ("a.png", "b.png")])
    with torch.no_grad():
        want = [["dark", "light"][i] for i in result.model.eval()(x).argmax(1).tolist()]
    assert [(g["input"], g["prediction"]) for g in json.loads(out)] == [(str(new / "a.png"), want[0]),
                                                                      (str(new / "b.png"), want[1])]
    (new / "c.png").write_bytes(b"not an image")
    code, _, err = cli(capsys, "predict", str(run), str(new / "c.png"))
    assert code == 2 and f"{new / 'c.png'}:1:1: error: cannot decode image {new / 'c.png'}" in err


TEXT = """
data { train = text_folder("docs"), valid = text_folder("docs"), encode = bag_of_words(max_vocab=50), batch = 4 }
model Topic(x: float[vocab]) { return x -> Linear(data.classes) }
loss = cross_entropy
optimizer = Adam(lr=0.05)
train { epochs = 1, metrics = [accuracy] }
"""

DOCS = {
    "docs/space/a.txt": "the rocket reached orbit", "docs/space/b.txt": "a probe to the moon",
    "docs/space/c.txt": "orbit of the moon and the rocket",
    "docs/sport/a.txt": "the team won the match", "docs/sport/b.txt": "a goal in the last match",
    "docs/sport/c.txt": "the team and the goal",
}


def test_text_folder_predict_uses_the_recorded_vocabulary(tmp_path, capsys):
    result, run_dir, proj = train(tmp_path, TEXT, DOCS)
    code, out, err = cli(capsys, "evaluate", str(run_dir), "--json")
    assert code == 0, err
    assert {k: v for k, v in json.loads(out).items() if k != "data"} == _held_out(best_row(run_dir))

    run = moved(run_dir, tmp_path, proj)
    vocab = json.loads((run / "vocab.json").read_text())
    new = tmp_path / "new"
    new.mkdir()
    texts = {"1.txt": "a rocket to orbit", "2.txt": "the match and the team, unseen words"}
    for name, text in texts.items():
        (new / name).write_text(text)
    code, out, err = cli(capsys, "predict", str(run), str(new / "1.txt"), str(new / "2.txt"), "--json")
    assert code == 0, err
    x, _ = encode_bag_of_words(list(texts.values()), vocab=vocab)
    with torch.no_grad():
        want = [["space", "sport"][i] for i in result.model.eval()(x).argmax(1).tolist()]
    assert [g["prediction"] for g in json.loads(out)] == want
    (new / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    code, _, err = cli(capsys, "predict", str(run), str(new / "latin1.txt"))
    assert code == 2 and f"{new / 'latin1.txt'} is not UTF-8 text (byte 0xe9 at offset 3)" in err


TOKENS = """
data { train = sequences(samples=64, vocab=20, length=3..6, classes=2), valid = 25%, batch = 8 }
model Seq(tokens: long[seq]) {
    e = Embedding(data.vocab, 8)(tokens)
    return mean(e, dim=1) -> Linear(data.classes)
}
loss = cross_entropy
optimizer = Adam(lr=0.01)
train { epochs = 1, metrics = [accuracy] }
"""


def test_token_sequences_predict_from_values_padded_like_training(tmp_path, capsys):
    result, run_dir, proj = train(tmp_path, TOKENS)
    code, out, err = cli(capsys, "evaluate", str(run_dir), "--json")
    assert code == 0, err
    assert {k: v for k, v in json.loads(out).items() if k != "data"} == _held_out(best_row(run_dir))
    run = moved(run_dir, tmp_path, proj)
    code, out, err = cli(capsys, "predict", str(run), "--values", "[[1, 2, 3], [4, 5, 6, 7, 8]]", "--json", "--proba")
    assert code == 0, err
    got = json.loads(out)
    with torch.no_grad():
        probs = torch.softmax(result.model.eval()(torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]])), dim=1)
    assert [g["input"] for g in got] == [[1, 2, 3], [4, 5, 6, 7, 8]]
    assert [g["prediction"] for g in got] == [str(i) for i in probs.argmax(1).tolist()]
    assert [list(g["probabilities"].values()) for g in got] == [pytest.approx(p, abs=1e-6) for p in probs.tolist()]


REGRESSION = """
data {
    train = generate(samples=64, x=uniform(0, 4), y=2 * x + 1)
    valid = 25%
    transform = x / 4
    batch = 16
}
model Line(x: float[1]) { return x -> Linear(1) }
loss = mse
optimizer = Adam(lr=0.05)
train { epochs = 2, metrics = [mae] }
"""


def test_regression_predicts_numbers_after_the_transform(tmp_path, capsys):
    result, run_dir, proj = train(tmp_path, REGRESSION, epochs=1)
    run = moved(run_dir, tmp_path, proj)
    code, out, err = cli(capsys, "predict", str(run), "--values", "[[1.0], [2.0]]")
    assert code == 0, err
    with torch.no_grad():
        want = result.model.eval()(torch.tensor([[0.25], [0.5]])).reshape(-1).tolist()
    assert out.splitlines() == [f"{v:.6g}" for v in want]
    code, out, err = cli(capsys, "predict", str(run), "--values", "[[1.0]]", "--proba")
    assert code == 2 and "--proba needs a classifier, but this run is a regression" in err
    code, out, err = cli(capsys, "predict", str(run), "--values", "[[1.0, 2.0]]")
    assert code == 2 and "x: each example must be float[1], but the values have shape [2] per example" in err


def test_evaluate_on_new_data_written_as_a_source(tmp_path, capsys):
    result, run_dir, proj = train(tmp_path, REGRESSION, epochs=1)
    run = moved(run_dir, tmp_path, proj)
    source = "generate(samples=10, x=linspace(0, 4), y=2 * x + 1)"
    code, out, err = cli(capsys, "evaluate", str(run), "--data", source, "--json")
    assert code == 0, err
    got = json.loads(out)
    x = torch.linspace(0, 4, 10).reshape(-1, 1)
    with torch.no_grad():
        pred = result.model.eval()(x / 4)
    assert got["data"] == source
    assert got["loss"] == pytest.approx(torch.mean((pred - (2 * x + 1)) ** 2).item(), rel=1e-6)
    assert got["mae"] == pytest.approx(torch.mean((pred - (2 * x + 1)).abs()).item(), rel=1e-6)


def test_evaluate_on_new_labelled_csv_maps_classes_by_name(iris_run, tmp_path, capsys):
    result, run = iris_run
    new = tmp_path / "two.csv"     # only two of the three classes: indices must follow the run's
    new.write_text("sepal_length,sepal_width,petal_length,petal_width,species\n"
                   "6.9,3.1,5.7,2.1,virginica\n5.0,3.7,1.7,0.2,setosa\n")
    code, out, err = cli(capsys, "evaluate", str(run), "--data", str(new), "--json")
    assert code == 0, err
    x = torch.tensor([[6.9, 3.1, 5.7, 2.1], [5.0, 3.7, 1.7, 0.2]])
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(result.model.eval()(x), torch.tensor([2, 0]))
    assert json.loads(out)["loss"] == pytest.approx(loss.item(), rel=1e-6)
    other = tmp_path / "other.csv"
    other.write_text("sepal_length,sepal_width,petal_length,petal_width,species\n5.0,3.7,1.7,0.2,rosa\n")
    code, _, err = cli(capsys, "evaluate", str(run), "--data", str(other))
    assert code == 2 and "class 'rosa' is not one the run was trained on" in err


def test_evaluate_says_when_the_data_is_gone(iris_run, tmp_path, capsys):
    _, run = iris_run
    shutil.rmtree(tmp_path / "shared")
    code, out, err = cli(capsys, "evaluate", str(run))
    assert code == 2
    assert f"file not found: {tmp_path / 'shared' / 'iris.csv'}" in err and "Traceback" not in err


def test_inputs_that_do_not_fit_the_run_are_one_message(iris_run, tmp_path, capsys):
    _, run = iris_run
    code, _, err = cli(capsys, "predict", str(run))
    assert code == 2 and "predict:1:1: error: predict takes INPUT files or --values, one of the two" in err
    image = tmp_path / "a.png"
    png(image, (1, 2, 3))
    code, _, err = cli(capsys, "predict", str(run), str(image))
    assert code == 2 and f"{image}:1:1: error: {image} is not a UTF-8 CSV file" in err
    code, _, err = cli(capsys, "predict", str(run), "--values", "[[5.0, 3.7,")
    assert code == 2 and "--values:1:12: error: --values is not JSON" in err
    code, _, err = cli(capsys, "predict", str(run), "--values", "[[5.0, 3.7, 1.7]]")
    assert code == 2 and "x: each example must be float[4], but the values have shape [3] per example" in err
    assert "Traceback" not in err


def test_a_run_trained_on_values_refuses_files(tmp_path, capsys):
    _, run_dir, _ = train(tmp_path, REGRESSION, epochs=1)
    code, _, err = cli(capsys, "predict", str(run_dir), str(tmp_path / "x.csv"))
    assert code == 2 and "this run was trained on generate() data, so it takes values, not files" in err


TWO_INPUTS = """
data { train = generate(samples=32, a=uniform(0, 1), b=uniform(0, 1), y=a + 2 * b), valid = 25% }
model Two(a: float[1], b: float[1]) { return cat(a, b) -> Linear(1) }
loss = mse
train { epochs = 1 }
"""


def test_several_inputs_take_a_json_object_by_name(tmp_path, capsys):
    result, run_dir, _ = train(tmp_path, TWO_INPUTS)
    code, out, err = cli(capsys, "predict", str(run_dir), "--values", '{"b": [[0.2], [0.4]], "a": [[0.1], [0.3]]}',
                         "--json")
    assert code == 0, err
    with torch.no_grad():
        want = result.model.eval()(torch.tensor([[0.1], [0.3]]), torch.tensor([[0.2], [0.4]])).reshape(-1).tolist()
    got = json.loads(out)
    assert [g["input"] for g in got] == [{"a": [0.1], "b": [0.2]}, {"a": [0.3], "b": [0.4]}]
    assert [g["prediction"] for g in got] == pytest.approx(want, abs=1e-6)
    code, _, err = cli(capsys, "predict", str(run_dir), "--values", "[[0.1]]")
    assert code == 2 and "the model takes a, b: pass the values as a JSON object" in err


def test_evaluate_a_split_the_run_does_not_have(iris_run, capsys):
    _, run = iris_run
    code, _, err = cli(capsys, "evaluate", str(run), "--split", "test")
    assert code == 2 and f"{run / 'spec.spec'}:1:1: error: the run has no test split" in err


def test_regression_evaluate_reproduces_the_best_epoch_not_the_last(tmp_path):
    _, run_dir, proj = train(tmp_path, REGRESSION.replace("epochs = 2", "epochs = 3"))
    run = specc.load_run(moved(run_dir, tmp_path, proj))     # generated data: re-made from the seed
    assert run.evaluate() == _held_out(best_row(run_dir))
    assert run.history[run.best_epoch - 1]["valid.loss"] == min(r["valid.loss"] for r in run.history)


def test_a_transform_the_inputs_make_infinite_is_one_message(tmp_path, capsys):
    spec = REGRESSION.replace("transform = x / 4", "transform = log(x)")
    _, run_dir, _ = train(tmp_path, spec.replace("uniform(0, 4)", "uniform(1, 4)"), epochs=1)
    code, out, err = cli(capsys, "predict", str(run_dir), "--values", "[[2.0], [-1.0]]")
    assert code == 2 and out == "", err
    assert "transform = log(x) on these inputs: this expression gives nan for example 2" in err
    assert "internal error" not in err


def test_evaluate_with_early_stopping_and_no_monitor_scores_the_training_metrics(tmp_path, capsys):
    spec = REGRESSION.replace("metrics = [mae]", "metrics = [mae], early_stop = early_stop(patience=3)")
    _, run_dir, _ = train(tmp_path, spec, epochs=2)
    code, out, err = cli(capsys, "evaluate", str(run_dir), "--json")
    assert code == 0, err
    scores, row = json.loads(out), best_row(run_dir)
    assert (scores["loss"], scores["mae"]) == (row["valid.loss"], row["valid.mae"])


def test_an_unknown_device_for_predict_is_a_usage_mistake(tmp_path, capsys):
    _, run_dir, _ = train(tmp_path, REGRESSION, epochs=1)
    code, _, err = cli(capsys, "predict", str(run_dir), "--values", "[[1.0]]", "--device", "gpu")
    assert code == 2 and err.startswith("--device:1:1: error: unknown device 'gpu'"), err


CHARS = """
data { train = text_file("story.txt", block=8), valid = 10%, batch = 16 }
model CharLM(x: long[8]) {
    h, _ = x -> Embedding(data.vocab, 8) -> LSTM(16, batch_first=true)
    return h -> Linear(data.vocab)
}
loss = cross_entropy
optimizer = Adam(lr=0.01)
train { epochs = 1, metrics = [accuracy] }
"""


def test_text_file_predict_answers_the_next_token_from_the_last_block(tmp_path, capsys):
    story = "the quick brown fox jumps over the lazy dog. " * 20
    result, run_dir, proj = train(tmp_path, CHARS, {"story.txt": story})
    code, out, err = cli(capsys, "evaluate", str(run_dir), "--json")
    assert code == 0, err
    assert {k: v for k, v in json.loads(out).items() if k != "data"} == _held_out(best_row(run_dir))
    run = moved(run_dir, tmp_path, proj)
    vocab = json.loads((run / "vocab.json").read_text())
    assert vocab == sorted(set(story))
    context = tmp_path / "context.txt"
    context.write_text("over the lazy do")
    code, out, err = cli(capsys, "predict", str(run), str(context), "--json", "--proba")
    assert code == 0, err
    (got,) = json.loads(out)
    with torch.no_grad():
        x = torch.tensor([[vocab.index(c) for c in "the lazy do"[-8:]]])
        probs = torch.softmax(result.model.eval()(x)[0, -1], dim=0)
    assert got["prediction"] == vocab[int(probs.argmax())]
    assert list(got["probabilities"]) == vocab
    assert list(got["probabilities"].values()) == pytest.approx(probs.tolist(), abs=1e-6)
    for text, words in (("do", "reads 8 tokens (char level) of context, but the text has 2"),
                        ("the lazy dog!", "'!' is not in the run's vocabulary")):
        context.write_text(text)
        code, _, err = cli(capsys, "predict", str(run), str(context))
        assert code == 2 and f"{context}:1:1: error: " in err and words in err, err


TWO_HEADS = """
data { train = csv("parcels.csv", target=["kind", "size"]), valid = 25%, batch = 8 }
model Parcel(x: float[2]) {
    h = x -> Linear(8) -> ReLU
    logits = h -> Linear(data.classes_of.kind)
    amount = h -> Linear(1)
    return logits, amount
}
loss = cross_entropy(logits, kind) + mse(amount, size)
optimizer = Adam(lr=0.01)
train { epochs = 1, metrics = [accuracy(logits, kind), mae(amount, size)] }
"""


def test_a_model_with_two_heads_predicts_each_by_name(tmp_path, capsys):
    rows = ["a,b,kind,size"] + [f"{i % 5},{i % 3},{['box', 'tube'][i % 2]},{i / 10}" for i in range(40)]
    result, run_dir, proj = train(tmp_path, TWO_HEADS, {"parcels.csv": "\n".join(rows) + "\n"})
    code, out, err = cli(capsys, "evaluate", str(run_dir), "--json")
    assert code == 0, err
    assert {k: v for k, v in json.loads(out).items() if k != "data"} == _held_out(best_row(run_dir))
    run = moved(run_dir, tmp_path, proj)
    record = json.loads((run / "run.json").read_text())["preprocessing"]
    assert record["heads"] == {"logits": "kind", "amount": None}
    assert record["classes_of"] == {"kind": ["box", "tube"]}
    code, out, err = cli(capsys, "predict", str(run), "--values", "[[1, 2], [4, 0]]", "--json", "--proba")
    assert code == 0, err
    got = json.loads(out)
    with torch.no_grad():
        logits, amount = result.model.eval()(torch.tensor([[1.0, 2.0], [4.0, 0.0]]))
    probs = torch.softmax(logits, dim=1)
    assert [g["prediction"]["logits"] for g in got] == [["box", "tube"][i] for i in probs.argmax(1).tolist()]
    assert [g["prediction"]["amount"] for g in got] == pytest.approx(amount.reshape(-1).tolist(), abs=1e-6)
    assert [list(g["probabilities"]["logits"].values()) for g in got] == [pytest.approx(p, abs=1e-6)
                                                                          for p in probs.tolist()]
    out_csv = tmp_path / "p.csv"
    code, _, err = cli(capsys, "predict", str(run), "--values", "[[1, 2]]", "-o", str(out_csv))
    assert code == 0, err
    assert out_csv.read_text().splitlines()[0] == "input,logits,amount"


def test_evaluate_new_data_of_two_targets_maps_each_class_field_by_name(tmp_path, capsys):
    rows = ["a,b,kind,size"] + [f"{i % 5},{i % 3},{['box', 'tube'][i % 2]},{i / 10}" for i in range(40)]
    result, run_dir, proj = train(tmp_path, TWO_HEADS, {"parcels.csv": "\n".join(rows) + "\n"})
    # only tubes: sorted alone, "tube" would be class 0 of the new file; it must stay class 1
    tubes = tmp_path / "tubes.csv"
    tubes.write_text("a,b,kind,size\n" + "".join(f"{i % 5},{i % 3},tube,{i / 10}\n" for i in range(1, 40, 2)))
    code, out, err = cli(capsys, "evaluate", str(run_dir), "--data", f'csv("{tubes}", target=["kind", "size"])',
                         "--json")
    assert code == 0, err
    x = torch.tensor([[i % 5, i % 3] for i in range(1, 40, 2)], dtype=torch.float)
    with torch.no_grad():
        logits, _ = result.model.eval()(x)
    want = (logits.argmax(1) == 1).float().mean().item()
    assert json.loads(out)["accuracy(logits, kind)"] == pytest.approx(want)
