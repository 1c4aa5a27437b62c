"""specc reads only regular files, each within a size bound (docs/safety.md, specc/files.py).

A FIFO, a device or a socket where a spec, a data file, a document, an image or an imported
module should be is refused by name at the spec line, exit code 2: never a hang (each CLI call
runs in a subprocess with a timeout, so a hang fails the test) and never a read of /dev/zero
until memory runs out. Errors about a CSV quote only plain header names, never a line of an
arbitrary file.
"""
from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

import pytest

from specc import files
from specc.catalog.datafiles import scan_text_folder
from specc.cli.main import main

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")

MODEL = "model M(x: float[2]) {\n    return x -> Linear(2)\n}\nloss = cross_entropy\n"
IMAGE_MODEL = "model M(x: float[3, 4, 4]) {\n    return x -> Flatten -> Linear(2)\n}\nloss = cross_entropy\n"


def specc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "specc", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def data_spec(tmp_path: Path, source: str, model: str = MODEL) -> Path:
    path = tmp_path / "s.spec"
    path.write_text(f"data {{\n    train = {source}\n}}\n{model}")
    return path


def expect(done: subprocess.CompletedProcess, where: str, *words: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{where}: error:" in done.stderr, done.stderr
    for w in words:
        assert w in done.stderr, (w, done.stderr)


def two_classes(root: Path, suffix: str) -> None:
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        (root / name / f"ok{suffix}").write_text("hello world")


@pytest.mark.parametrize("command", ["check", "fmt", "summary"])
def test_a_spec_path_that_is_a_fifo(tmp_path, command):
    os.mkfifo(tmp_path / "pipe.spec")
    expect(specc(command, "pipe.spec", cwd=tmp_path), "pipe.spec:1:1", "pipe.spec is a FIFO, not a file")


def test_a_spec_path_that_links_to_dev_zero(tmp_path):
    (tmp_path / "zero.spec").symlink_to("/dev/zero")
    expect(specc("check", "zero.spec", cwd=tmp_path), "zero.spec:1:1", "zero.spec is a character device, not a file")


def test_a_fifo_inside_a_text_folder(tmp_path):
    two_classes(tmp_path / "docs", ".txt")
    os.mkfifo(tmp_path / "docs" / "b" / "waiting.txt")
    spec = data_spec(tmp_path, 'text_folder("docs")\n    encode = bag_of_words()')
    expect(specc("check", str(spec), cwd=tmp_path), f"{spec}:2:25",
           f"{tmp_path / 'docs' / 'b' / 'waiting.txt'} is a FIFO, not a file")


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_fifo_inside_an_image_folder(tmp_path, command):
    pytest.importorskip("PIL")
    from PIL import Image
    for name in ("a", "b"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(tmp_path / "imgs" / name / "ok.png")
    os.mkfifo(tmp_path / "imgs" / "a" / "zz.png")
    spec = data_spec(tmp_path, 'image_folder("imgs", size=[4, 4])', IMAGE_MODEL)
    extra = ["--out", str(tmp_path / "o"), "--quiet"] if command == "run" else []
    expect(specc(command, str(spec), *extra, cwd=tmp_path), f"{spec}:2:26", "zz.png is a FIFO, not a file")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("make, what", [
    (lambda p: os.mkfifo(p), "is a FIFO, not a file"),
    (lambda p: p.symlink_to("/dev/zero"), "is a character device, not a file"),
    (lambda p: p.mkdir(), "is a folder, not a file"),
])
def test_a_csv_path_that_is_no_regular_file(tmp_path, make, what):
    make(tmp_path / "points.csv")
    spec = data_spec(tmp_path, 'csv("points.csv")')
    expect(specc("check", str(spec), cwd=tmp_path), f"{spec}:2:17", f"{tmp_path / 'points.csv'} {what}")


def test_an_image_csv_that_lists_a_fifo(tmp_path):
    (tmp_path / "list.csv").write_text("filename,label\nok.png,0\npipe.png,1\n")
    (tmp_path / "ok.png").write_bytes(b"")
    os.mkfifo(tmp_path / "pipe.png")
    spec = data_spec(tmp_path, 'image_csv("list.csv", size=[4, 4])', IMAGE_MODEL)
    expect(specc("check", str(spec), cwd=tmp_path), f"{spec}:2:23", "row 2 (line 3)", "pipe.png is a FIFO, not a file")


def test_a_folder_path_that_is_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "docs")
    spec = data_spec(tmp_path, 'text_folder("docs")\n    encode = bag_of_words()')
    expect(specc("check", str(spec), cwd=tmp_path), f"{spec}:2:25", "docs is a FIFO, not a folder")


def test_an_imported_module_that_is_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "layers.py")
    spec = tmp_path / "s.spec"
    spec.write_text('import "layers.py" as my\n' + MODEL)
    expect(specc("check", str(spec), cwd=tmp_path), f"{spec}:1:1", "layers.py is a FIFO, not a file")


def test_a_symlink_loop_in_a_class_folder_is_walked_once(tmp_path, capsys):
    two_classes(tmp_path / "docs", ".txt")
    (tmp_path / "docs" / "a" / "again").symlink_to(tmp_path / "docs" / "a")
    assert len(scan_text_folder(tmp_path / "docs", None).files) == 2
    spec = data_spec(tmp_path, 'text_folder("docs")\n    encode = bag_of_words()')
    assert main(["check", str(spec)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("kind, name, source", [
    ("CSV", "points.csv", 'csv("points.csv")'),
    ("text", "docs/a/ok.txt", 'text_folder("docs")\n    encode = bag_of_words()'),
])
def test_files_over_the_size_bound_are_refused_with_it(tmp_path, capsys, monkeypatch, kind, name, source):
    two_classes(tmp_path / "docs", ".txt")
    (tmp_path / name).write_text("a,b,y\n" + "1,2,0\n" * 40)
    monkeypatch.setitem(files.LIMITS, kind, 100)
    spec = data_spec(tmp_path, source)
    assert main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / name} is 246 bytes; specc reads {kind} files of at most 100 bytes" in err, err


def test_a_spec_over_the_size_bound(tmp_path, capsys, monkeypatch):
    spec = data_spec(tmp_path, "moons()")
    monkeypatch.setitem(files.LIMITS, "spec", 50)
    assert main(["check", str(spec)]) == 2
    size = len(spec.read_bytes())
    assert f"{spec}:1:1: error: {spec} is {size} bytes; specc reads spec files of at most 50 bytes" in \
        capsys.readouterr().err


SHADOW = "root:$6$Qx9sEcReT$hAsHhAsH:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


@pytest.mark.parametrize("source", ['csv("secret", target="y")', 'csv("secret")', 'csv("secret", delimiter=":")',
                                    'csv("secret", delimiter="$", target="y")'])
def test_errors_never_echo_a_line_of_a_file_that_is_no_csv(tmp_path, capsys, source):
    (tmp_path / "secret").write_text(SHADOW)
    spec = data_spec(tmp_path, source)
    assert main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    for secret in ("Qx9sEcReT", "hAsHhAsH", "daemon:", "root:"):
        assert secret not in err, err


def test_a_csv_header_is_still_listed(tmp_path, capsys):
    (tmp_path / "points.csv").write_text("width,height,label\n1,2,0\n3,4,1\n")
    spec = data_spec(tmp_path, 'csv("points.csv", target="colour")')
    assert main(["check", str(spec)]) == 2
    assert "hint: the columns are 'width', 'height', 'label'" in capsys.readouterr().err
