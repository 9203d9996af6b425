"""Past-only covariates: seen over the history, never over the horizon, served as history."""

import copy

import numpy as np
import tensorflow as tf

import ecomtf.export as ex
from ecomtf.data.sales_table import SalesTable
from ecomtf.data.windows import SalesWindows
from ecomtf.models.sales_forecaster import SalesForecaster
from ecomtf.recipes import forecast
from tests.export_checks import call_signature
from tests.forecast.conftest import daily_columns
from tests.forecast.test_recipe import _args


def past_table(n_days=80):
    """The daily table plus ``visits``: shop traffic, known only once the day is over."""
    cols = daily_columns(n_days=n_days)
    rng = np.random.default_rng(1)
    cols["visits"] = [round(8 * u + rng.normal(0, 3), 1) for u in cols["units"]]
    table, _ = SalesTable.from_columns(
        cols, date="date", target="units", keys=["store", "item"], known=["price", "promo"],
        past=["visits"],
    )
    return table


def test_windows_carry_a_past_covariate_over_the_history_only():
    table = past_table()
    assert list(table.past) == ["visits"] and "visits" not in table.known
    w = SalesWindows(table, history_length=10, horizon=5)
    s = table.series_ids.tolist().index("s1|i1")
    feats = w.features([[s, 50]])
    assert {k for k in feats if "visits" in k} == {"history_visits"}
    assert feats["history_visits"].shape == (1, 10)
    np.testing.assert_array_equal(feats["history_visits"][0], table.past["visits"][s, 40:50])
    # Known covariates do reach into the horizon; the past one does not.
    assert feats["future_price"].shape == (1, 5)
    # Whatever the past covariate does from the origin on cannot leak in.
    leaky = copy.copy(table)
    leaky.past = {"visits": table.past["visits"].copy()}
    leaky.past["visits"][:, 50:] = 1e6
    np.testing.assert_array_equal(SalesWindows(leaky, 10, 5).features([[s, 50]])["history_visits"],
                                  feats["history_visits"])
    batch, _ = next(iter(w.dataset(w.origins(), batch_size=16)))
    assert batch["history_visits"].shape == (16, 10)
    assert "future_visits" not in batch


def test_cli_past_cols_flag_maps_a_column_to_the_past_role(weekly_csv):
    args = _args(weekly_csv)
    args.known_cols, args.past_cols = "unit_price", "on_promo"
    table, _ = forecast.read_table_from_args(args)
    assert list(table.past) == ["on_promo"]
    assert list(table.known) == ["unit_price", "is_holiday"]


def test_past_covariate_is_a_history_input_of_the_served_model():
    tf.keras.utils.set_random_seed(0)
    table = past_table()
    cutoff = table.start + 66
    model = SalesForecaster.from_table(
        table, horizon=7, lookback=14, until=cutoff, lstm_units=8, hidden_units=8,
        embedding_dim=4, seed=0,
    )
    assert model.past_cols == ["visits"] and model.names["past"] == ["history_visits"]
    spec = model.input_spec_dict()
    assert spec["history_visits"].shape.as_list() == [None, model.history_length]
    assert "future_visits" not in spec
    windows = SalesWindows(table.slice(end=cutoff), model.history_length, model.horizon)
    model.compile(tf.keras.optimizers.Adam(1e-2))
    model.fit(windows.dataset(windows.origins(), batch_size=64, shuffle=True, seed=0),
              epochs=1, verbose=0)

    # serving_default takes the past covariate as dated history, like the target.
    sigs = ex.as_servable(model).signatures()
    raw_spec = sigs["serving_default"].input_signature[0]
    assert raw_spec["history_visits"].shape.as_list() == [None, None]
    assert "future_visits" not in raw_spec
    request = forecast.raw_request(model, table, np.arange(table.n_series))
    assert request["history_visits"].shape == request["history_values"].shape
    served = call_signature(sigs["serving_default"], request)
    want = model.predict(SalesWindows(table, model.history_length, model.horizon).latest(),
                         verbose=0)
    np.testing.assert_allclose(served["forecast"], want["forecast"], atol=1e-5)
    np.testing.assert_allclose(served["p90"], want["quantiles"][..., -1], atol=1e-5)
    # The input is wired to the model, not accepted and dropped.
    busier = dict(request, history_visits=request["history_visits"] * 3 + 50)
    moved = call_signature(sigs["serving_default"], busier)["forecast"]
    assert np.abs(moved - served["forecast"]).max() > 1e-4
    # (The fresh-process guarantee is the same code path with or without past
    # covariates: tests/forecast/test_export.py checks it.)
