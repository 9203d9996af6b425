"""A global LSTM sales forecaster: many series, covariates, quantiles, direct multi-horizon."""

from __future__ import annotations

from typing import Mapping
from typing import Sequence

import numpy as np
import tensorflow as tf

from ecomtf.data.sales_table import FREQUENCIES
from ecomtf.data.sales_table import KEY_SEPARATOR
from ecomtf.data.sales_table import SalesTable
from ecomtf.data.windows import HISTORY
from ecomtf.data.windows import SERIES_ID
from ecomtf.data.windows import START_DAY
from ecomtf.data.windows import feature_names
from ecomtf.layers.calendar_features import CalendarFeatures
from ecomtf.layers.gap_filler import GapFiller
from ecomtf.layers.gap_filler import fill_covariate
from ecomtf.layers.quantile_head import QuantileHead
from ecomtf.layers.seasonal_lag_features import SeasonalLagFeatures
from ecomtf.layers.series_scaler import SeriesScaler

_EPOCH = np.datetime64("1970-01-01", "D")
# Steps per short season (a week of days; a month of weeks) and per year.
_SHORT_SEASON = {"D": 7, "W": 4}
_YEAR = {"D": 364, "W": 52}
_DEFAULT_LOOKBACK = {"D": 56, "W": 26}
# What the multiplicative part of the output scales with (see ``level_base``).
LEVEL_BASES = ("longest", "learned")


def quantile_name(q: float) -> str:
    """Output name of a quantile: 0.1 -> ``"p10"``, 0.975 -> ``"p97_5"``."""
    text = f"{q * 100:.4f}".rstrip("0").rstrip(".")
    return "p" + text.replace(".", "_")


def pinball(y, q_pred, quantiles):
    """Pinball loss per element: ``y [..]`` vs ``q_pred [.., Q]`` -> ``[.., Q]``."""
    q = tf.constant(quantiles, tf.float32)
    err = y[..., None] - q_pred
    return tf.maximum(q * err, (q - 1.0) * err)


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class SalesForecaster(tf.keras.Model):
    """One LSTM model for every series of a sales table, forecasting quantiles.

    A global model learns from all series at once (new and short series
    borrow strength from the others) and forecasts every horizon step
    directly, so errors do not compound as in recursive forecasting. It
    follows MQ-RNN (Wen et al., 2017): an LSTM encodes the recent history, and
    a per-step MLP decodes each horizon step from that context and what is
    known about the step in advance.

    Everything is computed in the graph from raw values:

    - per-series scaling: each series is divided by its scale (mean absolute
      value in the TRAINING data, a lookup table keyed by series id; unknown
      series use the scale of the history they come with), and the output is
      multiplied back;
    - gaps in the history are filled with the training table's fill policy;
    - series keys and static attributes are embedded (unknown values share a
      zero "unknown" vector that key dropout teaches the model to use);
    - calendar features (day of week, month, day and week of year, holidays
      from a list of dates) come from each step's date;
    - known-future covariates (price, promotion, a holiday flag column) are
      read over the history and the horizon, past-only covariates over the
      history; both are standardized with training statistics;
    - the same period one season back (e.g. the same weekday last year,
      averaged over neighbouring weeks) is read from the history for every
      horizon step;
    - quantiles (default P10/P50/P90) are ordered by construction and trained
      with the pinball loss on the scaled target; the point forecast is P50.

    The LSTM uses cuDNN-eligible settings (tanh/sigmoid, no recurrent
    dropout, not unrolled). ``forecast(..., unroll=True)`` runs the same cell
    step by step, which TFLite converts with a dynamic batch.

    Build it with ``SalesForecaster.from_table`` (vocabularies, scales and
    covariate statistics from the training data only).

    Args:
        horizon: steps forecast at once.
        lookback: history steps the LSTM reads.
        history_length: history steps the model takes (at least ``lookback``
            and enough for the seasonal lags); default: the minimum.
        freq: ``"D"`` or ``"W"``.
        key_cols, static_cols, known_cols, past_cols: input names by role
            (see ``ecomtf.data.windows.feature_names``).
        vocabularies: input name -> known values, for key and static inputs
            and, with several key columns, ``"series_id"``.
        series_ids, series_scales, global_scale: the scale table.
        covariate_stats: covariate column -> ``[mean, std]``.
        holidays: holiday dates as days since 1970-01-01.
        holiday_window: extra day offsets around holidays to flag (daily).
        seasonal_lags: season lengths in steps read for each horizon step.
        lag_window: neighbouring seasons averaged on each side.
        fill: the training table's fill policy.
        flag_cols: known columns that are 0/1 flags (a holiday column):
            their gaps are 0, not forward-filled.
        nonnegative: clip forecasts at 0 (``from_table`` sets it when the
            training data has no negative values, i.e. no returns).
        quantiles: the quantile levels (0.5 is added if absent).
        quantile_offsets: ``[horizon, Q]`` calibration offsets in units of
            each series' scale, added to the quantiles at inference (not in
            training); set from rolling backtests by
            ``set_quantile_offsets`` (see
            ``ecomtf.evaluation.backtest.conformal_offsets``), so the exported
            graph serves the calibrated band that ``forecast.csv`` holds.
        calibration_window: the unit of the calibration offsets. 0
            (default): each series' scale (the training table's); ``n > 0``:
            each series' mean absolute value over its last ``n`` known
            history steps at the origin (the scale where those are all 0),
            computed in the graph, so the calibrated band widens with the
            level the series is at (a peak season whose level the training
            table's scale does not show). Choose it on backtest windows.
        scale_window: 0 (default) scales each series by its training-table
            scale; ``n > 0`` scales each window by the mean absolute value of
            its own last ``n`` known history steps (DeepAR's context scaling;
            the table scale where those are all 0), so a series whose level
            moved since training is seen at its current level.
        loss_weight_power: each window's pinball loss (on the scaled target)
            is weighted by ``(scale / global_scale) ** p``: 0 (default) weighs
            every series alike, 1 gives the loss in units (what WAPE, a
            volume-weighted error, scores); in between is a compromise.
        log_inputs: also feed the encoder ``log1p`` of the scaled history
            (spiky, intermittent series: one bulk order dominates a linear
            input).
        log_target: model the scaled series through ``sign(v) log1p(|v|)``
            (inputs, levels, seasonal lags and the quantiles, which are
            mapped back with the inverse). Quantiles are invariant under a
            monotone map, so the pinball loss still targets the same
            quantiles, but one bulk order no longer dominates the gradient
            (intermittent, spiky product sales). Negative values (returns)
            keep their sign.
        level_base: the level the output's multiplicative part scales with:
            ``"longest"`` (default) the mean over the longest level window
            (4, 16, 52 or 208 steps of a weekly table, 7, 28, 91 or 364 of a
            daily one, each capped at ``history_length``), ``"learned"`` a
            softmax mix of all of them that the decoder chooses per window
            and horizon step (a seasonal product off season sits far below
            its year-long level, a rising one above it).
        lstm_units, hidden_units, embedding_dim: sizes.
        dropout: dropout rate in the decoder.
        key_dropout: rate at which training replaces a key or attribute by
            "unknown", so unknown series get sensible forecasts.
        trained_until: first date not in the training data (ISO string).
        seed: seed of the dropout masks.

    Call arguments:
        inputs: dict of tensors named as in ``ecomtf.data.SalesWindows``:
            ``history`` float32 ``[B, steps]`` (NaN = no data), ``start_day``
            int32 ``[B]`` (date of the first forecast step, days since
            1970-01-01), one string ``[B]`` per key and static column,
            ``history_<col>`` and ``future_<col>`` float32 per covariate;
            ``series_id`` (keys joined by ``"|"``) is optional.
        training: training mode.

    Returns:
        dict: ``quantiles`` ``[B, horizon, Q]``, ``forecast`` ``[B, horizon]``
        (P50), ``scale`` ``[B]`` and ``calibration_scale`` ``[B]`` (the unit
        of the calibration offsets), in the target's units.

    Example:
        >>> table, _ = SalesTable.read("sales.csv", date="date", target="units",
        ...                            keys=["store", "item"], known=["price"])
        >>> model = SalesForecaster.from_table(table, horizon=28, until="2024-06-01")
        >>> windows = SalesWindows(table.slice(end="2024-06-01"),
        ...                        model.history_length, model.horizon)
        >>> model.compile(tf.keras.optimizers.Adam(1e-3))
        >>> model.fit(windows.dataset(windows.origins(), shuffle=True, seed=0), epochs=5)

    Reference:
        Wen et al., "A Multi-Horizon Quantile Recurrent Forecaster", 2017.
        Salinas et al., "DeepAR", 2017 (per-series scaling, global model).
    """

    def __init__(
        self,
        *,
        horizon: int,
        lookback: int,
        history_length: int | None = None,
        freq: str = "D",
        key_cols: Sequence[str] = (),
        static_cols: Sequence[str] = (),
        known_cols: Sequence[str] = (),
        past_cols: Sequence[str] = (),
        vocabularies: Mapping[str, Sequence[str]] | None = None,
        series_ids: Sequence[str] = (),
        series_scales: Sequence[float] = (),
        global_scale: float = 1.0,
        covariate_stats: Mapping[str, Sequence[float]] | None = None,
        holidays: Sequence[int] = (),
        holiday_window: Sequence[int] = (),
        seasonal_lags: Sequence[int] = (),
        lag_window: int = 2,
        fill: str = "zero",
        flag_cols: Sequence[str] = (),
        nonnegative: bool = False,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        quantile_offsets: Sequence[Sequence[float]] | None = None,
        calibration_window: int = 0,
        scale_window: int = 0,
        loss_weight_power: float = 0.0,
        log_inputs: bool = False,
        log_target: bool = False,
        level_base: str = "longest",
        lstm_units: int = 64,
        hidden_units: int = 64,
        embedding_dim: int = 8,
        dropout: float = 0.0,
        key_dropout: float = 0.05,
        trained_until: str | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if freq not in FREQUENCIES:
            raise ValueError(f"freq must be one of {sorted(FREQUENCIES)}, got {freq!r}")
        # === Config ===
        self.horizon = int(horizon)
        self.lookback = int(lookback)
        self.freq = freq
        self.step_days = FREQUENCIES[freq]
        self.seasonal_lags = [int(v) for v in seasonal_lags]
        self.lag_window = int(lag_window)
        self.lag_period = _SHORT_SEASON["D"] if freq == "D" else 1
        need = max([self.lookback] + [lag + self.lag_window * self.lag_period for lag in self.seasonal_lags])
        self.history_length = int(history_length or need)
        if self.history_length < need:
            raise ValueError(f"history_length {self.history_length} < {need} needed by lookback and seasonal lags")
        self.key_cols = list(key_cols)
        self.static_cols = list(static_cols)
        self.known_cols = list(known_cols)
        self.past_cols = list(past_cols)
        self.names = feature_names(self.key_cols, self.static_cols, self.known_cols, self.past_cols)
        self.vocabularies = {k: [str(v) for v in vs] for k, vs in (vocabularies or {}).items()}
        self.series_ids = [str(s) for s in series_ids]
        self.series_scales = [float(s) for s in series_scales]
        self.global_scale = float(global_scale)
        self.covariate_stats = {k: [float(v) for v in vs] for k, vs in (covariate_stats or {}).items()}
        self.holidays = sorted(int(d) for d in holidays)
        self.holiday_window = [int(o) for o in holiday_window]
        self.fill = fill
        self.flag_cols = [str(c) for c in flag_cols]
        self.nonnegative = bool(nonnegative)
        quantiles = sorted(set(float(q) for q in quantiles) | {0.5})
        self.quantiles = quantiles
        self.scale_window = int(scale_window)
        self.calibration_window = int(calibration_window)
        if self.calibration_window < 0:
            raise ValueError(f"calibration_window must be >= 0, got {self.calibration_window}")
        self.loss_weight_power = float(loss_weight_power)
        self.log_inputs = bool(log_inputs)
        self.log_target = bool(log_target)
        if level_base not in LEVEL_BASES:
            raise ValueError(f"level_base must be one of {LEVEL_BASES}, got {level_base!r}")
        self.level_base = level_base
        self.lstm_units = int(lstm_units)
        self.hidden_units = int(hidden_units)
        self.embedding_dim = int(embedding_dim)
        self.dropout = float(dropout)
        self.key_dropout = float(key_dropout)
        self.trained_until = trained_until
        self.seed = seed

        # === Layers ===
        self.filler = GapFiller(fill, name="gap_filler")
        self.scaler = SeriesScaler(self.series_ids, self.series_scales, self.global_scale, name="scaler")
        span = self.step_days
        self.encoder_calendar = CalendarFeatures(
            features=("day_of_week",) if freq == "D" else (),
            holidays=self.holidays,
            holiday_span=span,
            name="encoder_calendar",
        )
        self.decoder_calendar = CalendarFeatures(
            features=("day_of_week", "month", "day_of_year", "week_of_year", "day_of_month")
            if freq == "D"
            else ("month", "day_of_year", "week_of_year"),
            holidays=self.holidays,
            holiday_window=self.holiday_window,
            holiday_span=span,
            name="decoder_calendar",
        )
        self.embedded = list(self.names["keys"]) + list(self.names["static"])
        if len(self.key_cols) > 1:
            self.embedded.append(SERIES_ID)
        self.lookups = {}
        self.embeddings = {}
        for name in self.embedded:
            vocab = self.vocabularies.get(name)
            if not vocab:
                raise ValueError(f"no vocabulary for input {name!r}; build the model with from_table")
            self.lookups[name] = tf.keras.layers.StringLookup(
                vocabulary=vocab, num_oov_indices=1, name=f"lookup_{name}"
            )
            self.embeddings[name] = tf.keras.layers.Embedding(
                len(vocab) + 1, self.embedding_dim, name=f"embedding_{name}"
            )
        self.key_drop = tf.keras.layers.Dropout(self.key_dropout, noise_shape=(None, 1), seed=seed)
        self.initial_h = tf.keras.layers.Dense(self.lstm_units, activation="tanh", name="initial_h")
        self.initial_c = tf.keras.layers.Dense(self.lstm_units, name="initial_c")
        # cuDNN-eligible: default activations, no recurrent dropout, no unroll.
        self.encoder = tf.keras.layers.LSTM(self.lstm_units, return_state=True, name="encoder")
        self.lag_features = (
            SeasonalLagFeatures(
                self.history_length,
                self.horizon,
                self.seasonal_lags,
                period=self.lag_period,
                window=self.lag_window,
                name="seasonal_lags",
            )
            if self.seasonal_lags
            else None
        )
        self.context = tf.keras.layers.Dense(self.hidden_units, activation="relu", name="context")
        self.decoder_1 = tf.keras.layers.Dense(self.hidden_units, activation="relu", name="decoder_1")
        self.decoder_2 = tf.keras.layers.Dense(self.hidden_units, activation="relu", name="decoder_2")
        self.decoder_dropout = tf.keras.layers.Dropout(self.dropout, seed=seed)
        self.head = QuantileHead(self.quantiles, name="quantiles")
        self.level_head = QuantileHead(self.quantiles, name="level_quantiles")
        # "learned": each horizon step's base level is a softmax mix of the
        # recent levels (4 weeks ... a year), chosen by the decoder per window
        # (zero init: their plain mean at the start of training).
        self.level_gate = (
            tf.keras.layers.Dense(len(self._level_windows()), kernel_initializer="zeros", name="level_gate")
            if self.level_base == "learned"
            else None
        )
        self.horizon_embedding = self.add_weight(
            name="horizon_embedding",
            shape=(self.horizon, 8),
            initializer=tf.keras.initializers.RandomNormal(stddev=0.1, seed=seed),
        )
        offsets = np.zeros((self.horizon, len(self.quantiles)), np.float32)
        if quantile_offsets is not None:
            offsets = np.asarray(quantile_offsets, np.float32).reshape(offsets.shape)
        self.quantile_offsets = offsets
        # A variable, not a constant: calibration after a traced predict
        # must reach the graph (and the exported SavedModel).
        self.offsets = self.add_weight(
            name="quantile_offsets", shape=offsets.shape,
            initializer=tf.keras.initializers.Constant(offsets), trainable=False,
        )
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.mae_tracker = tf.keras.metrics.Mean(name="mae")

    # === Building from data ===

    @classmethod
    def from_table(
        cls,
        table: SalesTable,
        *,
        horizon: int,
        lookback: int | None = None,
        until=None,
        seasonal_lags="auto",
        holiday_window: Sequence[int] | None = None,
        **kwargs,
    ) -> "SalesForecaster":
        """A forecaster whose vocabularies, scales and statistics come from ``table``.

        Args:
            table: the sales table.
            horizon: steps to forecast.
            lookback: LSTM steps (default 56 days or 26 weeks).
            until: first date NOT used for statistics (the training cutoff);
                default: the whole table. Pass the same cutoff you train on.
            seasonal_lags: ``"auto"`` (one year, 364 days or 52 weeks, when
                the training data covers more than a year and a quarter),
                or a list of lags in steps.
            holiday_window: day offsets around holidays (default ``(-2, -1, 1)``
                for daily data with holidays).
            **kwargs: other ``SalesForecaster`` arguments (quantiles, sizes...);
                they override what the table implies (e.g. ``nonnegative``).
        """
        train = table.slice(end=until) if until is not None else table
        freq = table.freq
        lookback = int(lookback or _DEFAULT_LOOKBACK[freq])
        if seasonal_lags == "auto":
            year = _YEAR[freq]
            seasonal_lags = [year] if train.length >= year + year // 4 + horizon else []
        if holiday_window is None:
            holiday_window = (-2, -1, 1) if (freq == "D" and len(table.holidays)) else ()
        has_data = np.isfinite(train.target).any(axis=1)
        names = table.covariate_names()
        roles = feature_names(names["keys"], names["static"], names["known"], names["past"])
        vocabularies = {}
        for i, name in enumerate(roles["keys"]):
            vocabularies[name] = _vocabulary(train.series_keys[has_data, i])
        for name, col in zip(roles["static"], names["static"]):
            vocabularies[name] = _vocabulary(train.static[col][has_data])
        if len(names["keys"]) > 1:
            vocabularies[SERIES_ID] = _vocabulary(train.series_ids[has_data])
        scales, global_scale = SeriesScaler.statistics(train.target[has_data])
        stats = {}
        for col, grid in {**train.known, **train.past}.items():
            v = grid[np.isfinite(grid)]
            mean = float(v.mean()) if v.size else 0.0
            std = float(v.std()) if v.size else 1.0
            stats[col] = [mean, std if std > 1e-6 else 1.0]
        implied = dict(
            horizon=horizon,
            lookback=lookback,
            freq=freq,
            key_cols=names["keys"],
            static_cols=names["static"],
            known_cols=names["known"],
            past_cols=names["past"],
            vocabularies=vocabularies,
            series_ids=list(train.series_ids[has_data]),
            series_scales=list(scales),
            global_scale=global_scale,
            covariate_stats=stats,
            holidays=[int(d) for d in (table.holidays - _EPOCH).astype(np.int64)],
            holiday_window=holiday_window,
            seasonal_lags=seasonal_lags,
            fill=table.fill,
            flag_cols=[table.holiday_col] if table.holiday_col else [],
            nonnegative=not bool((train.target[np.isfinite(train.target)] < 0).any()),
            trained_until=str(train.end + train.step_days),
        )
        implied.update(kwargs)
        return cls(**implied)

    # === Forward pass ===

    def call(self, inputs, training=None):
        return self.forecast(inputs, training=training)

    def forecast(self, inputs, training=None, unroll: bool = False) -> dict:
        """The forward pass; ``unroll=True`` steps the LSTM cell in Python (TFLite)."""
        lh, h = self.history_length, self.horizon
        history = self._fit_history(inputs[HISTORY])
        batch = tf.shape(history)[0]
        filled, known = self.filler(history)
        series_id = self._series_id(inputs)
        scale = self.scaler(series_id, filled, known)
        table_scale = scale
        if self.scale_window > 0:
            scale = self._recent_level(filled, known, self.scale_window, scale)
        x = filled / scale[:, None]
        if self.log_target:
            x = _signed_log1p(x)

        start = tf.reshape(tf.cast(inputs[START_DAY], tf.int32), [-1])
        hist_days = start[:, None] + self.step_days * (tf.range(lh, dtype=tf.int32) - lh)[None, :]
        fut_days = start[:, None] + self.step_days * tf.range(h, dtype=tf.int32)[None, :]

        # --- encoder: the last `lookback` steps ---
        steps = [x[..., None], known[..., None]]
        if self.log_inputs:
            steps.append(tf.math.log1p(tf.nn.relu(x))[..., None])
        if self.encoder_calendar.output_dim:
            steps.append(self.encoder_calendar(hist_days))
        # Covariates: the table's fill rule applied in the graph (one path for
        # training, batch forecasts and raw serving requests with gaps).
        known_history = {}
        for col, name in zip(self.known_cols, self.names["history_known"]):
            known_history[col] = fill_covariate(self._fit_history(inputs[name]), flag=col in self.flag_cols)
            steps.append(self._normalize(col, known_history[col])[..., None])
        for col, name in zip(self.past_cols, self.names["past"]):
            past = fill_covariate(self._fit_history(inputs[name]), flag=col in self.flag_cols)
            steps.append(self._normalize(col, past)[..., None])
        encoder_inputs = tf.concat(steps, axis=-1)[:, lh - self.lookback :, :]

        static = self._static(inputs, training)
        if static is not None:
            state = [self.initial_h(static), self.initial_c(static)]
        else:
            zeros = tf.zeros(tf.stack([batch, self.lstm_units]))
            state = [zeros, zeros]
        if unroll:
            encoded = self._unrolled_encoder(encoder_inputs, state)
        else:
            _, encoded, _ = self.encoder(encoder_inputs, initial_state=state, training=training)

        # --- context: encoder state, statics, recent levels ---
        levels = self._levels(x, known)
        parts = [encoded, levels]
        if static is not None:
            parts.append(static)
        context = self.context(tf.concat(parts, axis=-1))

        # --- decoder: each horizon step from context + what is known about it ---
        step_parts = [
            tf.tile(context[:, None, :], [1, h, 1]),
            tf.tile(self.horizon_embedding[None, :, :], tf.stack([batch, 1, 1])),
            self.decoder_calendar(fut_days),
        ]
        if self.seasonal_lags:
            step_parts.append(self.lag_features(x, known))
        for col, name in zip(self.known_cols, self.names["future_known"]):
            future = tf.reshape(tf.cast(inputs[name], tf.float32), [-1, h])
            # A future step with no plan (NaN): the last known value carries on
            # (a flag: 0), as the batch forecast assumes without --future.
            carry = tf.zeros_like(future) if col in self.flag_cols else tf.tile(known_history[col][:, -1:], [1, h])
            future = tf.where(tf.equal(future, future), future, carry)
            step_parts.append(self._normalize(col, future)[..., None])
        z = self.decoder_2(self.decoder_1(tf.concat(step_parts, axis=-1)))
        # Dropout only before the linear heads: before a ReLU it would shift
        # the mean between training and inference (a biased forecast).
        z = self.decoder_dropout(z, training=training)
        # Additive and multiplicative parts: retail series are mostly "recent
        # level x weekday x season"; a product is hard for a ReLU MLP to fit.
        # The base is the longest (least noisy) level, or (level_base="learned")
        # a per-step mix of the levels: an off-season product's year-long level
        # is far above its recent one, a rising product's below it.
        n_levels = len(self._level_windows())
        if self.level_gate is not None:
            gate = tf.nn.softmax(self.level_gate(z), axis=-1)  # [B, h, n_levels]
            level = tf.reduce_sum(gate * tf.maximum(levels[:, None, :n_levels], 0.0), axis=-1, keepdims=True)
        else:
            level = tf.maximum(levels[:, n_levels - 1], 0.0)[:, None, None]
        if self.log_target:
            transformed = self.head(z) + level * self.level_head(z)
            quantiles = _signed_expm1(transformed) * scale[:, None, None]
        else:
            quantiles = (self.head(z) + level * self.level_head(z)) * scale[:, None, None]
        if self.nonnegative and not training:
            # Clipping each quantile at 0 keeps their order. Not in training:
            # a clipped quantile has no gradient and could stay stuck below 0.
            quantiles = tf.nn.relu(quantiles)
        # The unit the calibration offsets are in (computed in the graph, so
        # served and batch bands are calibrated alike).
        unit = scale
        if self.calibration_window > 0:
            unit = self._recent_level(filled, known, self.calibration_window, table_scale)
        if not training:
            # Calibration offsets were measured on these (clipped) outputs.
            quantiles = self._calibrate(quantiles, unit)
            if self.nonnegative:
                quantiles = tf.nn.relu(quantiles)
        out = {
            "quantiles": quantiles,
            "forecast": quantiles[..., self.head.median_index],
            "scale": scale,
            "calibration_scale": unit,
        }
        if training and self.log_target:
            out["transformed"] = transformed  # what the loss compares (training only)
        return out

    def _calibrate(self, quantiles, unit):
        """Adds the calibration offsets (times ``unit`` ``[B]``), keeping the quantiles ordered."""
        q = quantiles + self.offsets[None, :, :] * unit[:, None, None]
        m = self.head.median_index
        columns = [q[..., k] for k in range(len(self.quantiles))]
        for k in range(m - 1, -1, -1):
            columns[k] = tf.minimum(columns[k], columns[k + 1])
        for k in range(m + 1, len(columns)):
            columns[k] = tf.maximum(columns[k], columns[k - 1])
        return tf.stack(columns, axis=-1)

    def set_quantile_offsets(self, offsets) -> None:
        """Sets the calibration offsets ``[horizon, Q]`` (config and graph)."""
        offsets = np.asarray(offsets, np.float32).reshape(self.horizon, len(self.quantiles))
        self.quantile_offsets = offsets
        self.offsets.assign(offsets)

    def _recent_level(self, filled, known, n, fallback):
        """Each row's mean absolute value over its last ``n`` known steps (``fallback`` where 0)."""
        n = min(int(n), self.history_length)
        count = tf.reduce_sum(known[:, -n:], axis=1)
        own = tf.reduce_sum(tf.abs(filled[:, -n:]) * known[:, -n:], axis=1) / tf.maximum(count, 1.0)
        return tf.where(own > 0, own, fallback)

    def _fit_history(self, values):
        """Any number of steps -> the last ``history_length`` (NaN-padded on the left)."""
        values = tf.cast(values, tf.float32)
        lh = self.history_length
        if values.shape.rank == 2 and values.shape[1] == lh:
            return values
        pad = tf.fill(tf.stack([tf.shape(values)[0], lh]), float("nan"))
        return tf.concat([pad, values], axis=1)[:, -lh:]

    def _series_id(self, inputs):
        if SERIES_ID in inputs:
            return tf.reshape(inputs[SERIES_ID], [-1])
        keys = [tf.reshape(inputs[name], [-1]) for name in self.names["keys"]]
        if not keys:
            return tf.fill(tf.shape(inputs[START_DAY])[:1], "")
        if len(keys) == 1:
            return keys[0]
        return tf.strings.join(keys, separator=KEY_SEPARATOR)

    def _static(self, inputs, training):
        vectors = []
        for name in self.embedded:
            if name == SERIES_ID:
                values = self._series_id(inputs)
            else:
                values = tf.reshape(inputs[name], [-1])
            index = tf.reshape(self.lookups[name](values), [-1])  # rank lost in TFLite
            vector = self.embeddings[name](index)
            # Unknown values (index 0) get a zero vector; key dropout shows the
            # model such vectors during training.
            keep = tf.cast(index > 0, tf.float32)[:, None]
            if training and self.key_dropout > 0:
                keep = keep * tf.cast(self.key_drop(tf.ones_like(keep), training=True) > 0, tf.float32)
            vectors.append(vector * keep)
        return tf.concat(vectors, axis=-1) if vectors else None

    def _normalize(self, col, values):
        mean, std = self.covariate_stats.get(col, [0.0, 1.0])
        z = (tf.cast(values, tf.float32) - mean) / std
        return tf.where(tf.equal(z, z), z, tf.zeros_like(z))

    def _level_windows(self) -> list[int]:
        short = _SHORT_SEASON[self.freq]
        spans = [short, 4 * short, 13 * short, 52 * short]
        return sorted({min(n, self.history_length) for n in spans})

    def _levels(self, x, known):
        """Masked means of the scaled history over the last week, month, quarter, year
        (in steps, as far as the history reaches), and the share of known steps."""
        out = []
        for n in self._level_windows():
            count = tf.reduce_sum(known[:, -n:], axis=1)
            out.append(tf.reduce_sum(x[:, -n:] * known[:, -n:], axis=1) / tf.maximum(count, 1.0))
        out.append(tf.reduce_mean(known[:, -self.lookback :], axis=1))
        return tf.stack(out, axis=-1)

    def _unrolled_encoder(self, inputs, state):
        cell = self.encoder.cell
        for t in range(inputs.shape[1]):
            _, state = cell(inputs[:, t, :], state)
        return state[0]

    # === Training ===

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        y = tf.cast(y, tf.float32)
        scale = y_pred["scale"][:, None]
        valid = tf.equal(y, y)
        weight = tf.cast(valid, tf.float32)
        if sample_weight is not None:
            weight = weight * tf.reshape(tf.cast(sample_weight, tf.float32), [-1, 1])
        y_scaled = tf.where(valid, y, tf.zeros_like(y)) / scale
        if self.log_target and "transformed" in y_pred:
            loss = tf.reduce_mean(pinball(_signed_log1p(y_scaled), y_pred["transformed"], self.quantiles), -1)
        else:
            loss = tf.reduce_mean(pinball(y_scaled, y_pred["quantiles"] / scale[..., None], self.quantiles), -1)
        floor = 1.0  # a count of valid steps: at least 1 when any is valid
        if self.loss_weight_power:
            weight = weight * tf.pow(scale / self.global_scale, self.loss_weight_power)
            floor = 1e-12  # weights below 1: a weighted mean, not a floored one
        total = tf.reduce_sum(weight)
        mean_loss = tf.reduce_sum(loss * weight) / tf.maximum(total, floor)
        abs_err = tf.abs(tf.where(valid, y, tf.zeros_like(y)) - y_pred["forecast"])
        self.loss_tracker.update_state(mean_loss)
        self.mae_tracker.update_state(tf.reduce_sum(abs_err * weight) / tf.maximum(total, 1.0))
        if self.losses:
            mean_loss += tf.add_n(self.losses)
        # Gradients are summed over replicas under a distribution strategy.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return mean_loss / replicas

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_tracker]

    def compute_metrics(self, x, y, y_pred, sample_weight):
        return {m.name: m.result() for m in self.metrics}

    # === Config ===

    @property
    def quantile_names(self) -> list[str]:
        return [quantile_name(q) for q in self.quantiles]

    def input_spec_dict(self) -> dict[str, tf.TensorSpec]:
        """Name -> TensorSpec of the model's (gridded) inputs, batch dimension None."""
        lh, h = self.history_length, self.horizon
        spec = {
            HISTORY: tf.TensorSpec([None, lh], tf.float32, name=HISTORY),
            START_DAY: tf.TensorSpec([None], tf.int32, name=START_DAY),
        }
        for name in self.names["keys"] + self.names["static"]:
            spec[name] = tf.TensorSpec([None], tf.string, name=name)
        for name in self.names["history_known"] + self.names["past"]:
            spec[name] = tf.TensorSpec([None, lh], tf.float32, name=name)
        for name in self.names["future_known"]:
            spec[name] = tf.TensorSpec([None, h], tf.float32, name=name)
        return spec

    def get_config(self):
        return {
            "name": self.name,
            "horizon": self.horizon,
            "lookback": self.lookback,
            "history_length": self.history_length,
            "freq": self.freq,
            "key_cols": list(self.key_cols),
            "static_cols": list(self.static_cols),
            "known_cols": list(self.known_cols),
            "past_cols": list(self.past_cols),
            "vocabularies": dict(self.vocabularies),
            "series_ids": list(self.series_ids),
            "series_scales": list(self.series_scales),
            "global_scale": self.global_scale,
            "covariate_stats": dict(self.covariate_stats),
            "holidays": list(self.holidays),
            "holiday_window": list(self.holiday_window),
            "seasonal_lags": list(self.seasonal_lags),
            "lag_window": self.lag_window,
            "fill": self.fill,
            "flag_cols": list(self.flag_cols),
            "nonnegative": self.nonnegative,
            "quantiles": list(self.quantiles),
            "quantile_offsets": np.asarray(self.offsets.numpy() if hasattr(self, "offsets") else
                                           self.quantile_offsets).tolist(),
            "calibration_window": self.calibration_window,
            "scale_window": self.scale_window,
            "loss_weight_power": self.loss_weight_power,
            "log_inputs": self.log_inputs,
            "log_target": self.log_target,
            "level_base": self.level_base,
            "lstm_units": self.lstm_units,
            "hidden_units": self.hidden_units,
            "embedding_dim": self.embedding_dim,
            "dropout": self.dropout,
            "key_dropout": self.key_dropout,
            "trained_until": self.trained_until,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _signed_log1p(v):
    return tf.sign(v) * tf.math.log1p(tf.abs(v))


def _signed_expm1(z):
    # Capped: exp(20) is 5e8 times the series' scale, far past any sale.
    return tf.sign(z) * tf.math.expm1(tf.minimum(tf.abs(z), 20.0))


def _vocabulary(values) -> list[str]:
    values = np.asarray(values, dtype=str)
    uniques, counts = np.unique(values, return_counts=True)
    order = np.lexsort((uniques, -counts))
    return [str(v) for v in uniques[order] if v != ""] or ["\x00"]
