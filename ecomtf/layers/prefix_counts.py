"""Counts and recency per event type of a behaviour prefix, computed in the graph."""

import math

import tensorflow as tf

#: Seconds used for "this event type never occurred" (log1p(1e6) ~ 13.8).
NEVER_SECONDS = 1e6


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class PrefixCounts(tf.keras.layers.Layer):
    """Raw sequence -> the count-rule features of ``purchase_baselines``, scaled.

    The wide part of a purchase model: what "number of carts so far" and "how
    recently did they cart" say, in features a linear layer can use exactly,
    so a model trained end to end is never behind such a rule. Computed from
    the raw request inputs inside the graph, so serving and TFLite stay
    raw-in. Per event type of ``event_vocabulary``: ``log1p(count)``,
    ``-steps since its last occurrence / (max_len + 1)`` (-1 if none) and
    ``-log1p(seconds since) / log1p(1e6)`` (-1 if none); then
    ``log1p(events)`` and ``log1p(distinct items)``. These are the columns of
    ``ecomtf.evaluation.purchase_baselines.prefix_count_features``, rescaled.

    Args:
        event_vocabulary: the event types described (others are ignored).
        max_len: the sequence length the model reads (scales recency).

    Call arguments:
        item_ids: string ``[batch, steps]``, ``""`` padding.
        event_types: string ``[batch, steps]``.
        time_delta: optional float ``[batch, steps]``, seconds since the
            previous event (0 at padding).

    Returns:
        float ``[batch, 3 * len(event_vocabulary) + 2]``.

    Example:
        >>> layer = PrefixCounts(["view", "cart"], max_len=3)
        >>> layer(tf.constant([["", "a", "a"]]), tf.constant([["", "view", "cart"]])).shape
        TensorShape([1, 8])
    """

    def __init__(self, event_vocabulary, max_len: int, **kwargs):
        super().__init__(**kwargs)
        self.event_vocabulary = [str(v) for v in event_vocabulary]
        self.max_len = int(max_len)

    @property
    def width(self) -> int:
        return 3 * len(self.event_vocabulary) + 2

    def call(self, item_ids, event_types, time_delta=None):
        # Keras builds a reloaded model with float placeholders; real inputs are strings.
        if item_ids.dtype != tf.string:
            item_ids = tf.strings.as_string(item_ids)
        if event_types.dtype != tf.string:
            event_types = tf.strings.as_string(event_types)
        real = tf.not_equal(item_ids, "")
        realf = tf.cast(real, tf.float32)
        # Real steps after each step: recency that ignores where the padding
        # is, and the last ``max_len`` real steps are the ones the encoder reads.
        back = tf.cumsum(realf, axis=1, exclusive=True, reverse=True)
        keep = tf.logical_and(real, back < float(self.max_len))
        if time_delta is None:
            after = tf.zeros_like(realf)
        else:
            delta = tf.where(real, tf.cast(time_delta, tf.float32), 0.0)
            after = tf.cumsum(delta, axis=1, exclusive=True, reverse=True)
        never_steps = float(self.max_len + 1)
        parts = []
        for e in self.event_vocabulary:
            hit = tf.logical_and(keep, tf.equal(event_types, e))
            count = tf.reduce_sum(tf.cast(hit, tf.float32), axis=1)
            since = tf.reduce_min(tf.where(hit, back, never_steps), axis=1)
            seconds = tf.reduce_min(tf.where(hit, after, NEVER_SECONDS), axis=1)
            parts += [
                tf.math.log(1.0 + count),
                -since / never_steps,
                -tf.math.log(1.0 + tf.maximum(seconds, 0.0)) / math.log1p(NEVER_SECONDS),
            ]
        events = tf.reduce_sum(tf.cast(keep, tf.float32), axis=1)
        # A step is a new item if no earlier kept step has the same id.
        steps = tf.shape(item_ids)[1]
        same = tf.equal(item_ids[:, :, None], item_ids[:, None, :])
        earlier = tf.range(steps)[None, :] < tf.range(steps)[:, None]  # [t, s]: s < t
        repeat = tf.reduce_any(
            tf.logical_and(tf.logical_and(same, earlier[None]), keep[:, None, :]), axis=2)
        distinct = tf.reduce_sum(tf.cast(tf.logical_and(keep, tf.logical_not(repeat)), tf.float32),
                                 axis=1)
        parts += [tf.math.log(1.0 + events), tf.math.log(1.0 + distinct)]
        return tf.stack(parts, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({"event_vocabulary": self.event_vocabulary, "max_len": self.max_len})
        return config
