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
``--seeds`` seeds (options ``--log-target --lookback --scale-window --level-base --loss-weight-power
--log-inputs``),
their ensemble (``SalesForecasterEnsemble``: the seeds averaged in one graph), seasonal naive (same week
last year), naive, moving average over 4 weeks, AutoETS, and a gradient-boosting global model on lags >= the
horizon (scikit-learn, as in store_item_demand). The P10-P90 coverage of each window is reported raw and
calibrated held out (offsets fitted on the other windows) in several units (the model scale, each series'
level over the last n weeks: ``--compare-units``), overall and for the third of the series whose 13-week
level is highest against their scale. ``--validation-calibration K`` calibrates each model's graph (unit
``--calibration-window``) on K windows before the first origin, scored by a second model trained before
them (as the CLI calibrates its deployed model on its backtest), and reports that graph's coverage on the
scored windows per window and per horizon step. ``--refit-each-origin`` trains every method (each seed, its
calibration model, the GBM) before each scored origin instead of once, as a user retraining with all the
data at each forecast date would; ``--ensemble-combine mean,median`` scores the seeds' ensemble both ways.
Each forecaster row is paired with the GBM over origins (t-test); ``--paired-from FILE`` reprints that from
an earlier run's ``--json``.

    .venv/bin/python -m benchmarks.online_retail --products 100 --seeds 3 --log-target --lookback 52 \
        --dropout 0.2 --loss-weight-power 1 --scale-window 13 --level-base learned --calibration-window 4 \
        --validation-calibration 2 --refit-each-origin
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


GBM = "gradient boosting (lags >= horizon)"


def paired_against_gbm(summary: dict) -> list[str]:
    """The forecaster's rows against the GBM, paired over origins: WAPE differences (positive = GBM better).

    One line per forecaster row (each seed, each ensemble): the per-origin
    differences, their mean and the paired t-test p over origins; then the
    seeds' (seed, origin) pairs pooled. ``summary``: ``main``'s (or its
    ``--json`` file's) ``"summary"``.
    """
    from scipy.stats import ttest_rel

    if GBM not in summary:
        return []
    gbm = np.asarray([r["wape"] for r in summary[GBM]["per_origin"]], np.float64)
    lines, pooled = [], []
    for name, row in summary.items():
        if not name.startswith("SalesForecaster"):
            continue
        ours = np.asarray([r["wape"] for r in row["per_origin"]], np.float64)
        diff = ours - gbm
        p = float(ttest_rel(ours, gbm).pvalue) if len(diff) > 1 and np.any(diff != diff[0]) else float("nan")
        lines.append(f"paired with the GBM over origins, {name}: " + " ".join(f"{d:+.2f}" for d in diff)
                     + f"; mean {diff.mean():+.2f}, t-test p {p:.3f}, ahead on {int((diff < 0).sum())}/{len(diff)}")
        if " seed " in name:
            pooled.append((ours, gbm))
    if pooled:
        ours = np.concatenate([o for o, _ in pooled])
        base = np.concatenate([g for _, g in pooled])
        diff = ours - base
        lines.append(f"paired with the GBM, {len(diff)} (seed, origin) pairs: mean {diff.mean():+.2f}, t-test p "
                     f"{float(ttest_rel(ours, base).pvalue):.4f}, forecaster ahead on {int((diff < 0).sum())}"
                     f"/{len(diff)}")
    return lines


def usage_checked_combines(text, seeds: int) -> list[str]:
    """``--ensemble-combine`` -> the combines to score (none with one seed); a bad value is one line and exit 2."""
    import sys

    def fail(message):
        print(f"online_retail: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    if text is None:
        return ["mean"] if seeds > 1 else []
    combines = [c for c in text.split(",") if c]
    bad = [c for c in combines if c not in ("mean", "median")]
    if bad or not combines:
        fail(f"--ensemble-combine takes mean and/or median (comma-separated), got {text!r}")
    if seeds < 2:
        # The seeds are the ensemble's members: one seed has nothing to combine.
        fail(f"--ensemble-combine {text} needs --seeds N with N >= 2 (the ensemble's members), got --seeds {seeds}")
    return combines


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
    p.add_argument("--level-base", choices=("longest", "learned"), default="longest",
                   help="SalesForecaster level_base")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--units", type=int, default=64, help="SalesForecaster lstm_units and hidden_units")
    p.add_argument("--dropout", type=float, default=0.0, help="SalesForecaster decoder dropout")
    p.add_argument("--calibration-window", type=int, default=0,
                   help="SalesForecaster calibration_window: the graph's calibration unit (0: the model scale)")
    p.add_argument("--compare-units", default="13",
                   help="calibration units (weeks of level, comma-separated) also compared in numpy")
    p.add_argument("--validation-calibration", type=int, default=0, metavar="K",
                   help="calibrate each model's graph on K validation windows before the first origin "
                        "(a second model trained before them) and report its coverage on the scored windows")
    p.add_argument("--validation-step", type=int, default=2, help="weeks between validation calibration origins")
    p.add_argument("--refit-each-origin", action="store_true",
                   help="train every method before each scored origin (default: once, before the first)")
    p.add_argument("--ensemble-combine", default=None,
                   help="SalesForecasterEnsemble combine, comma-separated to score several: mean (default; the "
                        "members' quantiles averaged), median; needs --seeds >= 2 (the members)")
    p.add_argument("--skip-gbm", action="store_true")
    p.add_argument("--json", help="write the figures to this file")
    p.add_argument("--paired-from", metavar="FILE",
                   help="only print the paired test against the GBM from a --json file of an earlier run")
    args = p.parse_args(argv)
    if args.paired_from:
        with open(args.paired_from) as f:
            saved = json.load(f)
        for line in paired_against_gbm(saved["summary"]):
            print(line)
        return saved
    combines = usage_checked_combines(args.ensemble_combine, args.seeds)

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
    print("origins", [str(o) for o in origins], "training before",
          "each origin" if args.refit_each_origin else cutoff)
    model_kwargs = dict(lookback=args.lookback, scale_window=args.scale_window,
                        loss_weight_power=args.loss_weight_power, log_inputs=args.log_inputs,
                        log_target=args.log_target, level_base=args.level_base,
                        lstm_units=args.units, hidden_units=args.units,
                        dropout=args.dropout, calibration_window=args.calibration_window)
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
        if args.refit_each_origin:  # one GBM per origin, trained on the weeks before it
            gbm = [gbm_forecasts(table, t, [t], h)[0] for t in o_idx]
        else:
            gbm = gbm_forecasts(table, o_idx[0], o_idx, h)
        for k, f in enumerate(gbm):
            score("gradient boosting (lags >= horizon)", k, actuals[k], f[scored], scales[k])
        gbm_seconds = time.time() - t0

    from ecomtf.data.windows import SalesWindows
    from ecomtf.models.sales_forecaster_ensemble import SalesForecasterEnsemble

    # Calibration units compared in numpy (the graph calibrates in one of them,
    # --calibration-window): the model's scale (0) or each series' mean absolute
    # value over its last n weeks at the origin.
    compare = sorted({0, 13, args.calibration_window, *[int(v) for v in args.compare_units.split(",") if v]})
    recent = {n: [] for n in compare if n}
    history = []  # each series' mean absolute value over all weeks before the origin
    for t in o_idx:
        for n in recent:
            recent[n].append(np.nanmean(np.abs(table.target[scored, max(0, t - n):t]), axis=1))
        history.append(np.nanmean(np.abs(table.target[scored, :t]), axis=1))
    def predict(model, origin):
        w = SalesWindows(table, model.history_length, h)
        out = model.predict(w.features(w.origins_at(origin, series=scored)), batch_size=1024, verbose=0)
        return {key: np.asarray(v) for key, v in out.items()}

    def window_preds(full):
        return [{"origin": str(o), "actual": actuals[k], "quantiles": full[k]["quantiles"],
                 "scale": full[k]["calibration_scale"], "nonnegative": True} for k, o in enumerate(origins)]

    def unit_preds(full, n):
        out = []
        for k, o in enumerate(origins):
            unit = full[k]["scale"] if not n else np.where(recent[n][k] > 0, recent[n][k], full[k]["scale"])
            out.append({"origin": str(o), "actual": actuals[k], "quantiles": full[k]["quantiles"],
                        "scale": unit, "nonnegative": True})
        return out

    # Series whose level at the origin is high against their mean before it
    # (a peak season): the calibration unit should keep their coverage too.
    # Not against the model's scale: with --scale-window that is the recent
    # level itself, and the ratio would be ~1 for every series.
    def by_rising(full, n):
        preds = unit_preds(full, n)
        inside_rising, inside_rest = [], []
        for i, p_ in enumerate(preds):
            others = [q for j, q in enumerate(preds) if j != i]
            q = bt.apply_offsets(p_["quantiles"], p_["scale"], bt.conformal_offsets(others, levels), levels, True)
            inside = (p_["actual"] >= q[..., 0]) & (p_["actual"] <= q[..., -1])
            ratio = np.nan_to_num(recent[13][i] / np.maximum(history[i], 1e-9))
            rising = ratio >= np.quantile(ratio, 2 / 3)
            inside_rising.append(inside[rising])
            inside_rest.append(inside[~rising])
        return (float(100 * np.mean(np.concatenate(inside_rising))),
                float(100 * np.mean(np.concatenate(inside_rest))))

    seed_preds, seed_seconds = [], []
    calib_units = []  # per seed: unit -> held-out calibration over the scored windows (numpy)
    calib_val = {}  # name -> coverage of the graph calibrated on the validation windows
    levels = None
    # The training cutoff of each scored origin: the first origin for every one
    # (one model), or each origin itself (--refit-each-origin: the model a user
    # retraining with all data to date would deploy there).
    cutoffs = list(origins) if args.refit_each_origin else [cutoff] * len(origins)
    distinct = sorted(set(cutoffs))

    def calibration_origins(until):
        return bt.rolling_origins(table.slice(end=until), h, args.validation_calibration, args.validation_step)

    if args.validation_calibration:
        for c in distinct:
            vo = calibration_origins(c)
            print("scored from", c, ": calibration origins", [str(o) for o in vo],
                  "calibration model trained before", vo[0])

    def fit(seed, until):
        return recipe.fit(table, horizon=h, until=until, epochs=args.epochs, seed=seed, verbose=0,
                          learning_rate=args.lr, **model_kwargs)[0]

    def validation_calibrated(name, models, val_models):
        """models / val_models: cutoff -> the scored model / its calibration model."""
        cal, offsets_used, val_held = [None] * len(origins), {}, {}
        for c in distinct:
            preds = bt.backtest_predictions(val_models[c], table.slice(end=c), calibration_origins(c))
            offsets = bt.conformal_offsets(preds, levels)
            models[c].set_quantile_offsets(offsets)
            for k in range(len(origins)):
                if cutoffs[k] == c:
                    cal[k] = predict(models[c], origins[k])
            models[c].set_quantile_offsets(np.zeros_like(offsets))  # members of the ensemble stay raw
            offsets_used[str(c)] = offsets.tolist()
            val_held[str(c)] = bt.held_out_calibration(preds, levels)
        # Where the misses fall (below P10 / above P90) and the median's bias:
        # a band too narrow misses on both sides, a level shift on one.
        sides = [(float(100 * np.mean(actuals[k] < c["quantiles"][..., 0])),
                  float(100 * np.mean(actuals[k] > c["quantiles"][..., -1])),
                  float(c["forecast"][np.isfinite(actuals[k])].sum() / np.nansum(actuals[k])))
                 for k, c in enumerate(cal)]
        calib_val[name] = {"offsets": offsets_used, "below_above_bias": sides,
                           "coverage": bt.interval_coverage(window_preds(cal), levels),
                           "validation_held_out": val_held[str(distinct[0])]}

    members = {c: [] for c in distinct}  # cutoff -> the seeds' models
    val_members = {c: [] for c in distinct}
    for seed in range(args.seeds):
        t0 = time.time()
        models = {c: fit(seed, c) for c in distinct}
        seed_seconds.append(time.time() - t0)
        levels = models[distinct[0]].quantiles
        full = [predict(models[cutoffs[k]], o) for k, o in enumerate(origins)]
        seed_preds.append(full)
        for k in range(len(origins)):
            score(f"SalesForecaster seed {seed}", k, actuals[k], full[k]["forecast"], scales[k],
                  full[k]["quantiles"], levels)
        calib_units.append({n: dict(bt.held_out_calibration(unit_preds(full, n), levels),
                                    rising_rest=by_rising(full, n)) for n in compare})
        for c in distinct:
            members[c].append(models[c])
        if args.validation_calibration:
            vals = {c: fit(seed, calibration_origins(c)[0]) for c in distinct}
            for c in distinct:
                val_members[c].append(vals[c])
            validation_calibrated(f"seed {seed}", models, vals)
    for combine in combines:
        name = f"SalesForecaster ensemble of {args.seeds} (one graph)"
        if combine != "mean" or len(combines) > 1:
            name += f", {combine}"
        ensembles = {c: SalesForecasterEnsemble(members[c], combine=combine) for c in distinct}
        full = [predict(ensembles[cutoffs[k]], o) for k, o in enumerate(origins)]
        for k in range(len(origins)):
            score(name, k, actuals[k], full[k]["forecast"], scales[k], full[k]["quantiles"], levels)
        calib_units.append({n: dict(bt.held_out_calibration(unit_preds(full, n), levels),
                                    rising_rest=by_rising(full, n)) for n in compare})
        if args.validation_calibration:
            validation_calibrated(f"ensemble ({combine})", ensembles,
                                  {c: SalesForecasterEnsemble(val_members[c], combine=combine) for c in distinct})

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
    for line in paired_against_gbm(summary):
        print(line)

    def fmt(values, digits=1):
        return " ".join(f"{v:.{digits}f}" for v in values)

    for s, per_unit in enumerate(calib_units):
        who = f"seed {s}" if s < args.seeds else f"ensemble ({combines[s - args.seeds]})"
        for n, c in per_unit.items():
            if n == compare[0]:
                print(f"{who} P10-P90 coverage % per window: raw {fmt(c['raw']['per_window'])}")
            unit = "model scale" if not n else f"{n}-week level"
            held = (c["calibrated"] or {})
            print(f"  held out over the scored windows, unit {unit:<14}: per window "
                  f"{fmt(held.get('per_window', []))}; per step {fmt(held.get('per_step', []), 0)}; "
                  f"top third by 13-week level / mean before the origin {c['rising_rest'][0]:.1f}, the rest {c['rising_rest'][1]:.1f}")
    for who, c in calib_val.items():
        v = c["validation_held_out"]["calibrated"] or {}
        print(f"{who}: graph calibrated on the validation windows before each cutoff "
              f"(unit: {'model scale' if not args.calibration_window else f'{args.calibration_window}-week level'})"
              f": scored coverage per window {fmt(c['coverage']['per_window'])}, per step "
              f"{fmt(c['coverage']['per_step'], 0)}, overall {c['coverage']['overall']:.1f}"
              f"; held out among the (first) validation windows {fmt(v.get('per_window', []))}")
        print("  per window % below P10 / % above P90 / P50 sum over actual sum: "
              + ", ".join(f"{b:.1f} / {a:.1f} / {r:.2f}" for b, a, r in c["below_above_bias"]))
    print(f"train seconds per seed {[round(s) for s in seed_seconds]}, GBM {gbm_seconds:.0f} s, "
          f"total {time.time() - started:.0f} s; {machine()}")
    out = {"stats": stats, "settings": model_kwargs, "summary": summary,
           "calibration_units": [{str(n): c for n, c in u.items()} for u in calib_units],
           "calibration_from_validation": calib_val}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, default=float)
    return out


if __name__ == "__main__":
    main()
