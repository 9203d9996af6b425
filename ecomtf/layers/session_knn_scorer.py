"""Session-kNN (V-SKNN-like) mixture component of a next-item recommender."""

import numpy as np
import tensorflow as tf

from ecomtf.layers.mixture_terms import component_target_terms, history_windows
from ecomtf.layers.repeat_pointer import MASKED


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class SessionKnnScorer(tf.keras.layers.Layer):
    """Scores the catalog from the stored training sessions most similar to the query.

    The session-kNN half of a hybrid recommender (V-SKNN, Ludewig and
    Jannach 2018, in the graph): the last ``history`` distinct items of the
    query weigh ``exp(log_weight[d])`` at ``d`` steps back (learned, starting
    at V-SKNN's linear decay); a stored session's similarity is the sum of
    the weights of the query items it holds; the ``k`` most similar stored
    sessions vote for each of their items with their similarity (divided by
    the session's number of distinct items to the power ``length_power``: 0
    is V-SKNN, 1 lets each neighbour spread its similarity over its items),
    and the votes, normalized to sum to one, are a distribution over the catalog. A
    learned gate ``g(h)`` on the query state gives that distribution its
    mass in the recommender's softmax next to the explore, copy and
    neighbour terms: ``P(item) ∝ ... + exp(g(h)) * votes_item / sum(votes)``.

    The store is two non-trainable weights filled by ``set_sessions`` from
    the training sequences: ``session_items`` ``[sessions, length]`` (each
    session's distinct item columns, ``-1`` padding) and ``item_sessions``
    ``[num_items, postings]`` (the most recent sessions holding each item,
    ``-1`` padding), so the SavedModel and the TFLite file carry them; the
    graph uses gathers, scatters, ``top_k`` and elementwise ops, all TFLite
    builtins.

    A training row must not find its own session in the store (it holds the
    very target): ``target_terms`` takes each row's session index and leaves
    that session out, as a new session is absent from the store at serving.

    The gate is learned next to a catalog head that has seen the training
    targets, so it undervalues the component on new sessions; ``offset``
    (a non-trainable weight, set from validation data, never from the scored
    set) is added to the gate when scoring (``catalog_log_mass``), not in
    the training loss.

    Args:
        num_items: catalog size (score columns).
        num_sessions: stored sessions.
        length: distinct items kept per stored session.
        postings: stored sessions listed per item.
        k: most similar sessions that vote.
        history: most recent query steps that weigh in the similarity.
        offset: added to the log gate when scoring.
        length_power: a neighbour's vote per item is its similarity over its
            distinct item count to this power.

    Call arguments (``catalog_log_mass``):
        query: float ``[batch, dim]`` state after the last step.
        cols: int ``[batch, steps]`` score column of each step (negative for
            padding and unknown items), oldest first.

    Example:
        >>> scorer = SessionKnnScorer(num_items=3, num_sessions=2, length=2, postings=2, k=1)
        >>> scorer.set_sessions([[0, 1], [1, 2]], [[0, -1], [0, 1], [1, -1]])
        >>> scorer.catalog_log_mass(tf.ones([1, 4]), tf.constant([[-2, 2]])).shape
        TensorShape([1, 3])
    """

    def __init__(self, num_items: int, num_sessions: int, length: int, postings: int, k: int = 100,
                 history: int = 10, offset: float = 0.0, length_power: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_items = int(num_items)
        self.num_sessions = int(num_sessions)
        self.length = int(length)
        self.postings = int(postings)
        self.k = int(k)
        self.history = int(history)
        self.offset = float(offset)
        self.length_power = float(length_power)
        self.gate = tf.keras.layers.Dense(1, name="gate")

    def build(self, input_shape=None):
        empty = tf.keras.initializers.Constant(-1)
        self.session_items = self.add_weight(name="session_items", shape=[self.num_sessions, self.length],
                                             dtype=tf.int32, initializer=empty, trainable=False)
        self.item_sessions = self.add_weight(name="item_sessions", shape=[self.num_items, self.postings],
                                             dtype=tf.int32, initializer=empty, trainable=False)
        # V-SKNN weighs the query's steps linearly, the most recent 1.
        start = [np.log((self.history - d) / self.history) for d in range(self.history)]
        self.log_weight = self.add_weight(name="log_weight", shape=[self.history],
                                          initializer=tf.keras.initializers.Constant(start))
        self.serving_offset = self.add_weight(name="serving_offset", shape=[],
                                              initializer=tf.keras.initializers.Constant(self.offset),
                                              trainable=False)
        super().build(input_shape)

    def set_sessions(self, session_items, item_sessions):
        """Fills the store: ``[num_sessions, length]`` item columns and ``[num_items, postings]`` sessions."""
        if not self.built:
            self.build()
        self.session_items.assign(tf.cast(session_items, tf.int32))
        self.item_sessions.assign(tf.cast(item_sessions, tf.int32))

    def _neighbors(self, back, own=None):
        """Top-k stored sessions ``(ids, similarities)``, each ``[queries, k]``, of columns ``[queries, history]``.

        ``back`` is in distance order (most recent first); a repeated item
        counts once, at its most recent step (as in V-SKNN).
        """
        queries = tf.shape(back)[0]
        same = tf.equal(tf.expand_dims(back, 2), tf.expand_dims(back, 1))  # [q, d, d']
        earlier = tf.constant(np.tril(np.ones([self.history, self.history]), -1), tf.float32)
        repeated = tf.reduce_sum(tf.cast(same, tf.float32) * earlier, axis=2) > 0.0  # seen more recently
        keep = tf.logical_and(back >= 0, tf.logical_not(repeated))
        w = tf.cast(keep, tf.float32) * tf.exp(self.log_weight)  # [q, history]
        sessions = tf.gather(self.item_sessions, tf.maximum(back, 0))  # [q, history, postings]
        sw = tf.expand_dims(w, -1) * tf.cast(sessions >= 0, tf.float32)
        rows = tf.tile(tf.reshape(tf.range(queries), [-1, 1, 1]), [1, self.history, self.postings])
        index = tf.stack([tf.reshape(rows, [-1]), tf.reshape(tf.maximum(sessions, 0), [-1])], axis=-1)
        sim = tf.scatter_nd(index, tf.reshape(sw, [-1]), tf.stack([queries, self.num_sessions]))
        if own is not None:
            sim *= tf.cast(tf.not_equal(tf.range(self.num_sessions)[None, :], own[:, None]), tf.float32)
        top = tf.math.top_k(sim, k=min(self.k, self.num_sessions))
        return top.indices, top.values

    def _item_votes(self, sims, items):
        """Vote ``[..., k, length]`` of each neighbour's items: its similarity over its size to ``length_power``."""
        real = tf.cast(items >= 0, tf.float32)
        if self.length_power:
            size = tf.maximum(tf.reduce_sum(real, axis=-1), 1.0)  # [..., k]
            sims = sims * tf.exp(-self.length_power * tf.math.log(size))
        return tf.expand_dims(sims, -1) * real

    def _back(self, cols):
        batch = tf.shape(cols)[0]
        padded = tf.concat([tf.fill([batch, self.history], -1), tf.cast(cols, tf.int32)], axis=1)
        return tf.reverse(padded[:, -self.history :], axis=[1])  # distance 0 first

    def catalog_log_share(self, cols):
        """``[batch, num_items]`` log of each item's share of the normalized votes, ``MASKED`` where it has none."""
        if not self.built:
            self.build()
        ids, sims = self._neighbors(self._back(cols))
        items = tf.gather(self.session_items, ids)  # [batch, k, length]
        w = self._item_votes(sims, items)
        batch, width = tf.shape(items)[0], tf.shape(items)[1] * self.length
        rows = tf.tile(tf.expand_dims(tf.range(batch), 1), [1, width])
        index = tf.stack([rows, tf.reshape(tf.maximum(items, 0), [batch, -1])], axis=-1)
        votes = tf.scatter_nd(index, tf.reshape(w, [batch, -1]), tf.stack([batch, self.num_items]))
        total = tf.reduce_sum(w, axis=[1, 2])
        has = votes > 0.0
        share = tf.where(has, votes, 1.0) / tf.expand_dims(tf.where(total > 0.0, total, 1.0), 1)
        return tf.where(has, tf.math.log(share), MASKED)

    def catalog_log_mass(self, query, cols, log_share=None):
        """``[batch, num_items]`` log of each item's session-kNN mass, ``MASKED`` where it has none.

        ``log_share``: ``catalog_log_share(cols)`` when already computed.
        """
        log_share = self.catalog_log_share(cols) if log_share is None else log_share
        return tf.where(log_share > MASKED / 2, self.gate(query) + self.serving_offset + log_share, MASKED)

    def target_terms(self, states, cols, valid, labels, own=None):
        """Loss terms of every training position: ``(gate, target_log_mass)``, each ``[positions]``.

        Args:
            states: float ``[positions, dim]`` states of the valid positions.
            cols: int ``[batch, steps]`` columns of the input steps.
            valid: bool ``[batch, steps]`` positions with a trainable label.
            labels: int ``[positions]`` label columns.
            own: optional int ``[batch]`` stored-session index of each row,
                left out of its neighbours (``-1``: none).
        """
        if not self.built:
            self.build()
        back, own = history_windows(cols, valid, self.history, own)  # [positions, history]
        ids, sims = self._neighbors(back, own)
        items = tf.gather(self.session_items, ids)  # [positions, k, length]
        w = self._item_votes(sims, items)
        hit = w * tf.cast(tf.equal(items, labels[:, None, None]), tf.float32)
        return component_target_terms(self.gate(states)[:, 0], w, hit)

    def get_config(self):
        config = super().get_config()
        config.update({"num_items": self.num_items, "num_sessions": self.num_sessions, "length": self.length,
                       "postings": self.postings, "k": self.k, "history": self.history,
                       "offset": float(self.serving_offset.numpy()) if self.built else self.offset,
                       "length_power": self.length_power})
        return config

