"""The purchase recipe recovers the simulator's planted signal, and reads the real tables."""

import numpy as np
import pytest

from ecomtf.datasets import simulate_shop
from ecomtf.evaluation.classification_metrics import roc_auc
from ecomtf.recipes import purchase


def test_recovers_planted_signal_close_to_bayes_optimal():
    shop = simulate_shop(seed=0)
    data = purchase.events_to_examples(shop.events, max_length=20)
    _, metrics = purchase.train(data.train, data.test, epochs=20, lstm_units=32, item_dim=16,
                                hidden_units=[32], verbose=0)
    true_p = dict(zip(shop.session_ids, shop.session_purchase_probability))
    bayes = roc_auc(data.test.labels, [true_p[s.split("/", 1)[1]] for s in data.test.ids])
    # 3,000 training sessions: measured 0.841 vs Bayes 0.878 (benchmarks/purchase.py
    # gets within 0.013 with 17k sessions). A model that ignores the sequence
    # order, carts or prices lands near 0.70.
    assert metrics["auc"] > bayes - 0.06, (metrics["auc"], bayes)


def test_time_split_has_no_future_in_training():
    shop = simulate_shop(n_users=300, n_days=20, seed=1)
    data = purchase.events_to_examples(shop.events, max_length=10, test_fraction=0.3)
    assert len(data.train) and len(data.test)
    assert set(data.train.ids).isdisjoint(data.test.ids)


def test_online_shoppers_bundled_split_is_stratified_and_seeded():
    a = purchase.online_shoppers_examples(seed=42)
    b = purchase.online_shoppers_examples(seed=42)
    assert len(a.train) + len(a.test) == 12330
    np.testing.assert_array_equal(a.test.labels, b.test.labels)
    assert abs(a.train.labels.mean() - a.test.labels.mean()) < 0.002


def test_one_class_split_is_a_clear_error():
    feats = {"x": np.arange(10, dtype=np.float32)}
    with pytest.raises(ValueError, match="only one class"):
        purchase.table_to_examples(feats, np.zeros(10))
