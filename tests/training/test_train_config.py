"""TrainConfig validation (torch-free) and monitor directions."""
import subprocess
import sys

import pytest

from specc.training.config import EarlyStop, TrainConfig, monitor_mode
from specc.training.errors import TrainError


def test_lists_become_tuples_and_defaults_hold():
    config = TrainConfig(metrics=["accuracy", "f1"], plot=["loss"])
    assert config.metrics == ("accuracy", "f1") and config.plot == ("loss",)
    assert (config.device, config.seed, config.precision, config.accumulate) == ("auto", 0, "fp32", 1)
    hash(config)  # frozen and hashable


@pytest.mark.parametrize("monitor, mode", [
    ("valid.loss", "min"), ("train.loss", "min"), ("valid.rmse", "min"), ("valid.mae", "min"),
    ("valid.accuracy", "max"), ("train.f1", "max"), ("valid.r2", "max"), ("valid.top5", "max"),
])
def test_monitor_mode_is_inferred_from_the_metric(monitor, mode):
    assert monitor_mode(monitor) == mode
    assert EarlyStop(monitor).mode == mode


def test_explicit_mode_wins():
    assert EarlyStop("valid.loss", mode="max").mode == "max"


@pytest.mark.parametrize("kwargs, fragment, hint", [
    ({"metrics": ["acuracy"]}, "unknown metric 'acuracy'", "did you mean 'accuracy'?"),
    ({"plot": ["los"]}, "unknown plot 'los'", "did you mean 'loss'?"),
    ({"precision": "fp8"}, "unknown precision 'fp8'", None),
    ({"device": "gpu"}, "device must be auto, cpu, cuda, cuda:N or mps. Received: 'gpu'", None),
    ({"epochs": 0}, "epochs must be an integer >= 1. Received: 0", None),
    ({"accumulate": 0}, "accumulate must be an integer >= 1", None),
    ({"clip_grad": -1.0}, "clip_grad must be > 0", None),
])
def test_bad_values_raise_train_error(kwargs, fragment, hint):
    with pytest.raises(TrainError) as err:
        TrainConfig(**kwargs)
    assert fragment in str(err.value)
    assert err.value.hint == hint


@pytest.mark.parametrize("monitor, fragment", [
    ("loss", "split.metric"),
    ("valid.acc", "unknown metric 'acc'"),
    ("test.accuracy", "the test split is scored once, at the end"),
    ("dev.loss", "unknown split 'dev'"),
])
def test_bad_monitors(monitor, fragment):
    with pytest.raises(TrainError, match=fragment):
        EarlyStop(monitor)


def test_config_module_does_not_import_torch():
    code = "import sys, specc.training.config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
