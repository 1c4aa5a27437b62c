"""Data-parallel runs on CPU (gloo, 2 processes) against single-process runs of the same spec
and global batch: the oracle is the single process's weights (allclose 1e-5)."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import specc

ROOT = Path(__file__).resolve().parents[2]
SPEC = """\
{imports}data {{
    train = moons(samples=203, noise=0.2)
    valid = 20%
    batch = 32
}}

model Net(x: float[2]) {{
    return x -> {layer}Linear(16) -> ReLU -> Linear(2)
}}

loss = cross_entropy
optimizer = SGD(lr=0.1, momentum=0.9)

train {{ epochs = 3, metrics = [accuracy] }}
"""
# A layer that acts on one rank at one training step (ACTOR_STEP, from the environment, so
# that the file a resumed run imports is the same): SIGINT to itself, or an error.
ACTOR = """\
import os
import signal
from torch import nn

calls = 0

class Actor(nn.Module):
    def forward(self, x):
        global calls
        if self.training and os.environ.get("RANK") == "{rank}":
            calls += 1
            if calls == int(os.environ.get("ACTOR_STEP", "0")):
                {action}
        return x
"""


def _spec(tmp_path, actor=None, name="mlp"):
    if actor is not None:
        (tmp_path / "actor.py").write_text(actor)
    text = SPEC.format(imports='import "actor.py" as a\n' if actor else "", layer="a.Actor -> " if actor else "")
    path = tmp_path / f"{name}.spec"
    path.write_text(text)
    return path


def _run(args, cwd, timeout=240, **env_vars):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **env_vars}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _weights(folder: Path):
    return torch.load(folder / "last.pt", weights_only=True)["model"]


def _assert_close(a, b):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("single")
    spec = _spec(tmp)
    specc.train(spec, out=tmp / "run")
    return _weights(tmp / "run")


def test_nproc_2_equals_one_process(tmp_path, single):
    spec = _spec(tmp_path)
    done = _run(["-m", "specc", "run", str(spec), "--out", "two", "--nproc", "2"], tmp_path)
    assert done.returncode == 0, done.stderr
    _assert_close(_weights(tmp_path / "two"), single)
    rows = (tmp_path / "two" / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3                               # one writer: one row per epoch
    assert done.stdout.count("epoch 3/3") == 1              # one rank prints
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.spec", "two"]
    assert done.stderr == ""                                # no launcher chatter


def test_under_torchrun_with_the_default_run_folder(tmp_path, single):
    spec = _spec(tmp_path)
    done = _run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                 "-m", "specc", "run", str(spec), "--quiet"], tmp_path)
    assert done.returncode == 0, done.stderr
    folders = list((tmp_path / "runs" / "mlp").iterdir())
    assert len(folders) == 1                                # rank 0 chose it for both
    _assert_close(_weights(folders[0]), single)


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    (tmp_path / "whole").mkdir()
    stop = ACTOR.format(rank="0", action="os.kill(os.getpid(), signal.SIGINT)")
    whole = _spec(tmp_path / "whole", stop)
    done = _run(["-m", "specc", "run", str(whole), "--out", "run", "--nproc", "2", "--quiet"], whole.parent)
    assert done.returncode == 0, done.stderr

    (tmp_path / "cut").mkdir()
    # call 1 is check's shape probe; call 9 is the 8th step: epoch 2 (of 6 steps), step 2
    cut = _spec(tmp_path / "cut", stop)
    stopped = _run(["-m", "specc", "run", str(cut), "--out", "run", "--nproc", "2", "--quiet"], cut.parent,
                   ACTOR_STEP="9")
    assert stopped.returncode == 130, stopped.stderr
    state = torch.load(cut.parent / "run" / "last.pt", weights_only=True)
    assert (state["epoch"], state["step_in_epoch"]) == (1, 2)
    # stopped again in the same epoch: call 3 of the resumed run is its 2nd step, epoch 2 step 4
    again = _run(["-m", "specc", "run", str(cut), "--out", "run", "--nproc", "2", "--quiet", "--resume"],
                 cut.parent, ACTOR_STEP="3")
    assert again.returncode == 130, again.stderr
    state = torch.load(cut.parent / "run" / "last.pt", weights_only=True)
    assert (state["epoch"], state["step_in_epoch"]) == (1, 4)
    resumed = _run(["-m", "specc", "run", str(cut), "--out", "run", "--nproc", "2", "--quiet", "--resume"],
                   cut.parent)
    assert resumed.returncode == 0, resumed.stderr
    _assert_close(_weights(cut.parent / "run"), _weights(whole.parent / "run"))
    # the interrupted epoch's train loss counts every rank's examples once
    losses = [[float(r["train.loss"]) for r in csv.DictReader((f / "run" / "history.csv").open())]
              for f in (cut.parent, whole.parent)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_a_failing_worker_stops_the_run_and_is_named(tmp_path):
    spec = _spec(tmp_path, ACTOR.format(rank="1", action='raise MemoryError("rank one ran out")'))
    done = _run(["-m", "specc", "run", str(spec), "--out", "run", "--nproc", "2", "--quiet"], tmp_path,
                ACTOR_STEP="9")
    assert done.returncode == 1
    assert "[rank 1] internal error: MemoryError: rank one ran out" in done.stderr
    assert "ChildFailedError" not in done.stderr and "Traceback" not in done.stderr
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["epoch"] >= 1   # the last good one


def test_a_spec_mistake_is_found_before_any_worker_starts(tmp_path):
    spec = tmp_path / "bad.spec"
    spec.write_text(SPEC.format(imports="", layer="Linaer(3) -> "))
    done = _run(["-m", "specc", "run", str(spec), "--nproc", "2"], tmp_path, timeout=60)
    assert done.returncode == 2
    assert "bad.spec:8:17: error" in done.stderr and "rank" not in done.stderr
    assert not (tmp_path / "runs").exists()


def test_shards_split_each_global_batch(tmp_path):
    from specc.data.batches import InMemoryBatches
    from specc.data.table import Table

    table = Table.from_tensors({"x": torch.arange(10.0).reshape(10, 1)})
    parts = []
    for rank in range(3):
        b = InMemoryBatches(table, 4, shuffle=True, seed=1)
        b.shard(rank, 3)
        b.set_epoch(2)
        parts.append([batch["x"].reshape(-1).tolist() for batch in b])
    whole = InMemoryBatches(table, 4, shuffle=True, seed=1)
    whole.set_epoch(2)
    for i, batch in enumerate(whole):
        assert sum((p[i] for p in parts), []) == batch["x"].reshape(-1).tolist()
        assert whole.global_size(i) == len(batch["x"])


def test_ctrl_c_stops_every_worker_and_saves_once(tmp_path):
    """A Ctrl-C reaches the whole process group, as a terminal sends it: parent, launcher and
    workers. Every worker stops, rank 0 saves last.pt and says so once, the status is 130."""
    import signal
    import time

    spec = _spec(tmp_path)
    spec.write_text(spec.read_text().replace("epochs = 3", "epochs = 500"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "specc", "run", str(spec), "--out", "run", "--nproc", "2",
                             "--quiet"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    history = tmp_path / "run" / "history.csv"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None and \
            not (history.exists() and len(history.read_text().splitlines()) > 2):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.count("interrupted: last.pt saved in run") == 1 and "Traceback" not in err, err
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["epoch"] >= 2
    with pytest.raises(ProcessLookupError):   # no worker is left behind
        os.killpg(proc.pid, 0)
