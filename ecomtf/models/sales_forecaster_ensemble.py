"""Several SalesForecasters (e.g. seeds) averaged in one graph."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from ecomtf.models.sales_forecaster import SalesForecaster

# What the servable, the backtest and the recipe read from a forecaster; the
# members share them (same table, same settings), the ensemble exposes them.
_SHARED = ("horizon", "lookback", "history_length", "freq", "step_days", "names", "quantiles", "key_cols",
           "static_cols", "known_cols", "past_cols", "vocabularies", "series_ids", "series_scales",
           "global_scale", "covariate_stats", "nonnegative", "trained_until", "fill", "flag_cols",
           "calibration_window")


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class SalesForecasterEnsemble(tf.keras.Model):
    """Sales forecasters trained alike (different seeds), averaged in one graph.

    A single forecaster's figures move with its seed (the issue measured a
    WMAE range of 1,774-1,827 over 9 runs of one command); the average of a
    few seeds is steadier and usually better. Each quantile is averaged over
    the members (quantile averaging keeps the order; or their median,
    ``combine="median"``), then the ensemble's
    own calibration offsets apply, so it backtests, calibrates, exports
    (``SalesForecasterServable``: the same signatures) and converts to TFLite
    like one forecaster, as ``IntentEnsemble`` does for intent models.

    Args:
        models: two or more ``SalesForecaster`` built from the same table and
            settings (same horizon, history length, inputs and quantiles).
        quantile_offsets: ``[horizon, Q]`` calibration offsets of the
            average (see ``SalesForecaster``).
        combine: ``"mean"`` (default) averages each quantile over the
            members; ``"median"`` takes their median (the mean of the two
            middle members for an even count), so one member that trained
            badly does not pull the forecast. Both keep the quantiles ordered
            (order statistics of ordered vectors stay ordered).

    Call arguments:
        inputs: as for ``SalesForecaster``.
        training: training mode (members run in it; nothing is calibrated).

    Returns:
        dict: ``quantiles`` ``[B, horizon, Q]``, ``forecast`` (P50),
        ``scale`` and ``calibration_scale`` (the first member's).

    Example:
        >>> models = [recipes.forecast.fit(table, horizon=8, seed=s)[0] for s in range(3)]
        >>> ensemble = SalesForecasterEnsemble(models)
        >>> ecomtf.export.save_for_serving(ensemble, "export/sales_forecaster")
    """

    def __init__(self, models: Sequence[SalesForecaster], quantile_offsets=None, combine: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if combine not in ("mean", "median"):
            raise ValueError(f"combine must be 'mean' or 'median', got {combine!r}")
        self.combine = combine
        models = [tf.keras.layers.deserialize(m) if isinstance(m, dict) else m for m in models]
        if len(models) < 2:
            raise ValueError("a SalesForecasterEnsemble needs at least two forecasters")
        if not all(isinstance(m, SalesForecaster) for m in models):
            raise ValueError("SalesForecasterEnsemble joins SalesForecaster models")
        first = models[0]
        for m in models[1:]:
            for attr in ("horizon", "history_length", "names", "quantiles", "freq", "calibration_window"):
                if getattr(m, attr) != getattr(first, attr):
                    raise ValueError(f"the forecasters differ in {attr}; train them on one table with one setting")
        self.models = list(models)
        for attr in _SHARED:
            setattr(self, attr, getattr(first, attr))
        self.median_index = first.head.median_index
        offsets = np.zeros((self.horizon, len(self.quantiles)), np.float32)
        if quantile_offsets is not None:
            offsets = np.asarray(quantile_offsets, np.float32).reshape(offsets.shape)
        self.offsets = self.add_weight(name="quantile_offsets", shape=offsets.shape,
                                       initializer=tf.keras.initializers.Constant(offsets), trainable=False)

    @property
    def member_count(self) -> int:
        return len(self.models)

    @property
    def quantile_names(self) -> list[str]:
        return self.models[0].quantile_names

    def input_spec_dict(self) -> dict:
        return self.models[0].input_spec_dict()

    def call(self, inputs, training=None):
        return self.forecast(inputs, training=training)

    def forecast(self, inputs, training=None, unroll: bool = False) -> dict:
        outs = [m.forecast(inputs, training=training, unroll=unroll) for m in self.models]
        if self.combine == "median":
            # Members on the last axis, sorted; the middle one (or two).
            ordered = tf.sort(tf.stack([o["quantiles"] for o in outs], axis=-1), axis=-1)
            n = len(outs)
            quantiles = (ordered[..., (n - 1) // 2] + ordered[..., n // 2]) / 2.0
        else:
            quantiles = tf.add_n([o["quantiles"] for o in outs]) / float(len(outs))
        scale = outs[0]["scale"]
        # The members share the calibration unit's setting (one table, one setting).
        unit = outs[0]["calibration_scale"]
        if not training:
            quantiles = SalesForecaster._calibrate(self, quantiles, unit)
            if self.nonnegative:
                quantiles = tf.nn.relu(quantiles)
        return {"quantiles": quantiles, "forecast": quantiles[..., self.median_index], "scale": scale,
                "calibration_scale": unit}

    # SalesForecaster._calibrate reads ``self.head.median_index``.
    @property
    def head(self):
        return self.models[0].head

    def set_quantile_offsets(self, offsets) -> None:
        self.offsets.assign(np.asarray(offsets, np.float32).reshape(self.horizon, len(self.quantiles)))

    def get_config(self):
        return {
            "name": self.name,
            "models": [tf.keras.layers.serialize(m) for m in self.models],
            "quantile_offsets": self.offsets.numpy().tolist(),
            "combine": self.combine,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
