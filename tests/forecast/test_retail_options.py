"""Issue 17, session 4: AutoETS baseline, the forecaster's scaling/loss options,
week-of-year across 52/53-week years, and the Online Retail II aggregation levels."""

import gzip
import json
import re

import numpy as np
import pytest
import tensorflow as tf

from ecomtf.data.windows import SalesWindows
from ecomtf.evaluation import forecast_baselines as fb
from ecomtf.layers.calendar_features import CalendarFeatures
from ecomtf.models.sales_forecaster import SalesForecaster
from tests.forecast.conftest import daily_table

NAN = np.nan


# --- AutoETS ---------------------------------------------------------------


def test_auto_ets_level_trend_gaps_and_empty_series():
    rng = np.random.default_rng(0)
    t = np.arange(80.0)
    trend = 10 + 0.5 * t + rng.normal(0, 0.3, 80)
    flat = 20 + rng.normal(0, 1.0, 80)
    late = np.r_[np.full(10, NAN), 5 + rng.normal(0, 0.1, 70)]
    gappy = flat.copy()
    gappy[30:40] = NAN
    y = np.stack([trend, flat, late, np.full(80, NAN), gappy])
    f = fb.auto_ets(y, 4)
    assert f.shape == (5, 4) and np.isfinite(f).all()
    # The trend continues (true next values 50, 50.5, ...); damping keeps it a little under.
    np.testing.assert_allclose(f[0], 10 + 0.5 * np.arange(80, 84), atol=1.0)
    assert f[0, 3] > f[0, 0] + 1.0
    # A flat noisy series: a flat forecast near its mean, not the last value.
    assert np.ptp(f[1]) < 0.2 and abs(f[1, 0] - 20) < 1.0
    assert abs(f[2, 0] - 5) < 0.2  # a late start: fitted from its first value on
    np.testing.assert_array_equal(f[3], 0.0)  # nothing known: 0
    assert abs(f[4, 0] - 20) < 1.5  # gaps carry the state
    np.testing.assert_allclose(fb.auto_ets(np.full((1, 6), 5.0), 3), 5.0)


# --- SalesForecaster options ---------------------------------------------------


def _small(lookback=7, **kwargs):
    table, _ = daily_table(n_days=60)
    model = SalesForecaster.from_table(table, horizon=5, lookback=lookback, lstm_units=4, hidden_units=4,
                                       embedding_dim=2, seed=1, **kwargs)
    w = SalesWindows(table, model.history_length, model.horizon)
    origins = w.origins_at(table.start + 40)
    return model, w.features(origins), w.targets(origins)


def test_scale_window_scales_by_the_windows_own_recent_level():
    model, feats, _ = _small(scale_window=3)
    feats["history"][0, -3:] = [2.0, 4.0, 6.0]
    feats["history"][1, -3:] = 0.0  # no recent sales: the table's scale
    out = model(feats)
    scale = out["scale"].numpy()
    assert scale[0] == pytest.approx(4.0)
    sid = feats["series_id"][1]
    sid = sid.decode() if isinstance(sid, bytes) else str(sid)
    table_scale = model.series_scales[model.series_ids.index(sid)]
    assert scale[1] == pytest.approx(table_scale, rel=1e-6)
    config = json.loads(json.dumps(model.get_config()))
    assert (config["scale_window"], config["loss_weight_power"], config["log_inputs"]) == (3, 0.0, False)


def test_log_inputs_and_loss_weights_round_trip_and_weigh_by_scale():
    model, feats, y = _small(log_inputs=True, loss_weight_power=1.0)
    out = model(feats)
    assert np.isfinite(out["quantiles"].numpy()).all()
    clone = SalesForecaster.from_config(json.loads(json.dumps(model.get_config())))
    clone(feats)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(feats)["quantiles"].numpy(), out["quantiles"].numpy(), atol=1e-5)
    # Scaled errors of two windows: the second, of twice the scale, has the
    # smaller one; power 1 weighs it twice as much, power 0 weighs them alike.
    q = tf.constant([[[0.0, 1.0, 2.0]], [[0.0, 2.0, 4.0]]])
    pred = {"quantiles": q, "forecast": q[..., 1], "scale": tf.constant([1.0, 2.0])}
    yy = tf.constant([[3.0], [2.0]])
    per_window = np.array([(0.3 + 1.0 + 0.9) / 3, (0.1 + 0.0 + 0.1) / 3])  # pinball at 0.1, 0.5, 0.9
    assert float(model.compute_loss(y=yy, y_pred=pred)) == pytest.approx(
        (per_window * [1, 2]).sum() / 3, rel=1e-5)
    plain, _, _ = _small()
    assert float(plain.compute_loss(y=yy, y_pred=pred)) == pytest.approx(per_window.mean(), rel=1e-5)


def test_learned_level_base_mixes_the_levels_and_round_trips():
    longest, feats, _ = _small(lookback=30, log_target=True)
    learned, _, _ = _small(lookback=30, log_target=True, level_base="learned")
    want = longest(feats)["quantiles"].numpy()
    learned(feats)
    # The shared weights copied over; a gate saturated on the last (longest)
    # level is the "longest" model exactly, one on the shortest level is not.
    shared = {w.name.split("/", 1)[-1]: w for w in longest.weights}
    for w in learned.weights:
        key = w.name.split("/", 1)[-1]
        if "level_gate" not in key:
            w.assign(shared[key])
    gate = learned.level_gate
    n = len(learned._level_windows())  # 7, 28 and 30 days
    assert n == 3 and gate.bias.shape == (n,) and np.all(gate.kernel.numpy() == 0)  # zero init: the levels' mean
    gate.bias.assign(np.r_[np.full(n - 1, -50.0), 50.0])
    np.testing.assert_allclose(learned(feats)["quantiles"].numpy(), want, rtol=1e-5, atol=1e-5)
    gate.bias.assign(np.r_[50.0, np.full(n - 1, -50.0)])
    shortest = learned(feats)["quantiles"].numpy()
    assert not np.allclose(shortest, want, atol=1e-3)
    assert np.all(np.diff(shortest, axis=-1) >= 0)  # still ordered
    clone = SalesForecaster.from_config(json.loads(json.dumps(learned.get_config())))
    assert clone.level_base == "learned"
    clone(feats)
    clone.set_weights(learned.get_weights())
    np.testing.assert_allclose(clone(feats)["quantiles"].numpy(), shortest, atol=1e-5)
    with pytest.raises(ValueError, match="level_base must be one of"):
        _small(level_base="recent")


# --- Week of year in 52- and 53-week years -------------------------------------------


def test_week_of_year_is_date_anchored_in_52_and_53_week_years():
    layer = CalendarFeatures(features=("week_of_year",))
    # Mondays from 2014-12-29 to 2027-01-04: ISO years 2015, 2020 and 2026 have 53 weeks.
    mondays = np.arange(np.datetime64("2014-12-29"), np.datetime64("2027-01-05"), 7)
    days = (mondays - np.datetime64("1970-01-01")).astype(np.int32)
    v = layer(tf.constant(days)).numpy()
    step = np.linalg.norm(np.diff(v, axis=0), axis=1)
    one_week = 2 * np.sin(np.pi / 53)  # chord of one step of the 53-step circle
    # The index is day_of_year // 7 (0..52, week 52 being the 1-2 days after
    # Dec 29/30): a weekly series moves one step a week, two across the new
    # year when its last date falls before that partial week; never more.
    assert step.max() <= 2 * one_week * 1.01
    inside_year = mondays[1:].astype("datetime64[Y]") == mondays[:-1].astype("datetime64[Y]")
    np.testing.assert_allclose(step[inside_year], one_week, rtol=1e-4)
    # Anchored on the date, not on ISO week numbers: the week of Dec 28 gets
    # the same phase in a 53-week ISO year (2015, 2020, 2026) as in a 52-week one.
    phases = []
    for date in ("2015-12-28", "2019-12-28", "2020-12-28", "2021-12-28", "2026-12-28"):
        d = (np.datetime64(date) - np.datetime64("1970-01-01")).astype(np.int32)
        phases.append(layer(tf.constant([d])).numpy()[0])
    np.testing.assert_allclose(phases, np.repeat(phases[:1], 5, axis=0), atol=1e-5)


# --- Online Retail II aggregation levels --------------------------------------------


@pytest.fixture()
def tiny_invoices(tmp_path):
    rows = ["Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"]
    start = np.datetime64("2010-01-04")  # a Monday, before the sheets' overlap
    for week in range(10):
        for code, country, qty in (("10001", "France", 2), ("10001", "Spain", 3), ("20002", "France", 5)):
            day = start + 7 * week + 1
            rows.append(f"5{week}{code},{code},x,{qty},{day} 10:00:00,1.0,1,{country}")
        rows.append(f"C9{week},10001,x,-4,{start + 7 * week + 2} 10:00:00,1.0,1,Spain")  # a cancellation
        rows.append(f"9{week},POST,x,1,{start + 7 * week + 2} 10:00:00,1.0,1,Spain")  # not a product
    path = tmp_path / "invoices.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("level, ids, units", [
    ("product", ["10001", "20002"], [5.0, 5.0]),
    ("country", ["France", "Spain"], [7.0, 3.0]),
    ("product-country", ["10001|France", "10001|Spain", "20002|France"], [2.0, 3.0, 5.0]),
])
def test_online_retail_weekly_table_per_product_country_and_both(tiny_invoices, level, ids, units):
    from benchmarks import online_retail

    table, stats = online_retail.weekly_product_table(tiny_invoices, 10, level)
    assert sorted(table.series_ids.tolist()) == ids
    order = np.argsort(table.series_ids)
    # 10 weeks, the partial first and last dropped: 8 full weeks of constant sales.
    assert table.length == 8
    np.testing.assert_array_equal(table.target[order], np.repeat(np.array(units)[:, None], 8, axis=1))
    assert stats["cancellations_dropped"] == 10 and stats["non_product_dropped"] == 10


def test_log_target_maps_quantiles_back_keeps_order_and_trains_in_log_space():
    model, feats, y = _small(log_target=True)
    out = model(feats)
    q = out["quantiles"].numpy()
    assert np.isfinite(q).all() and (np.diff(q, axis=-1) >= 0).all() and "transformed" not in out
    train_out = model(feats, training=True)
    z = train_out["transformed"].numpy()
    scale = train_out["scale"].numpy()[:, None, None]
    # Training outputs are not clipped or calibrated: exactly the inverse map of z.
    np.testing.assert_allclose(train_out["quantiles"].numpy(), np.sign(z) * np.expm1(np.abs(z)) * scale,
                               rtol=1e-4, atol=1e-4)
    # The loss is the pinball loss of sign(v) log1p(|v|) of the scaled target.
    yy = np.nan_to_num(y)
    t = np.sign(yy / scale[..., 0]) * np.log1p(np.abs(yy / scale[..., 0]))
    levels = np.asarray(model.quantiles)
    err = t[..., None] - z
    want = np.maximum(levels * err, (levels - 1) * err).mean(-1)
    valid = np.isfinite(y)
    got = float(model.compute_loss(y=tf.constant(y, tf.float32), y_pred=train_out))
    assert got == pytest.approx(want[valid].mean(), rel=1e-4)
    assert SalesForecaster.from_config(json.loads(json.dumps(model.get_config()))).log_target


def test_matched_cancellations_drop_the_latest_earlier_sale_once():
    from benchmarks.online_retail import matched_cancelled_sales

    customer = np.array(["1", "1", "1", "2", "", "1", "1"], dtype=object)
    code = np.array(["A", "A", "A", "A", "A", "A", "B"], dtype=object)
    qty = np.array([5, 5, 3, 5, 5, -5, -7])
    times = np.array([0, 1, 2, 3, 4, 5, 6])
    cancel = qty < 0
    sale = ~cancel
    matched = matched_cancelled_sales(customer, code, qty, times, sale, cancel)
    # The cancellation of 5 A by customer 1 reverses its latest earlier sale of 5 A
    # (row 1; not customer 2's, not the anonymous line); -7 B matches nothing.
    assert matched.tolist() == [False, True, False, False, False, False, False]
    # A cancellation before any matching sale matches nothing.
    assert not matched_cancelled_sales(customer, code, qty, times[::-1].copy(), sale, cancel)[:2].any()


def test_cli_log_target_flag_reaches_the_saved_model(tmp_path):
    from tests.forecast.conftest import run_cli
    from tests.forecast.test_cli_behaviour import TINY
    from tests.forecast.test_cli_behaviour import _weekly

    data = _weekly(tmp_path / "w.csv", n_weeks=60)
    run = tmp_path / "run"
    run_cli("train", "forecast", "--data", data, "--date-col", "week", "--target-col", "sales",
            "--key-cols", "store", "--freq", "W", "--horizon", "4", "--backtest-windows", "0", "--log-target",
            "--dropout", "0.2", "--loss-weight-power", "1", "--scale-window", "13", "--level-base", "learned",
            *TINY, "--out", run)
    config = json.loads((run / "model_config.json").read_text())
    assert config["log_target"] is True
    assert config["dropout"] == 0.2 and config["loss_weight_power"] == 1.0
    assert config["scale_window"] == 13 and config["level_base"] == "learned"
    rows = list(__import__("csv").DictReader(open(run / "forecast.csv")))
    assert len(rows) == 2 * 4 and all(np.isfinite(float(r["p90"])) for r in rows)
    # The learned level mix exports and converts like the default model (parity printed by `convert`).
    run_cli("export", "--run", run, "--out", tmp_path / "export")
    assert list((tmp_path / "export").glob("*/saved_model.pb"))
    conv = run_cli("convert", "--run", run, "--out", tmp_path / "f.tflite")
    relative = re.search(r"relative to max \|output\| \S+: (\S+)\)", conv.stdout)
    assert relative and float(relative.group(1)) <= 1e-4, conv.stdout


@pytest.mark.parametrize("flag, value, message", [
    ("--calibration-window", "-3", "--calibration-window must be >= 0 steps, got -3"),
    ("--dropout", "1", "--dropout must be in [0, 1), got 1.0"),
    ("--loss-weight-power", "-0.5", "--loss-weight-power must be >= 0, got -0.5"),
    ("--scale-window", "-1", "--scale-window must be >= 0 steps, got -1"),
    ("--ensemble", "0", "--ensemble must be >= 1 models, got 0"),
    # Without --ensemble N >= 2 the flag would change nothing: refused, not silently accepted.
    ("--ensemble-combine", "median",
     "--ensemble-combine median needs --ensemble N with N >= 2 (got --ensemble 1: one model, nothing to combine)"),
])
def test_cli_bad_model_option_values_are_one_line(tmp_path, flag, value, message):
    # That the flags reach the model: the --log-target test above (dropout, loss weight) and
    # tests/forecast/test_serving_parity.py (--calibration-window 13, served).
    from tests.forecast.conftest import run_cli
    from tests.forecast.test_cli_behaviour import TINY
    from tests.forecast.test_cli_behaviour import _weekly

    data = _weekly(tmp_path / "w.csv", n_weeks=60)
    bad = run_cli("train", "forecast", "--data", data, "--date-col", "week", "--target-col", "sales",
                  "--key-cols", "store", "--freq", "W", "--horizon", "4", *TINY, flag, value,
                  "--out", tmp_path / "bad", check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [f"ecomtf train forecast: error: {message}"]
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("flags, message", [
    (["--seeds", "1", "--ensemble-combine", "median"],
     "--ensemble-combine median needs --seeds N with N >= 2 (the ensemble's members), got --seeds 1"),
    (["--seeds", "3", "--ensemble-combine", "mean,avg"],
     "--ensemble-combine takes mean and/or median (comma-separated), got 'mean,avg'"),
])
def test_online_retail_benchmark_refuses_an_ensemble_combine_it_would_ignore(flags, message):
    # Checked before the data is read: the real command line, one line on stderr, exit code 2.
    import os
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.online_retail", *flags], capture_output=True,
                          text=True, env=env, cwd=root)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"online_retail: error: {message}"
    # (TensorFlow's own import lines may come first: the benchmark imports ecomtf.)
    assert [line for line in proc.stderr.splitlines() if "online_retail" in line] == [
        f"online_retail: error: {message}"]
    assert proc.stdout == ""


def test_online_retail_paired_test_against_the_gbm_over_origins():
    # Session 6's scored figures (docs/benchmarks/forecast.md): seed 0 vs the GBM, p = 0.39 there.
    from benchmarks.online_retail import GBM
    from benchmarks.online_retail import paired_against_gbm

    def row(values):
        return {"per_origin": [{"wape": v} for v in values]}

    summary = {"naive": row([72.1, 74.94, 71.87, 79.21]), GBM: row([59.38, 53.32, 53.67, 57.24]),
               "SalesForecaster seed 0": row([57.58, 54.11, 56.67, 59.40]),
               "SalesForecaster seed 1": row([60.02, 55.45, 58.11, 58.56])}
    lines = paired_against_gbm(summary)
    assert lines[0] == ("paired with the GBM over origins, SalesForecaster seed 0: -1.80 +0.79 +3.00 +2.16; "
                        "mean +1.04, t-test p 0.396, ahead on 1/4")
    assert len(lines) == 3 and "8 (seed, origin) pairs" in lines[2] and "ahead on 1/8" in lines[2]
    assert paired_against_gbm({"naive": summary["naive"]}) == []
