"""Serving signatures of the SalesForecaster: raw dated history in, quantile forecasts out."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ecomtf.data.windows import HISTORY
from ecomtf.data.windows import SERIES_ID
from ecomtf.data.windows import START_DAY
from ecomtf.export.servable import Servable
from ecomtf.export.servable import dict_signature
from ecomtf.export.servable import register_servable
from ecomtf.layers.calendar_features import format_iso_dates
from ecomtf.layers.calendar_features import parse_iso_dates
from ecomtf.models.sales_forecaster import SalesForecaster
from ecomtf.models.sales_forecaster_ensemble import SalesForecasterEnsemble

HISTORY_DATES = "history_dates"
HISTORY_VALUES = "history_values"
FORECAST_START = "forecast_start"


@register_servable(SalesForecaster)
class SalesForecasterServable(Servable):
    """Exports a ``SalesForecaster`` for TF Serving and TFLite.

    Signatures (every input has the batch as its first dimension, so the REST
    row format works; ``H`` is the model's horizon, ``T`` any history length):

    ``serving_default`` (raw, what a shop's database has):
        ``history_dates`` string ``[B, T]``: ``"YYYY-MM-DD"``, any order, gaps
        allowed, ``""`` pads short histories; ``history_values`` float32
        ``[B, T]`` (NaN = unknown); ``forecast_start`` string ``[B]``: the
        first date to forecast (``""``: one step after the last history
        date); one string ``[B]`` per series-key and static column (unknown
        keys are fine); ``history_<col>`` float32 ``[B, T]`` per known and
        past covariate, aligned with ``history_dates``; ``future_<col>``
        float32 ``[B, H]`` per known covariate. Rows are laid on the model's
        daily or weekly grid in the graph (duplicates summed, covariates
        averaged), then the training fill policy applies.
    ``forecast_grid``: the model's own inputs: ``history`` float32
        ``[B, history_length]`` on the grid ending the step before
        ``start_day`` int32 ``[B]`` (days since 1970-01-01), keys, covariates.
    Both return ``forecast`` (P50) and one output per quantile (``p10``,
    ``p50``, ``p90``) as float32 ``[B, H]``, and ``forecast_dates`` string
    ``[B, H]``.

    ``mobile`` (TFLite): like ``forecast_grid`` plus ``series_id`` string
    ``[B]`` (the keys joined by ``"|"``: TFLite has no string-join kernel),
    without ``forecast_dates``. Dates arrive as day numbers because TFLite has
    no string-parsing kernels (Kotlin ``LocalDate.toEpochDay()``); every
    calendar feature is still computed in the graph. The LSTM runs unrolled
    (same weights), so any batch size works.

    Args:
        model: a trained ``SalesForecaster``.
    """

    def __init__(self, model: SalesForecaster):
        super().__init__()
        self.model = model

    # --- Signatures -------------------------------------------------------

    def _outputs(self, result, start, with_dates=True):
        out = {"forecast": result["forecast"]}
        for j, name in enumerate(self.model.quantile_names):
            out[name] = result["quantiles"][..., j]
        if with_dates:
            days = start[:, None] + self.model.step_days * tf.range(self.model.horizon, dtype=tf.int32)[None, :]
            out["forecast_dates"] = format_iso_dates(days)
        return out

    def _grid_fn(self, inputs):
        result = self.model(inputs, training=False)
        start = tf.reshape(tf.cast(inputs[START_DAY], tf.int32), [-1])
        return self._outputs(result, start)

    def _mobile_fn(self, inputs):
        result = self.model.forecast(inputs, training=False, unroll=True)
        return self._outputs(result, None, with_dates=False)

    def _raw_fn(self, inputs):
        m = self.model
        lh, step = m.history_length, m.step_days
        days, valid = parse_iso_dates(inputs[HISTORY_DATES])
        values = tf.cast(inputs[HISTORY_VALUES], tf.float32)
        given, has_start = parse_iso_dates(tf.reshape(inputs[FORECAST_START], [-1]))
        last = tf.reduce_max(tf.where(valid, days, tf.fill(tf.shape(days), -(2**30))), axis=1)
        start = tf.where(has_start, given, last + step)
        # Steps before the start: the grid step whose period contains the date.
        before = tf.math.floordiv(start[:, None] - days + step - 1, step)
        index = lh - before
        on_grid = valid & (index >= 0) & (index < lh)
        batch = tf.shape(days)[0]
        grid_id = tf.range(batch)[:, None] * lh + index

        def to_grid(v, average):
            ok = on_grid & tf.equal(v, v)
            seg = tf.where(ok, grid_id, tf.fill(tf.shape(grid_id), batch * lh))
            n = batch * lh + 1
            total = tf.math.unsorted_segment_sum(tf.where(ok, v, tf.zeros_like(v)), seg, n)[:-1]
            count = tf.math.unsorted_segment_sum(tf.cast(ok, tf.float32), seg, n)[:-1]
            grid = total / tf.maximum(count, 1.0) if average else total
            grid = tf.where(count > 0, grid, tf.fill(tf.shape(grid), float("nan")))
            return tf.reshape(grid, tf.stack([batch, lh]))

        features = {HISTORY: to_grid(values, average=False), START_DAY: start}
        for name in m.names["keys"] + m.names["static"]:
            features[name] = tf.reshape(inputs[name], [-1])
        for name in m.names["history_known"] + m.names["past"]:
            features[name] = to_grid(tf.cast(inputs[name], tf.float32), average=True)
        for name in m.names["future_known"]:
            features[name] = tf.cast(inputs[name], tf.float32)
        return self._outputs(m(features, training=False), start)

    def _raw_spec(self) -> dict:
        m = self.model
        spec = {
            HISTORY_DATES: tf.TensorSpec([None, None], tf.string),
            HISTORY_VALUES: tf.TensorSpec([None, None], tf.float32),
            FORECAST_START: tf.TensorSpec([None], tf.string),
        }
        for name in m.names["keys"] + m.names["static"]:
            spec[name] = tf.TensorSpec([None], tf.string)
        for name in m.names["history_known"] + m.names["past"]:
            spec[name] = tf.TensorSpec([None, None], tf.float32)
        for name in m.names["future_known"]:
            spec[name] = tf.TensorSpec([None, m.horizon], tf.float32)
        return spec

    def signatures(self) -> dict:
        if not hasattr(self, "_signatures"):
            self._signatures = {
                "serving_default": dict_signature(self._raw_fn, self._raw_spec()),
                "forecast_grid": dict_signature(self._grid_fn, self.model.input_spec_dict()),
            }
        return self._signatures

    def mobile_signatures(self) -> dict:
        if not hasattr(self, "_mobile"):
            spec = dict(self.model.input_spec_dict())
            spec[SERIES_ID] = tf.TensorSpec([None], tf.string)
            self._mobile = {"mobile": dict_signature(self._mobile_fn, spec)}
        return self._mobile

    # --- Example requests -------------------------------------------------

    def example_inputs(self, batch: int = 2, start: str = "2024-01-01") -> dict[str, dict[str, np.ndarray]]:
        """Example requests for each signature (known and unknown series)."""
        m = self.model
        lh, h, step = m.history_length, m.horizon, m.step_days
        start_day = int((np.datetime64(start, "D") - np.datetime64("1970-01-01", "D")).astype(int))
        rng = np.random.default_rng(0)
        hist_days = start_day + step * (np.arange(lh) - lh)
        level = m.global_scale
        values = (level * (1 + 0.2 * rng.standard_normal((batch, lh)))).astype(np.float32)
        keys = {}
        for name in m.names["keys"] + m.names["static"]:
            vocab = m.vocabularies.get(name) or ["x"]
            keys[name] = np.array([vocab[i % len(vocab)] if i < batch - 1 else "__unknown__" for i in range(batch)])
        known_series = [m.series_ids[0] if m.series_ids else ""] * (batch - 1) + ["__unknown__"]
        grid = {
            HISTORY: values,
            START_DAY: np.full(batch, start_day, np.int32),
            **keys,
        }
        raw_dates = np.datetime64("1970-01-01", "D") + hist_days
        raw = {
            HISTORY_DATES: np.tile(raw_dates.astype(str), (batch, 1)),
            HISTORY_VALUES: values,
            FORECAST_START: np.array([start] * batch),
            **keys,
        }
        for col, name in zip(m.known_cols, m.names["history_known"]):
            mean, std = m.covariate_stats.get(col, [0.0, 1.0])
            grid[name] = raw[name] = np.full((batch, lh), mean, np.float32)
        for col, name in zip(m.past_cols, m.names["past"]):
            mean, std = m.covariate_stats.get(col, [0.0, 1.0])
            grid[name] = raw[name] = np.full((batch, lh), mean, np.float32)
        for col, name in zip(m.known_cols, m.names["future_known"]):
            mean, std = m.covariate_stats.get(col, [0.0, 1.0])
            grid[name] = raw[name] = np.full((batch, h), mean, np.float32)
        mobile = dict(grid)
        mobile[SERIES_ID] = np.array(known_series)
        return {"serving_default": raw, "forecast_grid": grid, "mobile": mobile}

    def mobile_inputs(self) -> dict[str, np.ndarray]:
        return self.example_inputs(batch=4)["mobile"]

    def warmup_inputs(self) -> dict[str, dict[str, np.ndarray]]:
        ex = self.example_inputs()
        return {"serving_default": ex["serving_default"], "forecast_grid": ex["forecast_grid"]}


# An ensemble takes and returns what one forecaster does: the same signatures.
register_servable(SalesForecasterEnsemble)(SalesForecasterServable)
