"""Sales forecasting: long sales table -> SalesForecaster, backtested next to the baselines.

Three lines of Python do what ``ecomtf train forecast`` does::

    table, report = SalesTable.read("sales.csv", date="date", target="units", keys=["store", "item"])
    model, result = forecast.train(table, horizon=28)
    ecomtf.export.save_for_serving(model, "export/sales_forecaster")
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import time

import numpy as np

from ecomtf import recipes

NAME = "forecast"
HELP = "sales forecaster (long sales table -> quantile forecasts per series, backtested vs baselines)"
MODEL_NAME = "sales_forecaster"
DEFAULT_HORIZON = {"D": 28, "W": 8}


# === Data ===
def read_table_from_args(args):
    """``(SalesTable, RejectReport)`` from ``--data`` and the column-mapping flags."""
    from ecomtf.data.sales_table import SalesTable

    return SalesTable.read(
        args.data,
        date=args.date_col,
        target=args.target_col,
        keys=_split(args.key_cols),
        known=_split(args.known_cols),
        holiday=args.holiday_col or None,
        holidays=_holidays(args.holidays),
        past=_split(args.past_cols),
        static=_split(args.static_cols),
        freq=args.freq,
        fill=args.fill,
        date_format=args.date_format,
        delimiter=args.delimiter,
        strict=args.strict,
        week_anchor=getattr(args, "week_anchor", "start"),
    )


def _split(text) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _holidays(text) -> list[str]:
    """``--holidays``: comma-separated dates, or ``@file`` with one date per line."""
    if not text:
        return []
    if text.startswith("@"):
        lines = pathlib.Path(text[1:]).read_text().splitlines()
        return [line.split(",")[0].strip() for line in lines if line.strip() and line[0].isdigit()]
    return _split(text)


# === Training ===
def train(
    table,
    *,
    horizon: int | None = None,
    lookback: int | None = None,
    backtest_windows: int = 3,
    backtest_step: int | None = None,
    epochs: int = 10,
    steps_per_epoch: int | None = None,
    batch_size: int = 256,
    learning_rate: float = 2e-3,
    refit: bool = True,
    strategy=None,
    seed: int = 0,
    deterministic: bool = False,
    calibrate: bool = True,
    ensemble: int = 1,
    ensemble_combine: str = "mean",
    verbose: int = 2,
    **model_kwargs,
):
    """Trains a SalesForecaster on ``table`` and backtests it next to the baselines.

    The model is trained on the data before the first backtest origin, then
    scored on ``backtest_windows`` rolling origins (``backtest_step`` apart,
    default one horizon), so every figure is out of sample. With ``refit``
    (the default), a second model is trained on all the data (same settings)
    and returned for deployment and the forecast; the backtest figures are
    those of the first. Asked-for windows that do not fit the table are
    reduced to those that do, with a note.

    Args:
        table: a ``SalesTable``.
        horizon: steps to forecast (default 28 days or 8 weeks).
        lookback: LSTM steps (default 56 days or 26 weeks).
        backtest_windows, backtest_step: the rolling origins (0 windows: no
            backtest, train on everything).
        epochs, steps_per_epoch, batch_size, learning_rate: the schedule
            (cosine decay; default steps: one pass over the windows, at
            least 25 and at most 200 batches).
        refit: retrain on all data after the backtest (default True; False
            returns the model trained before the first backtest origin).
        strategy: a ``tf.distribute.Strategy`` (default: the current one).
        seed: seeds weights, dropout and the window order.
        calibrate: calibrate the quantiles on the backtest windows
            (``ecomtf.evaluation.backtest.conformal_offsets``; needs a
            backtest); ``info["calibration"]`` holds the coverage per
            window and horizon step, raw and held out (leave one origin out).
        ensemble: train this many forecasters (seeds ``seed``,
            ``seed + 1``, ...) and average them in one graph
            (``SalesForecasterEnsemble``); costs that many trainings.
        ensemble_combine: ``"mean"`` (default) or ``"median"`` of the
            members' quantiles (``SalesForecasterEnsemble(combine=...)``).
        deterministic: also make every TF op deterministic
            (``tf.config.experimental.enable_op_determinism``), so the same
            seed gives the same model bit for bit; slower (docs/forecaster.md).
        verbose: Keras verbosity (2 = one line per epoch).
        **model_kwargs: other ``SalesForecaster.from_table`` arguments.

    Returns:
        ``(model, BacktestResult or None, info dict)``.
    """
    from ecomtf.evaluation import backtest as bt

    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    horizon = int(horizon or DEFAULT_HORIZON[table.freq])
    result, cutoff = None, None
    backtest_windows = fitting_backtest_windows(table, horizon, backtest_windows, backtest_step, verbose)
    if backtest_windows:
        origins = bt.rolling_origins(table, horizon, backtest_windows, backtest_step)
        cutoff = origins[0]
    model, info = fit(table, horizon=horizon, lookback=lookback, until=cutoff, epochs=epochs,
                      steps_per_epoch=steps_per_epoch, batch_size=batch_size,
                      learning_rate=learning_rate, strategy=strategy, seed=seed,
                      verbose=verbose, ensemble=ensemble, ensemble_combine=ensemble_combine, **model_kwargs)
    calibration = offsets = None
    if backtest_windows:
        result = bt.backtest(model, table, horizon=horizon, origins=origins, name="SalesForecaster")
        if calibrate:
            preds = bt.backtest_predictions(model, table, origins)
            offsets = bt.conformal_offsets(preds, model.quantiles)
            calibration = bt.held_out_calibration(preds, model.quantiles)
    if refit and cutoff is not None:
        if verbose:
            print("refitting on all the data ...")
        model, info = fit(table, horizon=horizon, lookback=lookback, until=None, epochs=epochs,
                          steps_per_epoch=steps_per_epoch, batch_size=batch_size,
                          learning_rate=learning_rate, strategy=strategy, seed=seed,
                          verbose=verbose, ensemble=ensemble, ensemble_combine=ensemble_combine, **model_kwargs)
    if offsets is not None:
        # The offsets come from the backtest model's out-of-sample errors;
        # they travel with the deployed model (config and graph).
        model.set_quantile_offsets(offsets)
        calibration["offsets"] = offsets.tolist()
        info["calibration"] = calibration
    return model, result, info


def calibration_text(calibration: dict) -> str:
    """The coverage of the outer quantile band, raw and calibrated, as printed lines."""
    def fmt(values):
        return " ".join(f"{v:.0f}" for v in values)

    raw, cal = calibration["raw"], calibration["calibrated"]
    lines = [f"P10-P90 style band coverage % (nominal {calibration['nominal']:.0f}):",
             f"  raw, per window:               {fmt(raw['per_window'])}  (overall {raw['overall']:.1f})"]
    if cal is None:
        lines.append("  calibrated on the single backtest window; no held-out window to check it on "
                     "(use --backtest-windows >= 2)")
    else:
        lines += [
            f"  calibrated, held out, per window: {fmt(cal['per_window'])}  (overall {cal['overall']:.1f};"
            " each window with offsets from the other windows)",
            f"  calibrated, held out, per step:   {fmt(cal['per_step'])}",
        ]
    return "\n".join(lines)


def fitting_backtest_windows(table, horizon: int, windows: int, step: int | None = None, verbose: int = 1) -> int:
    """How many of the asked backtest windows fit the table, saying so when fewer.

    Each window takes ``step`` (default ``horizon``) steps off the end of the
    table, and the model needs training data before the first origin: at
    least ``horizon + 1`` steps (one full training window).

    Raises:
        DataValidationError: a message naming ``--backtest-windows`` and
            ``--horizon`` when not even one window fits.
    """
    from ecomtf.data.reject_report import DataValidationError

    if windows <= 0:
        return 0
    step = int(step or horizon)
    unit = "days" if table.freq == "D" else "weeks"

    def train_steps(k):
        return table.length - horizon - (k - 1) * step

    fit_ = max([k for k in range(1, windows + 1) if train_steps(k) >= horizon + 1], default=0)
    if not fit_:
        raise DataValidationError(
            f"--backtest-windows {windows}: not even one backtest window fits {table.length} {unit} with "
            f"--horizon {horizon} (training needs {horizon + 1} {unit} before the origin); "
            f"shorten --horizon or pass --backtest-windows 0")
    if fit_ < windows and verbose:
        print(f"note: --backtest-windows {windows} does not fit {table.length} {unit} with --horizon {horizon} "
              f"(windows {step} {unit} apart, and training needs {horizon + 1} {unit} before the first "
              f"origin): backtesting on {fit_} window(s)")
    return fit_


def fit(table, *, horizon, lookback=None, until=None, epochs=10, steps_per_epoch=None,
        batch_size=256, learning_rate=2e-3, strategy=None, seed=0, verbose=2, ensemble=1, ensemble_combine="mean",
        **model_kwargs):
    """Builds a SalesForecaster from the data before ``until`` and trains it there.

    With ``ensemble > 1``, trains that many (seeds ``seed``, ``seed + 1``, ...)
    and returns their ``SalesForecasterEnsemble`` (``ensemble_combine``: mean
    or median of the members' quantiles).
    """
    if ensemble > 1:
        from ecomtf.models.sales_forecaster_ensemble import SalesForecasterEnsemble

        members, infos = [], []
        for k in range(ensemble):
            if verbose:
                print(f"ensemble member {k + 1}/{ensemble} (seed {seed + k})")
            m, i = fit(table, horizon=horizon, lookback=lookback, until=until, epochs=epochs,
                       steps_per_epoch=steps_per_epoch, batch_size=batch_size, learning_rate=learning_rate,
                       strategy=strategy, seed=seed + k, verbose=verbose, **model_kwargs)
            members.append(m)
            infos.append(i)
        info = dict(infos[0])
        info["ensemble"] = ensemble
        info["train_seconds"] = round(sum(i["train_seconds"] for i in infos), 1)
        info["final_loss"] = [i["final_loss"] for i in infos]
        info["ensemble_combine"] = ensemble_combine
        return SalesForecasterEnsemble(members, combine=ensemble_combine), info
    import tensorflow as tf

    from ecomtf.data.windows import SalesWindows
    from ecomtf.models.sales_forecaster import SalesForecaster

    tf.keras.utils.set_random_seed(seed)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = SalesForecaster.from_table(table, horizon=horizon, lookback=lookback, until=until,
                                           seed=seed, **model_kwargs)
    train_table = table.slice(end=until) if until is not None else table
    windows = SalesWindows(train_table, model.history_length, model.horizon)
    origins = windows.origins()
    if not len(origins):
        raise ValueError(
            f"no training windows: {train_table.length} steps of training data are too few for a "
            f"horizon of {horizon} (shorten --horizon or --backtest-windows)"
        )
    steps = int(steps_per_epoch or min(200, max(25, -(-len(origins) // batch_size))))
    ds = windows.dataset(origins, batch_size=batch_size, shuffle=True, seed=seed, repeat=True)
    with strategy.scope():
        schedule = tf.keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=max(1, epochs * steps), alpha=0.05
        )
        model.compile(tf.keras.optimizers.Adam(schedule, clipnorm=1.0))
    started = time.perf_counter()
    history = model.fit(ds, epochs=epochs, steps_per_epoch=steps, verbose=verbose)
    seconds = time.perf_counter() - started
    return model, {
        "train_windows": int(len(origins)),
        "windows_seen": int(epochs * steps * batch_size),
        "train_seconds": round(seconds, 1),
        "windows_per_second": round(epochs * steps * batch_size / max(seconds, 1e-9), 1),
        "final_loss": float(history.history["loss"][-1]),
        "trained_until": model.trained_until,
    }


def forecast_table(model, table, future_known=None) -> dict:
    """Forecasts the ``horizon`` steps after the table's end for every series.

    Returns a dict with ``series_ids``, ``dates`` and ``forecast`` /
    ``quantiles`` arrays. Known covariates over that horizon come from
    ``future_known`` (column -> ``[series, horizon]``) or, by default, each
    series' last value (a holiday flag column: 0).
    """
    from ecomtf.data.windows import SalesWindows

    windows = SalesWindows(table, model.history_length, model.horizon)
    feats = windows.latest(future_known)
    pred = model.predict(feats, batch_size=1024, verbose=0)
    start = table.end + table.step_days
    return {
        "series_ids": table.series_ids,
        "dates": start + np.arange(model.horizon) * table.step_days,
        "forecast": np.asarray(pred["forecast"]),
        "quantiles": np.asarray(pred["quantiles"]),
    }


def write_forecast_csv(path, model, table, forecast: dict) -> pathlib.Path:
    """One row per (series, date): the keys, the date, P50 and every quantile."""
    path = pathlib.Path(path)
    names = model.quantile_names
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*table.key_cols, "date", "forecast", *names])
        for i in range(table.n_series):
            for j, d in enumerate(forecast["dates"]):
                q = forecast["quantiles"][i, j]
                w.writerow([*table.series_keys[i], str(d), f"{forecast['forecast'][i, j]:.4f}",
                            *(f"{v:.4f}" for v in q)])
    return path


# === Run directories ===
def save_run(run_dir, model, metrics: dict, **info) -> pathlib.Path:
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "model_config.json").write_text(json.dumps(model.get_config()))
    model.save_weights(str(run_dir / "weights" / "model"))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    recipes.write_run_info(run_dir, NAME, **info)
    return run_dir


def load_run(run_dir):
    """The trained SalesForecaster of a run directory."""
    import tensorflow as tf

    from ecomtf.export.sales_forecaster_servable import SalesForecasterServable
    from ecomtf.models.sales_forecaster import SalesForecaster

    from ecomtf.models.sales_forecaster_ensemble import SalesForecasterEnsemble

    run_dir = pathlib.Path(run_dir)
    config = json.loads((run_dir / "model_config.json").read_text())
    model = (SalesForecasterEnsemble if "models" in config else SalesForecaster).from_config(config)
    # Build the variables, then restore them.
    example = SalesForecasterServable(model).example_inputs()["forecast_grid"]
    model({k: tf.constant(v) for k, v in example.items()})
    model.load_weights(str(run_dir / "weights" / "model")).expect_partial()
    return model


# === CLI ===
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    d = parser.add_argument_group(
        "sales table (long format: one row per series and date)",
        "Map your file's columns by name; nothing is assumed.",
    )
    d.add_argument("--data", required=True, help="CSV/TSV file (gzip ok) with a header row")
    d.add_argument("--date-col", default="date")
    d.add_argument("--target-col", default="sales", help="the value to forecast (units, revenue)")
    d.add_argument("--key-cols", default="", help="comma-separated series-key columns, e.g. store,item")
    d.add_argument("--known-cols", default="",
                   help="numeric covariates known in advance, e.g. price,promo")
    d.add_argument("--holiday-col", default="", help="a 0/1 holiday flag column (known in advance)")
    d.add_argument("--holidays", default="",
                   help="holiday dates: comma-separated, or @file with one date per line")
    d.add_argument("--past-cols", default="", help="numeric covariates observed only up to now")
    d.add_argument("--static-cols", default="", help="categorical per-series attributes")
    d.add_argument("--freq", choices=["D", "W"], default="D", help="daily or weekly data")
    d.add_argument("--fill", choices=["zero", "ffill", "nan"], default="zero",
                   help="dates missing inside a series: zero (nothing sold), ffill, or nan (masked)")
    d.add_argument("--date-format", default="auto", help="auto | unix_s | unix_ms | a strptime pattern")
    d.add_argument("--delimiter", default=None, help="field separator (default: sniffed)")
    d.add_argument("--strict", action="store_true",
                   help="fail on any rejected row or non-numeric covariate value instead of reporting it")
    d.add_argument("--week-anchor", choices=["start", "end"], default="start",
                   help="weekly data: a row's date starts its week (date..date+6) or ends it (date-6..date, "
                        "e.g. week-ending Fridays); decides which week a --holidays date flags")
    d.add_argument("--future", default=None, metavar="FILE",
                   help="known covariates for the forecast horizon (prices, promotions, holiday flags): a CSV "
                        "with the date and key columns and any --known-cols/--holiday-col; steps it does not "
                        "give carry each series' last value (a holiday flag: 0)")
    m = parser.add_argument_group("model and training")
    m.add_argument("--horizon", type=int, default=None, help="steps to forecast (default 28 days / 8 weeks)")
    m.add_argument("--lookback", type=int, default=None, help="history steps the LSTM reads (default 56 / 26)")
    m.add_argument("--quantiles", default="0.1,0.5,0.9")
    m.add_argument("--log-target", action="store_true",
                   help="model each scaled series through sign(v)*log1p(|v|): for intermittent, spiky "
                        "sales (bulk orders); docs/forecaster.md")
    m.add_argument("--dropout", type=float, default=0.0,
                   help="decoder dropout rate in [0, 1) (before the linear heads); docs/forecaster.md")
    m.add_argument("--loss-weight-power", type=float, default=0.0, metavar="P",
                   help="weigh each window's loss by (series scale / mean scale)^P: 0 (default) every series "
                        "alike, 1 the loss in units (what WAPE scores)")
    m.add_argument("--scale-window", type=int, default=0, metavar="N",
                   help="scale each window by the mean of its own last N known steps (0, default: each series' "
                        "training mean); docs/forecaster.md")
    m.add_argument("--level-base", choices=["longest", "learned"], default="longest",
                   help="what the output's multiplicative part scales with: the longest level (default) or a "
                        "learned mix of the 4-week to yearly levels; docs/forecaster.md")
    m.add_argument("--lstm-units", type=int, default=64)
    m.add_argument("--hidden-units", type=int, default=64)
    m.add_argument("--embedding-dim", type=int, default=8)
    m.add_argument("--epochs", type=int, default=10)
    m.add_argument("--steps-per-epoch", type=int, default=None)
    m.add_argument("--batch-size", type=int, default=256)
    m.add_argument("--learning-rate", type=float, default=2e-3)
    m.add_argument("--seed", type=int, default=0, help="seeds weights, dropout and the window order")
    m.add_argument("--ensemble", type=int, default=1, metavar="N",
                   help="train N forecasters (seeds --seed, --seed+1, ...) and average them in one exported "
                        "graph; N times the training time")
    m.add_argument("--ensemble-combine", choices=["mean", "median"], default=None,
                   help="how --ensemble joins its members' quantiles: mean (default) or median (one member that "
                        "trained badly does not pull it); only with --ensemble N >= 2")
    m.add_argument("--deterministic", action="store_true",
                   help="deterministic TF ops too: the same --seed gives the same forecast bit for bit (slower)")
    e = parser.add_argument_group("evaluation and output")
    e.add_argument("--backtest-windows", type=int, default=3, help="rolling origins (0: no backtest)")
    e.add_argument("--backtest-step", type=int, default=None, help="steps between origins (default: horizon)")
    e.add_argument("--refit", action=argparse.BooleanOptionalAction, default=True,
                   help="after the backtest, retrain on all data for forecast.csv and export (default); "
                        "--no-refit keeps the model trained before the first backtest origin")
    e.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=True,
                   help="calibrate the quantiles on the backtest windows (default; needs --backtest-windows >= 1)")
    e.add_argument("--calibration-window", type=int, default=0, metavar="N",
                   help="calibrate in units of each series' mean over its last N weeks/days at the origin, "
                        "so the band widens with the current level (peak seasons); 0 (default): the training "
                        "scale; docs/forecaster.md")
    e.add_argument("--plot-series", type=int, default=4, help="series drawn in forecast.png (0: none)")
    e.add_argument("--out", default="runs/forecast", help="run directory")


def train_from_args(args) -> pathlib.Path:
    """``ecomtf train forecast``: bad input is one line on stderr and exit code 2."""
    import sys

    from ecomtf.data.reject_report import DataValidationError

    try:
        return _train_from_args(args)
    except (DataValidationError, FileNotFoundError) as e:
        print(f"ecomtf train forecast: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def _train_from_args(args) -> pathlib.Path:
    from ecomtf.data.reject_report import DataValidationError
    from ecomtf.data.sales_table import read_future_covariates

    table, report = read_table_from_args(args)
    print(report)
    print(table)
    horizon = int(args.horizon or DEFAULT_HORIZON[table.freq])
    future = None
    if args.future and not table.known:
        raise DataValidationError("--future gives known covariates, but the table has none (--known-cols)")
    if args.future:
        future, future_report = read_future_covariates(
            args.future, table, horizon, date=args.date_col, date_format=args.date_format,
            delimiter=args.delimiter)
        print(future_report)
    quantiles = [float(q) for q in _split(args.quantiles)]
    if args.calibration_window < 0:
        raise DataValidationError(f"--calibration-window must be >= 0 steps, got {args.calibration_window}")
    if not 0.0 <= args.dropout < 1.0:
        raise DataValidationError(f"--dropout must be in [0, 1), got {args.dropout}")
    if not args.loss_weight_power >= 0.0:  # also refuses nan
        raise DataValidationError(f"--loss-weight-power must be >= 0, got {args.loss_weight_power}")
    if args.scale_window < 0:
        raise DataValidationError(f"--scale-window must be >= 0 steps, got {args.scale_window}")
    if args.ensemble < 1:
        raise DataValidationError(f"--ensemble must be >= 1 models, got {args.ensemble}")
    if args.ensemble_combine is not None and args.ensemble < 2:
        # One model has nothing to combine: the flag would change nothing.
        raise DataValidationError(f"--ensemble-combine {args.ensemble_combine} needs --ensemble N with N >= 2 "
                                  f"(got --ensemble {args.ensemble}: one model, nothing to combine)")
    model, result, info = train(
        table,
        horizon=args.horizon,
        lookback=args.lookback,
        backtest_windows=args.backtest_windows,
        backtest_step=args.backtest_step,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        refit=args.refit,
        seed=args.seed,
        deterministic=args.deterministic,
        calibrate=args.calibrate,
        ensemble=args.ensemble,
        ensemble_combine=args.ensemble_combine or "mean",
        quantiles=quantiles,
        lstm_units=args.lstm_units,
        hidden_units=args.hidden_units,
        embedding_dim=args.embedding_dim,
        log_target=args.log_target,
        calibration_window=args.calibration_window,
        dropout=args.dropout,
        loss_weight_power=args.loss_weight_power,
        scale_window=args.scale_window,
        level_base=args.level_base,
    )
    run_dir = pathlib.Path(args.out)
    metrics = {"training": info, "reject_report": report.to_dict()}
    if result is not None:
        metrics["backtest"] = result.to_dict()
    save_run(run_dir, model, metrics, data=str(args.data), table=repr(table))
    if result is not None:
        result.write_per_series(run_dir / "backtest_per_series.csv")
    fc = forecast_table(model, table, future_known=future)
    write_forecast_csv(run_dir / "forecast.csv", model, table, fc)
    plot = _maybe_plot(run_dir / "forecast.png", model, table, args.plot_series)
    print()
    if result is not None:
        print("backtest (out of sample; the model never saw these dates):")
        print(result.table())
        best = result.best_baseline("smape")
        ours = result.overall["SalesForecaster"]["smape"]
        print(f"sMAPE: SalesForecaster {ours:.2f} vs best baseline {best} {result.overall[best]['smape']:.2f}")
        if "calibration" in info:
            print(calibration_text(info["calibration"]))
    trained = "all the data" if model.trained_until == str(table.end + table.step_days) else \
        f"the data before {model.trained_until} (--no-refit)"
    assumed = ""
    if table.known:
        assumed = (" (known covariates from --future; steps it does not give carry the last value)" if future
                   else " (known covariates assumed at their last value, holiday flags 0: pass --future FILE)")
    print(f"forecast of the next {model.horizon} steps after {table.end} by the model trained on {trained}: "
          f"{run_dir / 'forecast.csv'}" + assumed)
    if plot:
        print(f"plot: {plot}")
    print(f"run saved to {run_dir}/  (export: ecomtf export --run {run_dir} --out export/{MODEL_NAME})")
    return run_dir


def _maybe_plot(path, model, table, n_series):
    if not n_series:
        return None
    try:
        from ecomtf.plotting import plot_table_forecasts

        return plot_table_forecasts(path, model, table, max_series=n_series)
    except ImportError as err:
        print(f"no plot: {err}")
        return None


# === Demo ===
def demo(out_dir, shop) -> dict:
    """Trains on the simulated shop's daily sales, exports, converts and queries it."""
    from ecomtf.data.sales_table import SalesTable
    from ecomtf.export import run_in_fresh_process
    from ecomtf.export import run_tflite
    from ecomtf.export import save_for_serving
    from ecomtf.export import to_tflite
    from ecomtf.export.sales_forecaster_servable import SalesForecasterServable

    out_dir = pathlib.Path(out_dir)
    sales = shop.daily_sales
    known = [c for c in ("promo", "price") if c in sales]
    static = [c for c in ("category",) if c in sales]
    table, report = SalesTable.from_columns(
        sales, date="date", target="units", keys=["item_id"], known=known, static=static,
        source="simulated daily_sales",
    )
    print(report)
    horizon = 14
    model, result, info = train(table, horizon=horizon, lookback=28, backtest_windows=1, epochs=12,
                                steps_per_epoch=40, batch_size=256, lstm_units=32, hidden_units=32)
    print(result.table())
    servable = SalesForecasterServable(model)
    path = save_for_serving(servable, out_dir / MODEL_NAME)
    # Ask the export for the two best-selling items, from their raw rows.
    top = np.argsort(-np.nansum(table.target, axis=1))[:2]
    request = raw_request(model, table, top)
    answer = run_in_fresh_process(path, request)
    lite = to_tflite(servable, out_dir / "tflite" / f"{MODEL_NAME}.tflite")
    mobile = servable.mobile_inputs()
    lite_out = run_tflite(lite, mobile, "mobile")
    from ecomtf.export import check_tflite_parity

    parity = check_tflite_parity(servable, lite, mobile, "mobile")
    summary = {
        "saved_model": str(path),
        "tflite": str(lite),
        "series": int(table.n_series),
        # Low-volume simulated items: MASE/WAPE say more than sMAPE, which
        # punishes any forecast > 0 on a zero-sales day with 200%.
        "backtest": {
            k: {m: round(float(v[m]), 3) for m in ("mase", "wape", "mae", "smape") if m in v}
            for k, v in result.overall.items()
        },
        "tflite_max_abs_diff": max(parity.values()),
        "tflite_example_p50": [round(float(x), 2) for x in lite_out["forecast"][0, :3]],
        "example_answer": {
            "item_id": str(request["item_id"][0]),
            "dates": [d.decode() if isinstance(d, bytes) else str(d) for d in answer["forecast_dates"][0, :3]],
            "p50": [round(float(x), 2) for x in answer["forecast"][0, :3]],
            "p10": [round(float(x), 2) for x in answer[model.quantile_names[0]][0, :3]],
            "p90": [round(float(x), 2) for x in answer[model.quantile_names[-1]][0, :3]],
        },
        "train_seconds": info["train_seconds"],
    }
    plot = _maybe_plot(out_dir / f"{MODEL_NAME}_forecast.png", model, table, 4)
    if plot:
        summary["plot"] = str(pathlib.Path(plot).resolve())
    return summary


def raw_request(model, table, series_index, future_known=None) -> dict:
    """A ``serving_default`` request for some series of a table: their last
    ``history_length`` rows as (date string, value) pairs, as a client would send."""
    from ecomtf.data.windows import SalesWindows

    series_index = np.asarray(series_index)
    lh = model.history_length
    windows = SalesWindows(table, lh, model.horizon)
    feats = windows.latest(future_known)
    dates = (table.end + table.step_days) + (np.arange(lh) - lh) * table.step_days
    request = {
        "history_dates": np.tile(dates.astype(str), (len(series_index), 1)),
        "history_values": feats["history"][series_index],
        "forecast_start": np.array([str(table.end + table.step_days)] * len(series_index)),
    }
    for name in model.names["keys"] + model.names["static"]:
        request[name] = feats[name][series_index].astype(str)
    for name in model.names["history_known"] + model.names["past"] + model.names["future_known"]:
        request[name] = feats[name][series_index]
    # Unknown values (before a series starts) are NaN; their dates still carry covariates.
    return request
