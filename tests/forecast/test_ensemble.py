"""Seed ensembles: several forecasters averaged in one exported graph."""

import json

import numpy as np
import pytest
import tensorflow as tf

from ecomtf import export as ex
from ecomtf.data.windows import SalesWindows
from ecomtf.models.sales_forecaster import SalesForecaster
from ecomtf.models.sales_forecaster_ensemble import SalesForecasterEnsemble
from ecomtf.recipes.forecast import raw_request
from tests.export_checks import run_export_test
from tests.forecast.conftest import run_cli
from tests.forecast.conftest import write_gappy_weekly_csv


def _member(model, seed):
    return SalesForecaster.from_config({**model.get_config(), "seed": seed})


@pytest.mark.slow  # exports every signature of two LSTMs: minutes on a busy 2-core machine
def test_ensemble_averages_members_and_exports_as_one_model(trained, tmp_path):
    model, table = trained
    tf.keras.utils.set_random_seed(5)
    other = _member(model, 5)
    windows = SalesWindows(table, model.history_length, model.horizon)
    feats = windows.features(windows.origins_at(table.start + 100))
    other.predict(feats, verbose=0)  # builds it (random weights: a different member)
    ensemble = SalesForecasterEnsemble([model, other])
    got = ensemble.predict(feats, verbose=0)
    want = (model.predict(feats, verbose=0)["quantiles"] + other.predict(feats, verbose=0)["quantiles"]) / 2
    np.testing.assert_allclose(got["quantiles"], want, rtol=1e-5, atol=1e-5)
    assert ensemble.member_count == 2 and ensemble.history_length == model.history_length
    with pytest.raises(ValueError, match="differ in horizon"):
        SalesForecasterEnsemble([model, SalesForecaster.from_config({**model.get_config(), "horizon": 3, "quantile_offsets": None})])
    # One SavedModel, the same raw signature as one forecaster, in a fresh process.
    request = raw_request(ensemble, table, np.arange(2))
    path = run_export_test(ensemble, tmp_path / "ensemble", {"serving_default": request})
    assert path.name == "1"
    clone = SalesForecasterEnsemble.from_config(ensemble.get_config())
    assert clone.member_count == 2


@pytest.mark.slow
def test_cli_ensemble_trains_exports_and_reloads(tmp_path):
    data = write_gappy_weekly_csv(tmp_path / "weekly.csv")
    run = tmp_path / "run"
    out = run_cli("train", "forecast", "--data", data, "--date-col", "week", "--target-col", "units",
                  "--key-cols", "series", "--known-cols", "price", "--freq", "W", "--horizon", "4",
                  "--backtest-windows", "2", "--ensemble", "2", "--ensemble-combine", "median",
                  "--epochs", "1", "--steps-per-epoch", "3",
                  "--lstm-units", "4", "--hidden-units", "4", "--plot-series", "0", "--out", run)
    assert "ensemble member 2/2 (seed 1)" in out.stdout
    assert json.loads((run / "model_config.json").read_text())["combine"] == "median"
    run_cli("export", "--run", run, "--out", tmp_path / "export")
    assert (tmp_path / "export" / "1" / "saved_model.pb").is_file()


def test_median_ensemble_is_the_members_median_and_keeps_quantiles_ordered(trained):
    model, table = trained
    members = [model]
    for seed in (5, 6):  # random weights: members far apart, so mean and median differ
        tf.keras.utils.set_random_seed(seed)
        members.append(_member(model, seed))
    windows = SalesWindows(table, model.history_length, model.horizon)
    feats = windows.features(windows.origins_at(table.start + 100))
    each = np.stack([m(feats)["quantiles"].numpy() for m in members], axis=-1)
    median = SalesForecasterEnsemble(members, combine="median")
    got = median(feats)
    got = got["quantiles"].numpy()
    np.testing.assert_allclose(got, np.median(each, axis=-1), rtol=1e-5, atol=1e-5)
    assert np.all(np.diff(got, axis=-1) >= 0)
    mean = SalesForecasterEnsemble(members)(feats)["quantiles"].numpy()
    assert not np.allclose(mean, got)
    # Even count: the mean of the two middle members (here: the plain mean of two).
    pair = SalesForecasterEnsemble(members[:2], combine="median")(feats)["quantiles"].numpy()
    np.testing.assert_allclose(pair, each[..., :2].mean(-1), rtol=1e-5, atol=1e-5)
    clone = SalesForecasterEnsemble.from_config(median.get_config())
    assert clone.combine == "median"
    with pytest.raises(ValueError, match="combine"):
        SalesForecasterEnsemble(members, combine="mode")
