"""Decoding image files into tensors, in memory or one file at a time for streaming.

Every image goes through :func:`decode_image`: Pillow decodes it and converts it to ``RGB``
(or ``L`` with ``grayscale``), the bytes become a ``float`` tensor ``[c, h, w]`` scaled to
``[0, 1]`` (images of more than 8 bits by their own range: ``catalog.datafiles.WIDE_MODES``), then
``F.interpolate(mode="bilinear", antialias=True)`` resizes it to ``size`` and an optional
``normalize=[mean, std]`` is applied. Pillow is imported only here, only when an image is
decoded.

A folder whose decoded tensors would take more than :data:`STREAM_BUDGET` bytes is not held
in memory: :class:`ImageFiles` is a ``torch.utils.data.Dataset`` that decodes on demand, for
:class:`specc.data.batches.StreamingBatches`.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from specc.catalog.datafiles import WIDE_MODES, read_data
from specc.catalog.source_base import SourceError, as_size
from specc.data.table import Table
from specc.errors import missing_dependency

STREAM_BUDGET = 2 * 2**30
"""Decoded bytes above which an image source is streamed from disk instead of held."""




def decode_image(path: Path, size: tuple[int, int], grayscale: bool,
                 normalize: Sequence[Any] | None = None, arg: str = "path") -> Tensor:
    """One image file as ``float[c, h, w]`` (see the module docstring).

    Raises:
        SourceError: the file is not one specc reads (:mod:`specc.files`), does not decode as
            an image, holds values outside its mode's range, or is larger than Pillow decodes
            (a decompression bomb); the message names the file.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise missing_dependency("PIL", "reading images") from None

    raw = read_data(path, "image", arg)
    try:
        with warnings.catch_warnings():   # above Image.MAX_IMAGE_PIXELS Pillow only warns, then decodes
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as opened:
                wide = opened.mode in WIDE_MODES
                image = opened.convert("F" if wide else "L" if grayscale else "RGB")
                scale = WIDE_MODES.get(opened.mode, 255.0)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SourceError(f"image {path} is too large to decode: {exc}", arg=arg,
                          hint="shrink the image; Pillow refuses images this large as possible decompression bombs") \
            from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise SourceError(f"cannot decode image {path}: {exc}", arg=arg) from None
    w, h = image.size
    if wide:
        x = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.float32).view(1, h, w)
        _check_range(x, scale, path, arg)
        x = x / scale if grayscale else (x / scale).expand(3, h, w)
    else:
        pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
        x = pixels.view(h, w, -1).permute(2, 0, 1).to(torch.float32).div_(255.0)
    if (h, w) != tuple(size):
        x = F.interpolate(x.unsqueeze(0), size=tuple(size), mode="bilinear",
                          antialias=True, align_corners=False)[0]
        if scale != 1.0:  # integer pixels lie in [0, 1]; keep the antialiasing inside
            x = x.clamp_(0.0, 1.0)
    if normalize is not None:
        x = apply_normalize(x, normalize)
    return x.contiguous()


def _check_range(x: Tensor, scale: float, path: Path, arg: str) -> None:
    """A float image must be finite; a 32-bit integer one must hold 0..65535."""
    if not torch.isfinite(x).all():
        raise SourceError(f"image {path} holds nan or inf values", arg=arg)
    if scale != 1.0 and (x.min() < 0 or x.max() > scale):
        raise SourceError(f"image {path} holds values from {x.min():.0f} to {x.max():.0f}; specc reads "
                          f"integer images as 16-bit, 0..65535", arg=arg,
                          hint="save it as a 16-bit or float image")


def apply_normalize(x: Tensor, normalize: Sequence[Any]) -> Tensor:
    """``(x - mean) / std`` per channel of ``x: [c, h, w]``; ``normalize`` is ``[mean, std]``,
    each a number or one value per channel."""
    mean, std = (torch.as_tensor(v, dtype=x.dtype).reshape(-1, 1, 1) for v in normalize)
    return (x - mean) / std


class ImageFiles(Dataset):
    """Labelled image files decoded on demand: item ``i`` is ``{"x": float[c, h, w], "y": ...}``.

    ``labels`` are class indices (``long``) or regression targets (``float [N, 1]``).
    """

    variable_fields: frozenset[str] = frozenset()

    def __init__(self, files: Sequence[Path], labels: Tensor, size: Any, grayscale: bool,
                 normalize: Sequence[Any] | None = None, class_names: list[str] | None = None,
                 arg: str = "path"):
        self.files = list(files)
        self.labels = labels
        self.size = as_size(size)
        self.grayscale = grayscale
        self.normalize = normalize
        self.class_names = class_names
        self.arg = arg

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        x = decode_image(self.files[i], self.size, self.grayscale, self.normalize, self.arg)
        return {"x": x, "y": self.labels[i]}

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    def decoded_bytes(self) -> int:
        """What :meth:`to_table` would hold in memory (float32)."""
        h, w = self.size
        return len(self) * self.channels * h * w * 4

    def column(self, name: str) -> Tensor:
        if name != "y":
            raise KeyError(name)
        return self.labels

    def select(self, index: Tensor) -> "ImageFiles":
        """The files at ``index``, in that order (used by :func:`specc.data.split.split`)."""
        picks = index.tolist()
        return ImageFiles([self.files[i] for i in picks], self.labels[index], self.size,
                          self.grayscale, self.normalize, self.class_names, self.arg)

    def to_table(self) -> Table:
        """Decode every file into one ``[N, c, h, w]`` tensor."""
        h, w = self.size
        x = torch.empty((len(self), self.channels, h, w), dtype=torch.float32)
        for i, path in enumerate(self.files):
            x[i] = decode_image(path, self.size, self.grayscale, self.normalize, self.arg)
        return Table({"x": x, "y": self.labels}, class_names=self.class_names)
