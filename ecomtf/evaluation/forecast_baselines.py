"""Forecasting baselines: naive, seasonal naive (weekly, yearly), moving average.

Every baseline maps a history ``[series, steps]`` (NaN where unknown, the
latest step last) to a forecast ``[series, horizon]``. They are what a
forecaster must beat to be worth its keep, so ``ecomtf.evaluation.backtest`` always
reports them next to the model.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

# Steps per week and per year, by frequency. A "year" of 364 days keeps the
# weekday (same weekday last year), which matters more in retail than the date.
WEEK = {"D": 7}
YEAR = {"D": 364, "W": 52}


def _last_known(history: np.ndarray) -> np.ndarray:
    """The last non-NaN value of each row (0 for rows with none)."""
    history = np.asarray(history, np.float64)
    known = np.isfinite(history)
    idx = history.shape[1] - 1 - np.argmax(known[:, ::-1], axis=1)
    value = history[np.arange(len(history)), idx]
    return np.where(known.any(axis=1), value, 0.0)


def naive(history: np.ndarray, horizon: int) -> np.ndarray:
    """The last known value, repeated.

    Example:
        >>> naive(np.array([[1.0, 2.0, np.nan]]), 2).tolist()
        [[2.0, 2.0]]
    """
    return np.repeat(_last_known(history)[:, None], horizon, axis=1)


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The value one season earlier: ``y[t + h] = y[t + h - k * season]``.

    For horizons longer than the season the last season repeats. Unknown
    values (NaN, or history shorter than a season) fall back to the naive
    forecast.

    Args:
        history: ``[series, steps]``.
        horizon: steps to forecast.
        season: season length in steps (7 = weekly on daily data, 364 = same
            weekday last year, 52 = same week last year on weekly data).

    Example:
        >>> seasonal_naive(np.array([[1.0, 2.0, 3.0]]), 4, season=2).tolist()
        [[2.0, 3.0, 2.0, 3.0]]
    """
    history = np.asarray(history, np.float64)
    n, length = history.shape
    h = np.arange(horizon)
    idx = length - season + (h % season)
    ok = (idx >= 0) & (idx < length)
    out = np.full((n, horizon), np.nan)
    out[:, ok] = history[:, idx[ok]]
    fallback = naive(history, horizon)
    return np.where(np.isfinite(out), out, fallback)


def moving_average(history: np.ndarray, horizon: int, window: int) -> np.ndarray:
    """The mean of the last ``window`` known steps, repeated.

    Example:
        >>> moving_average(np.array([[1.0, 2.0, 4.0]]), 2, window=2).tolist()
        [[3.0, 3.0]]
    """
    history = np.asarray(history, np.float64)[:, -window:]
    known = np.isfinite(history)
    total = np.where(known, history, 0.0).sum(axis=1)
    count = known.sum(axis=1)
    mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return np.repeat(mean[:, None], horizon, axis=1)


# Smoothing parameter grids of ``auto_ets``: coarse, so one vectorized pass
# over the history fits every series and every candidate at once.
_ALPHAS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
_BETAS = (0.01, 0.05, 0.15)  # as a share of alpha (beta <= alpha keeps the model admissible)
_PHIS = (0.8, 0.9, 0.98)


def _ets_paths(y: np.ndarray, alpha, beta, phi):
    """One-step errors and final states of additive (damped-trend) exponential smoothing.

    ``y`` ``[series, steps]`` (NaN: no observation, the state carries on);
    ``alpha``, ``beta``, ``phi`` ``[candidates]``. Returns ``(sse, n_obs,
    level, trend)``, each ``[series, candidates]``.
    """
    n, steps = y.shape
    known = np.isfinite(y)
    first = np.argmax(known, axis=1)
    level = np.repeat(np.where(known.any(axis=1), y[np.arange(n), first], 0.0)[:, None], len(alpha), 1)
    trend = np.zeros_like(level)
    sse = np.zeros_like(level)
    count = np.zeros(n)
    for t in range(steps):
        started = (t > first)[:, None]
        obs = known[:, t][:, None] & started
        pred = level + phi * trend
        err = np.where(obs, y[:, t][:, None] - pred, 0.0)
        sse += err ** 2
        count += obs[:, 0]
        new_level = pred + alpha * err
        trend = np.where(started, phi * trend + alpha * beta * err, trend)
        level = np.where(started, new_level, level)
    return sse, count, level, trend


def auto_ets(history: np.ndarray, horizon: int) -> np.ndarray:
    """Exponential smoothing chosen per series by AICc: ETS(A,N,N) or ETS(A,Ad,N).

    A small, honest stand-in for statsmodels/forecast's AutoETS (which the
    project does not depend on): additive errors, a level (simple exponential
    smoothing) or a level plus a damped trend, parameters chosen per series
    on a coarse grid by the sum of squared one-step errors, the model by
    AICc (``n log(SSE / n) + 2k + 2k(k+1)/(n-k-1)``; k = 2 or 5). The
    initial level is the first observation. Seasonal ETS is not included: a
    yearly season needs two full years of history to initialise, which the
    weekly tables here do not have before their backtest origins.

    Args:
        history: ``[series, steps]``, NaN where unknown.
        horizon: steps to forecast.

    Returns:
        ``[series, horizon]``.

    Example:
        >>> auto_ets(np.array([[5.0, 5.0, 5.0, 5.0]]), 2).round(3).tolist()
        [[5.0, 5.0]]
    """
    y = np.asarray(history, np.float64)
    n = y.shape[0]
    h = np.arange(1, horizon + 1)
    # Simple exponential smoothing: trend off (beta = 0, phi = 0).
    a1 = np.asarray(_ALPHAS)
    sse1, count, level1, _ = _ets_paths(y, a1, np.zeros_like(a1), np.zeros_like(a1))
    grid = np.array([(a, b, p) for a in _ALPHAS for b in _BETAS for p in _PHIS]).T
    sse2, _, level2, trend2 = _ets_paths(y, grid[0], grid[1], grid[2])

    def aicc(sse, k):
        m = np.maximum(count, 1.0)[:, None]
        value = m * np.log(np.maximum(sse, 1e-12) / m) + 2 * k
        return value + np.where(m - k - 1 > 0, 2 * k * (k + 1) / np.maximum(m - k - 1, 1), np.inf)

    c1, c2 = aicc(sse1, 2), aicc(sse2, 5)
    i1, i2 = np.argmin(c1, axis=1), np.argmin(c2, axis=1)
    rows = np.arange(n)
    ses = np.repeat(level1[rows, i1][:, None], horizon, axis=1)
    phi = grid[2][i2][:, None]
    damped = level2[rows, i2][:, None] + trend2[rows, i2][:, None] * np.cumsum(phi ** h[None, :], axis=1)
    use_trend = (c2[rows, i2] < c1[rows, i1])[:, None]
    out = np.where(use_trend, damped, ses)
    return np.where(np.isfinite(y).any(axis=1)[:, None], out, 0.0)


def default_baselines(freq: str) -> dict[str, Callable[[np.ndarray, int], np.ndarray]]:
    """Name -> baseline for a frequency (``"D"`` or ``"W"``).

    Daily: naive, seasonal naive weekly (7), seasonal naive yearly (364, same
    weekday last year), moving average over 28 days. Weekly: naive, seasonal
    naive yearly (52), moving average over 4 weeks.
    """
    out = {"naive": naive}
    if freq in WEEK:
        out["seasonal_naive_weekly"] = lambda h, n: seasonal_naive(h, n, WEEK[freq])
    out["seasonal_naive_yearly"] = lambda h, n: seasonal_naive(h, n, YEAR[freq])
    window = 28 if freq == "D" else 4
    out[f"moving_average_{window}"] = lambda h, n: moving_average(h, n, window)
    return out


def history_needed(freq: str) -> int:
    """History steps the default baselines read (one year)."""
    return YEAR[freq]
