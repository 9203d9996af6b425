"""Quantile calibration on rolling backtests: offsets in the graph, coverage held out."""

import numpy as np

from ecomtf.evaluation import backtest as bt
from ecomtf.models.sales_forecaster import SalesForecaster


def test_conformal_offsets_calibrate_the_band_in_the_graph(trained):
    model, table = trained
    origins = [table.start + d for d in (100, 104, 107, 110, 113)]
    preds = bt.backtest_predictions(model, table, origins)
    assert len(preds) == 5 and preds[0]["quantiles"].shape[1:] == (7, 3)
    offsets = bt.conformal_offsets(preds, model.quantiles)
    assert offsets.shape == (7, 3) and (offsets[:, 1] == 0).all()  # the median is left alone
    # On the windows it was fitted on, the calibrated band holds ~80% (in sample).
    fitted = bt.interval_coverage(preds, model.quantiles, offsets)
    assert abs(fitted["overall"] - 80) <= 6, fitted
    report = bt.held_out_calibration(preds, model.quantiles)
    assert report["nominal"] == 80 and len(report["calibrated"]["per_window"]) == 5
    assert len(report["raw"]["per_step"]) == 7
    try:
        model.set_quantile_offsets(offsets)
        again = bt.backtest_predictions(model, table, origins[:1])[0]
        want = bt.apply_offsets(preds[0]["quantiles"], preds[0]["scale"], offsets, model.quantiles,
                                model.nonnegative)
        np.testing.assert_allclose(again["quantiles"], want, rtol=1e-5, atol=1e-4)
        assert (np.diff(again["quantiles"], axis=-1) >= 0).all()
        # The offsets travel with the config (so load_run and the export keep them).
        clone = SalesForecaster.from_config(model.get_config())
        np.testing.assert_allclose(clone.offsets.numpy(), offsets)
    finally:
        model.set_quantile_offsets(np.zeros((7, 3)))


def test_calibration_window_calibrates_in_units_of_the_recent_level_in_the_graph(trained):
    from ecomtf.data.windows import SalesWindows
    from ecomtf.models.sales_forecaster_ensemble import SalesForecasterEnsemble

    model, table = trained
    clone = SalesForecaster.from_config({**model.get_config(), "calibration_window": 5})
    windows = SalesWindows(table, model.history_length, model.horizon)
    features = windows.features(windows.origins_at(table.start + 110))
    clone(features)
    clone.set_weights(model.get_weights())
    raw = {k: np.asarray(v) for k, v in clone(features).items()}
    history = np.asarray(features["history"], np.float64)[:, -5:]
    known = np.isfinite(history)
    level = np.where(known, np.abs(history), 0).sum(axis=1) / np.maximum(known.sum(axis=1), 1)
    want_unit = np.where(level > 0, level, raw["scale"])
    np.testing.assert_allclose(raw["calibration_scale"], want_unit, rtol=1e-5)
    assert not np.allclose(raw["calibration_scale"], raw["scale"])  # a different unit than the scale
    offsets = np.tile(np.array([[-0.3, 0.0, 0.4]], np.float32), (7, 1))
    clone.set_quantile_offsets(offsets)
    got = np.asarray(clone(features)["quantiles"])
    want = bt.apply_offsets(raw["quantiles"], want_unit, offsets, model.quantiles, model.nonnegative)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    # It is config (export, load_run), and an ensemble calibrates in its members' unit.
    assert SalesForecaster.from_config(clone.get_config()).calibration_window == 5
    clone.set_quantile_offsets(np.zeros((7, 3)))
    ensemble = SalesForecasterEnsemble([clone, clone], quantile_offsets=offsets)
    out = ensemble(features)
    np.testing.assert_allclose(np.asarray(out["calibration_scale"]), want_unit, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(out["quantiles"]), want, rtol=1e-5, atol=1e-4)
