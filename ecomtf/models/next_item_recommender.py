"""Next-item recommender: behaviour sequence -> scores for what comes next."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import tensorflow as tf

from ecomtf.layers.causal_self_attention_encoder import CausalSelfAttentionEncoder
from ecomtf.layers.neighbor_scorer import NeighborScorer
from ecomtf.layers.recurrent_sequence_encoder import RecurrentSequenceEncoder
from ecomtf.layers.repeat_pointer import MASKED
from ecomtf.layers.repeat_pointer import RepeatPointer
from ecomtf.layers.session_knn_scorer import SessionKnnScorer

ITEM_ID = "item_id"
EVENT_TYPE = "event_type"
TIME_GAP = "time_gap"
#: Optional training feature: the fold of each row's sequence (cross-fitted neighbour tables).
NEIGHBOR_FOLD = "neighbor_fold"
#: Optional training feature: each row's index in the session-kNN store (left out of its neighbours).
KNN_SESSION = "knn_session"
ENCODERS = ("sasrec", "lstm", "gru")
LOSSES = ("softmax", "sampled_softmax", "in_batch")
# Time-gap buckets (seconds since the previous event): a second, 10 s,
# 30 s, 1-2-5-10-30 min, 1-3-6-12 h, 1-3-7-30 days. Fixed edges need no
# training statistics and convert to TFLite as plain comparisons.
GAP_EDGES = (1, 10, 30, 60, 120, 300, 600, 1800, 3600, 10800, 21600, 43200, 86400, 259200,
             604800, 2592000)


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class NextItemRecommender(tf.keras.Model):
    """Sequence of (item, event type, time gap) -> next-item scores.

    Each step is embedded as item embedding (scaled by sqrt(dim)) + event-type
    embedding + time-gap-bucket embedding, then encoded either by a SASRec
    causal self-attention encoder (``encoder="sasrec"``) or by an LSTM/GRU
    (``"lstm"``/``"gru"``, GRU4Rec-style). The output at each step is scored
    against every item by a dot product with the (shared) item embeddings
    plus a per-item bias.

    Training uses every position: the target of step t is the item at t+1
    (``ecomtf.data.next_item_pipeline.training_examples`` builds such rows).
    The loss is a full softmax over the catalog by default; for catalogs too
    large for that, ``loss="sampled_softmax"`` (log-uniform sampled softmax,
    which assumes the vocabulary is most-frequent-first) or
    ``loss="in_batch"`` (the batch's distinct target items are the
    negatives).

    With ``repeat=True`` the model is repeat-aware (RepeatNet-style): a
    ``RepeatPointer`` scores every input step as "the next item is this one
    again" (from the state, the step's item, event type and time gap, and how
    far back it is) and these copy logits share one softmax with the catalog
    scores, so a learned gate mixes repeat and explore:
    ``P(item) ∝ exp(explore_item) + sum_{steps j with that item} exp(r_j)``.
    The outputs are then ``log(exp(explore) + copy mass)`` per item, still
    logits over the catalog, so serving, exclusions and TFLite are unchanged.

    With ``neighbors=K`` a third component joins the mixture: a
    ``NeighborScorer`` holding a constant top-K item co-occurrence table
    (fitted on the training sequences only by ``fit_neighbors``, which
    ``ecomtf.recipes.next_item.train`` calls) spreads the last
    ``neighbor_history`` items' neighbours over the catalog with learned
    recency weights, and a learned gate gives it its share of the softmax:
    ``P(item) ∝ exp(explore) + copy mass + exp(gate) * neighbour share``. The
    table is a weight of the graph, so the export and the TFLite file carry
    the hybrid (what the co-occurrence baseline and session kNN know) with k
    and exclusions still request inputs.

    With ``session_knn=K`` a fourth component joins: a ``SessionKnnScorer``
    (V-SKNN in the graph) stores the training sequences (``fit_session_knn``,
    which ``ecomtf.recipes.next_item.train`` calls), finds the K stored
    sequences most similar to the query's last ``session_knn_history`` items
    (learned recency weights) and spreads their items over the catalog, with
    a learned gate: ``... + exp(gate) * session-kNN share``. Training rows
    leave their own sequence out of the store (``knn_session`` input).
    ``session_knn_blend=b`` mixes the scored distribution with the
    component's normalized votes at a fixed weight: ``(1 - b) * P(item) + b *
    share(item)``, so the stored sessions' top items keep a place in the
    ranking whatever the learned gate says (a scoring-time change; the
    training loss is the mixture's).

    Inputs are raw: item ids and event types as strings, time gaps in seconds,
    ``[batch, steps]`` with ``""`` padding (anywhere: real steps are moved to
    the end, keeping their order). Unknown ids share one OOV bucket. Only the
    last ``max_len`` real steps are used.

    Args:
        item_vocabulary: item ids known to the model (columns of the scores,
            in this order). Most frequent first suits sampled softmax.
        event_vocabulary: known event types.
        encoder: ``"sasrec"``, ``"lstm"`` or ``"gru"``.
        embedding_dim: size of embeddings and of the encoder state.
        max_len: steps the model reads (and position embeddings).
        num_blocks: self-attention blocks (sasrec).
        num_heads: attention heads (sasrec).
        num_layers: recurrent layers (lstm/gru).
        dropout: dropout rate.
        use_event_types: add event-type embeddings.
        use_time_gaps: add time-gap embeddings.
        loss: ``"softmax"``, ``"sampled_softmax"`` or ``"in_batch"``.
        num_sampled: negatives per batch for ``sampled_softmax``.
        l2: L2 penalty on the item embedding rows used in a batch.
        unroll: unroll the recurrent encoder (the TFLite twin).
        seed: seed of the sampled-softmax sampler.
        repeat: add the repeat (copy) head and its learned gate.
        repeat_by_item: the copy head scores each distinct history item once
            (its latest step, plus a learned weight on its log count) instead
            of every step (see ``RepeatPointer``).
        repeat_item_keys: the copy head's keys include the item embedding
            (True), or only the step's event type and time gap (False): the
            copy score then depends on the state, what was done and when, and
            how far back, not on which item (no per-item memorising of
            "often re-viewed" from sparse training counts).
        neighbors: neighbours per item of the neighbour component (0: off).
        neighbor_history: most recent steps whose neighbours vote.
        neighbor_decay: initial recency weight factor per step back.
        neighbor_window: co-occurrence window of ``fit_neighbors`` (steps;
            pairs in both directions).
        neighbor_folds: cross-fitted training tables (see ``fit_neighbors``;
            10 was better than 2 or 4 on the validation cases of both Taobao
            and DIGINETICA, 20 no better).
        neighbor_offset: added to the neighbour gate when scoring, not in
            training (``NeighborScorer``); choose it on validation data.
        session_knn: most similar stored sequences that vote in the
            session-kNN component (0: off).
        session_knn_history: most recent steps that weigh in the similarity.
        session_knn_offset: added to the session-kNN gate when scoring, not
            in training (``SessionKnnScorer``); choose it on validation data.
        session_knn_length_power: a stored sequence's vote per item is its
            similarity over its distinct item count to this power (0: V-SKNN).
        session_knn_blend: weight in ``[0, 1)`` of the session-kNN share mixed
            into the scored distribution (see above); scoring only, choose it
            on validation data.
        session_knn_sessions, session_knn_length, session_knn_postings: the
            store's shape (sequences, distinct items kept per sequence,
            sequences listed per item); ``from_sequences`` sets them from the
            training sequences.

    Call arguments:
        inputs: dict with ``item_id`` (str), optional ``event_type`` (str) and
            ``time_gap`` (float seconds), each ``[batch, steps]``.
        training: whether dropout is active.

    Returns:
        float ``[batch, len(item_vocabulary)]`` scores (logits) for the item
        after the last step.

    Example:
        >>> model = NextItemRecommender(["a", "b", "c"], ["view"], max_len=4,
        ...                             embedding_dim=8, num_blocks=1)
        >>> model({"item_id": tf.constant([["", "a", "b"]])}).shape
        TensorShape([1, 3])

    Reference:
        Kang and McAuley, "Self-Attentive Sequential Recommendation", ICDM
        2018; Hidasi et al., "Session-based Recommendations with Recurrent
        Neural Networks", ICLR 2016.
    """

    def __init__(
        self,
        item_vocabulary: Sequence[str],
        event_vocabulary: Sequence[str] = (),
        encoder: str = "sasrec",
        embedding_dim: int = 64,
        max_len: int = 50,
        num_blocks: int = 2,
        num_heads: int = 1,
        num_layers: int = 1,
        dropout: float = 0.2,
        use_event_types: bool = True,
        use_time_gaps: bool = True,
        loss: str = "softmax",
        num_sampled: int = 1000,
        l2: float = 0.0,
        unroll: bool = False,
        seed: int | None = None,
        repeat: bool = False,
        repeat_by_item: bool = False,
        repeat_item_keys: bool = True,
        neighbors: int = 0,
        neighbor_history: int = 10,
        neighbor_decay: float = 0.8,
        neighbor_window: int = 10,
        neighbor_folds: int = 10,
        neighbor_offset: float = 0.0,
        session_knn: int = 0,
        session_knn_history: int = 10,
        session_knn_offset: float = 0.0,
        session_knn_length_power: float = 0.0,
        session_knn_blend: float = 0.0,
        session_knn_sessions: int = 1,
        session_knn_length: int = 1,
        session_knn_postings: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.item_vocabulary = [str(v) for v in item_vocabulary]
        if not self.item_vocabulary:
            raise ValueError("item_vocabulary is empty")
        self.event_vocabulary = [str(v) for v in event_vocabulary]
        self.encoder_type = encoder
        self.embedding_dim = int(embedding_dim)
        self.max_len = int(max_len)
        self.num_blocks = int(num_blocks)
        self.num_heads = int(num_heads)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.use_event_types = bool(use_event_types)
        self.use_time_gaps = bool(use_time_gaps)
        self.loss_type = loss
        self.num_sampled = int(num_sampled)
        self.l2 = float(l2)
        self.unroll = bool(unroll)
        self.seed = seed
        self.repeat = bool(repeat)
        self.repeat_by_item = bool(repeat_by_item)
        self.repeat_item_keys = bool(repeat_item_keys)
        self.neighbors = int(neighbors)
        self.neighbor_history = int(neighbor_history)
        self.neighbor_decay = float(neighbor_decay)
        self.neighbor_window = int(neighbor_window)
        self.neighbor_folds = int(neighbor_folds)
        self.neighbor_offset = float(neighbor_offset)
        self.session_knn = int(session_knn)
        self.session_knn_history = int(session_knn_history)
        self.session_knn_offset = float(session_knn_offset)
        self.session_knn_length_power = float(session_knn_length_power)
        if not 0.0 <= float(session_knn_blend) < 1.0:
            raise ValueError(f"session_knn_blend must be in [0, 1), got {session_knn_blend}")
        self.session_knn_blend = float(session_knn_blend)
        self.session_knn_sessions = int(session_knn_sessions)
        self.session_knn_length = int(session_knn_length)
        self.session_knn_postings = int(session_knn_postings)

        # === Layers ===
        # Index 0 = "" padding, 1 = OOV, 2.. = the vocabulary in order.
        self.item_lookup = tf.keras.layers.StringLookup(
            vocabulary=self.item_vocabulary, mask_token="", num_oov_indices=1, name="item_lookup"
        )
        self.item_embedding = tf.keras.layers.Embedding(
            len(self.item_vocabulary) + 2, self.embedding_dim, name="item_embedding"
        )
        if self.use_event_types:
            self.event_lookup = tf.keras.layers.StringLookup(
                vocabulary=self.event_vocabulary or ["view"], mask_token="", num_oov_indices=1,
                name="event_lookup",
            )
            self.event_embedding = tf.keras.layers.Embedding(
                len(self.event_vocabulary or ["view"]) + 2, self.embedding_dim, name="event_embedding"
            )
        if self.use_time_gaps:
            self.gap_embedding = tf.keras.layers.Embedding(
                len(GAP_EDGES) + 1, self.embedding_dim, name="gap_embedding"
            )
        if encoder == "sasrec":
            self.encoder = CausalSelfAttentionEncoder(
                self.max_len, self.num_blocks, self.num_heads, self.dropout, name="encoder"
            )
        else:
            self.encoder = RecurrentSequenceEncoder(
                self.embedding_dim, encoder, self.num_layers, self.dropout, unroll=self.unroll,
                name="encoder",
            )
        self.embedding_dropout = tf.keras.layers.Dropout(self.dropout)
        # Per-item popularity term of the scores.
        self.output_bias = self.add_weight(
            name="output_bias", shape=[len(self.item_vocabulary)], initializer="zeros"
        )
        if self.repeat:
            self.repeat_pointer = RepeatPointer(self.embedding_dim, self.max_len, by_item=self.repeat_by_item,
                                                name="repeat_pointer")
        if self.neighbors:
            self.neighbor_scorer = NeighborScorer(self.num_items, self.neighbors, self.neighbor_history,
                                                  self.neighbor_decay, self.neighbor_offset, name="neighbor_scorer")
        if self.session_knn:
            self.session_knn_scorer = SessionKnnScorer(
                self.num_items, self.session_knn_sessions, self.session_knn_length, self.session_knn_postings,
                self.session_knn, self.session_knn_history, self.session_knn_offset,
                self.session_knn_length_power, name="session_knn_scorer")
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        #: Training setting, not part of the config: when set, the loss is the
        #: sum over positions divided by this (see ``next_item_loss``).
        self.positions_per_batch = None

    # --- Inputs ---------------------------------------------------------

    @property
    def num_items(self) -> int:
        return len(self.item_vocabulary)

    def input_specs(self, steps: int | None = None) -> dict[str, tf.TensorSpec]:
        """The raw inputs the model reads, as ``TensorSpec``s."""
        specs = {ITEM_ID: tf.TensorSpec([None, steps], tf.string, name=ITEM_ID)}
        if self.use_event_types:
            specs[EVENT_TYPE] = tf.TensorSpec([None, steps], tf.string, name=EVENT_TYPE)
        if self.use_time_gaps:
            specs[TIME_GAP] = tf.TensorSpec([None, steps], tf.float32, name=TIME_GAP)
        return specs

    def item_columns(self, item_ids) -> tf.Tensor:
        """Score columns of raw item ids: ``-2`` for padding, ``-1`` for unknown."""
        return tf.cast(self.item_lookup(item_ids), tf.int32) - 2

    def _left_align(self, item_idx):
        """Gather indices moving real steps to the end of each row, in order.

        Keeps the last ``max_len`` steps. Computed on lookup indices (not on
        the raw strings: TFLite has no batched gather for strings).
        """
        real = tf.not_equal(item_idx, 0)
        steps = tf.shape(item_idx)[1]
        pos = tf.range(steps)[None, :]
        # Ascending key: padding (its position) first, then real steps.
        key = tf.where(real, pos + steps, pos)
        order = tf.math.top_k(-key, k=steps).indices
        keep = tf.minimum(steps, self.max_len)
        return order[:, steps - keep :]

    def encode(self, inputs, training=None):
        """Encoder states ``[batch, steps, dim]`` and the real-step mask.

        Also returns the gather indices that left-aligned the inputs, so that
        per-step targets can be aligned the same way.
        """
        h, mask, order, _, _ = self._encode(inputs, training)
        return h, mask, order

    def _encode(self, inputs, training=None):
        """``encode`` plus the step embeddings and the aligned lookup indices."""
        idx = tf.cast(self.item_lookup(inputs[ITEM_ID]), tf.int32)
        order = self._left_align(idx)
        idx = tf.gather(idx, order, batch_dims=1)
        mask = tf.not_equal(idx, 0)
        item_x = self.item_embedding(idx) * math.sqrt(self.embedding_dim)
        x = tf.zeros_like(item_x)
        if self.use_event_types:
            events = tf.cast(self.event_lookup(inputs[EVENT_TYPE]), tf.int32)
            x += self.event_embedding(tf.gather(events, order, batch_dims=1))
        if self.use_time_gaps:
            gaps = tf.gather(tf.cast(inputs[TIME_GAP], tf.float32), order, batch_dims=1)
            bucket = tf.zeros_like(gaps, dtype=tf.int32)
            for edge in GAP_EDGES:
                bucket += tf.cast(gaps >= edge, tf.int32)
            x += self.gap_embedding(bucket)
        real = tf.cast(mask, x.dtype)[:, :, None]
        context = x * real  # what was done and when, without the item
        x = (item_x + x) * real
        keys = x if self.repeat_item_keys else context
        if self.encoder_type != "sasrec":
            x = self.embedding_dropout(x, training=training)
        h = self.encoder(x, mask=mask, training=training)
        return h, mask, order, keys, idx

    def item_table(self) -> tf.Tensor:
        """Item embeddings ``[num_items, dim]`` (score columns, in order)."""
        return self.item_embedding.embeddings[2:]

    def score_states(self, states) -> tf.Tensor:
        """Scores of every item for encoder states ``[..., dim]``."""
        return tf.matmul(states, self.item_table(), transpose_b=True) + self.output_bias

    def call(self, inputs, training=None):
        h, _, _, keys, idx = self._encode(inputs, training=training)
        logits = self.score_states(h[:, -1, :])
        if self.repeat:
            logits = self._add_copies(logits, h, keys, idx, training)
        if self.neighbors:
            near = self.neighbor_scorer.catalog_log_mass(h[:, -1, :], idx - 2)
            logits = tf.where(near > MASKED / 2, _log_add_exp(logits, near), logits)
        if self.session_knn:
            share = self.session_knn_scorer.catalog_log_share(idx - 2)
            similar = self.session_knn_scorer.catalog_log_mass(h[:, -1, :], idx - 2, share)
            logits = tf.where(similar > MASKED / 2, _log_add_exp(logits, similar), logits)
            if self.session_knn_blend:
                logits = _blend(logits, share, self.session_knn_blend)
        return logits

    def _add_copies(self, logits, h, keys, idx, training):
        # Copy logits of every step for the last state, added to the catalog
        # as exp-mass per item: a scatter, [batch, items] memory.
        cols = idx - 2
        steps = tf.shape(idx)[1]
        copy = self.repeat_pointer(h[:, -1:, :], keys, cols >= 0, steps[None] - 1, key_items=cols,
                                   training=training)[:, 0, :]
        top = tf.reduce_max(copy, axis=1, keepdims=True)
        weight = tf.where(cols >= 0, tf.exp(copy - top), 0.0)
        batch = tf.shape(idx)[0]
        rows = tf.tile(tf.range(batch)[:, None], [1, steps])
        mass = tf.scatter_nd(tf.stack([rows, tf.maximum(cols, 0)], axis=-1), weight,
                             tf.stack([batch, self.num_items]))
        has = mass > 0.0
        copied = tf.math.log(tf.where(has, mass, 1.0)) + top
        return tf.where(has, _log_add_exp(logits, copied), logits)

    # --- Training --------------------------------------------------------

    def next_item_loss(self, inputs, targets, training=None) -> tf.Tensor:
        """Mean cross-entropy of the next item over every real position."""
        h, _, order, keys, idx = self._encode(inputs, training=training)
        target_cols = tf.gather(self.item_columns(targets), order, batch_dims=1)
        valid = target_cols >= 0  # neither padding nor OOV
        states = tf.boolean_mask(h, valid)
        labels = tf.boolean_mask(target_cols, valid)
        table = self.item_table()
        if self.repeat or self.neighbors or self.session_knn:
            folds = own = None
            if self.neighbors and NEIGHBOR_FOLD in inputs:
                folds = tf.reduce_max(tf.cast(inputs[NEIGHBOR_FOLD], tf.int32), axis=1)
            if self.session_knn and KNN_SESSION in inputs:
                own = tf.reduce_max(tf.cast(inputs[KNN_SESSION], tf.int32), axis=1)
            losses = self._repeat_losses(h, keys, idx, valid, states, labels, training, folds, own)
        elif self.loss_type == "softmax" or not training:
            logits = tf.matmul(states, table, transpose_b=True) + self.output_bias
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        elif self.loss_type == "sampled_softmax":
            losses = tf.nn.sampled_softmax_loss(
                weights=table,
                biases=self.output_bias,
                labels=tf.cast(labels[:, None], tf.int64),
                inputs=states,
                num_sampled=min(self.num_sampled, self.num_items - 1),
                num_classes=self.num_items,
                seed=self.seed,
            )
        else:
            items, local = tf.unique(labels)
            logits = tf.matmul(states, tf.gather(table, items), transpose_b=True)
            logits += tf.gather(self.output_bias, items)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=local, logits=logits)
        return self._reduce_loss(losses, labels, table)

    def _repeat_losses(self, h, keys, idx, valid, states, labels, training, folds=None, own=None):
        """Cross-entropy of the joint softmax over catalog, copy and neighbour terms.

        ``-log(exp(e_y) + sum_{j: x_j = y} exp(r_j) + exp(g) s_y) + log(Z_explore
        + sum_j exp(r_j) + exp(g))``; ``Z_explore`` is the full catalog sum, or
        ``exp(e_y)`` plus an estimate from log-uniform sampled columns
        (weighted by one over their expected count), or the batch's target
        columns; ``g`` is the neighbour gate and ``s_y`` the target's share of
        the neighbour votes (cross-fitted tables when ``folds`` is given);
        the session-kNN term likewise (each row's own stored sequence, ``own``,
        left out).
        """
        cols = idx - 2
        steps = tf.shape(idx)[1]
        extra, extra_hit = [], []
        if self.repeat:
            copy = self.repeat_pointer(h, keys, cols >= 0, tf.range(steps), key_items=cols, training=training)
            copy = tf.boolean_mask(copy, valid)  # [positions, steps]
            rows = tf.boolean_mask(tf.tile(tf.range(tf.shape(idx)[0])[:, None], [1, steps]), valid)
            copy_cols = tf.gather(cols, rows)
            copy_hit = tf.logical_and(tf.equal(copy_cols, labels[:, None]), copy > MASKED / 2)
            extra.append(copy)
            extra_hit.append(tf.where(copy_hit, copy, MASKED))
        if self.neighbors:
            gate, target = self.neighbor_scorer.target_terms(states, cols, valid, labels, folds)
            extra.append(gate[:, None])
            extra_hit.append(target[:, None])
        if self.session_knn:
            gate, target = self.session_knn_scorer.target_terms(states, cols, valid, labels, own)
            extra.append(gate[:, None])
            extra_hit.append(target[:, None])
        table = self.item_table()
        if self.loss_type == "softmax" or not training:
            explore = tf.matmul(states, table, transpose_b=True) + self.output_bias
            true_logit = tf.gather(explore, labels, batch_dims=1)
        elif self.loss_type == "sampled_softmax":
            labels64 = tf.cast(labels[:, None], tf.int64)
            sampled, true_expected, sampled_expected = tf.random.log_uniform_candidate_sampler(
                labels64, 1, min(self.num_sampled, self.num_items - 1), True, self.num_items,
                seed=self.seed)
            sampled = tf.cast(sampled, tf.int32)
            true_logit = tf.reduce_sum(states * tf.gather(table, labels), -1)
            true_logit += tf.gather(self.output_bias, labels)
            # The target's own term is exact; the sampled ones estimate the
            # rest of the catalog's sum (importance weights 1 / expected
            # count), so explore and copy logits stay on the serving scale.
            del true_expected
            explore = tf.matmul(states, tf.gather(table, sampled), transpose_b=True)
            explore += tf.gather(self.output_bias, sampled) - tf.math.log(sampled_expected)[None]
            explore = tf.where(tf.equal(sampled[None, :], labels[:, None]), MASKED, explore)
            explore = tf.concat([true_logit[:, None], explore], axis=1)
        else:
            items, local = tf.unique(labels)
            explore = tf.matmul(states, tf.gather(table, items), transpose_b=True)
            explore += tf.gather(self.output_bias, items)
            true_logit = tf.gather(explore, local, batch_dims=1)
        everything = tf.reduce_logsumexp(tf.concat([explore] + extra, axis=1), axis=1)
        right = tf.reduce_logsumexp(tf.concat([true_logit[:, None]] + extra_hit, axis=1), axis=1)
        return everything - right

    def fit_neighbors(self, sequences, folds: int | None = None, seed: int = 0) -> "NextItemRecommender":
        """Fills the neighbour table from training sequences (and the cross-fitted training tables).

        The served table counts every sequence. With ``folds`` > 1 (default
        ``neighbor_folds``) the sequences are split into that many folds
        (``fold_of_sequences``) and fold ``f``'s table is counted without
        fold ``f``: a training row of fold ``f`` (``neighbor_fold`` input)
        then sees neighbours it did not itself create, as a new sequence
        will, so the gate learns how far to trust the table.

        Args:
            sequences: training sequences of item ids.
            folds: cross-fitted tables (0 or 1: none).
            seed: seed of the fold assignment.
        """
        from ecomtf.data.item_neighbors import item_neighbor_table

        if not self.neighbors:
            raise ValueError("fit_neighbors needs neighbors > 0")
        self.ensure_built()
        folds = self.neighbor_folds if folds is None else int(folds)
        table = dict(k=self.neighbors, window=self.neighbor_window)
        ids, weights = item_neighbor_table(sequences, self.item_vocabulary, **table)
        fold_ids = fold_weights = None
        if folds > 1:
            which = fold_of_sequences(len(sequences), folds, seed)
            parts = [item_neighbor_table([s for s, f in zip(sequences, which) if f != fold],
                                         self.item_vocabulary, **table) for fold in range(folds)]
            fold_ids = np.stack([p[0] for p in parts])
            fold_weights = np.stack([p[1] for p in parts])
        self.neighbor_scorer.set_table(ids, weights, fold_ids, fold_weights)
        return self

    def fit_session_knn(self, sequences) -> "NextItemRecommender":
        """Fills the session-kNN store with the last ``session_knn_sessions`` training sequences.

        Sequences are taken as oldest first; a training row's index in the
        store is ``session_knn_index``.
        """
        from ecomtf.data.session_store import session_store

        if not self.session_knn:
            raise ValueError("fit_session_knn needs session_knn > 0")
        self.ensure_built()
        items, postings = session_store(sequences, self.item_vocabulary, self.session_knn_sessions,
                                        self.session_knn_length, self.session_knn_postings)
        self.session_knn_scorer.set_sessions(items, postings)
        return self

    def session_knn_index(self, count: int) -> np.ndarray:
        """Store index of each of ``count`` training sequences given to ``fit_session_knn`` (-1: not stored)."""
        index = np.arange(count) - max(0, count - self.session_knn_sessions)
        return np.where(index >= 0, index, -1).astype(np.int32)

    def _reduce_loss(self, losses, labels, table):
        if self.positions_per_batch:
            # A fixed denominator: with length-bucketed batches, a batch of a
            # few short rows must not weigh as much as a batch of long ones.
            loss = tf.reduce_sum(losses) / float(self.positions_per_batch)
        else:
            loss = tf.reduce_sum(losses) / tf.cast(tf.maximum(tf.size(labels), 1), tf.float32)
        if self.l2:
            used = tf.gather(table, tf.unique(labels)[0])
            loss += self.l2 * tf.reduce_sum(tf.square(used)) / tf.cast(
                tf.maximum(tf.size(labels), 1), tf.float32
            )
        return loss

    def train_step(self, data):
        inputs, targets = data
        with tf.GradientTape() as tape:
            loss = self.next_item_loss(inputs, targets, training=True)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        inputs, targets = data
        self.loss_tracker.update_state(self.next_item_loss(inputs, targets, training=False))
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]

    # --- Building, growing, twins ----------------------------------------

    def dummy_inputs(self, batch: int = 1, steps: int = 2) -> dict[str, tf.Tensor]:
        """A small valid input batch (builds the model's weights)."""
        specs = self.input_specs()
        out = {}
        for k, s in specs.items():
            if s.dtype == tf.string:
                out[k] = tf.fill([batch, steps], "")
            else:
                out[k] = tf.zeros([batch, steps], s.dtype)
        return out

    def ensure_built(self) -> "NextItemRecommender":
        if not self.built or not self.weights:
            self(self.dummy_inputs(), training=False)
        return self

    def with_items(self, item_ids: Sequence[str]) -> "NextItemRecommender":
        """A copy whose vocabulary also has ``item_ids``, trained weights kept.

        New ids are appended after the existing ones, so every known item
        keeps its column, its embedding and its bias exactly; new items start
        from fresh random embeddings and the mean bias of the old items. This
        is the warm-start step of the feedback loop: grow, then continue
        training on new events.

        Args:
            item_ids: ids to add (ids already known are ignored).

        Returns:
            A new, built ``NextItemRecommender`` (not compiled).
        """
        known = set(self.item_vocabulary)
        added = []
        for i in (str(x) for x in item_ids):
            if i not in known and i != "":
                known.add(i)
                added.append(i)
        config = self.get_config()
        config["item_vocabulary"] = self.item_vocabulary + added
        return self.clone_with(config)

    def clone_with(self, config: dict) -> "NextItemRecommender":
        """A new model from ``config`` holding this model's weights.

        Weights are matched in creation order; a weight whose first axis grew
        (the item table and bias) keeps its old rows.
        """
        self.ensure_built()
        other = type(self).from_config(config).ensure_built()
        old_items = self.num_items
        for mine, theirs in zip(self.weights, other.weights):
            value = mine.numpy()
            if tuple(value.shape) == tuple(theirs.shape):
                theirs.assign(value)
                continue
            if value.shape[1:] != tuple(theirs.shape[1:]) or value.shape[0] > theirs.shape[0]:
                raise ValueError(f"cannot carry {mine.name} {value.shape} into {theirs.shape}")
            grown = theirs.numpy()
            grown[: value.shape[0]] = value
            if value.ndim == 1 and value.shape[0] == old_items:
                grown[value.shape[0] :] = value.mean()
            theirs.assign(grown)
        return other

    def mobile_twin(self) -> "NextItemRecommender":
        """The model to convert to TFLite: itself, or an unrolled RNN twin."""
        if self.encoder_type == "sasrec" or self.unroll:
            return self
        config = self.get_config()
        config["unroll"] = True
        return self.clone_with(config)

    @classmethod
    def from_sequences(
        cls,
        item_ids: Sequence[np.ndarray],
        event_types: Sequence[np.ndarray] = (),
        min_item_count: int = 1,
        max_items: int | None = None,
        **kwargs,
    ) -> "NextItemRecommender":
        """Builds a model whose vocabularies come from training sequences.

        Args:
            item_ids: training sequences of item ids.
            event_types: training sequences of event types.
            min_item_count: items seen fewer times go to the OOV bucket.
            max_items: keep at most this many items (most frequent).
            **kwargs: the other constructor arguments; with ``session_knn``,
                ``session_knn_max_sessions`` (20000), ``session_knn_max_length``
                (50) and ``session_knn_max_postings`` (200) cap the store's
                shape, which is otherwise what the sequences need.
        """
        from ecomtf.data.vocabulary import build_vocabulary

        flat = np.concatenate([np.asarray(s).astype(str) for s in item_ids]) if len(item_ids) else []
        vocab = build_vocabulary(flat, min_count=min_item_count, max_size=max_items)
        events = []
        if len(event_types):
            events = sorted(set(np.concatenate([np.asarray(s).astype(str) for s in event_types])) - {""})
        if kwargs.get("session_knn"):
            from ecomtf.data.session_store import session_store_shape

            sessions, length, postings = session_store_shape(
                item_ids, vocab, kwargs.pop("session_knn_max_sessions", 20000),
                kwargs.pop("session_knn_max_length", 50), kwargs.pop("session_knn_max_postings", 200))
            kwargs.setdefault("session_knn_sessions", sessions)
            kwargs.setdefault("session_knn_length", length)
            kwargs.setdefault("session_knn_postings", postings)
        return cls(vocab, events, **kwargs)

    # === Config ===
    def get_config(self):
        return {
            "item_vocabulary": self.item_vocabulary,
            "event_vocabulary": self.event_vocabulary,
            "encoder": self.encoder_type,
            "embedding_dim": self.embedding_dim,
            "max_len": self.max_len,
            "num_blocks": self.num_blocks,
            "num_heads": self.num_heads,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "use_event_types": self.use_event_types,
            "use_time_gaps": self.use_time_gaps,
            "loss": self.loss_type,
            "num_sampled": self.num_sampled,
            "l2": self.l2,
            "unroll": self.unroll,
            "seed": self.seed,
            "repeat": self.repeat,
            "repeat_by_item": self.repeat_by_item,
            "repeat_item_keys": self.repeat_item_keys,
            "neighbors": self.neighbors,
            "neighbor_history": self.neighbor_history,
            "neighbor_decay": self.neighbor_decay,
            "neighbor_window": self.neighbor_window,
            "neighbor_folds": self.neighbor_folds,
            "neighbor_offset": self.neighbor_scorer.offset if self.neighbors else self.neighbor_offset,
            "session_knn": self.session_knn,
            "session_knn_history": self.session_knn_history,
            "session_knn_offset": (float(self.session_knn_scorer.serving_offset.numpy())
                                   if self.session_knn and self.session_knn_scorer.built
                                   else self.session_knn_offset),
            "session_knn_length_power": self.session_knn_length_power,
            "session_knn_blend": self.session_knn_blend,
            "session_knn_sessions": self.session_knn_sessions,
            "session_knn_length": self.session_knn_length,
            "session_knn_postings": self.session_knn_postings,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def fold_of_sequences(count: int, folds: int, seed: int = 0) -> np.ndarray:
    """The cross-fitting fold of each of ``count`` training sequences (a seeded shuffle, balanced)."""
    which = np.arange(count) % max(1, folds)
    np.random.default_rng(seed).shuffle(which)
    return which


def _log_add_exp(a, b):
    """``log(exp(a) + exp(b))`` without Log1p (not a TFLite builtin everywhere)."""
    high = tf.maximum(a, b)
    return high + tf.math.log(1.0 + tf.exp(-tf.abs(a - b)))


def _blend(logits, log_share, weight: float):
    """``log((1 - weight) * softmax(logits) + weight * share)``; ``log_share`` is ``MASKED`` where the share is 0."""
    top = tf.reduce_max(logits, axis=1, keepdims=True)
    log_p = logits - top - tf.math.log(tf.reduce_sum(tf.exp(logits - top), axis=1, keepdims=True))
    mixed = log_p + math.log(1.0 - weight)
    return tf.where(log_share > MASKED / 2, _log_add_exp(mixed, log_share + math.log(weight)), mixed)
