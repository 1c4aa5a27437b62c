"""The signature tables follow the installed torch, through the real ``specc check``.

Another torch is simulated by a ``torch-<version>.dist-info`` placed first on PYTHONPATH: its
metadata is what specc reads (torch itself is not imported), while introspection still finds
the real torch. A newer torch's extra keyword (``LBFGS(maximize=...)``, which torch 2.13 does
not have) is simulated by writing it into that version's cache.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys

from specc.catalog import torch_tables

ROOT = Path(__file__).resolve().parents[2]
LBFGS = """model Net(x: float[2]) {
    return x -> Linear(2)
}
optimizer = LBFGS(lr=1, maximize=true)
"""


def run_check(tmp_path: Path, version: str | None, broken_torch: bool = False, text: str = LBFGS):
    """``specc check`` in a fresh process, with torch ``version`` installed (as far as specc can tell)."""
    spec = tmp_path / "net.spec"
    spec.write_text(text, encoding="utf-8")
    paths = [str(ROOT)]
    if version is not None:
        fake = tmp_path / "site"
        info = fake / f"torch-{version}.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
        if broken_torch:
            (fake / "torch").mkdir(exist_ok=True)
            (fake / "torch" / "__init__.py").write_text("raise ImportError('this torch is broken')\n")
        paths.insert(0, str(fake))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "specc", "check", str(spec)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=600)


def test_same_torch_uses_the_shipped_tables_and_makes_no_cache(tmp_path):
    done = run_check(tmp_path, None)
    assert done.returncode == 2
    assert "LBFGS() got an unexpected keyword argument 'maximize'" in done.stderr
    assert "warning" not in done.stderr
    assert list((tmp_path / "cache").rglob("torch_tables-*")) == []


def test_another_torch_gets_its_own_tables_made_once_and_cached(tmp_path):
    done = run_check(tmp_path, "2.14.0")
    cache = tmp_path / "cache" / "specc" / "torch_tables-2.14.0.json"
    assert cache.is_file(), done.stderr
    doc = json.loads(cache.read_text(encoding="utf-8"))
    assert (doc["format"], doc["torch"]) == (2, "2.14.0")
    assert doc["NN_MODULES"]["Linear"][1] == ["out_features", "pos", "<required>"]
    assert [p[0] for p in doc["FORWARDS"]["MultiheadAttention"]][:4] == ["query", "key", "value", "key_padding_mask"]
    assert [p[0] for p in doc["OPTIMIZERS"]["LBFGS"]] == [p[0] for p in torch_tables.OPTIMIZERS["LBFGS"]]
    assert done.returncode == 2 and "warning" not in done.stderr   # this "2.14" is really 2.13: no maximize
    assert list(cache.parent.glob("torch_tables-*")) == [cache]     # written atomically: no temporary left

    # the newer torch accepts LBFGS(maximize=...): its cached tables are what the check follows
    doc["OPTIMIZERS"]["LBFGS"].append(["maximize", "kwonly", False])
    cache.write_text(json.dumps(doc), encoding="utf-8")
    done = run_check(tmp_path, "2.14.0")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.startswith("ok ")


def test_a_broken_cache_is_made_again(tmp_path):
    cache = tmp_path / "cache" / "specc" / "torch_tables-2.14.0.json"
    cache.parent.mkdir(parents=True)
    bad = {"format": 2, "torch": "2.14.0", "NN_MODULES": {"Linear": []}, "OPTIMIZERS": {}, "SCHEDULERS": {}, "FORWARDS": {},
           "NN_MODULE_PATHS": {"Linear": "os.system"}}        # a path that is not torch.nn.<name>
    for text in ("{not json", json.dumps(bad), "[" * 100_000):
        cache.write_text(text, encoding="utf-8")
        done = run_check(tmp_path, "2.14.0")
        assert done.returncode == 2 and "unexpected keyword argument 'maximize'" in done.stderr, done.stderr
        assert json.loads(cache.read_text(encoding="utf-8"))["NN_MODULE_PATHS"]["Linear"] == "torch.nn.Linear"


def test_tables_that_cannot_be_made_give_one_warning_line_and_the_shipped_tables(tmp_path):
    good = LBFGS.replace(", maximize=true", "")
    done = run_check(tmp_path, "2.14.0", broken_torch=True, text=good)
    assert done.returncode == 0, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("specc: warning: torch 2.14.0 is installed but specc's signature tables are for "
                           f"torch {torch_tables.TORCH_VERSION}")
    assert "this torch is broken" in line
    assert not (tmp_path / "cache" / "specc" / "torch_tables-2.14.0.json").exists()
    # the next check warns the same way without importing the broken torch again
    again = run_check(tmp_path, "2.14.0", broken_torch=True, text=good)
    assert again.returncode == 0, again.stderr
    [line] = again.stderr.splitlines()
    assert "this torch is broken" in line and "as an earlier run found (delete " in line


def test_tables_that_cannot_be_cached_are_used_with_one_warning_line(tmp_path):
    (tmp_path / "cache").write_text("a file where the cache folder would be")
    done = run_check(tmp_path, "2.14.0", text=LBFGS.replace(", maximize=true", ""))
    assert done.returncode == 0, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("specc: warning: cannot cache the signature tables of torch 2.14.0 in ")
    assert line.endswith("they are made again on every run")
