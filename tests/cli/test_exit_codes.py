"""Exit codes and messages of the real CLI.

A mistake in a spec (or its data, or a ``--set``) is ``path:line:col: error: message`` and exit
code 2. An environment problem (a missing optional package, no CUDA, an ``--out`` that cannot be
written, a full disk) is one plain ``specc: error:`` message with a hint naming the fix, and
exit code 1. Neither shows a traceback; ``--debug`` shows one for internal errors.

Missing packages are simulated with a ``-c`` wrapper that sets ``sys.modules[name] = None``
before ``specc.cli.main.main()`` runs; a full disk with an ``OSError(ENOSPC)`` injected in
process.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys

import pytest
import torch

from specc.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
MOONS = """data {
    train = moons(samples=40, noise=0.2)
    batch = 8
}
model Net(x: float[2]) {
    return x -> Linear(4) -> ReLU -> Linear(2)
}
loss = cross_entropy
optimizer = Adam(lr=0.01)
train { epochs = 2 }
"""
DIAGNOSTIC = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): error: ", re.M)


def _run(*args: str, cwd: Path, hide: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``python -m specc ARGS``; with ``hide``, those packages cannot be imported."""
    if hide:
        code = ("import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in hide)
                + "from specc.cli.main import main\nsys.exit(main())")
        cmd = [sys.executable, "-c", code, *args]
    else:
        cmd = [sys.executable, "-m", "specc", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _spec(folder: Path, text: str = MOONS, name: str = "s.spec") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def assert_spec_error(done, path: Path, line: int) -> None:
    """Exit 2 and one positioned diagnostic at ``line`` of ``path``."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    found = DIAGNOSTIC.findall(done.stderr)
    assert len(found) == 1, done.stderr
    assert found[0][0].endswith(path.name) and int(found[0][1]) == line and int(found[0][2]) >= 1, done.stderr
    assert done.stderr.startswith(found[0][0]), done.stderr
    assert "Traceback" not in done.stderr


def assert_environment_error(done, *words: str) -> None:
    """Exit 1, one plain ``specc: error:`` message with a hint, no traceback."""
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert done.stderr.startswith("specc: error: "), done.stderr
    assert done.stderr.count("error:") == 1 and "\nhint: " in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not DIAGNOSTIC.search(done.stderr), done.stderr
    for word in words:
        assert word in done.stderr, (word, done.stderr)


# ---------------------------------------------------------------- mistakes: exit 2

MISTAKES = {
    # name: (spec text, extra CLI args, line of the error)
    "syntax": (MOONS.replace("Linear(4)", "Linear(4"), (), 7),  # reported where the ( should have closed
    "shape": (MOONS.replace("-> Linear(2)", "-> Linear(2) -> Conv2d(3, 3)"), (), 6),
    "missing_csv": (MOONS.replace("moons(samples=40, noise=0.2)", 'csv("nope.csv", target="y")'), (), 2),
    "bad_set": (MOONS, ("--set", "train.epochs=0"), 1),
    "bad_lr": (MOONS.replace("lr=0.01", "lr=-1"), (), 9),
    "early_stop_without_valid": (MOONS.replace("epochs = 2", "epochs = 2, early_stop = early_stop()"), (), 10),
    "checkpoint_is_a_file": (MOONS.replace("epochs = 2", 'epochs = 2, checkpoint = "s.spec"'), (), 10),
}


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_a_spec_mistake_is_one_positioned_message_and_exit_2(tmp_path, name):
    text, extra, line = MISTAKES[name]
    path = _spec(tmp_path, text)
    done = _run("run", str(path), "--out", str(tmp_path / "run"), "--quiet", *extra, cwd=tmp_path)
    if name == "bad_set":  # the --set text is its own one-line "file"
        assert done.returncode == 2 and done.stderr.startswith("--set:1:14: error: train.epochs"), done.stderr
        assert "Traceback" not in done.stderr
        return
    assert_spec_error(done, path, line)


def test_check_of_a_missing_file_is_a_spec_error(tmp_path):
    done = _run("check", str(tmp_path / "nope.spec"), cwd=tmp_path)
    assert_spec_error(done, tmp_path / "nope.spec", 1)


def test_compile_of_an_import_that_is_no_module_name_is_a_spec_error(tmp_path):
    shutil.copy(ROOT / "specs" / "layers.py", tmp_path / "my-layers.py")
    path = _spec(tmp_path, 'import "my-layers.py" as my\nmodel Net(x: float[2]) {\n'
                           "    return x -> my.MyLinear(2, 3)\n}\n")
    assert_spec_error(_run("compile", str(path), cwd=tmp_path), path, 1)


# ---------------------------------------------------------------- the environment: exit 1

def test_missing_scikit_learn_names_the_pip_command(tmp_path):
    path = _spec(tmp_path, MOONS.replace("moons(samples=40, noise=0.2)", "digits()").replace("float[2]", "float[64]")
                 .replace("Linear(2)", "Linear(10)"))
    done = _run("run", str(path), "--out", str(tmp_path / "run"), "--quiet", cwd=tmp_path, hide=("sklearn",))
    assert_environment_error(done, "scikit-learn", "pip install scikit-learn")


def test_missing_pillow_names_the_pip_command(tmp_path):
    for label, color in (("dark", 40), ("light", 220)):
        folder = tmp_path / "images" / label
        folder.mkdir(parents=True)
        for i in range(3):  # tiny PNGs written without Pillow: torch's image encoder is not needed
            (folder / f"{i}.png").write_bytes(_png(color + i))
    text = MOONS.replace("moons(samples=40, noise=0.2)", 'image_folder("images", size=[4, 4])') \
        .replace("x: float[2]", "x: float[3, 4, 4]").replace("return x ->", "return x -> Flatten ->")
    path = _spec(tmp_path, text)
    done = _run("run", str(path), "--out", str(tmp_path / "run"), "--quiet", cwd=tmp_path, hide=("PIL",))
    assert_environment_error(done, "Pillow", "pip install Pillow")


def test_missing_matplotlib_skips_the_plots_with_a_note(tmp_path):
    path = _spec(tmp_path, MOONS.replace("epochs = 2", "epochs = 1, plot = [loss]"))
    done = _run("run", str(path), "--out", str(tmp_path / "run"), "--quiet", cwd=tmp_path, hide=("matplotlib",))
    assert done.returncode == 0, done.stderr
    assert "matplotlib is not installed" in done.stderr and "pip install" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "run" / "last.pt").is_file() and not (tmp_path / "run" / "loss.png").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("where", ["flag", "spec"])
def test_cuda_on_a_machine_without_it_is_an_environment_error(tmp_path, where):
    text = MOONS.replace("epochs = 2", "epochs = 2, device = cuda") if where == "spec" else MOONS
    extra = ("--device", "cuda") if where == "flag" else ()
    done = _run("run", str(_spec(tmp_path, text)), "--out", str(tmp_path / "run"), "--quiet", *extra, cwd=tmp_path)
    assert_environment_error(done, "cuda", "device = cpu")


def test_out_at_a_file_is_an_environment_error(tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    for out in ("taken", "taken/run"):
        done = _run("run", str(_spec(tmp_path)), "--out", str(tmp_path / out), "--quiet", cwd=tmp_path)
        assert_environment_error(done, "taken")
    assert (tmp_path / "taken").read_text() == "not a folder"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes to read-only folders")
def test_out_in_a_read_only_folder_is_an_environment_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        done = _run("run", str(_spec(tmp_path)), "--out", str(locked / "run"), "--quiet", cwd=tmp_path)
    finally:
        locked.chmod(0o700)
    assert_environment_error(done, "Permission denied", "another --out")


def test_a_used_out_folder_is_never_overwritten_without_force(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    done = _run("run", str(_spec(tmp_path)), "--out", str(out), "--quiet", cwd=tmp_path)
    assert_environment_error(done, "already holds a run", "--force")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("content", [b"PK\x03\x04 half a zip", b"\x80\x04\x95 not a pickle either", b""])
def test_resuming_from_a_damaged_checkpoint_is_one_message(tmp_path, content):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(content)
    done = _run("run", str(_spec(tmp_path)), "--out", str(out), "--resume", "--quiet", cwd=tmp_path)
    assert_environment_error(done, "cannot read checkpoint", "start a fresh run")
    assert len(done.stderr.strip().splitlines()) == 2  # the message and its hint, not torch's essay
    assert (out / "last.pt").read_bytes() == content


# ---------------------------------------------------------------- in process: injected faults

def _main(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def test_permission_denied_on_out_is_an_environment_error(tmp_path, capsys, monkeypatch):
    real_mkdir = Path.mkdir

    def mkdir(self, *a, **k):
        if self.name == "run":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    code, err = _main(capsys, "run", str(_spec(tmp_path)), "--out", str(tmp_path / "run"), "--quiet")
    assert code == 1 and err.startswith("specc: error: cannot write to") and "Permission denied" in err, err
    assert "hint: choose another --out" in err and "Traceback" not in err


@pytest.mark.parametrize("failing_write", [1, 2])
def test_a_full_disk_is_an_environment_error_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch,
                                                                           failing_write):
    from specc.training import checkpoint

    real, calls = checkpoint.write_bytes, []

    def write_bytes(path, data):
        calls.append(path)
        if len(calls) >= failing_write:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(checkpoint, "write_bytes", write_bytes)
    out = tmp_path / "run"
    code, err = _main(capsys, "run", str(_spec(tmp_path)), "--out", str(out), "--quiet")
    assert code == 1, err
    assert err.startswith("specc: error: cannot write") and "No space left on device" in err, err
    assert "hint: free some disk space" in err and "Traceback" not in err
    if failing_write > 1:  # what was written before the disk filled up still loads
        state = torch.load(out / "last.pt", weights_only=True)
        assert state["epoch"] == 1


@pytest.mark.parametrize("background", [True, False])
def test_a_full_disk_stops_the_run_at_the_next_epoch_end_naming_the_file(tmp_path, capsys, monkeypatch,
                                                                        background):
    from specc.training import checkpoint
    from specc.training.trainer import Trainer

    def full(fd):  # what a full disk does: the write or fsync fails, naming no file
        raise OSError(errno.ENOSPC, "No space left on device")

    epochs, end_epoch = [], Trainer.end_epoch

    def counted(self, epoch, started):
        epochs.append(epoch + 1)
        return end_epoch(self, epoch, started)

    monkeypatch.setattr(checkpoint.os, "fsync", full)
    monkeypatch.setattr(Trainer, "end_epoch", counted)
    if not background:
        monkeypatch.setenv("SPECC_TUNING", "-background_checkpoints")
    out = tmp_path / "run"
    code, err = _main(capsys, "run", str(_spec(tmp_path, MOONS.replace("epochs = 2", "epochs = 20"))),
                      "--out", str(out), "--quiet")
    assert code == 1, err
    assert err.startswith(f"specc: error: cannot write {out / 'last.pt'}: No space left on device"), err
    assert "hint: free some disk space" in err and "Traceback" not in err
    assert epochs == ([1, 2] if background else [1])  # not 20 epochs without checkpoints
    names = sorted(p.name for p in out.iterdir())
    assert [n for n in names if n.startswith(".")] == []      # no temporary left behind
    assert "last.pt" not in names and "best.pt" not in names  # no torn checkpoint


def test_fmt_write_to_a_file_it_cannot_write_is_an_environment_error(tmp_path, capsys, monkeypatch):
    path = _spec(tmp_path, MOONS.replace("    batch = 8", "  batch=8"))  # not in canonical layout
    real_write_text = Path.write_text

    def write_text(self, *a, **k):
        if self == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_write_text(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", write_text)
    code, err = _main(capsys, "fmt", "--write", str(path))
    assert code == 1 and err.startswith(f"specc: error: cannot write {path}: Permission denied"), err
    assert "\nhint: " in err and "Traceback" not in err


def test_an_internal_error_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    import specc.run

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(specc.run, "run_checked", boom)
    path = str(_spec(tmp_path))
    code, err = _main(capsys, "run", path, "--out", str(tmp_path / "run"))
    assert code == 1 and err.strip() == "specc: internal error: RuntimeError: boom (run with --debug for the traceback)"
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "run", path, "--out", str(tmp_path / "run")])


def test_ctrl_c_outside_training_exits_130(tmp_path, capsys, monkeypatch):
    import specc.run

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(specc.run, "run_checked", interrupted)
    code, err = _main(capsys, "run", str(_spec(tmp_path)), "--out", str(tmp_path / "run"))
    assert code == 130 and err.strip() == "specc: interrupted"


def _png(gray: int) -> bytes:
    """A 4x4 gray PNG, built by hand (zlib + crc32) so the test needs no image library."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes([gray]) * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# ---------------------------------------------------------------- never write over a run, a spec or an import

def test_compile_never_writes_over_a_spec_or_an_imported_file(tmp_path, capsys):
    for name in ("custom_linear.spec", "layers.py"):
        shutil.copy(ROOT / "specs" / name, tmp_path / name)
    other = _spec(tmp_path, name="other.spec")
    spec, layers = tmp_path / "custom_linear.spec", tmp_path / "layers.py"
    before = {p: p.read_bytes() for p in (spec, layers, other)}
    for target, what in ((spec, "the spec itself"), (layers, "a file the spec imports"), (other, "a spec")):
        code, err = _main(capsys, "compile", str(spec), "-o", str(target))
        assert code == 1 and err.startswith(f"specc: error: -o {target} is {what}; compile does not write over it"), err
        assert "hint: choose another -o file" in err and "--force" in err
    assert {p: p.read_bytes() for p in before} == before
    model = tmp_path / "model.py"
    assert [_main(capsys, "compile", str(spec), "-o", str(model))[0] for _ in range(2)] == [0, 0]  # its own output
    assert _main(capsys, "compile", str(spec), "-o", str(layers), "--force")[0] == 0
    assert layers.read_text() == model.read_text()


def test_a_checkpoint_folder_of_another_run_is_never_written_over_without_force(tmp_path, capsys):
    spec = _spec(tmp_path, MOONS.replace("epochs = 2", 'epochs = 2, checkpoint = "ck"'))
    assert _main(capsys, "run", str(spec), "--out", str(tmp_path / "a"), "--quiet")[0] == 0
    first = (tmp_path / "ck" / "last.pt").read_bytes()
    done = _run("run", str(spec), "--out", str(tmp_path / "b"), "--quiet", cwd=tmp_path)
    assert_spec_error(done, spec, 10)
    assert 'checkpoint = "ck" names a folder that already holds files (best.pt, last.pt)' in done.stderr
    assert "hint: use --resume to continue the run it holds, --force to write over it" in done.stderr
    assert (tmp_path / "ck" / "last.pt").read_bytes() == first
    assert _main(capsys, "run", str(spec), "--out", str(tmp_path / "a"), "--quiet", "--resume",
                 "--set", "train.epochs=3")[0] == 0
    assert torch.load(tmp_path / "ck" / "last.pt", weights_only=True)["epoch"] == 3
    assert _main(capsys, "run", str(spec), "--out", str(tmp_path / "b"), "--quiet", "--force")[0] == 0
    assert torch.load(tmp_path / "ck" / "last.pt", weights_only=True)["epoch"] == 2


def test_a_checkpoint_folder_holding_other_files_is_refused(tmp_path, capsys):
    # like checkpoint = "/", which wrote /last.pt: a folder of other files, not a run's
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    spec = _spec(tmp_path, MOONS.replace("epochs = 2", 'epochs = 2, checkpoint = "home"'))
    code, err = _main(capsys, "run", str(spec), "--out", str(tmp_path / "a"), "--quiet")
    assert code == 2 and err.startswith(f"{spec}:10:"), err
    assert 'checkpoint = "home" names a folder that already holds files (notes.txt)' in err
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"] and not (tmp_path / "a").exists()


def test_default_run_folders_started_in_the_same_second_are_distinct(tmp_path, capsys, monkeypatch):
    import datetime as real
    import specc.run

    class Frozen(real.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 12, 1, 21, 0, 0)

    monkeypatch.setattr(specc.run, "datetime", Frozen)
    monkeypatch.chdir(tmp_path)
    spec = _spec(tmp_path)
    assert [_main(capsys, "run", str(spec), "--quiet")[0] for _ in range(3)] == [0, 0, 0]
    runs = tmp_path / "runs" / "s"
    assert sorted(p.name for p in runs.iterdir()) == ["20261201-210000", "20261201-210000-2", "20261201-210000-3"]
    for folder in runs.iterdir():
        assert {"last.pt", "metrics.json", "history.csv"} <= {p.name for p in folder.iterdir()}
