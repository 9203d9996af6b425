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
