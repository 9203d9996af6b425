"""Rolling-origin backtesting of forecasters, always next to the baselines.

Forecast metrics (per series and overall):

- MAE, RMSE: in the target's units;
- sMAPE: Kaggle's definition, ``100 * mean(2 |F - A| / (|A| + |F|))`` with 0
  when both are 0;
- MASE: MAE divided by the in-sample MAE of the seasonal naive forecast on
  the history before the origin (season 7 for daily data, 1 for weekly);
  overall: the mean over series (M4 convention);
- WAPE: ``100 * sum |F - A| / sum |A|``;
- pinball: mean pinball loss over the quantiles (models with quantiles only);
- coverage: share of actuals inside the outer quantile interval (e.g. P10-P90,
  nominal 80%).
"""

from __future__ import annotations

import csv
import dataclasses
import pathlib
import warnings
from typing import Callable
from typing import Mapping
from typing import Sequence

import numpy as np

from ecomtf.evaluation import forecast_baselines
from ecomtf.data.sales_table import SalesTable
from ecomtf.data.windows import SalesWindows

METRICS = ("smape", "mae", "rmse", "mase", "wape", "pinball", "coverage")
MASE_SEASON = {"D": 7, "W": 1}


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Kaggle sMAPE in percent over the known (non-NaN) actuals.

    Example:
        >>> smape(np.array([0.0, 10.0]), np.array([0.0, 30.0]))
        50.0
    """
    a, f = _flat(actual, forecast)
    return float(np.mean(_smape_terms(a, f)) * 100) if a.size else float("nan")


def _smape_terms(a, f):
    denom = np.abs(a) + np.abs(f)
    return np.where(denom > 0, 2.0 * np.abs(f - a) / np.where(denom > 0, denom, 1.0), 0.0)


def _flat(actual, forecast):
    a = np.asarray(actual, np.float64).ravel()
    f = np.asarray(forecast, np.float64).ravel()
    ok = np.isfinite(a)
    return a[ok], f[ok]


def mase_denominator(history: np.ndarray, season: int) -> np.ndarray:
    """Per-series in-sample MAE of the seasonal naive forecast ``[series]`` (NaN if none)."""
    history = np.asarray(history, np.float64)
    if history.shape[1] <= season:
        return np.full(len(history), np.nan)
    diff = np.abs(history[:, season:] - history[:, :-season])
    ok = np.isfinite(diff)
    count = ok.sum(axis=1)
    total = np.where(ok, diff, 0.0).sum(axis=1)
    out = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return np.where(out > 0, out, np.nan)


def forecast_metrics(
    actual: np.ndarray,
    forecast: np.ndarray,
    mase_scale: np.ndarray | None = None,
    quantiles: np.ndarray | None = None,
    levels: Sequence[float] | None = None,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Overall and per-series metrics of one method.

    Args:
        actual: ``[series, steps]`` (NaN = unknown, not scored).
        forecast: ``[series, steps]`` point forecasts.
        mase_scale: ``[series]`` MASE denominators (see ``mase_denominator``).
        quantiles: ``[series, steps, Q]`` quantile forecasts, or None.
        levels: the Q quantile levels.

    Returns:
        (overall: metric -> float, per_series: metric -> ``[series]``).
    """
    a = np.asarray(actual, np.float64)
    f = np.asarray(forecast, np.float64)
    ok = np.isfinite(a)
    n_ok = ok.sum(axis=1)
    a0 = np.where(ok, a, 0.0)
    err = np.where(ok, f - a0, 0.0)
    abs_err = np.abs(err)

    def per_series(values):
        return np.where(n_ok > 0, values.sum(axis=1) / np.maximum(n_ok, 1), np.nan)

    series = {
        "mae": per_series(abs_err),
        "rmse": np.sqrt(per_series(err**2)),
        "smape": 100 * per_series(np.where(ok, _smape_terms(a0, f), 0.0)),
    }
    abs_actual = np.abs(a0).sum(axis=1)
    series["wape"] = np.where(abs_actual > 0, 100 * abs_err.sum(axis=1) / np.where(abs_actual > 0, abs_actual, 1), np.nan)
    total = max(int(ok.sum()), 1)
    overall = {
        "mae": float(abs_err.sum() / total),
        "rmse": float(np.sqrt((err**2).sum() / total)),
        "smape": float(100 * np.where(ok, _smape_terms(a0, f), 0.0).sum() / total),
        "wape": float(100 * abs_err.sum() / max(np.abs(a0).sum(), 1e-12)),
    }
    if mase_scale is not None:
        series["mase"] = series["mae"] / np.asarray(mase_scale, np.float64)
        valid = np.isfinite(series["mase"])
        overall["mase"] = float(series["mase"][valid].mean()) if valid.any() else float("nan")
    if quantiles is not None and levels is not None:
        q = np.asarray(quantiles, np.float64)
        lv = np.asarray(levels, np.float64)
        e = a0[..., None] - q
        loss = np.maximum(lv * e, (lv - 1) * e).mean(axis=-1)
        loss = np.where(ok, loss, 0.0)
        inside = np.where(ok, (a0 >= q[..., 0]) & (a0 <= q[..., -1]), False)
        series["pinball"] = per_series(loss)
        series["coverage"] = 100 * per_series(inside.astype(np.float64))
        overall["pinball"] = float(loss.sum() / total)
        overall["coverage"] = float(100 * inside.sum() / total)
    return overall, series


@dataclasses.dataclass
class BacktestResult:
    """Metrics of a model and the baselines over rolling forecast origins.

    Attributes:
        methods: method names, the model first.
        overall: method -> metric -> value over all windows and series.
        per_series: method -> metric -> ``[series]`` values over the windows.
        series_ids: the series scored.
        origins: the origin dates (first forecast date of each window).
        horizon: steps per window.
        coverage_level: nominal coverage of the outer quantile interval (%).
    """

    methods: list
    overall: dict
    per_series: dict
    series_ids: np.ndarray
    origins: list
    horizon: int
    coverage_level: float | None = None

    def table(self, metrics: Sequence[str] = METRICS) -> str:
        """The overall metrics as a text table, one row per method."""
        cols = [m for m in metrics if any(m in self.overall[k] for k in self.methods)]
        head = f"{'method':<26}" + "".join(f"{c:>10}" for c in cols)
        lines = [head, "-" * len(head)]
        for k in self.methods:
            row = f"{k:<26}"
            for c in cols:
                v = self.overall[k].get(c)
                row += f"{v:>10.3f}" if v is not None and np.isfinite(v) else f"{'-':>10}"
            lines.append(row)
        note = f"{len(self.origins)} origin(s) {', '.join(str(o) for o in self.origins)}; horizon {self.horizon}"
        if self.coverage_level is not None:
            note += f"; coverage nominal {self.coverage_level:.0f}%"
        return "\n".join(lines + [note])

    def best_baseline(self, metric: str = "smape") -> str:
        """The baseline with the lowest overall ``metric``."""
        base = [k for k in self.methods[1:] if np.isfinite(self.overall[k].get(metric, np.nan))]
        return min(base, key=lambda k: self.overall[k][metric])

    def to_dict(self) -> dict:
        return {
            "methods": list(self.methods),
            "overall": {k: dict(v) for k, v in self.overall.items()},
            "origins": [str(o) for o in self.origins],
            "horizon": self.horizon,
            "coverage_level": self.coverage_level,
            "n_series": int(len(self.series_ids)),
        }

    def write_per_series(self, path) -> pathlib.Path:
        """Writes ``series_id,method,metric...`` rows to a CSV file."""
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        metrics = [m for m in METRICS if m in self.per_series[self.methods[0]]]
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["series_id", "method", *metrics])
            for k in self.methods:
                cols = [self.per_series[k].get(m, np.full(len(self.series_ids), np.nan)) for m in metrics]
                for i, sid in enumerate(self.series_ids):
                    w.writerow([sid, k, *(f"{c[i]:.6g}" for c in cols)])
        return path


def rolling_origins(table: SalesTable, horizon: int, windows: int = 3, step: int | None = None, end=None) -> list:
    """Origin dates: the last forecast ends at ``end`` (default the table's end),
    earlier ones every ``step`` steps (default ``horizon``) before it."""
    step = int(step or horizon)
    last_index = table.length if end is None else table.index_of(end) + 1
    first = last_index - horizon
    origins = [first - k * step for k in range(windows)][::-1]
    if origins[0] < 1:
        raise ValueError(f"the table ({table.length} steps) is too short for {windows} windows of {horizon} steps")
    return [table.start + o * table.step_days for o in origins]


def backtest(
    model,
    table: SalesTable,
    *,
    horizon: int | None = None,
    windows: int = 3,
    step: int | None = None,
    origins: Sequence | None = None,
    baselines: Mapping[str, Callable] | None = None,
    name: str = "model",
    batch_size: int = 1024,
) -> BacktestResult:
    """Rolling-origin backtest of ``model`` next to the baselines.

    The model is not refitted per origin: train it on data before the first
    origin (a warning says when its ``trained_until`` is later).

    Args:
        model: a ``SalesForecaster`` (or anything with ``history_length``,
            ``horizon``, ``quantiles`` and ``predict(features) -> dict`` with
            ``forecast`` and ``quantiles``); None scores only the baselines.
        table: the full table (history and actuals).
        horizon: steps per window (default: the model's).
        windows: number of origins.
        step: steps between origins (default: ``horizon``).
        origins: explicit origin dates instead of ``windows``/``step``.
        baselines: name -> ``f(history, horizon)``; default
            ``forecast_baselines.default_baselines(table.freq)``.
        name: the model's row name.
        batch_size: prediction batch size.

    Returns:
        A ``BacktestResult``; ``print(result.table())`` shows it.

    Example:
        >>> result = backtest(model, table, windows=3)
        >>> print(result.table())
    """
    horizon = int(horizon or (model.horizon if model is not None else 0))
    if horizon < 1:
        raise ValueError("give a horizon (or a model, whose horizon is used)")
    if model is not None and horizon > model.horizon:
        raise ValueError(f"horizon {horizon} > the model's horizon {model.horizon}")
    if origins is None:
        origins = rolling_origins(table, horizon, windows, step)
    origins = [np.datetime64(o, "D") for o in origins]
    if baselines is None:
        baselines = forecast_baselines.default_baselines(table.freq)
        if table.index_of(origins[0]) <= forecast_baselines.YEAR[table.freq]:
            # Less than a year of history: "last year" would only repeat the naive forecast.
            baselines.pop("seasonal_naive_yearly")
    baselines = dict(baselines)
    if model is not None and getattr(model, "trained_until", None):
        if np.datetime64(model.trained_until, "D") > origins[0]:
            warnings.warn(
                f"the model was trained on data until {model.trained_until}, after the first "
                f"backtest origin {origins[0]}: its scores are optimistic",
                stacklevel=2,
            )
    hist_len = max(forecast_baselines.history_needed(table.freq) + 1, getattr(model, "history_length", 0))
    windows_ = SalesWindows(table, hist_len, horizon)
    methods = ([name] if model is not None else []) + list(baselines)
    actual_parts, fc_parts, q_parts, scale_parts, sid_parts = [], [], [], [], []
    season = MASE_SEASON[table.freq]
    mase_scale = []
    for origin in origins:
        t = table.index_of(origin)
        o = windows_.origins_at(origin)
        actual = windows_.targets(o)
        keep = np.isfinite(actual).any(axis=1)
        o, actual = o[keep], actual[keep]
        feats = windows_.features(o)
        history = feats["history"]
        fc = {}
        if model is not None:
            mfeats = dict(feats)
            for k in mfeats:
                if mfeats[k].ndim == 2 and mfeats[k].shape[1] == hist_len:
                    mfeats[k] = mfeats[k][:, hist_len - model.history_length :]
            pred = _predict(model, mfeats, batch_size)
            fc[name] = pred["forecast"][:, :horizon]
            q_parts.append(pred["quantiles"][:, :horizon])
        for k, fn in baselines.items():
            fc[k] = fn(history, horizon)
        actual_parts.append(actual)
        fc_parts.append(fc)
        sid_parts.append(table.series_ids[o[:, 0]])
        # MASE scale from all history before the origin.
        mase_scale.append(mase_denominator(table.target[o[:, 0], :t], season))
    actual = np.concatenate(actual_parts)
    sids = np.concatenate(sid_parts)
    scale = np.concatenate(mase_scale)
    overall, per_series = {}, {}
    uniq, inverse = np.unique(sids, return_inverse=True)
    for k in methods:
        f = np.concatenate([p[k] for p in fc_parts])
        q = np.concatenate(q_parts) if (k == name and model is not None) else None
        ov, ps = forecast_metrics(actual, f, scale, q, getattr(model, "quantiles", None) if q is not None else None)
        overall[k] = ov
        # Per series over all windows: average the per-window values.
        per_series[k] = {m: _group_mean(v, inverse, len(uniq)) for m, v in ps.items()}
    levels = getattr(model, "quantiles", None) if model is not None else None
    coverage = 100 * (levels[-1] - levels[0]) if levels else None
    return BacktestResult(methods, overall, per_series, uniq, [str(o) for o in origins], horizon, coverage)


def _group_mean(values, groups, n):
    ok = np.isfinite(values)
    total = np.bincount(groups[ok], weights=values[ok], minlength=n)
    count = np.bincount(groups[ok], minlength=n)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _predict(model, features, batch_size):
    if hasattr(model, "predict"):
        try:
            out = model.predict(features, batch_size=batch_size, verbose=0)
        except TypeError:
            out = model.predict(features)
    else:
        out = model(features)
    return {k: np.asarray(v) for k, v in out.items()}


# === Quantile calibration on the rolling backtests ===


def backtest_predictions(model, table: SalesTable, origins: Sequence, batch_size: int = 1024) -> list[dict]:
    """The model's quantiles, scales and the actuals at each origin (one dict per origin).

    Each dict has ``actual`` ``[n, H]`` (NaN unknown), ``quantiles``
    ``[n, H, Q]``, ``scale`` ``[n]`` (the unit of the model's calibration
    offsets: its ``calibration_scale`` output, else its scale) and
    ``origin``; series with no actual in the window are left out.
    """
    windows_ = SalesWindows(table, model.history_length, model.horizon)
    out = []
    for origin in origins:
        o = windows_.origins_at(origin)
        actual = windows_.targets(o)
        keep = np.isfinite(actual).any(axis=1)
        o, actual = o[keep], actual[keep]
        pred = _predict(model, windows_.features(o), batch_size)
        out.append({"origin": str(np.datetime64(origin, "D")), "actual": actual,
                    "quantiles": np.asarray(pred["quantiles"]),
                    "scale": np.asarray(pred.get("calibration_scale", pred["scale"])),
                    "nonnegative": bool(getattr(model, "nonnegative", False))})
    return out


#: Fewer scaled residuals than this per horizon step: one offset for all steps.
MIN_PER_STEP = 200


def conformal_offsets(predictions: Sequence[dict], quantiles: Sequence[float]) -> np.ndarray:
    """Per-step, per-quantile offsets (in units of each prediction's ``scale``, the model's calibration unit) that
    calibrate the quantiles on backtest windows.

    For each quantile level ``q`` (the median is left alone) and horizon step,
    the offset is the empirical ``q``-quantile of ``(actual - forecast_q) /
    scale`` over the windows: adding ``offset * scale`` to the forecast makes
    the share of actuals below it ``q`` on those windows (split-conformal
    calibration of quantile forecasts, as in conformalized quantile
    regression, Romano et al. 2019, one-sided per level). Scaled residuals
    let one offset serve series of every size. With fewer than
    ``MIN_PER_STEP`` residuals per step, one offset serves all steps.

    Returns:
        float32 ``[H, Q]``.
    """
    actual = np.concatenate([p["actual"] for p in predictions])
    q_pred = np.concatenate([p["quantiles"] for p in predictions])
    scale = np.concatenate([p["scale"] for p in predictions])
    resid = (actual[..., None] - q_pred) / np.maximum(scale, 1e-12)[:, None, None]
    h, n_q = q_pred.shape[1], q_pred.shape[2]
    offsets = np.zeros((h, n_q), np.float32)
    for k, q in enumerate(quantiles):
        if abs(q - 0.5) < 1e-9:
            continue
        r = resid[..., k]
        per_step = np.isfinite(r).sum(axis=0)
        if per_step.min(initial=0) >= MIN_PER_STEP:
            offsets[:, k] = [np.nanquantile(r[:, j], q) for j in range(h)]
        elif np.isfinite(r).any():
            offsets[:, k] = np.nanquantile(r, q)
    return offsets


def apply_offsets(q_pred: np.ndarray, scale: np.ndarray, offsets: np.ndarray, quantiles,
                  nonnegative: bool = False) -> np.ndarray:
    """numpy twin of the model's in-graph calibration (for held-out scoring)."""
    out = q_pred + offsets[None, : q_pred.shape[1]] * scale[:, None, None]
    m = int(np.argmin(np.abs(np.asarray(quantiles) - 0.5)))
    for k in range(m - 1, -1, -1):
        out[..., k] = np.minimum(out[..., k], out[..., k + 1])
    for k in range(m + 1, out.shape[-1]):
        out[..., k] = np.maximum(out[..., k], out[..., k - 1])
    return np.maximum(out, 0.0) if nonnegative else out


def interval_coverage(predictions: Sequence[dict], quantiles, offsets: np.ndarray | None = None) -> dict:
    """Coverage (%) of the outer quantile interval, per window and per horizon step.

    Args:
        predictions: from ``backtest_predictions``.
        quantiles: the model's levels.
        offsets: ``[H, Q]`` offsets to apply first, or None (raw).

    Returns:
        ``{"per_window": [..], "per_step": [..], "overall": x}``.
    """
    inside_parts = []
    for p in predictions:
        q = p["quantiles"] if offsets is None else apply_offsets(
            p["quantiles"], p["scale"], offsets, quantiles, p.get("nonnegative", False))
        a = p["actual"]
        inside_parts.append(np.where(np.isfinite(a), (a >= q[..., 0]) & (a <= q[..., -1]), np.nan))
    allin = np.concatenate(inside_parts)
    return {
        "per_window": [float(100 * np.nanmean(x)) for x in inside_parts],
        "per_step": [float(100 * v) for v in np.nanmean(allin, axis=0)],
        "overall": float(100 * np.nanmean(allin)),
    }


def held_out_calibration(predictions: Sequence[dict], quantiles) -> dict:
    """Leave-one-origin-out check of the calibration: each window scored with
    offsets fitted on the OTHER windows (never on itself).

    Returns:
        ``{"raw": coverage, "calibrated": coverage}`` as from
        ``interval_coverage`` (``calibrated`` is None with one window), and
        ``nominal`` (%).
    """
    raw = interval_coverage(predictions, quantiles)
    calibrated = None
    if len(predictions) >= 2:
        parts = []
        for i in range(len(predictions)):
            others = [p for j, p in enumerate(predictions) if j != i]
            parts.append(interval_coverage([predictions[i]], quantiles, conformal_offsets(others, quantiles)))
        steps = np.array([0.0] * len(raw["per_step"]))
        weights = np.array([np.isfinite(p["actual"]).sum() for p in predictions], np.float64)
        for w, c in zip(weights, parts):
            steps += w * np.asarray(c["per_step"])
        calibrated = {
            "per_window": [c["per_window"][0] for c in parts],
            "per_step": [float(v) for v in steps / weights.sum()],
            "overall": float(np.average([c["overall"] for c in parts], weights=weights)),
        }
    return {"nominal": float(100 * (quantiles[-1] - quantiles[0])), "raw": raw, "calibrated": calibrated}
