"""``specc run`` imports only what the spec needs: no plotting library without plots, no
scikit-learn or Pillow for generated data, never Lightning."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import moons_spec

PROBE = """
import json, sys
from specc.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _modules_after_run(*args: str) -> tuple[int, set[str]]:
    out = subprocess.run([sys.executable, "-c", PROBE, "run", *args, "--quiet"],
                         capture_output=True, text=True, timeout=300)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


def test_a_moons_run_loads_no_plotting_sklearn_pillow_or_lightning(tmp_path):
    code, modules = _modules_after_run(str(moons_spec(tmp_path, epochs=1)),
                                       "--out", str(tmp_path / "run"))
    assert code == 0
    assert "torch" in modules  # the probe sees the run's imports
    assert not modules & {"matplotlib", "sklearn", "PIL", "lightning", "pytorch_lightning"}


def test_plots_bring_matplotlib(tmp_path):
    spec = moons_spec(tmp_path, epochs=1)
    spec.write_text(spec.read_text().replace("metrics = [accuracy]", "metrics = [accuracy], plot = [loss]"))
    code, modules = _modules_after_run(str(spec), "--out", str(tmp_path / "run"))
    assert code == 0
    assert "matplotlib" in modules
    assert (tmp_path / "run" / "loss.png").is_file()


# ---- what an imported file may do, and what the generated code imports ---------------------

IMPORTING = 'import "{file}" as my\n' + """data {
    train = moons(samples=40)
}
model Net(x: float[2]) {
    return x -> my.Twice -> Linear(2)
}
loss = cross_entropy
train { epochs = 1 }
"""
TWICE = "from torch import nn\n\n\nclass Twice(nn.Module):\n    def forward(self, x):\n        return 2 * x\n"


def _specc(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "specc", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("body, words", [("import sys\nsys.exit(5)\n", "SystemExit: 5"),
                                         ("raise SystemExit('bye')\n", "SystemExit: bye")])
def test_sys_exit_in_an_imported_file_is_an_error_at_the_import(tmp_path, command, body, words):
    (tmp_path / "quits.py").write_text(body)
    spec = tmp_path / "s.spec"
    spec.write_text(IMPORTING.replace("{file}", "quits.py"))
    done = _specc(command, str(spec), "--out", str(tmp_path / "o"), cwd=tmp_path) if command == "run" else \
        _specc(command, str(spec), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f'{spec}:1:1: error: importing "quits.py" failed: {words}' in done.stderr, done.stderr


@pytest.mark.parametrize("name", ["json", "os", "torch", "specc", "sys"])
def test_compile_refuses_a_file_named_like_a_module_python_already_has(tmp_path, name):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / f"{name}.py").write_text(TWICE)
    spec = tmp_path / "lib" / "s.spec"
    spec.write_text(IMPORTING.replace("{file}", f"{name}.py"))
    done = _specc("compile", str(spec), "-o", str(tmp_path / "out.py"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"{spec}:1:1: error: cannot write 'import {name}.py' as Python: 'import {name}' would load " \
        in done.stderr, done.stderr
    assert ", not the spec's file\n" in done.stderr
    assert f"hint: rename {name}.py: the name '{name}' is taken by another module" in done.stderr
    assert not (tmp_path / "out.py").exists()


def test_compile_writes_the_spec_s_own_file_import(tmp_path):
    (tmp_path / "twice_layers.py").write_text(TWICE)
    spec = tmp_path / "s.spec"
    spec.write_text(IMPORTING.replace("{file}", "twice_layers.py"))
    done = _specc("compile", str(spec), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\nimport twice_layers as my\n" in done.stdout
