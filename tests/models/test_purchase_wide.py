"""The wide part of PurchasePredictor: prefix counts computed in the graph, raw in."""

import math

import numpy as np
import pytest
import tensorflow as tf

from ecomtf.evaluation.purchase_baselines import prefix_count_features
from ecomtf.export.purchase_predictor_servable import PurchasePredictorServable
from ecomtf.layers.prefix_counts import PrefixCounts
from ecomtf.models.purchase_predictor import PurchasePredictor
from tests.export_checks import run_export_test
from tests.export_checks import run_tflite_test
from tests.models.test_purchase_predictor import planted_sequences


def test_graph_counts_equal_the_baseline_columns():
    feats, _ = planted_sequences(80, seed=3)
    types = ["cart", "view"]
    got = PrefixCounts(types, 6)(tf.constant(feats["item_id"]), tf.constant(feats["event_type"]),
                                 tf.constant(feats["time_delta"])).numpy()
    want = prefix_count_features(feats, types)
    for j, (name, v) in enumerate(want.items()):
        if name.endswith("count") or name in ("events", "distinct items"):
            v = np.log1p(v)
        elif name.endswith("recency"):
            v = v / 7.0
        else:
            v = v / math.log1p(1e6)
        np.testing.assert_allclose(got[:, j], v, atol=1e-5, err_msg=name)
    # Padding on the right, or more steps than the model reads, change nothing.
    right = {k: np.concatenate([v, np.full((len(v), 2), "" if v.dtype.kind == "U" else 0, v.dtype)], 1)
             for k, v in feats.items() if v.ndim == 2}
    again = PrefixCounts(types, 6)(tf.constant(right["item_id"]), tf.constant(right["event_type"]),
                                   tf.constant(right["time_delta"])).numpy()
    np.testing.assert_allclose(again, got, atol=1e-6)


@pytest.fixture(scope="module")
def wide_model():
    tf.keras.utils.set_random_seed(2)
    feats, labels = planted_sequences()
    model = PurchasePredictor.from_dataset(feats, labels, lstm_units=8, item_dim=8, hidden_units=(8,),
                                           wide=True)
    model.compile(tf.keras.optimizers.Adam(0.02), "binary_crossentropy")
    model.fit(feats, labels, epochs=4, batch_size=64, verbose=0)
    return model, feats


def test_wide_model_exports_and_converts(wide_model, tmp_path):
    model, feats = wide_model
    assert model.wide and model.get_config()["wide"] is True
    assert PurchasePredictor.from_config(model.get_config()).get_config() == model.get_config()
    few = {k: v[:32] for k, v in feats.items()}
    run_export_test(PurchasePredictorServable(model, examples=few), tmp_path / "purchase")
    diffs = run_tflite_test(PurchasePredictorServable(model), tmp_path / "p.tflite",
                            {k: v[:200] for k, v in feats.items()}, atol=1e-4)
    assert max(diffs.values()) <= 1e-4


def test_wide_part_never_below_a_count_rule():
    """Labels from a pure count rule (3+ carts): the wide model reaches the rule's AUC."""
    from ecomtf.evaluation.classification_metrics import roc_auc

    rng = np.random.default_rng(0)
    n, t = 1500, 8
    event = rng.choice(["view", "view", "cart"], size=(n, t))
    item = rng.choice([f"i{j}" for j in range(40)], size=(n, t))
    carts = (event == "cart").sum(1)
    labels = (rng.random(n) < 1 / (1 + np.exp(-(carts - 3.0) * 1.5))).astype(np.float32)
    feats = {"item_id": item, "event_type": event}
    tr, te = slice(0, 1000), slice(1000, None)
    tf.keras.utils.set_random_seed(0)
    model = PurchasePredictor.from_dataset({k: v[tr] for k, v in feats.items()}, labels[tr],
                                           lstm_units=8, item_dim=4, hidden_units=(8,), wide=True)
    model.compile(tf.keras.optimizers.Adam(0.02), "binary_crossentropy")
    model.fit({k: v[tr] for k, v in feats.items()}, labels[tr], epochs=6, batch_size=64, verbose=0)
    p = model.predict({k: v[te] for k, v in feats.items()}, verbose=0)[:, 0]
    assert roc_auc(labels[te], p) >= roc_auc(labels[te], carts[te]) - 0.01


def test_fit_wide_starts_at_the_count_regression():
    from ecomtf.evaluation.purchase_baselines import LogisticRegression

    feats, labels = planted_sequences(400, seed=4)
    model = PurchasePredictor.from_dataset(feats, labels, lstm_units=4, item_dim=4, hidden_units=(4,),
                                           wide=True)
    model.fit_wide(feats, labels)
    x = model.prefix_counts(tf.constant(feats["item_id"]), tf.constant(feats["event_type"]),
                            tf.constant(feats["time_delta"])).numpy()
    want = LogisticRegression().fit(x, labels).predict(x)
    np.testing.assert_allclose(model.predict(feats, verbose=0)[:, 0], want, atol=1e-4)
