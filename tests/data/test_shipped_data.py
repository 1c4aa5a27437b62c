"""The data sets under specs/data: reproducible from tools/make_data.py, small, learnable."""
from __future__ import annotations

import filecmp
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from specc.data.batches import InMemoryBatches
from specc.data.encode import apply_encoder
from specc.data.load import load_source
from specc.data.split import split

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "specs" / "data"


def _same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def test_shipped_files_are_what_the_script_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("make_data", ROOT / "tools" / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    assert _same_tree(tmp_path, DATA)


def test_shipped_data_is_small():
    total = sum(f.stat().st_size for f in DATA.rglob("*") if f.is_file())
    assert total < 3 * 2**20


def accuracy_after_training(model: nn.Module, train, valid, epochs: int, lr: float) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    batches = InMemoryBatches(train, batch_size=32, shuffle=True, seed=0)
    for epoch in range(epochs):
        model.train()
        batches.set_epoch(epoch)
        for b in batches:
            loss = nn.functional.cross_entropy(model(b["x"]), b["y"])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return (model(valid.fields["x"]).argmax(1) == valid.fields["y"]).float().mean().item()


@pytest.mark.slow  # about a minute on 2 cores; tests/run/test_specs_train.py::test_cnn trains it briefly
def test_shapes_small_cnn_reaches_90_percent():
    table = load_source("image_folder", {"path": "data/shapes"}, ROOT / "specs")
    assert table.class_names == ["circle", "square", "triangle"]
    assert table.fields["x"].shape == (600, 3, 28, 28)
    train, valid = split(table, 0.2, seed=0)
    torch.manual_seed(0)  # a fixed initialisation, independent of test order
    cnn = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 3))
    assert accuracy_after_training(cnn, train, valid, epochs=10, lr=0.003) >= 0.90


def test_shapes_csv_lists_the_same_images():
    by_csv = load_source("image_csv", {"csv": "data/shapes.csv"}, ROOT / "specs")
    by_folder = load_source("image_folder", {"path": "data/shapes"}, ROOT / "specs")
    assert by_csv.class_names == by_folder.class_names
    assert torch.equal(by_csv.fields["y"], by_folder.fields["y"])
    assert torch.equal(by_csv.fields["x"], by_folder.fields["x"])


def test_news_bag_of_words_mlp_reaches_90_percent():
    table = load_source("text_folder", {"path": "data/news"}, ROOT / "specs")
    assert table.class_names == ["comp.graphics", "rec.sport.baseball", "sci.space"]
    train, valid = split(table, 0.2, seed=0)
    train, vocab = apply_encoder(train, "bag_of_words", {})
    valid, _ = apply_encoder(valid, "bag_of_words", {}, vocab=vocab)
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(len(vocab), 64), nn.ReLU(), nn.Linear(64, 3))
    assert accuracy_after_training(mlp, train, valid, epochs=10, lr=0.01) >= 0.90


def test_iris_like_csv():
    table = load_source("csv", {"path": "data/iris_like.csv", "target": "species"},
                        ROOT / "specs")
    assert table.fields["x"].shape == (150, 4)
    assert table.class_names == ["setosa", "versicolor", "virginica"]
    assert torch.bincount(table.fields["y"]).tolist() == [50, 50, 50]
