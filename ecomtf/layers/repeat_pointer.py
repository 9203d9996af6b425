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
    A recommender puts these logits in one softmax with the catalog
    (explore) logits: ``P(item) ∝ exp(explore_item) + sum_{j: x_j = item}
    exp(r_j)``, so the gate is the learned repeat-vs-explore mixture and the
    model can say "show them what they were just looking at".

    Only MatMul/Gather-type ops: converts to TFLite builtins.

    Args:
        dim: size of the query and key projections.
        max_len: distances back with their own recency weight (longer ones
            share the last).

    Call arguments:
        queries: float ``[batch, queries, dim]`` query states.
        keys: float ``[batch, steps, dim]`` step embeddings.
        key_mask: bool ``[batch, steps]``, True for steps that may be copied.
        query_steps: int ``[queries]``, the step index of each query
            (a query sees steps ``<=`` its own).

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

    def __init__(self, dim: int, max_len: int, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.max_len = int(max_len)
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
        super().build(input_shape)

    def call(self, queries, keys, key_mask, query_steps):
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
        return tf.where(allowed, logits, MASKED)

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim, "max_len": self.max_len})
        return config
