"""Neighbour (item-to-item co-occurrence) mixture component of a next-item recommender."""

import math

import tensorflow as tf

from ecomtf.layers.mixture_terms import component_target_terms, history_windows
from ecomtf.layers.repeat_pointer import MASKED


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class NeighborScorer(tf.keras.layers.Layer):
    """Scores the catalog from a constant top-K neighbour table and the last steps.

    The neighbourhood half of a hybrid recommender: each of the last
    ``history`` items of a sequence votes for its ``k`` table neighbours with
    the table weight times a learned recency weight (``exp(log_decay[d])``
    at ``d`` steps back, starting at ``decay ** d`` as the co-occurrence
    baseline and V-SKNN weigh the recent items), and the votes, normalized
    to sum to one, are a distribution over the catalog. A learned gate
    ``g(h)`` on the query state gives that distribution its mass in the
    recommender's softmax, next to the catalog (explore) logits and the copy
    (repeat) logits: ``P(item) ∝ exp(explore_item) + copy mass +
    exp(g(h)) * votes_item / sum(votes)``.

    The table (``neighbor_ids``, ``neighbor_weights``, ``[num_items, k]``) is
    a non-trainable weight filled by ``set_table`` from training statistics
    (``ecomtf.data.item_neighbors.item_neighbor_table``), so the exported
    SavedModel and the TFLite file carry it; only gathers, a scatter and
    elementwise ops, all TFLite builtins.

    Training must not see a table that counted the very transitions it is
    trained on (the gate would learn to trust it far more than it deserves
    on new sequences): ``set_table`` also takes cross-fitted tables, one per
    fold of the training sequences, each built without that fold, and the
    loss terms read the table of the row's fold.

    Args:
        num_items: catalog size (table rows, score columns).
        k: neighbours per item.
        history: most recent steps that vote.
        decay: initial recency weight factor per step back.
        offset: added to the log gate when scoring (``catalog_log_mass``),
            not in the training loss: the gate is learned next to a catalog
            head that has seen the training targets, so it can undervalue
            the table on new sequences; set it from validation data.

    Call arguments (``catalog_log_mass``):
        query: float ``[batch, dim]`` state after the last step.
        cols: int ``[batch, steps]`` score column of each step (negative for
            padding and unknown items), oldest first.

    Example:
        >>> scorer = NeighborScorer(num_items=3, k=2, history=2)
        >>> scorer.set_table([[1, 2], [0, 0], [0, 0]], [[1.0, 0.5], [0, 0], [0, 0]])
        >>> scorer.catalog_log_mass(tf.ones([1, 4]), tf.constant([[-2, 0]])).shape
        TensorShape([1, 3])
    """

    def __init__(self, num_items: int, k: int, history: int = 10, decay: float = 0.8, offset: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_items = int(num_items)
        self.k = int(k)
        self.history = int(history)
        self.decay = float(decay)
        self.offset = float(offset)
        self.gate = tf.keras.layers.Dense(1, name="gate")
        self._folds = None

    def build(self, input_shape=None):
        self.neighbor_ids = self.add_weight(name="neighbor_ids", shape=[self.num_items, self.k], dtype=tf.int32,
                                            initializer="zeros", trainable=False)
        self.neighbor_weights = self.add_weight(name="neighbor_weights", shape=[self.num_items, self.k],
                                                initializer="zeros", trainable=False)
        self.log_decay = self.add_weight(
            name="log_decay", shape=[self.history],
            initializer=tf.keras.initializers.Constant(
                [d * math.log(max(self.decay, 1e-6)) for d in range(self.history)]))
        super().build(input_shape)

    def set_table(self, ids, weights, fold_ids=None, fold_weights=None):
        """Fills the served table; optional cross-fitted ``[folds, num_items, k]`` tables for training."""
        if not self.built:
            self.build()
        self.neighbor_ids.assign(tf.cast(ids, tf.int32))
        self.neighbor_weights.assign(tf.cast(weights, tf.float32))
        self._folds = None
        if fold_ids is not None:
            self._folds = (tf.constant(fold_ids, tf.int32), tf.constant(fold_weights, tf.float32))

    def _votes(self, back, folds=None):
        """Table ids and decayed weights ``[..., history, k]`` of columns ``[..., history]`` (distance order)."""
        safe = tf.maximum(back, 0)
        if folds is not None and self._folds is not None:
            fold_ids, fold_weights = self._folds
            index = tf.stack([tf.broadcast_to(folds[..., None], tf.shape(safe)), safe], axis=-1)
            ids, w = tf.gather_nd(fold_ids, index), tf.gather_nd(fold_weights, index)
        else:
            ids, w = tf.gather(self.neighbor_ids, safe), tf.gather(self.neighbor_weights, safe)
        # expand_dims, not [..., None]: a new-axis StridedSlice is no TFLite builtin.
        w *= tf.expand_dims(tf.cast(back >= 0, tf.float32), -1) * tf.expand_dims(tf.exp(self.log_decay), -1)
        return ids, w

    def catalog_log_mass(self, query, cols):
        """``[batch, num_items]`` log of each item's neighbour mass, ``MASKED`` where it has none."""
        if not self.built:
            self.build()
        batch = tf.shape(cols)[0]
        padded = tf.concat([tf.fill([batch, self.history], -1), tf.cast(cols, tf.int32)], axis=1)
        back = tf.reverse(padded[:, -self.history :], axis=[1])  # distance 0 first
        ids, w = self._votes(back)
        rows = tf.tile(tf.expand_dims(tf.range(batch), 1), [1, self.history * self.k])
        index = tf.stack([rows, tf.reshape(ids, [batch, -1])], axis=-1)
        votes = tf.scatter_nd(index, tf.reshape(w, [batch, -1]), tf.stack([batch, self.num_items]))
        total = tf.reduce_sum(w, axis=[1, 2], keepdims=True)[:, :, 0]
        has = votes > 0.0
        share = tf.where(has, votes, 1.0) / tf.where(total > 0.0, total, 1.0)
        return tf.where(has, self.gate(query) + self.offset + tf.math.log(share), MASKED)

    def target_terms(self, states, cols, valid, labels, folds=None):
        """Loss terms of every training position: ``(gate, target_log_mass)``, each ``[positions]``.

        ``gate`` is the component's log mass in the softmax's normalizer
        (``MASKED`` where the steps up to the position have no neighbours);
        ``target_log_mass`` the label's share of it (``MASKED`` where none).

        Args:
            states: float ``[positions, dim]`` states of the valid positions.
            cols: int ``[batch, steps]`` columns of the input steps.
            valid: bool ``[batch, steps]`` positions with a trainable label.
            labels: int ``[positions]`` label columns.
            folds: optional int ``[batch]`` fold of each row (cross-fitted tables).
        """
        if not self.built:
            self.build()
        back, folds = history_windows(cols, valid, self.history, folds)  # [positions, history]
        ids, w = self._votes(back, folds)
        hit = w * tf.cast(tf.equal(ids, labels[:, None, None]), tf.float32)
        return component_target_terms(self.gate(states)[:, 0], w, hit)

    def get_config(self):
        config = super().get_config()
        config.update({"num_items": self.num_items, "k": self.k, "history": self.history, "decay": self.decay,
                       "offset": self.offset})
        return config
