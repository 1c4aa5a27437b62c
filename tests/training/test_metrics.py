"""Metrics against hand computations (and scikit-learn where it has the same metric)."""
import math

import pytest
import torch

from specc.training.config import METRICS
from specc.training.errors import TrainError
from specc.training.metrics import ACCUMULATORS, Scoring, SplitMeter

CPU = torch.device("cpu")


def compute(names, batches, threshold=0.0, **scoring):
    meter = SplitMeter(names, CPU, Scoring(threshold, **scoring))
    for output, target in batches:
        meter.update(torch.tensor(0.0), output, target)
    return meter.compute()


def logits_for(pred, classes):
    """Logits whose argmax is ``pred``."""
    return torch.nn.functional.one_hot(torch.tensor(pred), classes).float() * 3 - 1


# 3 classes, 10 examples. Confusion matrix (rows = true, columns = predicted):
#   true 0: [2, 1, 0]    true 1: [1, 3, 0]    true 2: [0, 1, 2]
TRUE = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
PRED = [0, 0, 1, 0, 1, 1, 1, 1, 2, 2]
# per class: tp, predicted, actual -> precision, recall, f1
#   0: 2, 3, 3 -> 2/3, 2/3, 2/3
#   1: 3, 5, 4 -> 3/5, 3/4, 6/9
#   2: 2, 2, 3 -> 1,   2/3, 4/5
HAND = {
    "accuracy": 7 / 10,
    "precision": (2 / 3 + 3 / 5 + 1) / 3,
    "recall": (2 / 3 + 3 / 4 + 2 / 3) / 3,
    "f1": (2 / 3 + 6 / 9 + 4 / 5) / 3,
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_classification_metrics_match_hand_confusion_matrix(name):
    out, tgt = logits_for(PRED, 3), torch.tensor(TRUE)
    # split into uneven batches: the accumulation must not depend on batching
    batches = [(out[:4], tgt[:4]), (out[4:7], tgt[4:7]), (out[7:], tgt[7:])]
    assert compute([name], batches)[name] == pytest.approx(HAND[name], abs=1e-12)


def test_macro_scores_agree_with_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(1)
    tgt = torch.randint(0, 4, (200,), generator=g)
    out = torch.randn(200, 5, generator=g)  # class 4 is predicted but never true
    got = compute(["f1", "precision", "recall", "accuracy"], [(out, tgt)])
    pred = out.argmax(1).numpy()
    assert got["f1"] == pytest.approx(metrics.f1_score(tgt, pred, average="macro", zero_division=0))
    assert got["precision"] == pytest.approx(
        metrics.precision_score(tgt, pred, average="macro", zero_division=0))
    assert got["recall"] == pytest.approx(
        metrics.recall_score(tgt, pred, average="macro", zero_division=0))
    assert got["accuracy"] == pytest.approx(metrics.accuracy_score(tgt, pred))


def test_top5_counts_target_among_five_best():
    out = torch.tensor([[9., 8, 7, 6, 5, 4, 0],    # target 4 is 5th best -> hit
                        [9., 8, 7, 6, 5, 4, 0],    # target 5 is 6th best -> miss
                        [0., 0, 0, 0, 0, 0, 1]])   # target 6 is best -> hit
    assert compute(["top5"], [(out, torch.tensor([4, 5, 6]))])["top5"] == pytest.approx(2 / 3)


def test_binary_scores_threshold_at_zero_for_logits_and_given_threshold():
    out = torch.tensor([[-2.0], [0.3], [0.7], [-0.1]])
    tgt = torch.tensor([[0.0], [1.0], [0.0], [1.0]])
    assert compute(["accuracy"], [(out, tgt)])["accuracy"] == pytest.approx(2 / 4)
    # with probabilities and threshold 0.5: predictions 0, 0, 1, 0 -> 1 of 4 right
    assert compute(["accuracy"], [(out, tgt)], threshold=0.5)["accuracy"] == pytest.approx(1 / 4)


def test_regression_metrics_match_hand_formulas():
    out = torch.tensor([[1.0], [2.0], [4.0], [3.0]])
    tgt = torch.tensor([[1.5], [2.0], [3.0], [5.0]])
    # residuals -0.5, 0, 1, -2; squares 0.25, 0, 1, 4; mean target 2.875
    ss_res = 5.25
    ss_tot = sum((t - 2.875) ** 2 for t in (1.5, 2.0, 3.0, 5.0))
    got = compute(["mae", "rmse", "r2"], [(out[:3], tgt[:3]), (out[3:], tgt[3:])])
    assert got["mae"] == pytest.approx(3.5 / 4)
    assert got["rmse"] == pytest.approx(math.sqrt(ss_res / 4))
    assert got["r2"] == pytest.approx(1 - ss_res / ss_tot)


def test_r2_averages_columns_like_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    tgt = torch.randn(50, 3, generator=g)
    out = tgt + 0.3 * torch.randn(50, 3, generator=g)
    got = compute(["r2"], [(out[:20], tgt[:20]), (out[20:], tgt[20:])])["r2"]
    assert got == pytest.approx(metrics.r2_score(tgt.numpy(), out.numpy()))


def test_r2_of_constant_target():
    tgt = torch.ones(4)
    assert compute(["r2"], [(torch.ones(4), tgt)])["r2"] == 1.0
    assert compute(["r2"], [(torch.zeros(4), tgt)])["r2"] == 0.0


def test_loss_is_weighted_by_batch_size():
    meter = SplitMeter([], CPU)
    meter.update(torch.tensor(1.0), torch.zeros(3, 2), torch.zeros(3, dtype=torch.long))
    meter.update(torch.tensor(4.0), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))
    assert meter.compute()["loss"] == pytest.approx((3 * 1.0 + 1 * 4.0) / 4)


def test_every_configurable_metric_has_an_accumulator():
    assert sorted(ACCUMULATORS) == sorted(METRICS)


@pytest.mark.parametrize("name, output, target", [
    ("accuracy", torch.zeros(4, 3), torch.zeros(4, 2)),
    ("top5", torch.zeros(4), torch.zeros(4)),
    ("rmse", torch.zeros(4, 2), torch.zeros(4)),
])
def test_mismatched_shapes_raise_train_error_naming_them(name, output, target):
    with pytest.raises(TrainError, match=name) as err:
        compute([name], [(output, target)])
    assert str(tuple(output.shape)) in str(err.value)


def test_classes_on_the_last_dim_are_scored_per_position_and_pad_positions_are_skipped():
    """A sequence model's (B, T, C) scores with (B, T) targets: accuracy and top5 count each
    position whose target is not the ignored pad, exactly as a flattened hand count does."""
    g = torch.Generator().manual_seed(0)
    out = torch.randn(4, 6, 7, generator=g)
    tgt = torch.randint(1, 7, (4, 6), generator=g)
    tgt[:, 4:] = 0                                    # padding
    flat_out, flat_tgt = out.reshape(-1, 7), tgt.reshape(-1)
    kept = flat_tgt != 0
    want = (flat_out.argmax(1) == flat_tgt)[kept].float().mean().item()
    top = flat_out.topk(5, dim=1).indices
    want5 = (top == flat_tgt.unsqueeze(1)).any(1)[kept].float().mean().item()
    got = compute(["accuracy", "top5", "f1"], [(out, tgt)], class_dim=-1, ignore_index=0)
    assert got["accuracy"] == pytest.approx(want) and got["top5"] == pytest.approx(want5)
    from sklearn.metrics import f1_score
    assert got["f1"] == pytest.approx(f1_score(flat_tgt[kept], flat_out.argmax(1)[kept], average="macro"))
    everything = compute(["accuracy"], [(out, tgt)], class_dim=-1)["accuracy"]
    assert everything == pytest.approx((flat_out.argmax(1) == flat_tgt).float().mean().item())
