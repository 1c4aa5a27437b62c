"""Images of more than 8 bits are scaled by their mode's range (specc/data/images.py,
docs/language.md section 4): 16-bit by 65535, 32-bit integer images too (they must hold
0..65535), float images as they are; nothing saturates at 1.0."""
from __future__ import annotations

from pathlib import Path
import subprocess
import sys

import pytest
import torch

np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")

from specc.data.load import load_source  # noqa: E402

MODEL = "model M(x: float[1, 2, 2]) {\n    return x -> Flatten -> Linear(2)\n}\nloss = cross_entropy\ntrain { epochs = 1 }\n"


def folder(root: Path, pixels: np.ndarray, name: str) -> Path:
    for cls in ("a", "b"):
        (root / "imgs" / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / "imgs" / cls / name)
    return root / "imgs"


def load(root: Path, **args) -> torch.Tensor:
    return load_source("image_folder", {"path": "imgs", "size": [2, 2], **args}, root).fields["x"]


@pytest.mark.parametrize("name", ["p.png", "p.tif"])
def test_16_bit_values_keep_their_share_of_the_range(tmp_path, name):
    folder(tmp_path, np.array([[0, 40000], [65535, 1000]], dtype=np.uint16), name)
    x = load(tmp_path, grayscale=True)
    assert x.shape == (2, 1, 2, 2)
    assert torch.allclose(x[0, 0], torch.tensor([[0.0, 40000 / 65535], [1.0, 1000 / 65535]]))
    assert abs(float(x[0, 0, 0, 1]) - 0.61) < 0.001
    colour = load(tmp_path)
    assert colour.shape == (2, 3, 2, 2) and torch.equal(colour[0, 0], colour[0, 2])
    assert torch.equal(colour[0, 1], x[0, 0])


def test_resizing_a_16_bit_image_stays_in_range(tmp_path):
    folder(tmp_path, np.tile(np.array([0, 40000], dtype=np.uint16), (8, 4)), "p.png")
    x = load_source("image_folder", {"path": "imgs", "size": [3, 3], "grayscale": True}, tmp_path).fields["x"]
    assert abs(float(x.mean()) - 20000 / 65535) < 0.02 and float(x.max()) <= 40000 / 65535 + 0.01


def test_int32_images_in_the_16_bit_range(tmp_path):
    folder(tmp_path, np.array([[0, 40000], [65535, 7]], dtype=np.int32), "p.tif")
    assert torch.allclose(load(tmp_path, grayscale=True)[0, 0], torch.tensor([[0.0, 40000 / 65535], [1.0, 7 / 65535]]))


def test_float_images_are_taken_as_they_are(tmp_path):
    folder(tmp_path, np.array([[0.25, 2.5], [-1.0, 1.0]], dtype=np.float32), "p.tif")
    assert torch.equal(load(tmp_path, grayscale=True)[0, 0], torch.tensor([[0.25, 2.5], [-1.0, 1.0]]))


def test_8_bit_images_are_unchanged(tmp_path):
    folder(tmp_path, np.array([[0, 51], [255, 102]], dtype=np.uint8), "p.png")
    assert torch.allclose(load(tmp_path, grayscale=True)[0, 0], torch.tensor([[0.0, 0.2], [1.0, 0.4]]))


@pytest.mark.parametrize("pixels, words", [
    (np.array([[0, 70000], [-5, 1]], dtype=np.int32), ["values from -5 to 70000", "0..65535"]),
    (np.array([[0.5, np.nan], [0, 1]], dtype=np.float32), ["nan or inf"]),
])
def test_images_outside_their_range_are_a_positioned_error(tmp_path, pixels, words):
    folder(tmp_path, pixels, "p.tif")
    spec = tmp_path / "s.spec"
    spec.write_text('data {\n    train = image_folder("imgs", size=[2, 2], grayscale=true)\n}\n' + MODEL)
    done = subprocess.run([sys.executable, "-m", "specc", "run", str(spec), "--out", str(tmp_path / "o"), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert f"{spec}:2:13: error: image {tmp_path / 'imgs' / 'a' / 'p.tif'}" in done.stderr, done.stderr
    for w in words:
        assert w in done.stderr
    assert "Traceback" not in done.stderr
