"""Weekly sales from UCI Online Retail II: SalesForecaster vs baselines on rolling origins.

Data: ``../shared/data/online-retail-ii/online_retail_II.csv.gz`` (CC BY 4.0; Chen, D. (2012), UCI ML
Repository, https://doi.org/10.24432/C5CG6D). Cleaning follows its SOURCE.md: the two workbook sheets
overlap on 2010-12-01..09 (the first sheet's rows from 2010-12-01 on are dropped), cancellations
(``C`` invoices) and stock write-offs (negative quantity) are dropped, the sale lines a cancellation
reverses are dropped too (matched by customer, product and quantity; ``--cancelled keep`` counts them, as
session 3 did), and non-product codes (``POST``, ``DOT``, ``M``, ``BANK CHARGES``, gift vouchers...: every
code that does not start with 5 digits). Units are summed per Monday-starting week and per product
(``--level product``), country (``country``) or both (``product-country``); the partial first and last weeks
are dropped; the top ``--products`` series by units are scored (a missing week = nothing sold);
``--train-products N`` trains every model on the top N.

Protocol: ``--origins`` origins ``--step`` weeks apart, the last forecast ending at the last full week (or
before ``--end``: validation origins earlier than the scored ones); each method is trained ONCE on the weeks
before the first origin and scored on every origin. Methods, in the same run: the forecaster for each of
``--seeds`` seeds (options ``--log-target --lookback --scale-window --loss-weight-power --log-inputs``),
their average (a seed ensemble averaged outside the graph), seasonal naive (same week last year), naive,
moving average over 4 weeks, AutoETS, and a gradient-boosting global model on lags >= the horizon
(scikit-learn, as in store_item_demand). The P10-P90 coverage of each window is reported raw and
calibrated held out (offsets fitted on the other windows), also with offsets in units of the 13-week level.

    .venv/bin/python -m benchmarks.online_retail --products 100 --seeds 3 --log-target --lookback 52
    .venv/bin/python -m benchmarks.online_retail --products 100 --seeds 2 --end 2011-07-18 --origins 2 --step 2
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import ecomtf  # noqa: F401  (routes tf.keras to tf_keras first)
from ecomtf.data.sales_table import SalesTable
from ecomtf.evaluation import backtest as bt
from ecomtf.evaluation import forecast_baselines

FIRST_SHEET_ROWS = 525_461


def data_file():
    from benchmarks.common import shared_data

    return shared_data("online-retail-ii", "online_retail_II.csv.gz")


LEVELS = {"product": ["product"], "country": ["country"], "product-country": ["product", "country"]}


def matched_cancelled_sales(customer, code, qty, times, sale, cancel) -> np.ndarray:
    """Sale lines that a later cancellation reverses (SOURCE.md: "drop matched pairs for demand models").

    A cancellation (``C`` invoice, negative quantity) is matched to the latest
    earlier sale line with the same customer, product and quantity; each sale
    is matched at most once. Lines without a customer are never matched.

    Returns:
        bool mask over the rows: the matched sale lines.
    """
    order = np.lexsort((np.arange(len(times)), times))
    open_sales: dict = {}
    matched = np.zeros(len(times), bool)
    for i in order:
        if not customer[i]:
            continue
        if sale[i]:
            open_sales.setdefault((customer[i], code[i], qty[i]), []).append(i)
        elif cancel[i]:
            stack = open_sales.get((customer[i], code[i], -qty[i]))
            if stack:
                matched[stack.pop()] = True
    return matched


def weekly_product_table(path, products: int, level: str = "product",
                         cancelled: str = "drop") -> tuple[SalesTable, dict]:
    """Weekly units of the top ``products`` series: per product, per country or per (product, country).

    ``cancelled="drop"`` also drops the sale lines that a cancellation reverses
    (matched pairs); ``"keep"`` counts them (the session-3 protocol).
    """
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={"Invoice": "string", "StockCode": "string", "Customer ID": "string"},
        include_columns=["Invoice", "StockCode", "Quantity", "InvoiceDate", "Country", "Customer ID"]))
    n = t.num_rows
    dates = t["InvoiceDate"].to_numpy().astype("datetime64[D]")
    sheet1 = np.arange(n) < FIRST_SHEET_ROWS
    overlap = sheet1 & (dates >= np.datetime64("2010-12-01"))
    invoice = t["Invoice"]
    cancel = pc.starts_with(invoice, "C").to_numpy(zero_copy_only=False)
    code = pc.utf8_upper(t["StockCode"])
    product = pc.match_substring_regex(code, r"^\d{5}").to_numpy(zero_copy_only=False)
    qty = t["Quantity"].to_numpy().astype(np.float64)
    keep = ~overlap & ~cancel & product & (qty > 0)
    stats = {"rows": int(n), "sheet_overlap_dropped": int(overlap.sum()), "cancellations_dropped": int(cancel.sum()),
             "non_product_dropped": int((~product).sum())}
    if cancelled == "drop":
        customer = np.asarray(t["Customer ID"].fill_null("").to_numpy(zero_copy_only=False), dtype=object)
        codes_all = np.asarray(code.to_numpy(zero_copy_only=False), dtype=object)
        times = t["InvoiceDate"].to_numpy().astype("datetime64[m]").astype(np.int64)
        matched = matched_cancelled_sales(customer, codes_all, qty.astype(np.int64), times, keep,
                                          ~overlap & cancel & product)
        stats["cancelled_sales_dropped"] = int(matched.sum())
        stats["cancelled_units_dropped"] = int(qty[matched].sum())
        keep &= ~matched
    stats["kept"] = int(keep.sum())
    codes = np.asarray(code.to_numpy(zero_copy_only=False), dtype=object)[keep]
    country = np.asarray(t["Country"].to_numpy(zero_copy_only=False), dtype=object)[keep]
    if level == "country":
        codes = country
    elif level == "product-country":
        codes = np.char.add(np.char.add(codes.astype(str), "|"), country.astype(str)).astype(object)
    days = dates[keep]
    qty = qty[keep]
    weeks = days - ((days - np.datetime64("1970-01-05")).astype(np.int64) % 7)  # Mondays
    first, last = weeks.min() + 7, weeks.max() - 7  # drop partial first/last weeks
    inside = (weeks >= first) & (weeks <= last)
    codes, weeks, qty = codes[inside], weeks[inside], qty[inside]
    uniq, inv = np.unique(codes, return_inverse=True)
    totals = np.bincount(inv, weights=qty)
    top = set(uniq[np.argsort(-totals)[:products]])
    sel = np.asarray([c in top for c in codes])
    keys = LEVELS[level]
    columns = {"week": weeks[sel], "units": qty[sel]}
    if len(keys) == 1:
        columns[keys[0]] = codes[sel]
    else:
        parts = np.asarray([c.split("|", 1) for c in codes[sel]], dtype=object)
        columns.update({"product": parts[:, 0], "country": parts[:, 1]})
    table, report = SalesTable.from_columns(
        columns, date="week", target="units", keys=keys, freq="W", fill="zero", source="online retail II")
    stats["weeks"] = int(table.length)
    stats["series"] = int(table.n_series)
    return table, stats


# --- Gradient boosting on lags >= horizon ---------------------------------


def gbm_features(table, t_index, horizon, train_end):
    y = table.target.astype(np.float64)
    y = np.where(np.isfinite(y), y, np.nan)
    n = y.shape[0]
    pad = 120
    yp = np.concatenate([np.full((n, pad), np.nan), y, np.full((n, horizon), np.nan)], axis=1)
    c = np.concatenate([np.zeros((n, 1)), np.nancumsum(yp, axis=1)], axis=1)
    cols = []
    for lag in (horizon, horizon + 1, horizon + 2, horizon + 3, 52, 53, 51):
        cols.append(yp[:, t_index + pad - lag])
    for lo, hi in ((horizon, horizon + 3), (horizon, horizon + 11), (horizon, horizon + 25), (50, 54)):
        cols.append((c[:, t_index + pad - lo + 1] - c[:, t_index + pad - hi]) / (hi - lo + 1))
    dates = table.start + t_index * 7
    years = dates.astype("datetime64[Y]")
    doy = (dates - years.astype("datetime64[D]")).astype(int)
    month = (dates.astype("datetime64[M]") - years.astype("datetime64[M]")).astype(int) + 1
    for v in (doy // 7, month):
        cols.append(np.broadcast_to(v, (n, len(t_index))).astype(np.float64))
    if n <= 255:  # scikit-learn's limit for a categorical feature
        ident = np.arange(n, dtype=np.float64)
    else:  # more series: each one's mean log1p units in the training weeks instead of its id
        ident = np.nanmean(np.log1p(np.maximum(y[:, :train_end], 0)), axis=1)
    cols.append(np.broadcast_to(ident[:, None], (n, len(t_index))).astype(np.float64))
    return np.stack(cols, -1).reshape(n * len(t_index), len(cols))


def gbm_forecasts(table, cutoff_index, origin_indices, horizon, seed=0):
    from sklearn.ensemble import HistGradientBoostingRegressor

    train_t = np.arange(horizon + 4, cutoff_index)
    x = gbm_features(table, train_t, horizon, cutoff_index)
    y = table.target[:, train_t].reshape(-1).astype(np.float64)
    ok = np.isfinite(y)
    categorical = np.zeros(x.shape[1], bool)
    categorical[-1] = table.n_series <= 255
    model = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, max_leaf_nodes=31,
                                          min_samples_leaf=40, categorical_features=categorical,
                                          random_state=seed)
    model.fit(x[ok], np.log1p(np.maximum(y[ok], 0)))
    out = []
    for t in origin_indices:
        steps = np.arange(t, t + horizon)
        out.append(np.maximum(np.expm1(model.predict(gbm_features(table, steps, horizon, cutoff_index))), 0).reshape(
            table.n_series, horizon))
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--products", type=int, default=200, help="number of series (the top ones by units)")
    p.add_argument("--train-products", type=int, default=0,
                   help="train every model on this many top series (>= --products); score the top --products")
    p.add_argument("--cancelled", choices=("drop", "keep"), default="drop",
                   help="drop the sale lines a cancellation reverses (default), or keep them (session 3)")
    p.add_argument("--level", choices=sorted(LEVELS), default="product",
                   help="weekly units per product, per country, or per (product, country)")
    p.add_argument("--horizon", type=int, default=8)
    p.add_argument("--origins", type=int, default=4)
    p.add_argument("--step", type=int, default=4)
    p.add_argument("--end", help="validation: the last window ends before this date (the table is cut there)")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lookback", type=int, default=None)
    p.add_argument("--scale-window", type=int, default=0, help="SalesForecaster scale_window")
    p.add_argument("--loss-weight-power", type=float, default=0.0, help="SalesForecaster loss_weight_power")
    p.add_argument("--log-inputs", action="store_true", help="SalesForecaster log_inputs")
    p.add_argument("--log-target", action="store_true", help="SalesForecaster log_target")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--units", type=int, default=64, help="SalesForecaster lstm_units and hidden_units")
    p.add_argument("--dropout", type=float, default=0.0, help="SalesForecaster decoder dropout")
    p.add_argument("--skip-gbm", action="store_true")
    p.add_argument("--json", help="write the figures to this file")
    args = p.parse_args(argv)

    from benchmarks.common import machine
    from ecomtf.recipes import forecast as recipe

    started = time.time()
    table, stats = weekly_product_table(data_file(), max(args.products, args.train_products), args.level,
                                         args.cancelled)
    # The scored series: the top --products by units (the selection's own criterion).
    scored = np.sort(np.argsort(-np.nansum(table.target, axis=1), kind="stable")[:args.products])
    stats["scored_series"] = int(len(scored))
    if args.end:
        table = table.slice(end=args.end)
        stats["cut_at"] = args.end
    print(json.dumps(stats), table)
    h = args.horizon
    origins = bt.rolling_origins(table, h, args.origins, args.step)
    cutoff = origins[0]
    o_idx = [table.index_of(o) for o in origins]
    print("origins", [str(o) for o in origins], "training before", cutoff)
    model_kwargs = dict(lookback=args.lookback, scale_window=args.scale_window,
                        loss_weight_power=args.loss_weight_power, log_inputs=args.log_inputs,
                        log_target=args.log_target, lstm_units=args.units, hidden_units=args.units,
                        dropout=args.dropout)
    print("forecaster settings", model_kwargs)

    rows = {}  # method -> list of per-origin metric dicts

    def score(name, k, actual, forecast, mase_scale, quantiles=None, levels=None):
        rows.setdefault(name, [None] * len(origins))[k] = bt.forecast_metrics(
            actual, forecast, mase_scale, quantiles, levels)[0]

    actuals, scales = [], []
    for t in o_idx:
        a = table.target[scored, t:t + h].astype(np.float64)
        actuals.append(a)
        scales.append(bt.mase_denominator(table.target[scored, :t], 1))
    baselines = dict(forecast_baselines.default_baselines("W"))
    baselines["auto_ets"] = forecast_baselines.auto_ets
    for name, fn in baselines.items():
        for k, t in enumerate(o_idx):
            score(name, k, actuals[k], fn(table.target[scored, :t].astype(np.float32), h), scales[k])
    gbm_seconds = 0.0
    if not args.skip_gbm:
        t0 = time.time()
        for k, f in enumerate(gbm_forecasts(table, o_idx[0], o_idx, h)):
            score("gradient boosting (lags >= horizon)", k, actuals[k], f[scored], scales[k])
        gbm_seconds = time.time() - t0

    from ecomtf.data.windows import SalesWindows

    seed_preds, seed_seconds, calib, calib_level = [], [], [], []
    # An alternative calibration unit, measured here in numpy only (the graph
    # calibrates in units of the model's scale): each series' mean over the 13
    # weeks before the origin, so offsets grow with the level at the origin.
    recent = []
    for k, t in enumerate(o_idx):
        r = np.nanmean(np.abs(table.target[scored, max(0, t - 13):t]), axis=1)
        recent.append(r)
    levels = None
    for seed in range(args.seeds):
        t0 = time.time()
        model, info = recipe.fit(table, horizon=h, until=cutoff, epochs=args.epochs, seed=seed, verbose=0,
                                 learning_rate=args.lr,
                                 **model_kwargs)
        seed_seconds.append(time.time() - t0)
        full, preds = [], []
        w = SalesWindows(table, model.history_length, h)
        for k, o in enumerate(origins):
            out = model.predict(w.features(w.origins_at(o, series=scored)), batch_size=1024, verbose=0)
            full.append({key: np.asarray(v) for key, v in out.items()})
            preds.append({"origin": str(o), "actual": actuals[k], "quantiles": full[-1]["quantiles"],
                          "scale": full[-1]["scale"], "nonnegative": bool(model.nonnegative)})
        seed_preds.append(full)
        for k in range(len(origins)):
            score(f"SalesForecaster seed {seed}", k, actuals[k], full[k]["forecast"], scales[k],
                  full[k]["quantiles"], model.quantiles)
        calib.append(bt.held_out_calibration(preds, model.quantiles))
        level_preds = [dict(p_, scale=np.where(recent[k] > 0, recent[k], p_["scale"])) for k, p_ in enumerate(preds)]
        calib_level.append(bt.held_out_calibration(level_preds, model.quantiles))
        levels = model.quantiles
    if args.seeds > 1:
        for k in range(len(origins)):
            q = np.mean([sp[k]["quantiles"] for sp in seed_preds], axis=0)
            score(f"SalesForecaster ensemble of {args.seeds}", k, actuals[k], q[..., levels.index(0.5)],
                  scales[k], q, levels)

    metrics = ("wape", "mase", "smape", "coverage")
    summary = {}
    print(f"\n{'method':<40}" + "".join(f"{m + ' mean':>14}" for m in metrics) + "   wape per origin")
    for name, per in rows.items():
        mean = {m: float(np.mean([r[m] for r in per])) for m in metrics if m in per[0]}
        summary[name] = {"mean": mean, "per_origin": per}
        print(f"{name:<40}" + "".join(f"{mean.get(m, float('nan')):>14.3f}" for m in metrics)
              + "   " + " ".join(f"{r['wape']:.2f}" for r in per))
    seed_wape = [summary[f"SalesForecaster seed {s}"]["mean"]["wape"] for s in range(args.seeds)]
    if seed_wape:
        print(f"\nforecaster WAPE over seeds: mean {np.mean(seed_wape):.3f}, std {np.std(seed_wape):.3f}, "
              f"range {min(seed_wape):.3f}-{max(seed_wape):.3f}")
    for s, c in enumerate(calib):
        print(f"seed {s} P10-P90 coverage % per window: raw {[round(v, 1) for v in c['raw']['per_window']]}, "
              f"calibrated held out {[round(v, 1) for v in (c['calibrated'] or {}).get('per_window', [])]}; "
              f"calibrated per step {[round(v) for v in (c['calibrated'] or {}).get('per_step', [])]}")
    for s, c in enumerate(calib_level):
        print(f"seed {s} coverage, offsets in units of the 13-week level (numpy only): calibrated held out "
              f"{[round(v, 1) for v in (c['calibrated'] or {}).get('per_window', [])]}; per step "
              f"{[round(v) for v in (c['calibrated'] or {}).get('per_step', [])]}")
    print(f"train seconds per seed {[round(s) for s in seed_seconds]}, GBM {gbm_seconds:.0f} s, "
          f"total {time.time() - started:.0f} s; {machine()}")
    out = {"stats": stats, "settings": model_kwargs, "summary": summary, "calibration": calib,
           "calibration_13_week_level": calib_level}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, default=float)
    return out


if __name__ == "__main__":
    main()
