"""Issue-17 CLI behaviours through the real `ecomtf` console command."""

import csv
import json
import re

import numpy as np
import pytest

from ecomtf.data.reject_report import DataValidationError
from ecomtf.data.sales_table import SalesTable
from ecomtf.layers.calendar_features import CalendarFeatures
from tests.forecast.conftest import run_cli

TINY = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16", "--lstm-units", "4",
        "--hidden-units", "4", "--lookback", "8", "--plot-series", "0"]


def _weekly(path, n_weeks=104, flag=("FALSE", "TRUE"), seed=0):
    rng = np.random.default_rng(seed)
    weeks = np.datetime64("2022-01-07") + 7 * np.arange(n_weeks)  # Fridays
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["week", "store", "sales", "holiday", "temp"])
        for s in ("1", "2"):
            for t in range(n_weeks):
                w.writerow([str(weeks[t]), s, int(rng.poisson(20)), flag[int(t % 52 == 50)], "warm"])
    return path


def _one_line_error(proc, *words):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    # TensorFlow's own C++ start-up log lines (absl) are not ours.
    lines = [line for line in proc.stderr.strip().splitlines()
             if not re.match(r"(WARNING: All log messages|[IWE]\d{4} )", line)]
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0]


def test_booleans_parse_and_a_column_with_no_numbers_is_refused(tmp_path):
    data = _weekly(tmp_path / "w.csv")
    cols = {"week": [], "store": [], "sales": [], "holiday": [], "temp": []}
    for r in csv.DictReader(open(data)):
        for k in cols:
            cols[k].append(r[k])
    table, report = SalesTable.from_columns(cols, date="week", target="sales", keys=["store"],
                                            holiday="holiday", freq="W", strict=True)
    assert table.known["holiday"].sum() == 2 * 2 and set(np.unique(table.known["holiday"])) == {0.0, 1.0}
    with pytest.raises(DataValidationError, match="'temp' has no numbers"):
        SalesTable.from_columns(cols, date="week", target="sales", keys=["store"], known=["temp"], freq="W")
    cols["temp"][3] = "21.5"
    with pytest.raises(DataValidationError, match="--strict: column 'temp' has 207 non-numeric"):
        SalesTable.from_columns(cols, date="week", target="sales", keys=["store"], known=["temp"], freq="W",
                                strict=True)
    # Through the console command: one line, exit 2, no traceback.
    proc = run_cli("train", "forecast", "--data", data, "--date-col", "week", "--target-col", "sales",
                   "--key-cols", "store", "--known-cols", "temp", "--freq", "W", "--strict", "--out",
                   tmp_path / "run", check=False)
    _one_line_error(proc, "'temp' has no numbers")


def test_backtest_windows_that_do_not_fit_are_reduced_or_refused(tmp_path):
    data = _weekly(tmp_path / "w.csv")
    base = ["train", "forecast", "--data", data, "--date-col", "week", "--target-col", "sales",
            "--key-cols", "store", "--holiday-col", "holiday", "--freq", "W"]
    proc = run_cli(*base, "--horizon", "60", "--out", tmp_path / "no", check=False)
    _one_line_error(proc, "--backtest-windows 3", "--horizon 60")
    # The natural first command: 104 weeks, horizon 39, 3 windows by default.
    run = tmp_path / "run"
    proc = run_cli(*base, "--horizon", "39", *TINY, "--out", run)
    assert "--backtest-windows 3 does not fit 104 weeks with --horizon 39" in proc.stdout
    assert "backtesting on 1 window(s)" in proc.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["backtest"]["origins"] == ["2023-04-07"]  # 65 weeks of training data
    # forecast.csv comes from the model refitted on all the data (the default) ...
    assert "by the model trained on all the data" in proc.stdout
    assert json.loads((run / "model_config.json").read_text())["trained_until"] == "2024-01-05"


@pytest.mark.slow
def test_deterministic_seed_repeats_the_run_bit_for_bit(tmp_path):
    data = _weekly(tmp_path / "w.csv", n_weeks=80)
    args = ["train", "forecast", "--data", data, "--date-col", "week", "--target-col", "sales",
            "--key-cols", "store", "--freq", "W", "--horizon", "4", "--backtest-windows", "1",
            "--seed", "3", "--deterministic", *TINY]
    run_cli(*args, "--out", tmp_path / "r1")
    run_cli(*args, "--out", tmp_path / "r2")
    one = (tmp_path / "r1" / "forecast.csv").read_text()
    assert one == (tmp_path / "r2" / "forecast.csv").read_text()
    m1, m2 = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("r1", "r2"))
    assert m1["backtest"]["overall"] == m2["backtest"]["overall"]
    # `convert` reports parity relative to the outputs' size.
    conv = run_cli("convert", "--run", tmp_path / "r1", "--out", tmp_path / "f.tflite")
    assert "relative to max |output|" in conv.stdout
    relative = re.search(r"relative to max \|output\| \S+: (\S+)\)", conv.stdout)
    assert relative and float(relative.group(1)) <= 1e-4, conv.stdout


def test_week_anchor_decides_which_week_a_holiday_flags():
    # Week-ending Fridays; Christmas 2024 is a Wednesday.
    cols = {"week": ["2024-12-20", "2024-12-27", "2025-01-03"], "sales": [1, 2, 3]}
    flagged = {}
    for anchor in ("start", "end"):
        table, report = SalesTable.from_columns(cols, date="week", target="sales", freq="W",
                                                holidays=["2024-12-25"], week_anchor=anchor)
        assert any("weekly holidays: a row's date" in n for n in report.notes)
        days = ((table.dates - np.datetime64("1970-01-01")).astype(int)).astype(np.int32)
        layer = CalendarFeatures(features=(), holidays=((table.holidays - np.datetime64("1970-01-01"))
                                                         .astype(int)).tolist(), holiday_span=7)
        flagged[anchor] = layer(days[None, :]).numpy()[0, :, 0].tolist()
    assert flagged["start"] == [1.0, 0.0, 0.0]  # the week Dec 20..26
    assert flagged["end"] == [0.0, 1.0, 0.0]  # the week Dec 21..27


def test_predict_output_file_as_csv_rows(tmp_path):
    from ecomtf.cli import _write_outputs

    out = {"forecast": np.arange(6, dtype=np.float32).reshape(2, 3),
           "forecast_dates": np.array([[b"2024-01-01", b"2024-01-08", b"2024-01-15"]] * 2), "scale": np.array([1.0, 2.0])}
    _write_outputs(tmp_path / "a.csv", out)
    rows = list(csv.DictReader(open(tmp_path / "a.csv")))
    assert len(rows) == 6 and rows[4] == {"instance": "1", "step": "1", "forecast": "4.0",
                                          "forecast_dates": "2024-01-08", "scale": "2.0"}
