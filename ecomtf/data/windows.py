"""Forecast windows cut from a SalesTable, vectorized in tf.data."""

from __future__ import annotations

import re
from typing import Mapping

import numpy as np
import tensorflow as tf

from ecomtf.data.sales_table import SalesTable

HISTORY = "history"
START_DAY = "start_day"
SERIES_ID = "series_id"
RESERVED = (HISTORY, START_DAY, SERIES_ID)


def input_name(column: str) -> str:
    """A column name as a signature input name (letters, digits, ``_``, ``.``, ``-``)."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", str(column).strip())
    if not name or not re.match(r"[A-Za-z0-9.]", name[0]):
        name = "c" + name
    return name


def feature_names(key_cols, static_cols, known_cols, past_cols) -> dict[str, list[str]]:
    """The input names a forecaster takes for a table's columns, by role.

    ``keys``/``static``: one string input per column; ``history_known`` and
    ``past``: ``history_<col>`` over the history; ``future_known``:
    ``future_<col>`` over the horizon.

    Raises:
        ValueError: if two columns map to the same input name.
    """
    names = {
        "keys": [input_name(c) for c in key_cols],
        "static": [input_name(c) for c in static_cols],
        "history_known": ["history_" + input_name(c) for c in known_cols],
        "future_known": ["future_" + input_name(c) for c in known_cols],
        "past": ["history_" + input_name(c) for c in past_cols],
    }
    flat = [n for group in names.values() for n in group] + list(RESERVED)
    dup = sorted({n for n in flat if flat.count(n) > 1})
    if dup:
        raise ValueError(f"columns map to clashing input names {dup}; rename them")
    return names


class SalesWindows:
    """Training and forecast windows over every series of a ``SalesTable``.

    A window is a (series, origin) pair: ``history_length`` steps before the
    origin are the input, ``horizon`` steps from the origin are the target.
    Windows are gathered a batch at a time from padded ``[series, steps]``
    arrays with one flat ``tf.gather`` per batch (no per-window Python), so
    the input pipeline keeps up with training.

    Features (numpy or tensors, by input name):
        ``history``: float32 ``[B, history_length]`` target values, NaN where
            unknown (before the series starts, or gaps under the ``"nan"``
            fill policy);
        ``start_day``: int32 ``[B]`` the origin's date (the first forecast
            step) as days since 1970-01-01;
        ``series_id``: string ``[B]`` the keys joined by ``"|"``;
        one string ``[B]`` input per key and static column;
        ``history_<col>``: float32 ``[B, history_length]`` per known and
            past covariate;
        ``future_<col>``: float32 ``[B, horizon]`` per known covariate.
    The target is float32 ``[B, horizon]``, NaN where unknown.

    Args:
        table: the (training) sales table.
        history_length: steps of history per window.
        horizon: steps to forecast.

    Example:
        >>> windows = SalesWindows(table, history_length=56, horizon=28)
        >>> origins = windows.origins(stride=7)
        >>> ds = windows.dataset(origins, batch_size=256, shuffle=True, seed=0)
    """

    def __init__(self, table: SalesTable, history_length: int, horizon: int):
        if history_length < 1 or horizon < 1:
            raise ValueError("history_length and horizon must be positive")
        self.table = table
        self.history_length = int(history_length)
        self.horizon = int(horizon)
        cols = table.covariate_names()
        self.names = feature_names(cols["keys"], cols["static"], cols["known"], cols["past"])
        lh, h = self.history_length, self.horizon
        # Channels: target, known covariates, past covariates. Padding on both
        # sides lets any origin in [0, length] be gathered without clipping.
        channels = [table.target] + list(table.known.values()) + list(table.past.values())
        panel = np.stack(channels, axis=-1).astype(np.float32)
        panel = np.pad(panel, ((0, 0), (lh, h), (0, 0)), constant_values=np.nan)
        self._padded_length = panel.shape[1]
        self._panel = panel.reshape(-1, panel.shape[-1])
        self._strings = np.concatenate(
            [table.series_ids[:, None], table.series_keys]
            + [v[:, None] for v in table.static.values()],
            axis=1,
        ).astype(str)
        finite = np.isfinite(table.target)
        self._finite_cumsum = np.concatenate(
            [np.zeros((table.n_series, 1), np.int64), np.cumsum(finite, axis=1)], axis=1
        )
        self._tensors = None

    # --- Which windows --------------------------------------------------

    def origins(
        self,
        start=None,
        end=None,
        stride: int = 1,
        min_history: int = 1,
        full_horizon: bool = True,
    ) -> np.ndarray:
        """Valid (series, origin) pairs, int64 ``[n, 2]``.

        A window is valid when its horizon holds at least one known target and
        its history at least ``min_history`` known values.

        Args:
            start: first origin date (default: the earliest possible).
            end: last origin date (default: the latest possible).
            stride: take every ``stride``-th origin, counted back from the
                last one selected (so the most recent window is included).
            min_history: known history values a window needs.
            full_horizon: require the whole horizon inside the table.
        """
        t_max = self.table.length - (self.horizon if full_horizon else 1)
        lo = 1 if start is None else max(1, self.table.index_of(start))
        hi = t_max if end is None else min(t_max, self.table.index_of(end))
        if hi < lo:
            return np.zeros((0, 2), np.int64)
        ts = np.arange(hi, lo - 1, -int(stride))[::-1]
        c = self._finite_cumsum
        length = self.table.length
        fut = c[:, np.minimum(ts + self.horizon, length)] - c[:, ts]
        hist = c[:, ts] - c[:, np.maximum(ts - self.history_length, 0)]
        ok = (fut > 0) & (hist >= min_history)
        s, j = np.nonzero(ok)
        return np.stack([s, ts[j]], axis=1).astype(np.int64)

    def origins_at(self, date, series=None) -> np.ndarray:
        """(series, origin) pairs for one origin date, for all or some series."""
        t = self.table.index_of(date)
        series = np.arange(self.table.n_series) if series is None else np.asarray(series)
        return np.stack([series, np.full(len(series), t)], axis=1).astype(np.int64)

    # --- Gathering ------------------------------------------------------

    def _gather_fn(self):
        if self._tensors is None:
            self._tensors = (tf.constant(self._panel), tf.constant(self._strings))
        panel, strings = self._tensors
        lh, h, tp = self.history_length, self.horizon, self._padded_length
        table = self.table
        n_known, n_past = len(table.known), len(table.past)
        names = self.names
        n_keys = len(names["keys"])

        def gather(origins):
            origins = tf.cast(origins, tf.int64)
            s, t = origins[:, 0], origins[:, 1]
            # Padded index of original step t - lh + j is t + j.
            hist_rows = s[:, None] * tp + t[:, None] + tf.range(lh, dtype=tf.int64)[None, :]
            fut_rows = s[:, None] * tp + t[:, None] + lh + tf.range(h, dtype=tf.int64)[None, :]
            hist = tf.gather(panel, hist_rows)  # [B, lh, C]
            fut = tf.gather(panel, fut_rows)  # [B, h, C]
            text = tf.gather(strings, s)
            feats = {
                HISTORY: hist[:, :, 0],
                START_DAY: tf.cast(table.start_day + t * table.step_days, tf.int32),
                SERIES_ID: text[:, 0],
            }
            for i, name in enumerate(names["keys"]):
                feats[name] = text[:, 1 + i]
            for i, name in enumerate(names["static"]):
                feats[name] = text[:, 1 + n_keys + i]
            for i in range(n_known):
                feats[names["history_known"][i]] = hist[:, :, 1 + i]
                feats[names["future_known"][i]] = fut[:, :, 1 + i]
            for i in range(n_past):
                feats[names["past"][i]] = hist[:, :, 1 + n_known + i]
            return feats, fut[:, :, 0]

        return gather

    def features(self, origins, future_known: Mapping[str, np.ndarray] | None = None) -> dict:
        """The features of some windows as numpy arrays.

        Args:
            origins: (series, origin) pairs from ``origins``/``origins_at``.
            future_known: optional column -> ``[n, horizon]`` values that
                replace the known covariates over the horizon (what-if
                scenarios, or forecasts past the table's end).
        """
        feats, _ = self._gather_fn()(tf.constant(np.asarray(origins, np.int64).reshape(-1, 2)))
        out = {k: v.numpy() for k, v in feats.items()}
        for col, values in (future_known or {}).items():
            name = "future_" + input_name(col)
            if name not in out:
                raise KeyError(f"{col!r} is not a known covariate of this table")
            out[name] = np.asarray(values, np.float32).reshape(out[name].shape)
        return out

    def targets(self, origins) -> np.ndarray:
        """The targets ``[n, horizon]`` of some windows (NaN where unknown)."""
        _, y = self._gather_fn()(tf.constant(np.asarray(origins, np.int64).reshape(-1, 2)))
        return y.numpy()

    def latest(self, future_known: Mapping[str, np.ndarray] | None = None) -> dict:
        """Features to forecast the ``horizon`` steps after the table's last date.

        Known covariates over that horizon are not in the table: give them in
        ``future_known`` (column -> ``[n_series, horizon]``, NaN where there is
        no plan). Steps without a plan are sent as NaN, and the model fills
        them in its graph (each series' last value carries on; a holiday flag
        column is 0), exactly as it does for a serving request.
        """
        origins = self.origins_at(self.table.end + self.table.step_days)
        feats = self.features(origins)
        for name in self.names["future_known"]:
            feats[name] = np.full(feats[name].shape, np.nan, np.float32)
        for col, values in (future_known or {}).items():
            name = "future_" + input_name(col)
            if name not in feats:
                raise KeyError(f"{col!r} is not a known covariate of this table")
            feats[name] = np.asarray(values, np.float32).reshape(self.table.n_series, self.horizon)
        return feats

    def dataset(
        self,
        origins,
        batch_size: int = 256,
        shuffle: bool = False,
        seed: int | None = None,
        repeat: bool = False,
        drop_remainder: bool = False,
        with_targets: bool = True,
    ) -> tf.data.Dataset:
        """A ``tf.data.Dataset`` of ``(features, target)`` batches.

        Origins are shuffled (with ``seed``, reshuffled each epoch), batched,
        and each batch gathered in one vectorized map.

        Args:
            origins: (series, origin) pairs, e.g. from ``origins``.
            batch_size: windows per batch.
            shuffle: shuffle the windows.
            seed: the shuffle seed.
            repeat: repeat forever (use ``steps_per_epoch`` in ``fit``).
            drop_remainder: drop a last partial batch.
            with_targets: yield ``(features, target)``; else features only.
        """
        origins = np.asarray(origins, np.int64).reshape(-1, 2)
        if not len(origins):
            raise ValueError("no windows: the table is too short for this history/horizon, or the dates select none")
        ds = tf.data.Dataset.from_tensor_slices(origins)
        if shuffle:
            ds = ds.shuffle(len(origins), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        gather = self._gather_fn()
        if with_targets:
            ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(lambda o: gather(o)[0], num_parallel_calls=tf.data.AUTOTUNE)
        options = tf.data.Options()
        options.deterministic = True
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
