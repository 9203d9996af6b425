"""Repeat (copy) logits over the steps of a behaviour sequence."""

import tensorflow as tf

#: Logit of a step that cannot be copied (padding, future, unknown item).
MASKED = -1e9


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class RepeatPointer(tf.keras.layers.Layer):
    """Scores every earlier step of a sequence as "the next item is this one again".

    The repeat half of a repeat/explore recommender (RepeatNet-style): for a
    query state ``h`` (the encoder output at a step) and each earlier step
    ``j`` with input embedding ``x_j`` (item + event type + time gap, so a
    cart weighs differently from a view), the copy logit is::

        r_j = (W_q h) . (W_k x_j) / sqrt(dim) + recency[distance_j] + gate(h)

    ``recency`` is a learned scalar per distance back (0 = the query's own
    step), and ``gate(h)`` is a learned scalar shared by the query's steps.

    With ``by_item=True`` (and ``key_items`` given) each distinct item is
    copied once, from its most recent step up to the query, with
    ``count_weight * log(times seen so far)`` added: the repeat rule's
    "most recent first" is then one recency curve, whatever how often the
    item was re-viewed in between (per step, an item viewed 5 times long ago
    and one viewed once just now compete through 5 separate old steps).
    A recommender puts these logits in one softmax with the catalog
    (explore) logits: ``P(item) ∝ exp(explore_item) + sum_{j: x_j = item}
    exp(r_j)``, so the gate is the learned repeat-vs-explore mixture and the
    model can say "show them what they were just looking at".

    Only MatMul/Gather-type ops: converts to TFLite builtins.

    Args:
        dim: size of the query and key projections.
        max_len: distances back with their own recency weight (longer ones
            share the last).
        by_item: copy each distinct item once, from its latest step, with a
            learned weight on the log of its count (needs ``key_items``).

    Call arguments:
        queries: float ``[batch, queries, dim]`` query states.
        keys: float ``[batch, steps, dim]`` step embeddings.
        key_mask: bool ``[batch, steps]``, True for steps that may be copied.
        query_steps: int ``[queries]``, the step index of each query
            (a query sees steps ``<=`` its own).
        key_items: int ``[batch, steps]`` item of each step (any id; only
            equality matters), used with ``by_item``.

    Returns:
        float ``[batch, queries, steps]`` copy logits, ``MASKED`` where a step
        may not be copied.

    Example:
        >>> ptr = RepeatPointer(dim=8, max_len=4)
        >>> ptr(tf.ones([2, 1, 8]), tf.ones([2, 4, 8]), tf.ones([2, 4], bool),
        ...     tf.constant([3])).shape
        TensorShape([2, 1, 4])

    Reference:
        Ren et al., "RepeatNet: A Repeat Aware Neural Recommendation Machine
        for Session-based Recommendation", AAAI 2019.
    """

    def __init__(self, dim: int, max_len: int, by_item: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.max_len = int(max_len)
        self.by_item = bool(by_item)
        self.query_proj = tf.keras.layers.Dense(self.dim, use_bias=False, name="query")
        self.key_proj = tf.keras.layers.Dense(self.dim, use_bias=False, name="key")
        self.gate = tf.keras.layers.Dense(1, name="gate")

    def build(self, input_shape=None):
        # Starts favouring the most recent steps, as the repeat rule does.
        self.recency = self.add_weight(
            name="recency", shape=[self.max_len],
            initializer=tf.keras.initializers.Constant(
                [1.0 / (1.0 + d) for d in range(self.max_len)]),
        )
        if self.by_item:
            # 1.0: exp(log count) is the per-step model's sum over occurrences.
            self.count_weight = self.add_weight(
                name="count_weight", shape=[], initializer=tf.keras.initializers.Constant(1.0))
        super().build(input_shape)

    def call(self, queries, keys, key_mask, query_steps, key_items=None):
        if not self.built:
            self.build()
        q = self.query_proj(queries)
        k = self.key_proj(keys)
        logits = tf.matmul(q, k, transpose_b=True) / float(self.dim) ** 0.5
        steps = tf.shape(keys)[1]
        distance = tf.cast(query_steps, tf.int32)[:, None] - tf.range(steps)[None, :]
        logits += tf.gather(self.recency, tf.clip_by_value(distance, 0, self.max_len - 1))[None]
        logits += self.gate(queries)
        allowed = tf.logical_and(key_mask[:, None, :], (distance >= 0)[None])
        if self.by_item and key_items is not None:
            # same[b, j, k]: steps j and k hold the same copyable item.
            same = tf.cast(tf.logical_and(
                tf.equal(key_items[:, :, None], key_items[:, None, :]),
                tf.logical_and(key_mask[:, :, None], key_mask[:, None, :])), tf.float32)
            # Occurrences up to each query [b, q, j], and up to j itself [b, j]:
            # j is its item's latest step before the query when they are equal.
            upto_query = tf.cast(distance >= 0, tf.float32)  # [q, k]: k <= query
            seen = tf.matmul(upto_query[None], same)  # same is symmetric
            lower = tf.cast(tf.range(steps)[:, None] >= tf.range(steps)[None, :], tf.float32)
            own = tf.reduce_sum(same * lower[None], axis=2)  # occurrences up to j itself
            latest = tf.equal(seen, own[:, None, :])
            logits += self.count_weight * tf.math.log(tf.maximum(seen, 1.0))
            allowed = tf.logical_and(allowed, latest)
        return tf.where(allowed, logits, MASKED)

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim, "max_len": self.max_len, "by_item": self.by_item})
        return config
