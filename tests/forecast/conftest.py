"""Small sales tables and one tiny trained forecaster shared by the forecast tests."""

import csv

import numpy as np
import pytest
import tensorflow as tf

from ecomtf.data.sales_table import SalesTable
from ecomtf.data.windows import SalesWindows
from ecomtf.models.sales_forecaster import SalesForecaster

HOLIDAYS = ["2023-12-25", "2024-01-01", "2024-04-01"]


def daily_columns(n_days=120, seed=0):
    """2 stores x 3 items, daily, weekday effect, promo lifts sales, a static
    category; item i2 of store s1 starts late, item i1 of store s0 stops early."""
    rng = np.random.default_rng(seed)
    days = np.datetime64("2024-01-01") + np.arange(n_days)
    cols = {k: [] for k in ("date", "store", "item", "units", "price", "promo", "category")}
    for s in range(2):
        for i in range(3):
            lo = 40 if (s, i) == (1, 2) else 0
            hi = n_days - 20 if (s, i) == (0, 1) else n_days
            base = 4 + 6 * s + 3 * i
            for t in range(lo, hi):
                d = days[t]
                promo = int(rng.random() < 0.15)
                weekend = 1.4 if (d.astype(int) + 3) % 7 >= 5 else 1.0
                cols["date"].append(str(d))
                cols["store"].append(f"s{s}")
                cols["item"].append(f"i{i}")
                cols["units"].append(float(rng.poisson(base * weekend * (1.6 if promo else 1.0))))
                cols["price"].append(9.5 - 2 * promo)
                cols["promo"].append(promo)
                cols["category"].append("toys" if i < 2 else "games")
    return cols


def daily_table(**kwargs):
    table, report = SalesTable.from_columns(
        daily_columns(**kwargs), date="date", target="units", keys=["store", "item"],
        known=["price", "promo"], static=["category"], holidays=HOLIDAYS,
    )
    return table, report


def write_weekly_csv(path, seed=0):
    """A weekly ';'-separated file with a holiday flag, returns (negative values),
    series that start late or stop early, and a few bad rows."""
    rng = np.random.default_rng(seed)
    weeks = np.datetime64("2022-01-03") + 7 * np.arange(120)  # Mondays
    rows = []
    for shop in ("north", "south"):
        for sku in ("A-1", "B-2", "C-3"):
            lo = 50 if (shop, sku) == ("south", "C-3") else 0
            hi = 100 if (shop, sku) == ("north", "B-2") else len(weeks)
            for t in range(lo, hi):
                holiday = int(t % 52 in (0, 51, 25))
                promo = int(rng.random() < 0.2)
                season = 1 + 0.3 * np.sin(2 * np.pi * t / 52)
                level = (30 if shop == "north" else 12) * season * (1.5 if holiday else 1.0)
                value = rng.poisson(level * (1.4 if promo else 1.0)) - rng.poisson(2.0)  # returns
                rows.append([str(weeks[t]), shop, sku, str(value), f"{4.0 - promo:.2f}", str(promo), str(holiday)])
    # Missing weeks inside a series (filled by the policy) and bad rows.
    del rows[10:12]
    rows.append(["not-a-date", "north", "A-1", "5", "4.00", "0", "0"])
    rows.append(["2022-01-10", "north", "A-1", "", "4.00", "0", "0"])
    rows.append(["2022-01-11", "north", "A-1", "3", "4.00", "0", "0"])  # a Tuesday: off the grid
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(["week_start", "shop", "sku", "net_units", "unit_price", "on_promo", "is_holiday"])
        w.writerows(rows)
    return path


@pytest.fixture(scope="session")
def weekly_csv(tmp_path_factory):
    return write_weekly_csv(tmp_path_factory.mktemp("weekly") / "weekly_sales.csv")


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(model, table): a tiny forecaster trained briefly on the daily table."""
    tf.keras.utils.set_random_seed(0)
    table, _ = daily_table()
    cutoff = table.start + 100
    model = SalesForecaster.from_table(
        table, horizon=7, lookback=14, until=cutoff, lstm_units=8, hidden_units=8,
        embedding_dim=4, seed=0,
    )
    windows = SalesWindows(table.slice(end=cutoff), model.history_length, model.horizon)
    model.compile(tf.keras.optimizers.Adam(1e-2))
    model.fit(windows.dataset(windows.origins(), batch_size=64, shuffle=True, seed=0), epochs=3, verbose=0)
    return model, table


def run_cli(*args, check=True):
    """Runs the real ``ecomtf`` console command in a subprocess (this checkout's code)."""
    import os
    import pathlib
    import shutil
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2")
    exe = shutil.which("ecomtf", path=str(pathlib.Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "ecomtf.cli"]
    proc = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, env=env, cwd=root)
    if check and proc.returncode != 0:
        raise AssertionError(f"ecomtf {' '.join(map(str, args))} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def write_gappy_weekly_csv(path, n_weeks=120, seed=0, gap=("b", 100, 110)):
    """The issue-17 repro: 3 weekly series, a known covariate ``price`` that
    moves, series "b" missing some weeks (no rows at all)."""
    rng = np.random.default_rng(seed)
    weeks = np.datetime64("2022-01-03") + 7 * np.arange(n_weeks)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["week", "series", "units", "price"])
        for k, s in enumerate(("a", "b", "c")):
            price = 5.0 + k
            for t in range(n_weeks):
                price = max(1.0, price + rng.normal(0, 0.3))
                if gap and s == gap[0] and gap[1] <= t < gap[2]:
                    continue
                units = rng.poisson((10 + 5 * k) * (1 + 0.3 * np.sin(2 * np.pi * t / 52)) * (6.0 / price))
                w.writerow([str(weeks[t]), s, int(units), f"{price:.3f}"])
    return path
