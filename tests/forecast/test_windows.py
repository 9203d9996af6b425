import numpy as np
import pytest

from ecomtf.data.windows import SalesWindows
from ecomtf.data.windows import feature_names
from ecomtf.data.windows import input_name
from tests.forecast.conftest import daily_table


def test_features_are_the_table_values_at_the_right_offsets():
    table, _ = daily_table()
    w = SalesWindows(table, history_length=10, horizon=5)
    s = table.series_ids.tolist().index("s1|i1")
    feats = w.features([[s, 50]])
    np.testing.assert_array_equal(feats["history"][0], table.target[s, 40:50])
    np.testing.assert_array_equal(w.targets([[s, 50]])[0], table.target[s, 50:55])
    np.testing.assert_array_equal(feats["history_price"][0], table.known["price"][s, 40:50])
    np.testing.assert_array_equal(feats["future_promo"][0], table.known["promo"][s, 50:55])
    assert feats["start_day"][0] == table.start_day + 50
    assert (feats["series_id"][0], feats["store"][0], feats["item"][0]) == (b"s1|i1", b"s1", b"i1")
    assert feats["category"][0] == b"toys"
    # Before the table starts, history is NaN (unknown), not zero.
    early = w.features([[s, 3]])["history"][0]
    assert np.isnan(early[:7]).all() and np.isfinite(early[7:]).all()


def test_origins_need_a_known_target_and_history():
    table, _ = daily_table()
    w = SalesWindows(table, history_length=14, horizon=7)
    origins = w.origins()
    ids = table.series_ids.tolist()
    late, stopped = ids.index("s1|i2"), ids.index("s0|i1")
    t_late = origins[origins[:, 0] == late, 1]
    t_stop = origins[origins[:, 0] == stopped, 1]
    assert t_late.min() == 41  # starts at day 40: one known history value needed
    assert t_stop.max() == 99  # stops after day 99: the horizon needs a known target
    assert origins[:, 1].max() == table.length - 7
    y = w.targets(origins)
    assert np.isfinite(y).any(axis=1).all()
    strided = w.origins(stride=7, start="2024-02-01", end="2024-03-01")
    # Every 7th origin, counted back from the last one selected (2024-03-01).
    assert strided[:, 1].max() == 60 and set(np.unique(strided[:, 1]) % 7) == {60 % 7}
    assert strided[:, 1].min() >= 31


def test_dataset_batches_and_seeded_order():
    table, _ = daily_table()
    w = SalesWindows(table, history_length=14, horizon=7)
    origins = w.origins()
    ds = w.dataset(origins, batch_size=32, shuffle=True, seed=3)
    feats, y = next(iter(ds))
    assert feats["history"].shape == (32, 14) and y.shape == (32, 7)
    assert feats["future_price"].shape == (32, 7) and feats["store"].dtype.name == "string"
    again = next(iter(w.dataset(origins, batch_size=32, shuffle=True, seed=3)))[0]["start_day"]
    np.testing.assert_array_equal(feats["start_day"], again)
    total = sum(int(b[1].shape[0]) for b in w.dataset(origins, batch_size=100))
    assert total == len(origins)
    with pytest.raises(ValueError, match="no windows"):
        w.dataset(np.zeros((0, 2)))


def test_latest_carries_known_covariates_forward():
    table, _ = daily_table()
    w = SalesWindows(table, history_length=14, horizon=7)
    feats = w.latest()
    assert feats["start_day"][0] == table.start_day + table.length
    np.testing.assert_array_equal(feats["history"], table.target[:, -14:])
    # No plan for the future: NaN, which the model's graph fills (last value).
    assert np.isnan(feats["future_price"]).all()
    plan = np.full((table.n_series, 7), 1.0)
    assert (w.latest({"promo": plan})["future_promo"] == 1).all()


def test_input_names_are_sanitized_and_clashes_rejected():
    assert input_name("Unit Price (€)") == "Unit_Price____"
    assert input_name("_x") == "c_x"
    with pytest.raises(ValueError, match="clashing"):
        feature_names(["history"], [], [], [])
    with pytest.raises(ValueError, match="clashing"):
        feature_names(["a b"], ["a_b"], [], [])
