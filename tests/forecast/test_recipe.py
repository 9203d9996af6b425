import csv
import json

import numpy as np
import pytest

from ecomtf import recipes
from ecomtf.cli import main as cli_main
from ecomtf.recipes import forecast


def test_cli_forecasts_a_weekly_csv_from_mapping_flags_alone(weekly_csv, tmp_path, capsys):
    run = tmp_path / "run"
    code = cli_main([
        "train", "forecast", "--data", str(weekly_csv), "--date-col", "week_start",
        "--target-col", "net_units", "--key-cols", "shop,sku", "--known-cols", "unit_price,on_promo",
        "--holiday-col", "is_holiday", "--freq", "W", "--horizon", "6", "--lookback", "12",
        "--backtest-windows", "2", "--epochs", "2", "--steps-per-epoch", "8", "--batch-size", "64",
        "--lstm-units", "8", "--hidden-units", "8", "--plot-series", "2", "--out", str(run),
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "rejected 3" in printed and "fill policy 'zero'" in printed
    assert "seasonal_naive_yearly" in printed and "SalesForecaster" in printed
    metrics = json.loads((run / "metrics.json").read_text())
    overall = metrics["backtest"]["overall"]
    assert set(overall) >= {"SalesForecaster", "naive", "seasonal_naive_yearly", "moving_average_4"}
    assert set(overall["SalesForecaster"]) >= {"smape", "mae", "rmse", "mase", "wape", "pinball", "coverage"}
    assert metrics["backtest"]["origins"] == ["2024-01-29", "2024-03-11"]  # data ends 2024-04-15
    assert metrics["reject_report"]["rows_rejected"] == 3
    # What the reader did to kept rows is stated, printed and in metrics.json:
    # south|C-3 starts late, north|B-2 stops early, returns stay negative.
    notes = metrics["reject_report"]["notes"]
    assert any(n.startswith("fill policy 'zero': 2 missing week(s) inside series' active ranges set to 0")
               for n in notes)
    assert any(n.startswith("1 series start after and 1 stop before the table's date range") for n in notes)
    assert any("negative target value(s) (returns) kept as they are" in n for n in notes)
    assert all(f"note: {n}" in printed for n in notes)
    # The forecast of the 6 weeks after the data, per series, with quantiles.
    rows = list(csv.DictReader(open(run / "forecast.csv")))
    assert len(rows) == 6 * 6 and rows[0].keys() >= {"shop", "sku", "date", "forecast", "p10", "p90"}
    assert rows[0]["date"] == "2024-04-22"
    assert all(float(r["p10"]) <= float(r["forecast"]) <= float(r["p90"]) for r in rows)
    assert (run / "backtest_per_series.csv").is_file()

    model = recipes.load_run(run)
    assert model.freq == "W" and model.horizon == 6 and model.known_cols == ["unit_price", "on_promo", "is_holiday"]
    # Net units can be negative (returns), so forecasts are not clipped at 0.
    assert model.nonnegative is False
    table, _ = forecast.read_table_from_args(_args(weekly_csv))
    fc = forecast.forecast_table(model, table)
    got = {(r["shop"], r["sku"], r["date"]): float(r["forecast"]) for r in rows}
    i = table.series_ids.tolist().index("north|A-1")
    assert got[("north", "A-1", "2024-04-22")] == pytest.approx(float(fc["forecast"][i, 0]), abs=1e-3)
    # What `ecomtf export --run` exports: the run's model, registered for serving.
    from ecomtf.export import as_servable

    assert type(as_servable(model)).__name__ == "SalesForecasterServable"
    # Last: without the optional plotting extra the rest still ran.
    pytest.importorskip("matplotlib")
    assert (run / "forecast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _args(path):
    class A:
        data = str(path)
        date_col, target_col, key_cols = "week_start", "net_units", "shop,sku"
        known_cols, holiday_col, holidays, past_cols, static_cols = "unit_price,on_promo", "is_holiday", "", "", ""
        freq, fill, date_format, delimiter, strict = "W", "zero", "auto", None, False

    return A


def test_holidays_flag_reads_a_list_or_a_file(tmp_path):
    assert forecast._holidays("2024-01-01, 2024-12-25") == ["2024-01-01", "2024-12-25"]
    f = tmp_path / "h.csv"
    f.write_text("date,name\n2024-01-01,new year\n2024-12-25,christmas\n")
    assert forecast._holidays(f"@{f}") == ["2024-01-01", "2024-12-25"]
