"""The wheel carries the grammar: build it, install it in a fresh venv, check a spec there."""
from __future__ import annotations

from pathlib import Path
import subprocess
import sys
import venv

ROOT = Path(__file__).resolve().parents[2]

SPEC = """
model Net(x: float[4]) {
    return x -> Linear(8) -> ReLU -> Linear(2)
}
"""


def test_wheel_installs_and_checks(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist), str(ROOT)], check=True)
    wheel = next(dist.glob("specc-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    deps = [line.strip() for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line.split("==")[0].lower() in ("lark", "pydantic", "pydantic_core", "rich")]
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel), *deps,
                    "annotated-types", "typing-extensions", "typing-inspection", "markdown-it-py", "mdurl",
                    "pygments"], check=True)
    spec = tmp_path / "net.spec"
    spec.write_text(SPEC)
    where = subprocess.run([str(py), "-c", "import specc.syntax.parser as p; print(p.grammar_path())"],
                           check=True, capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    assert where.startswith(str(env_dir)), where
    assert where.endswith("specc/_grammar/specc.lark")
    out = subprocess.run([str(py), "-m", "specc", "check", str(spec)], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"ok {spec}")
