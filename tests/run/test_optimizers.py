"""Optimizers the trainer must drive in a special way, or refuse at check: LBFGS (the trainer
supplies the closure) and SparseAdam (sparse gradients only)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

import specc
from specc.cli.main import main
from specc.data.plan import load_splits

LBFGS = """data {
    train = moons(samples=200, noise=0.2)
    batch = full
    shuffle = false
}
model M(x: float[2]) {
    return x -> Linear(8) -> Tanh -> Linear(2)
}
loss = cross_entropy
optimizer = LBFGS(lr=0.5, max_iter=5)
train { epochs = 4 }
"""


def test_lbfgs_trains_as_a_hand_written_lbfgs_loop(tmp_path):
    spec = tmp_path / "lbfgs.spec"
    spec.write_text(LBFGS)
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    trained = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]

    checked = specc.check(specc.load(str(spec)))
    data = load_splits(checked.spec, checked.data, checked.target).train.fields
    torch.manual_seed(0)
    model = specc.build(checked)
    optimizer = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=5)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # as the trainer runs a model this small
    try:
        for _ in range(4):
            def closure():
                optimizer.zero_grad()
                loss = F.cross_entropy(model(data["x"]), data["y"])
                loss.backward()
                return loss
            optimizer.step(closure)
    finally:
        torch.set_num_threads(threads)
    for key, value in model.state_dict().items():
        assert torch.equal(value, trained[key]), key


def _check(tmp_path, capsys, text):
    spec = tmp_path / "s.spec"
    spec.write_text(text)
    assert main(["check", str(spec)]) == 2
    return spec, capsys.readouterr().err


def test_lbfgs_with_settings_it_cannot_run_with_is_refused_at_check(tmp_path, capsys):
    spec, err = _check(tmp_path, capsys, LBFGS.replace("epochs = 4", "epochs = 4, accumulate = 2"))
    assert (f"{spec}:11:34: error: LBFGS cannot run with accumulate = 2: it evaluates the loss several "
            "times per step on one batch") in err
    assert "hint: set accumulate = 1, or use another optimizer" in err


def test_sparse_adam_with_dense_layers_is_refused_at_check(tmp_path, capsys):
    spec, err = _check(tmp_path, capsys, LBFGS.replace("LBFGS(lr=0.5, max_iter=5)", "SparseAdam(lr=0.01)"))
    assert f"{spec}:10:13: error: SparseAdam does not support dense gradients, and Linear (line 7)" in err


def test_sparse_adam_with_sparse_embeddings_trains(tmp_path):
    spec = tmp_path / "s.spec"
    spec.write_text("""data {
    train = sequences(samples=40, vocab=10, length=5, classes=2)
    batch = 8
}
model M(tokens: long[seq]) {
    return tokens -> Embedding(10, 2, sparse=true) -> mean(dim=1)
}
loss = cross_entropy
optimizer = SparseAdam(lr=0.1)
train { epochs = 2 }
""")
    assert main(["check", str(spec)]) == 0
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--quiet"]) == 0


def test_a_refused_setting_from_set_is_quoted_from_the_set_text(tmp_path, capsys):
    spec = tmp_path / "s.spec"
    spec.write_text(LBFGS)
    assert main(["run", str(spec), "--out", str(tmp_path / "r"), "--set", "train.accumulate=4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("--set:1:18: error: LBFGS cannot run with accumulate = 4: it evaluates the loss"), err


def test_an_interrupted_lbfgs_run_says_why_it_does_not_resume(tmp_path, capsys):
    spec = tmp_path / "s.spec"
    spec.write_text(LBFGS)
    out = tmp_path / "r"
    assert main(["run", str(spec), "--out", str(out), "--quiet"]) == 0
    assert main(["run", str(spec), "--out", str(out), "--quiet", "--resume", "--set", "train.epochs=6"]) == 1
    err = capsys.readouterr().err
    assert "is a run of LBFGS, whose state (a curvature history) specc cannot check" in err
    assert "damaged" not in err
