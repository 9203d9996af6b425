"""Serving and mobile signatures of a TwoTowerRetrieval: brute-force top-k in core ops."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ecomtf.export.servable import Servable
from ecomtf.export.servable import dict_signature
from ecomtf.export.servable import register_servable
from ecomtf.models.two_tower_retrieval import TwoTowerRetrieval

K = "k"
EXCLUDE = "exclude_item_ids"
ITEM_IDS = "item_ids"
SCORES = "scores"
EMBEDDING = "embedding"
#: Score of padding slots (a row asked for fewer items than others in the
#: batch, or the catalog ran out after exclusions); their item id is "".
#: Finite, so JSON clients can parse it.
PAD_SCORE = float(np.finfo(np.float32).min)


@register_servable(TwoTowerRetrieval)
class TwoTowerServable(Servable):
    """Exports a TwoTowerRetrieval as a top-k recommender with its item index.

    The candidate tower embeds the whole catalog once at export time; the
    embeddings are stored in the SavedModel (a variable) with the item ids
    (a string tensor). A request runs the query tower on raw features and a
    brute-force search in core TensorFlow ops (matmul, top_k), which the
    stock TF Serving server runs on CPU or GPU (it has no ScaNN ops). To
    re-index a new catalog without retraining, build a new servable with the
    same model and the new ``candidates`` and save it as a new version.

    Signatures (REST row format works: every input has the batch as dim 0):
        serving_default: the query features (see ``QueryTower.input_specs``;
            recent items ``[batch, any length]`` padded with ``""``), ``k``
            int32 ``[batch]`` (how many items each row wants, capped at
            ``max_k``; a single value applies to every row) and
            ``exclude_item_ids`` string ``[batch, any width]`` (items never to
            return, e.g. already bought; ``""`` pads) -> ``item_ids``
            string ``[batch, max(k)]`` and ``scores`` float32 ``[batch,
            max(k)]``, best first. Slots past a row's own ``k`` have id ``""``
            and score ``PAD_SCORE``.
        query_embedding: query features -> ``embedding [batch, dim]``.
        candidate_embedding: item features -> ``embedding [batch, dim]``
            (to build an external ANN index).
        score: query features + ``item_ids`` string ``[batch, m]`` ->
            ``scores [batch, m]`` (re-ranking a given list; unknown ids score
            ``PAD_SCORE``).
    Mobile (TFLite) signatures:
        query_embedding: as above, recent items ``[batch,
            mobile_history_length]``.
        recommend: serving_default on the device, over the first
            ``mobile_max_items`` items of the index (baked into the file).

    Args:
        model: a trained ``TwoTowerRetrieval``.
        candidates: the catalog's candidate features (``catalog_features``);
            default ``model.candidates`` (set by ``model.set_candidates``).
        max_k: the largest ``k`` a request may ask for.
        candidate_embeddings: precomputed ``[items, dim]`` embeddings of
            ``candidates`` (skips running the candidate tower), e.g. for an
            index built elsewhere.
        candidate_ids: the ids of ``candidate_embeddings`` when
            ``candidates`` is not given.
        mobile_max_items: items kept in the TFLite index (the first ones:
            put popular items first).
        mobile_history_length: recent-item slots of the mobile signatures.
        examples: a small request (query features) for warmup.
        batch_size: items embedded per step while indexing.

    Example:
        >>> servable = TwoTowerServable(model, catalog, max_k=50)
        >>> ecomtf.export.save_for_serving(servable, "export/retrieval")
    """

    def __init__(
        self,
        model: TwoTowerRetrieval,
        candidates=None,
        *,
        max_k: int = 100,
        candidate_embeddings=None,
        candidate_ids=None,
        mobile_max_items: int = 100_000,
        mobile_history_length: int = 10,
        examples: dict | None = None,
        batch_size: int = 4096,
    ):
        super().__init__()
        from ecomtf.evaluation.retrieval_metrics import embed

        self.query_tower = model.query_tower
        self.candidate_tower = model.candidate_tower
        if candidates is None:
            candidates = model.candidates
        if candidate_embeddings is None:
            if candidates is None:
                raise ValueError(
                    "no catalog to index: pass candidates=catalog_features(...) or call "
                    "model.set_candidates(...) first"
                )
            candidate_embeddings = embed(
                model.candidate_tower, candidates, model.candidate_tower.input_names(), batch_size
            )
        if candidate_ids is None:
            candidate_ids = candidates[model.item_id_feature]
        ids = np.asarray(candidate_ids).astype(str)
        emb = np.asarray(candidate_embeddings, np.float32)
        if len(ids) != len(emb) or len(ids) == 0:
            raise ValueError(f"{len(ids)} candidate ids but {len(emb)} embeddings")
        if (ids == "").any():
            raise ValueError('"" is the padding id; a catalog item cannot have it')
        self.max_k = int(max_k)
        self.num_items = len(ids)
        self.mobile_max_items = int(mobile_max_items)
        self.mobile_history_length = int(mobile_history_length)
        self._examples = examples
        self._ids_numpy = ids
        self.index_embeddings = tf.Variable(emb, trainable=False, name="candidate_embeddings")
        self.index_ids = tf.constant(np.append(ids, ""))
        self.id_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(ids), tf.range(len(ids), dtype=tf.int64)),
            default_value=-1,
        )
        self._query_names = list(self.query_tower.input_specs())
        clash = {K, EXCLUDE, ITEM_IDS} & set(self._query_names)
        if clash:
            raise ValueError(f"query feature names {sorted(clash)} are reserved by the servable")

    # === Search ===
    def _top_k(self, query, k, exclude, embeddings, ids):
        """Exact top-k of ``query @ embeddings.T``, per-row k, minus excluded ids.

        ``ids`` has one more entry than ``embeddings``: the padding id "".
        """
        batch = tf.shape(query)[0]
        n = tf.shape(embeddings)[0]
        # One k for the batch, or one per row.
        k = tf.broadcast_to(tf.reshape(tf.cast(k, tf.int32), [-1]), [batch])
        k = tf.minimum(k, tf.minimum(self.max_k, n))
        # A select, not a clip: an int clip can become RELU6/RELU, which
        # TFLite runs on floats only.
        k = tf.where(k < 0, tf.zeros_like(k), k)
        width = tf.reduce_max(tf.concat([k, [0]], axis=0))
        # Excluding E ids removes at most E of the best width + E items, so
        # the answer is among them: one matmul and top_k, no [batch, items]
        # mask.
        wide = tf.minimum(width + tf.shape(exclude)[1], n)
        scores = tf.matmul(query, embeddings, transpose_b=True)
        top = tf.math.top_k(scores, k=wide, sorted=True)
        top_ids = tf.gather(ids, top.indices)
        hit = tf.reduce_any(
            tf.equal(tf.expand_dims(top_ids, 2), tf.expand_dims(exclude, 1)), axis=2
        )
        values = tf.where(hit, tf.fill(tf.shape(top.values), PAD_SCORE), top.values)
        best = tf.math.top_k(values, k=width, sorted=True)
        rows = tf.gather(top.indices, best.indices, batch_dims=1)
        slot = tf.expand_dims(tf.range(width), 0)
        keep = tf.logical_and(slot < tf.expand_dims(k, 1), best.values > PAD_SCORE)
        # Padding points at the extra "" after the last id: an int select and
        # a plain gather (TFLite has neither a string select nor a batched
        # string gather).
        rows = tf.where(keep, rows, tf.fill(tf.shape(rows), n))
        return {
            ITEM_IDS: tf.gather(ids, rows),
            SCORES: tf.where(keep, best.values, tf.fill(tf.shape(best.values), PAD_SCORE)),
        }

    def _recommend(self, inputs):
        query = self.query_tower(inputs, training=False)
        return self._top_k(query, inputs[K], inputs[EXCLUDE], self.index_embeddings, self.index_ids)

    def _query_embedding(self, inputs):
        return {EMBEDDING: self.query_tower(inputs, training=False)}

    def _candidate_embedding(self, inputs):
        return {EMBEDDING: self.candidate_tower(inputs, training=False)}

    def _score(self, inputs):
        query = self.query_tower(inputs, training=False)
        items = inputs[ITEM_IDS]
        rows = self.id_table.lookup(items)
        vectors = tf.gather(self.index_embeddings, tf.maximum(rows, 0))
        scores = tf.reduce_sum(tf.expand_dims(query, 1) * vectors, axis=-1)
        return {SCORES: tf.where(rows >= 0, scores, tf.fill(tf.shape(scores), PAD_SCORE))}

    # === Signatures ===
    def _query_specs(self, history_length=None):
        return self.query_tower.input_specs(history_length=history_length)

    def _request_specs(self, history_length=None):
        return {
            **self._query_specs(history_length),
            K: tf.TensorSpec([None], tf.int32, name=K),
            EXCLUDE: tf.TensorSpec([None, None], tf.string, name=EXCLUDE),
        }

    def signatures(self):
        return {
            "serving_default": dict_signature(self._recommend, self._request_specs()),
            "query_embedding": dict_signature(self._query_embedding, self._query_specs()),
            "candidate_embedding": dict_signature(
                self._candidate_embedding, self.candidate_tower.input_specs()
            ),
            "score": dict_signature(
                self._score,
                {**self._query_specs(), ITEM_IDS: tf.TensorSpec([None, None], tf.string, name=ITEM_IDS)},
            ),
        }

    def mobile_signatures(self):
        m = min(self.mobile_max_items, self.num_items)
        if not hasattr(self, "mobile_embeddings"):
            # Separate tensors so the .tflite file holds only the first m items.
            self.mobile_embeddings = tf.Variable(
                self.index_embeddings.numpy()[:m], trainable=False, name="mobile_embeddings"
            )
            self.mobile_ids = tf.constant(np.append(self._ids_numpy[:m], ""))

        def recommend(inputs):
            query = self.query_tower(inputs, training=False)
            return self._top_k(query, inputs[K], inputs[EXCLUDE], self.mobile_embeddings, self.mobile_ids)

        length = self.mobile_history_length
        return {
            "recommend": dict_signature(recommend, self._request_specs(length)),
            "query_embedding": dict_signature(self._query_embedding, self._query_specs(length)),
        }

    # === Examples ===
    def example_query(self, batch: int = 2, history_length: int | None = None) -> dict[str, np.ndarray]:
        """A valid query batch (known ids, the end of the training period)."""
        if self._examples is not None:
            return {k: np.asarray(v)[:batch] for k, v in self._examples.items() if k in self._query_names}
        tower = self.query_tower
        out = {}
        steps = history_length or self.mobile_history_length
        for name, spec in self._query_specs(steps).items():
            if name == tower.user_id_feature:
                vocab = tower.user_vocabulary or ["unknown"]
                out[name] = np.array([vocab[i % len(vocab)] for i in range(batch)])
            elif name == tower.history_feature:
                vocab = tower.history_vocabulary or list(self._ids_numpy[:3])
                row = [""] * (steps - 1) + [vocab[0]]
                out[name] = np.array([row] * batch)
            elif name == tower.timestamp_feature:
                t = tower.timestamp_config.get("time_max_ms", 0)
                out[name] = np.full([batch], t, np.int64)
            elif name in tower.categorical:
                vocab = tower.categorical[name] or [""]
                out[name] = np.array([vocab[0]] * batch)
            elif spec.dtype == tf.string:
                out[name] = np.array([""] * batch)
            else:
                out[name] = np.zeros([batch], np.float32)
        return out

    def example_request(self, batch: int = 2, k: int = 10, history_length: int | None = None):
        """``example_query`` plus ``k`` and an ``exclude_item_ids`` column."""
        q = self.example_query(batch, history_length)
        first = self._ids_numpy[0]
        exclude = np.array([[first, ""]] + [["", ""]] * (batch - 1))
        return {**q, K: np.full([batch], min(k, self.max_k), np.int32), EXCLUDE: exclude}

    def mobile_inputs(self):
        """An example batch for the ``recommend`` mobile signature."""
        return self.example_request(4, history_length=self.mobile_history_length)

    def warmup_inputs(self):
        q = self.example_query(2, history_length=3)
        request = self.example_request(2, history_length=3)
        items = np.array([list(self._ids_numpy[:2]) + ["unknown-item"]] * 2)
        n = min(2, self.num_items)
        candidate = {}
        for name, spec in self.candidate_tower.input_specs().items():
            if name == self.candidate_tower.item_id_feature:
                candidate[name] = np.resize(self._ids_numpy[:n], 2)
            elif spec.dtype == tf.string:
                candidate[name] = np.array(["", "x"])
            else:
                candidate[name] = np.array([0.0, np.nan], np.float32)
        return {
            "serving_default": request,
            "query_embedding": q,
            "candidate_embedding": candidate,
            "score": {**q, ITEM_IDS: items},
        }

