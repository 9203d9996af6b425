"""Numpy metrics for the text models."""

import numpy as np
import pytest

from ecomtf.text import metrics as m


def test_accuracy_macro_f1_and_confusions():
    y = np.array(["a", "a", "b", "b", "c"])
    p = np.array(["a", "b", "b", "b", "a"])
    assert m.accuracy(y, p) == pytest.approx(0.6)
    # F1: a = 2*.5*.5/1 = .5; b = 2*(2/3)*1/(5/3) = .8; c = 0.
    assert m.macro_f1(y, p) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    rep = m.classification_report(y, p)
    assert rep["per_label"]["c"]["confused_with"] == [("a", 1)]
    assert m.confusion_matrix(y, p, ["a", "b", "c"]).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert "macro-F1" in m.format_confusion_report(rep)


def test_threshold_with_and_without_out_of_scope():
    in_scores = np.array([0.9, 0.8, 0.7, 0.6, 0.3])
    correct = np.array([True, True, True, True, False])
    out_scores = np.array([0.2, 0.5, 0.65])
    t = m.choose_threshold(in_scores, correct, out_scores)
    # 0.7: 3/5 in-scope right and accepted + 3/3 rejected = 1.6, the best sum
    # (0.6 gives 4/5 + 2/3; 0.8 gives 2/5 + 1).
    assert t == pytest.approx(0.7)
    got = m.out_of_scope_metrics(in_scores, correct, out_scores, t)
    assert got == {"in_scope_accuracy": 0.6, "in_scope_accept_rate": 0.6, "out_of_scope_recall": 1.0}
    assert m.choose_threshold(np.linspace(0, 1, 101), accept_rate=0.9) == pytest.approx(0.1)


def test_temperature_recovers_the_generating_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 5)) * 3
    z = logits / 2.0
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    labels = np.array([rng.choice(5, p=row) for row in p])
    assert m.fit_temperature(logits, labels) == pytest.approx(2.0, rel=0.1)


def test_out_of_scope_calibration_softens_when_that_separates_out_of_scope():
    # In scope: confident queries and ambiguous ones (two intents tied, the
    # first right); all are right, so the NLL fit sharpens to the grid's
    # edge. Out of scope: one moderately high logit. Sharpened, out-of-scope
    # queries score above the ambiguous in-scope ones; softened (T = 3) they
    # score below all of them and one threshold separates the two sets.
    confident = np.tile([8.0, 0, 0, 0], (20, 1))
    ambiguous = np.tile([6.01, 6.0, 0, 0], (20, 1))
    logits = np.concatenate([confident, ambiguous])
    labels = np.zeros(len(logits), np.int64)
    out_logits = np.tile([2.5, 0, 0, 0], (10, 1))
    got = m.calibrate_out_of_scope(logits, labels, out_logits)
    assert got["nll_temperature"] < 1.0
    assert got["temperature"] == 3.0
    z = lambda x: np.exp(x / 3.0) / np.exp(x / 3.0).sum(1, keepdims=True)  # noqa: E731
    scores = m.out_of_scope_metrics(z(logits).max(1), np.ones(len(logits), bool), z(out_logits).max(1),
                                    got["threshold"])
    assert scores["in_scope_accuracy"] == 1.0 and scores["out_of_scope_recall"] == 1.0
    # Without out-of-scope examples nothing measures detection: the NLL fit stays.
    alone = m.calibrate_out_of_scope(logits, labels, accept_rate=0.5)
    assert alone["temperature"] == alone["nll_temperature"] == got["nll_temperature"]
    assert m.calibrate_out_of_scope(logits, labels, out_logits, fit=False)["temperature"] == 1.0


def test_recall_at_k_and_mrr():
    ranked = np.array([["x", "y"], ["y", "x"], ["z", "w"]])
    true = np.array(["x", "x", "x"])
    assert m.recall_at_k(ranked, true, 1) == pytest.approx(1 / 3)
    assert m.recall_at_k(ranked, true, 2) == pytest.approx(2 / 3)
    assert m.mean_reciprocal_rank(ranked, true) == pytest.approx((1 + 0.5 + 0) / 3)
