import numpy as np

from ecomtf.evaluation.classification_metrics import roc_auc
from ecomtf.evaluation.purchase_baselines import LogisticRegression
from ecomtf.evaluation.purchase_baselines import prefix_count_features
from ecomtf.evaluation.purchase_baselines import purchase_baselines


def test_prefix_counts_and_recency_per_event_type():
    feats = {"item_id": np.array([["", "a", "b", "a"], ["x", "y", "z", "w"]]),
             "event_type": np.array([["", "view", "cart", "view"], ["view"] * 4]),
             "time_delta": np.array([[0, 0, 10, 30], [0, 1, 1, 1]], np.float32)}
    f = prefix_count_features(feats, ["cart", "view"])
    assert f["cart count"].tolist() == [1, 0] and f["view count"].tolist() == [2, 4]
    assert f["cart recency"].tolist() == [-1, -5]  # one step ago; never (-steps - 1)
    assert f["view recency"].tolist() == [0, 0]
    np.testing.assert_allclose(f["cart seconds since"], [-np.log1p(30), -np.log1p(1e6)])
    assert f["distinct items"].tolist() == [2, 4] and f["events"].tolist() == [3, 4]


def test_logistic_regression_matches_a_known_fit():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    y = (rng.random(4000) < 1 / (1 + np.exp(-(0.5 + 2 * x[:, 0] - x[:, 1])))).astype(float)
    lr = LogisticRegression(l2=0.0).fit(x, y)
    w = lr.weights[1:] / lr.std  # back to the raw scale
    np.testing.assert_allclose(w, [2.0, -1.0], atol=0.15)
    assert roc_auc(y, lr.predict(x)) > 0.8


def test_best_rule_is_chosen_on_training_rows():
    rng = np.random.default_rng(1)
    n = 600
    ev = rng.choice(["view", "cart"], size=(n, 5))
    items = rng.choice(list("abcdefgh"), size=(n, 5))
    y = ((ev == "cart").sum(1) + rng.normal(0, 0.7, n) > 2).astype(float)
    feats = {"item_id": items, "event_type": ev}
    tr, te = {k: v[:400] for k, v in feats.items()}, {k: v[400:] for k, v in feats.items()}
    out = purchase_baselines(tr, y[:400], te)
    assert out["_chosen rule"] == "cart count"
    assert roc_auc(y[400:], out["logistic regression on counts"]) > 0.75
    table = purchase_baselines({"x": np.arange(10.0)}, (np.arange(10) > 4).astype(float),
                               {"x": np.array([0.0, 9.0])})
    assert list(table) == ["logistic regression"]
    assert table["logistic regression"][1] > table["logistic regression"][0]
