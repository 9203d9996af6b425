import numpy as np
import pytest

from ecomtf.evaluation import backtest as bt
from ecomtf.evaluation import forecast_baselines as fb
from tests.forecast.conftest import daily_table

NAN = np.nan


def test_smape_is_kaggles_definition():
    # 0/0 counts as 0; each term is 2|F-A|/(|A|+|F|); NaN actuals are skipped.
    assert bt.smape(np.array([0.0, 10.0, NAN]), np.array([0.0, 30.0, 5.0])) == pytest.approx(50.0)
    assert bt.smape(np.array([[1.0, -1.0]]), np.array([[-1.0, 1.0]])) == pytest.approx(200.0)


def test_forecast_metrics_per_series_and_overall():
    actual = np.array([[1.0, 2.0, 3.0, NAN], [10.0, 10.0, 10.0, 10.0]])
    forecast = np.array([[2.0, 2.0, 2.0, 99.0], [10.0, 10.0, 10.0, 14.0]])
    q = np.stack([forecast - 1, forecast, forecast + 1], axis=-1)
    overall, per = bt.forecast_metrics(actual, forecast, mase_scale=np.array([2.0, 1.0]), quantiles=q,
                                       levels=[0.1, 0.5, 0.9])
    np.testing.assert_allclose(per["mae"], [2 / 3, 1.0])
    np.testing.assert_allclose(per["rmse"], [np.sqrt(2 / 3), 2.0])
    np.testing.assert_allclose(per["mase"], [1 / 3, 1.0])
    np.testing.assert_allclose(per["wape"], [100 * 2 / 6, 100 * 4 / 40])
    assert overall["mae"] == pytest.approx(6 / 7)
    assert overall["wape"] == pytest.approx(100 * 6 / 46)
    assert overall["mase"] == pytest.approx((1 / 3 + 1.0) / 2)
    # Inside [P10, P90]: 6 of the 7 known actuals (the 10 vs 14 +- 1 is out).
    assert overall["coverage"] == pytest.approx(100 * 6 / 7)
    np.testing.assert_allclose(per["coverage"], [100.0, 75.0])
    # Series 1, first step: actual 10 = P50 -> (0.1*1 + 0 + 0.1*1) / 3 per step;
    # last step: actual 10 below P10 = 13 -> (0.9*3 + 0.5*4 + 0.1*5) / 3.
    want = (3 * 0.2 / 3 + (2.7 + 2.0 + 0.5) / 3) / 4
    assert per["pinball"][1] == pytest.approx(want)


def test_mase_denominator_and_baselines():
    h = np.array([[1.0, 2.0, 4.0, 8.0, NAN]])
    np.testing.assert_allclose(bt.mase_denominator(h, 1), [(1 + 2 + 4) / 3])
    assert np.isnan(bt.mase_denominator(np.zeros((1, 5)), 1)[0])  # a flat series has no scale
    x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, NAN]])
    np.testing.assert_array_equal(fb.naive(x, 3), [[8, 8, 8]])
    np.testing.assert_array_equal(fb.seasonal_naive(x, 9, season=7), [[3, 4, 5, 6, 7, 8, 8, 3, 4]])
    np.testing.assert_array_equal(fb.moving_average(x, 2, window=3), [[7.5, 7.5]])
    assert set(fb.default_baselines("D")) == {"naive", "seasonal_naive_weekly", "seasonal_naive_yearly",
                                              "moving_average_28"}
    assert set(fb.default_baselines("W")) == {"naive", "seasonal_naive_yearly", "moving_average_4"}


def test_rolling_origin_backtest_reports_model_next_to_baselines(trained, tmp_path):
    model, table = trained
    origins = bt.rolling_origins(table, 7, windows=2, step=7)
    assert [str(o) for o in origins] == ["2024-04-16", "2024-04-23"]
    result = bt.backtest(model, table, windows=2, step=7, name="ours")
    assert result.methods == ["ours", "naive", "seasonal_naive_weekly", "moving_average_28"]
    assert result.overall["ours"]["coverage"] >= 0 and "pinball" not in result.overall["naive"]
    assert result.coverage_level == pytest.approx(80.0)
    # The series that stopped early has no actuals: not scored.
    assert "s0|i1" not in result.series_ids.tolist() and len(result.series_ids) == 5
    # Each per-series value is the mean over the windows of that series' scores.
    w1 = bt.backtest(model, table, origins=origins[:1], name="ours")
    w2 = bt.backtest(model, table, origins=origins[1:], name="ours")
    np.testing.assert_allclose(result.per_series["naive"]["mae"],
                               (w1.per_series["naive"]["mae"] + w2.per_series["naive"]["mae"]) / 2)
    text = result.table()
    assert "ours" in text and "smape" in text and "2 origin(s)" in text
    csv_path = result.write_per_series(tmp_path / "per_series.csv")
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("series_id,method,smape") and len(lines) == 1 + 5 * len(result.methods)
    # A model trained past the first origin is flagged.
    with pytest.warns(UserWarning, match="optimistic"):
        bt.backtest(model, table, origins=["2024-04-01"])
    baselines_only = bt.backtest(None, table, horizon=7, windows=1)
    # 113 days of history: no "same weekday last year" baseline.
    assert baselines_only.methods == ["naive", "seasonal_naive_weekly", "moving_average_28"]


def test_rolling_origins_need_enough_history():
    table, _ = daily_table()
    with pytest.raises(ValueError, match="too short"):
        bt.rolling_origins(table, 60, windows=3)
