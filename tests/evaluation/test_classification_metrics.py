import numpy as np
import pytest
from sklearn import metrics as sk

from ecomtf.evaluation import classification_metrics as metrics


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1)
    p[:50] = np.round(p[:50], 1)  # ties
    return y, p


def test_auc_and_pr_auc_match_scikit_learn(scores):
    y, p = scores
    assert metrics.roc_auc(y, p) == pytest.approx(sk.roc_auc_score(y, p), abs=1e-12)
    assert metrics.pr_auc(y, p) == pytest.approx(sk.average_precision_score(y, p), abs=1e-12)


def test_losses_and_threshold_metrics_match_scikit_learn(scores):
    y, p = scores
    assert metrics.log_loss(y, p) == pytest.approx(sk.log_loss(y, np.clip(p, 1e-7, 1 - 1e-7)), rel=1e-9)
    assert metrics.brier_score(y, p) == pytest.approx(sk.brier_score_loss(y, p))
    t = metrics.threshold_metrics(y, p, 0.6)
    pred = p >= 0.6
    assert t["f1"] == pytest.approx(sk.f1_score(y, pred))
    assert t["precision"] == pytest.approx(sk.precision_score(y, pred))
    assert t["recall"] == pytest.approx(sk.recall_score(y, pred))


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.roc_auc([0, 1], [0.5])
    with pytest.raises(ValueError, match="NaN"):
        metrics.roc_auc([0, 1], [0.5, np.nan])
    assert np.isnan(metrics.roc_auc([1, 1], [0.2, 0.3]))


def test_binary_report_adds_metrics_at_a_threshold_chosen_on_validation():
    from ecomtf.evaluation.classification_metrics import VALIDATION_THRESHOLD_KEYS
    from ecomtf.evaluation.classification_metrics import best_f1_threshold
    from ecomtf.evaluation.classification_metrics import binary_report

    # A 3% base rate: a useful model whose probabilities never reach 0.5.
    rng = np.random.default_rng(0)
    def sample(n):
        y = (rng.random(n) < 0.03).astype(float)
        p = np.clip(0.02 + 0.2 * y + rng.normal(0, 0.05, n), 0.001, 0.45)
        return y, p
    y_val, p_val = sample(4000)
    y_test, p_test = sample(4000)
    report = binary_report(y_test, p_test, validation=(y_val, p_val))
    assert report["f1"] == 0.0 and report["precision"] == 0.0  # nothing crosses 0.5
    assert set(VALIDATION_THRESHOLD_KEYS) <= set(report)
    assert report["val_f1_threshold"] == best_f1_threshold(y_val, p_val) < 0.5
    assert report["f1_at_val_threshold"] > 0.5 and report["pr_auc"] > 0.5
    # Without positives in validation there is no threshold to choose.
    empty = binary_report(y_test, p_test, validation=(np.zeros(10), np.full(10, 0.1)))
    assert np.isnan(empty["val_f1_threshold"]) and np.isnan(empty["f1_at_val_threshold"])
    with pytest.raises(ValueError):
        best_f1_threshold([], [])
