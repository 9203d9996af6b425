"""One preprocessing path: the exported graph, fed raw rows with gaps, equals forecast.csv."""

import csv
import json

import numpy as np

from ecomtf.export import run_in_fresh_process
from tests.forecast.conftest import run_cli
from tests.forecast.conftest import write_gappy_weekly_csv


def _raw_rows(path):
    rows = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["series"], []).append(r)
    return rows


def test_served_forecast_of_raw_rows_with_gaps_equals_forecast_csv(tmp_path):
    data = write_gappy_weekly_csv(tmp_path / "weekly.csv")
    # A price plan for the 8 weeks after the data, for series a and c only
    # (b has none: its last price carries on, in the batch path and the graph).
    weeks = np.datetime64("2024-04-22") + 7 * np.arange(8)
    plan = {"a": 3.0 + 0.25 * np.arange(8), "c": np.full(8, 9.5)}
    future = tmp_path / "plan.csv"
    future.write_text("week,series,price\n" + "".join(
        f"{w},{s},{p:.2f}\n" for s, ps in plan.items() for w, p in zip(weeks, ps)) + "2030-01-07,a,1.0\n")
    run = tmp_path / "run"
    train = run_cli(
        "train", "forecast", "--data", data, "--date-col", "week", "--target-col", "units",
        "--key-cols", "series", "--known-cols", "price", "--freq", "W", "--horizon", "8",
        # Calibrated in units of each series' 13-week level, computed in the
        # graph: series b's gap falls inside that window. --no-refit: one
        # training (the calibrated backtest model writes forecast.csv).
        "--backtest-windows", "2", "--calibration-window", "13", "--no-refit",
        "--epochs", "2", "--steps-per-epoch", "6", "--batch-size", "32",
        "--lstm-units", "8", "--hidden-units", "8", "--plot-series", "0", "--future", future, "--out", run)
    assert "future 'price': 16 of 24 (series, step) values given" in train.stdout
    assert "rejected 1" in train.stdout  # the 2030 row: outside the horizon
    assert "known covariates from --future" in train.stdout
    export = run_cli("export", "--run", run, "--out", tmp_path / "export")
    version = tmp_path / "export" / "1"
    assert version.is_dir(), export.stdout

    # What a client has: its raw rows (series b has no rows for 10 weeks),
    # padded to one length with "" dates; no plan for the future price (NaN).
    rows = _raw_rows(data)
    series = sorted(rows)
    width = max(len(v) for v in rows.values())
    dates = np.full((3, width), "", dtype=object)
    values = np.full((3, width), np.nan, np.float32)
    price = np.full((3, width), np.nan, np.float32)
    for i, s in enumerate(series):
        for j, r in enumerate(rows[s]):
            dates[i, j], values[i, j], price[i, j] = r["week"], float(r["units"]), float(r["price"])
    assert len(rows["b"]) == 110 and len(rows["a"]) == 120
    request = {
        "history_dates": dates.astype(str),
        "history_values": values,
        "forecast_start": np.array([""] * 3),
        "series": np.array(series),
        "history_price": price,
        "future_price": np.stack([plan["a"], np.full(8, np.nan), plan["c"]]).astype(np.float32),
    }
    served = run_in_fresh_process(version, request)

    batch = {}
    with open(run / "forecast.csv") as f:
        for r in csv.DictReader(f):
            batch.setdefault(r["series"], []).append([float(r["forecast"]), float(r["p10"]), float(r["p90"])])
    for i, s in enumerate(series):
        want = np.asarray(batch[s])
        got = np.stack([served["forecast"][i], served["p10"][i], served["p90"][i]], axis=1)
        # forecast.csv holds 4 decimals: 1e-4 relative, plus the rounding.
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=6e-5, err_msg=f"series {s}")
    assert [d.decode() for d in served["forecast_dates"][0, :2]] == ["2024-04-22", "2024-04-29"]

    # The plan matters (else this test could not tell it was used) ...
    no_plan = dict(request, future_price=np.full((3, 8), np.nan, np.float32))
    # ... and `ecomtf predict --output` writes a file instead of printing.
    (tmp_path / "request.json").write_text(json.dumps({k: np.asarray(v).tolist() for k, v in no_plan.items()}))
    out = run_cli("predict", "--model", version, "--input", tmp_path / "request.json",
                  "--output", tmp_path / "answer.json")
    assert "answer.json" in out.stdout and len(out.stdout) < 500
    answer = json.loads((tmp_path / "answer.json").read_text())
    np.testing.assert_allclose(np.asarray(answer["forecast"])[1], served["forecast"][1], rtol=1e-5)
    assert np.abs(np.asarray(answer["forecast"])[0] - served["forecast"][0]).max() > 1e-3
    config = json.loads((run / "model_config.json").read_text())
    assert config["known_cols"] == ["price"]
    # The served band above is the calibrated one: offsets in the graph, in level units.
    assert config["calibration_window"] == 13 and np.abs(config["quantile_offsets"]).max() > 0
