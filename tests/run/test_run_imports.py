"""``specc run`` imports only what the spec needs: no plotting library without plots, no
scikit-learn or Pillow for generated data, never Lightning."""
from __future__ import annotations

import json
import subprocess
import sys

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
