"""Generate the small data sets shipped under ``specs/data/`` (deterministic; run from anywhere).

    python tools/make_data.py

Writes, replacing what was there:

- ``specs/data/shapes/{circle,square,triangle}/*.png``: 32x32 RGB images, 200 per class, one
  filled bright shape of random colour, size, slight tilt and position near the centre, on a
  random dark background (drawn at 4x and downsampled, so edges are antialiased). Small
  enough that a two-block CNN (Conv2d, BatchNorm2d, MaxPool2d) generalises from 480 images.
  For ``image_folder``.
- ``specs/data/shapes.csv``: ``filename,label`` for the same images (paths relative to the
  CSV's folder). For ``image_csv``.
- ``specs/data/news/{comp.graphics,sci.space,rec.sport.baseball}/*.txt``: 120 short generated
  English posts per topic (the three newsgroups of the text-classification tutorial), built
  from a topic vocabulary, shared words and a few words of the other topics. For
  ``text_folder`` + ``bag_of_words``.
- ``specs/data/iris_like.csv``: 150 flowers, four measurements and a string ``species``
  column, drawn around the per-species means of Fisher's iris data. For ``csv``.
- ``specs/data/tiny.txt``: about 100 KB of English-like sentences from a small grammar
  (:func:`make_tiny_text`). Within a word a character follows from the several before it,
  and a sentence's words from its pattern, so a model with context beats a bigram model.
  For ``text_file`` (character-level language models).
- ``specs/data/multitask.csv``: 600 parcels, four measurements, a string ``kind`` (three
  kinds, set by the measurements) and a number ``size`` (a smooth function of them plus
  noise). For ``csv(target=["kind", "size"])`` and a model with two heads.

Only the standard library and Pillow are used; every random choice comes from a
``random.Random`` with a fixed seed, so the output is identical on every run.
"""
from __future__ import annotations

import csv
import math
import random
import shutil
from pathlib import Path

from PIL import Image, ImageDraw

DATA = Path(__file__).resolve().parents[1] / "specs" / "data"
SHAPES = ("circle", "square", "triangle")
PER_SHAPE = 200
SIZE = 32
SCALE = 4
MAX_SHIFT = 5
"""How far (pixels) a shape's centre may move from the image centre."""
MAX_TILT = 0.3
"""Squares stand on a side and triangles point up, each turned by at most this (radians)."""


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return tuple(rng.randrange(256) for _ in range(3))  # type: ignore[return-value]


def _luma(c: tuple[int, int, int]) -> float:
    return (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]) / 255


def _contrasting(rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A dark background (brightness < 0.4) and a bright shape colour (brightness > 0.6)."""
    bg = fg = (0, 0, 0)
    while _luma(bg := _colour(rng)) >= 0.4:
        pass
    while _luma(fg := _colour(rng)) <= 0.6:
        pass
    return bg, fg


def _polygon(cx: float, cy: float, r: float, sides: int, angle: float) -> list[tuple[float, float]]:
    return [(cx + r * math.cos(angle + 2 * math.pi * k / sides),
             cy + r * math.sin(angle + 2 * math.pi * k / sides)) for k in range(sides)]


def draw_shape(kind: str, rng: random.Random) -> Image.Image:
    """One 32x32 image of ``kind``: radius 7..12 px, fully inside the frame, slightly tilted."""
    big = SIZE * SCALE
    bg, fg = _contrasting(rng)
    image = Image.new("RGB", (big, big), bg)
    draw = ImageDraw.Draw(image)
    r = rng.uniform(7, 12) * SCALE
    room = min(MAX_SHIFT * SCALE, big / 2 - r - SCALE)  # stay inside the frame
    cx = big / 2 + rng.uniform(-room, room)
    cy = big / 2 + rng.uniform(-room, room)
    tilt = rng.uniform(-MAX_TILT, MAX_TILT)
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
    else:
        sides, upright = (4, math.pi / 4) if kind == "square" else (3, -math.pi / 2)
        draw.polygon(_polygon(cx, cy, r, sides, upright + tilt), fill=fg)
    return image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def make_shapes(data: Path, rng: random.Random) -> None:
    root = data / "shapes"
    shutil.rmtree(root, ignore_errors=True)
    rows = []
    for kind in SHAPES:
        (root / kind).mkdir(parents=True)
        for i in range(PER_SHAPE):
            name = f"{kind}_{i:03d}.png"
            draw_shape(kind, rng).save(root / kind / name, optimize=True)
            rows.append((f"shapes/{kind}/{name}", kind))
    with open(data / "shapes.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["filename", "label"])
        w.writerows(rows)


TOPICS = {
    "comp.graphics": """image images pixel pixels render rendering renderer polygon polygons
        texture textures shader shading graphics card vga svga resolution bitmap jpeg gif
        format formats color palette raytracer raytracing 3d model models mesh vertex
        vertices animation display monitor screen driver drivers windows software program
        viewer file files convert conversion algorithm sprite frame buffer opengl vector
        scanline antialiasing lighting camera scene""",
    "sci.space": """space orbit orbital nasa shuttle launch launched rocket rockets moon lunar
        mars planet planets satellite satellites mission missions astronaut astronauts
        station spacecraft probe telescope hubble gravity solar sun earth venus jupiter
        saturn comet asteroid payload booster fuel thrust apollo galileo voyager cosmos
        universe star stars galaxy atmosphere reentry capsule crew""",
    "rec.sport.baseball": """baseball game games team teams season pitcher pitchers pitch
        pitching batter batting hitter hit hits home run runs inning innings league
        playoffs series world yankees dodgers braves cubs mets sox fans stadium catcher
        shortstop outfield infield strikeout strikeouts walk walks era average score
        scored win wins loss lost trade manager umpire bullpen""",
}
SHARED = """i you we they think know believe seems really just also still very much more
    some many any every last next new old good bad great better best first year years time
    week day thing things people someone anyone question answer post posted read heard saw
    said says point idea problem help thanks please""".split()
TEMPLATES = (
    "{s} the {t} was {s} {t} and {s}.",
    "has anyone {s} the {t} {s} {t}?",
    "{s} {s} {t} {t} {s} {t}.",
    "i {s} the {t} is {s} than the {t}.",
    "{s} {t} {s} {s} {t}, {s} {t}.",
    "thanks for the {t} {s}, the {t} {s} {t}.",
    "the {t} and the {t} {s} {s}.",
)
DOCS_PER_TOPIC = 120
OTHER_TOPIC_RATE = 0.12
"""Fraction of topic slots filled with another topic's word, so the task is not trivial."""


def make_post(topic: str, rng: random.Random) -> str:
    """Three to six sentences; each ``{t}`` slot is a topic word, each ``{s}`` a shared word."""
    own = TOPICS[topic].split()
    others = [w for name, words in TOPICS.items() if name != topic for w in words.split()]

    def topic_word() -> str:
        return rng.choice(others if rng.random() < OTHER_TOPIC_RATE else own)

    sentences = []
    for _ in range(rng.randint(3, 6)):
        template = rng.choice(TEMPLATES)
        words = []
        for part in template.split(" "):
            words.append(part.replace("{t}", topic_word()).replace("{s}", rng.choice(SHARED)))
        sentence = " ".join(words)
        sentences.append(sentence[0].upper() + sentence[1:])
    return " ".join(sentences) + "\n"


def make_news(data: Path, rng: random.Random) -> None:
    root = data / "news"
    shutil.rmtree(root, ignore_errors=True)
    for topic in TOPICS:
        (root / topic).mkdir(parents=True)
        for i in range(DOCS_PER_TOPIC):
            (root / topic / f"{i:04d}.txt").write_text(make_post(topic, rng), encoding="utf-8")


SPECIES = {  # mean and standard deviation of each measurement, per species
    "setosa": ((5.0, 3.4, 1.5, 0.25), (0.35, 0.38, 0.17, 0.10)),
    "versicolor": ((5.9, 2.8, 4.3, 1.3), (0.50, 0.31, 0.47, 0.20)),
    "virginica": ((6.6, 3.0, 5.6, 2.0), (0.60, 0.32, 0.55, 0.27)),
}


def make_iris_like(data: Path, rng: random.Random) -> None:
    rows = []
    for species, (mean, std) in SPECIES.items():
        for _ in range(50):
            rows.append([f"{max(0.1, rng.gauss(m, s)):.1f}" for m, s in zip(mean, std)] + [species])
    rng.shuffle(rows)
    with open(data / "iris_like.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
        w.writerows(rows)


NAMES = ("anna", "boris", "clara", "dmitri", "elena", "felix", "greta", "hugo")
ANIMALS = ("cat", "dog", "horse", "rabbit", "parrot", "turtle", "goat", "fox")
COLOURS = ("red", "green", "yellow", "purple", "silver", "orange")
PLACES = ("garden", "kitchen", "library", "market", "station", "river")
ACTIONS = (("feeds", "fed"), ("watches", "watched"), ("follows", "followed"), ("paints", "painted"))
TINY_SENTENCES = 2200


def tiny_sentence(rng: random.Random) -> str:
    """One sentence of five patterns; the tense set by the first clause holds in the second."""
    name, other = rng.sample(NAMES, 2)
    animal, colour, place = rng.choice(ANIMALS), rng.choice(COLOURS), rng.choice(PLACES)
    verb = rng.choice(ACTIONS)[rng.random() < 0.5]
    past = verb.endswith("ed")
    pattern = rng.randrange(5)
    if pattern == 0:
        return f"{name} {verb} the {colour} {animal} in the {place}."
    if pattern == 1:
        was = "was" if past else "is"
        return f"the {animal} of {name} {was} {colour}, and {other} {verb} it."
    if pattern == 2:
        return f"in the {place}, {name} and {other} {verb} a {animal}."
    if pattern == 3:
        return f"does {name} like the {colour} {animal}? yes, {name} does."
    went = "went" if past else "goes"
    return f"every day {name} {went} to the {place} with a {animal}."


def make_tiny_text(data: Path, rng: random.Random) -> None:
    lines = []
    for _ in range(TINY_SENTENCES):
        sentence = tiny_sentence(rng)
        lines.append(sentence[0].upper() + sentence[1:])
    (data / "tiny.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


KINDS = ("box", "envelope", "tube")
PARCELS = 600


def make_multitask(data: Path, rng: random.Random) -> None:
    rows = []
    for _ in range(PARCELS):
        a, b, c, d = (rng.uniform(-1, 1) for _ in range(4))
        kind = KINDS[0 if a + b > 0.3 else 1 if c - a > 0 else 2]
        size = 2 * a - b + 0.5 * c * d + rng.gauss(0, 0.1)
        rows.append([f"{v:.3f}" for v in (a, b, c, d)] + [kind, f"{size:.3f}"])
    with open(data / "multitask.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["width", "height", "depth", "weight", "kind", "size"])
        w.writerows(rows)


def main(data: Path = DATA) -> None:
    """Write every data set under ``data`` (the tests regenerate into a temporary folder and
    compare with the shipped files)."""
    data.mkdir(parents=True, exist_ok=True)
    make_shapes(data, random.Random(1))
    make_news(data, random.Random(2))
    make_iris_like(data, random.Random(3))
    make_tiny_text(data, random.Random(4))
    make_multitask(data, random.Random(5))


if __name__ == "__main__":
    main()
