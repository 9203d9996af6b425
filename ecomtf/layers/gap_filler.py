"""Applies a sales table's fill policy to raw history in the graph."""

from __future__ import annotations

import tensorflow as tf

FILL_POLICIES = ("zero", "ffill", "nan")


def _cummax_index(valid):
    """For each step, the index of the last valid step at or before it (-1: none).

    A log-step doubling scan (pad, slice, maximum): no cumulative-max op is
    needed, so it converts to TFLite builtins.
    """
    length = valid.shape[-1]
    positions = tf.range(length, dtype=tf.int32)[None, :]
    idx = tf.where(valid, positions + tf.zeros_like(tf.cast(valid, tf.int32)), -1)
    shift = 1
    while shift < length:
        shifted = tf.pad(idx[:, :-shift], [[0, 0], [shift, 0]], constant_values=-1)
        idx = tf.maximum(idx, shifted)
        shift *= 2
    return idx


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class GapFiller(tf.keras.layers.Layer):
    """Fills gaps in raw history the way the training table was filled.

    A sales table fills dates with no row by a policy (see
    ``ecomtf.data.SalesTable``); a serving client sends raw history with the
    same gaps, so the model applies the same policy in the graph and sees what
    it saw in training. Steps before a series' first value stay unknown.

    Args:
        fill: ``"zero"`` (gaps after the first value are 0), ``"ffill"``
            (gaps repeat the previous value) or ``"nan"`` (gaps stay unknown).

    Call arguments:
        values: float32 ``[batch, steps]``, NaN where there is no data.

    Returns:
        ``(filled, known)``: values with gaps filled and unknown steps set to 0,
        and a float32 0/1 mask of the steps that carry a value.

    Example:
        >>> x = tf.constant([[float("nan"), 2.0, float("nan"), 5.0]])
        >>> filled, known = GapFiller("ffill")(x)
        >>> filled.numpy().tolist(), known.numpy().tolist()
        ([[0.0, 2.0, 2.0, 5.0]], [[0.0, 1.0, 1.0, 1.0]])
    """

    def __init__(self, fill: str = "zero", **kwargs):
        super().__init__(**kwargs)
        if fill not in FILL_POLICIES:
            raise ValueError(f"fill must be one of {FILL_POLICIES}, got {fill!r}")
        self.fill = fill

    def call(self, values):
        values = tf.convert_to_tensor(values, tf.float32)
        # x == x is False only for NaN; TFLite has no IsFinite kernel.
        valid = tf.equal(values, values)
        clean = tf.where(valid, values, tf.zeros_like(values))
        if self.fill == "nan":
            return clean, tf.cast(valid, tf.float32)
        last = _cummax_index(valid)
        started = last >= 0
        if self.fill == "zero":
            return clean, tf.cast(started, tf.float32)
        filled = tf.gather(clean, tf.maximum(last, 0), batch_dims=1)
        filled = tf.where(started, filled, tf.zeros_like(filled))
        return filled, tf.cast(started, tf.float32)

    def get_config(self):
        config = super().get_config()
        config["fill"] = self.fill
        return config


def fill_covariate(values, flag: bool = False):
    """Fills gaps in a covariate's raw history the way ``SalesTable`` does.

    The table forward- then back-fills known and past covariates within each
    series, and sets a missing holiday flag to 0. The model applies the same
    rule in its graph, so a client sending raw rows with gaps gets the
    forecast the batch path (``forecast.csv``) computes from the table: one
    preprocessing path. A row with no value at all stays NaN (the model then
    reads the training mean).

    Args:
        values: float32 ``[batch, steps]``, NaN where there is no row.
        flag: a 0/1 flag column: gaps are 0 instead of filled.

    Returns:
        float32 ``[batch, steps]``.
    """
    values = tf.convert_to_tensor(values, tf.float32)
    valid = tf.equal(values, values)
    clean = tf.where(valid, values, tf.zeros_like(values))
    if flag:
        return clean
    last = _cummax_index(valid)
    forward = tf.gather(clean, tf.maximum(last, 0), batch_dims=1)
    # Back-fill: the first value fills the steps before it.
    first_valid = _cummax_index(tf.reverse(valid, axis=[1]))
    backward = tf.reverse(tf.gather(tf.reverse(clean, axis=[1]), tf.maximum(first_valid, 0), batch_dims=1), axis=[1])
    has_any = tf.reduce_any(valid, axis=1, keepdims=True)
    filled = tf.where(last >= 0, forward, backward)
    return tf.where(has_any, filled, tf.fill(tf.shape(values), float("nan")))
