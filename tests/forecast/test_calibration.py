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
