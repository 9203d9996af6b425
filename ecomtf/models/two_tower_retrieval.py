"""Two-tower retrieval: query tower x candidate tower, trained with in-batch softmax."""

from __future__ import annotations

from typing import Mapping
from typing import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from ecomtf.layers.candidate_tower import CandidateTower
from ecomtf.layers.item_text_encoder import ItemTextEncoder
from ecomtf.layers.numeric_normalizer import NumericNormalizer
from ecomtf.layers.query_tower import QueryTower

SAMPLING_PROBABILITY = "candidate_sampling_probability"
SAMPLE_WEIGHT = "sample_weight"
DEFAULT_KS = (1, 5, 10, 50, 100)


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class TwoTowerRetrieval(tfrs.Model):
    """A two-tower retrieval model (``tfrs.Model`` + ``tfrs.tasks.Retrieval``).

    The query tower embeds who is asking and when (user id and attributes,
    request time, recent items); the candidate tower embeds an item (id,
    attributes, text). Training maximizes the dot product of each query with
    its interacted item against the other items of the batch (in-batch
    softmax), with the options large catalogs need:

    - ``temperature``: divides the logits; use with L2-normalized towers
      (cosine similarity), where a small temperature (0.05-0.2) sharpens the
      softmax.
    - ``logq_correction``: subtracts ``strength * log(q)`` from the logits,
      ``q`` being each candidate's sampling probability (its share of
      training interactions, ``candidate_sampling_probability`` column from
      ``ecomtf.data.retrieval_pipeline.add_sampling_probability``). 1.0 is
      the full correction of Yi et al. (2019); less keeps part of the
      popularity signal, which helps recall on popularity-heavy data.
    - ``remove_accidental_hits``: an in-batch negative that is the positive
      item itself (a popular item twice in a batch) is not pushed away.
    - ``num_hard_negatives``: keep only the highest-scoring negatives.

    Calling the model gives query embeddings; ``candidate_embeddings`` gives
    item embeddings. Retrieval metrics over the full catalog
    (``FactorizedTopK``) are computed in ``evaluate`` once ``set_candidates``
    is called; ``ecomtf.evaluation.retrieval_metrics`` adds metrics that exclude items
    the user already has. Serving is done by
    ``ecomtf.export.two_tower_servable.TwoTowerServable``.

    Args:
        query_tower: a ``QueryTower`` (or its serialized config).
        candidate_tower: a ``CandidateTower`` (or its serialized config).
        temperature: softmax temperature (None: 1).
        logq_correction: strength of the sampling-bias correction, 0 (off)
            to 1 (full).
        remove_accidental_hits: mask negatives with the positive's id.
        num_hard_negatives: keep only this many hardest negatives.
        ks: cut-offs of the factorized top-k metrics.

    Call arguments:
        inputs: dict of raw query features.

    Example:
        >>> examples = {"user_id": np.array(["u1", "u2", "u1"]),
        ...             "item_id": np.array(["a", "b", "c"])}
        >>> model = TwoTowerRetrieval.from_dataset(examples, output_dim=8)
        >>> model.compile(tf.keras.optimizers.Adagrad(0.1))
        >>> _ = model.fit(tf.data.Dataset.from_tensor_slices(examples).batch(2),
        ...               verbose=0)
        >>> model({"user_id": tf.constant(["u1"])}).shape
        TensorShape([1, 8])

    Reference:
        Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large Corpus
        Item Recommendations", RecSys 2019.
    """

    def __init__(
        self,
        query_tower,
        candidate_tower,
        temperature: float | None = None,
        logq_correction: float = 0.0,
        remove_accidental_hits: bool = False,
        num_hard_negatives: int | None = None,
        ks: Sequence[int] = DEFAULT_KS,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(query_tower, dict):
            query_tower = tf.keras.layers.deserialize(query_tower)
        if isinstance(candidate_tower, dict):
            candidate_tower = tf.keras.layers.deserialize(candidate_tower)
        if query_tower.output_dim != candidate_tower.output_dim:
            raise ValueError(
                f"tower sizes differ: query {query_tower.output_dim}, "
                f"candidate {candidate_tower.output_dim}"
            )
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.temperature = None if temperature is None else float(temperature)
        self.logq_correction = float(logq_correction)
        self.remove_accidental_hits = bool(remove_accidental_hits)
        self.num_hard_negatives = None if num_hard_negatives is None else int(num_hard_negatives)
        self.ks = [int(k) for k in ks]
        self.task = tfrs.tasks.Retrieval(
            # Hard-negative mining reorders the label columns; otherwise the
            # positives are the diagonal and a cheaper, equal loss applies.
            loss=None if self.num_hard_negatives else InBatchSoftmaxLoss(),
            temperature=self.temperature,
            num_hard_negatives=self.num_hard_negatives,
            remove_accidental_hits=self.remove_accidental_hits,
        )
        self._candidates = None

    # === Builder ===
    @classmethod
    def from_dataset(
        cls,
        examples: Mapping[str, np.ndarray],
        catalog: Mapping[str, np.ndarray] | None = None,
        *,
        user_id: str | None = "user_id",
        item_id: str = "item_id",
        user_categorical: Sequence[str] = (),
        user_numeric: Sequence[str] = (),
        timestamp: str | None = None,
        history: str | None = None,
        item_categorical: Sequence[str] = (),
        item_numeric: Sequence[str] = (),
        item_text: Sequence[str] = (),
        output_dim: int = 32,
        id_dim: int | None = None,
        feature_dim: int = 16,
        query_hidden_units: Sequence[int] = (),
        candidate_hidden_units: Sequence[int] = (),
        dropout: float = 0.0,
        normalize: bool = False,
        ngram_width: int = 1,
        lowercase: bool = False,
        text_encoder: str = "ngram",
        num_time_buckets: int = 0,
        utc_offset_minutes: int = 0,
        min_count: int = 1,
        max_items: int | None = None,
        l2: float = 0.0,
        **kwargs,
    ) -> "TwoTowerRetrieval":
        """Builds a model whose vocabularies and scaling come from training data.

        Pass training examples only (see
        ``ecomtf.data.retrieval_pipeline.retrieval_examples``): user and item
        vocabularies, text tokens and numeric scaling are learned from them,
        so anything new at serving time goes to an OOV bucket.

        Args:
            examples: training examples, columns by name.
            catalog: the catalog (``catalog_features``); item attributes for
                text vocabulary and scaling are taken from the catalog rows of
                items that occur in ``examples`` (each item counted once).
                Default: the attribute columns of ``examples``.
            user_id: query column with the user id (None: anonymous).
            item_id: candidate column with the item id.
            user_categorical, user_numeric: user attribute columns.
            timestamp: query column with the request time (unix ms).
            history: query column with recent item ids ``[n, steps]``.
            item_categorical, item_numeric, item_text: item attribute columns.
            output_dim: embedding size of both towers.
            id_dim: user/item id embedding size (default ``output_dim``).
            feature_dim: embedding size of attributes, text and time parts.
            query_hidden_units, candidate_hidden_units: ReLU layers per tower.
            dropout: dropout after hidden layers.
            normalize: L2-normalize both towers (use with ``temperature``).
            ngram_width: word n-grams embedded by the text encoders.
            lowercase: lower-case text before tokenizing.
            text_encoder: ``"ngram"`` or ``"minilm"`` (the pretrained
                all-MiniLM-L6-v2 for the item text fields; see
                ``CandidateTower``).
            num_time_buckets: position-in-training-period buckets of the
                request time (0: only hour of day and day of week).
            utc_offset_minutes: the shop's time zone for calendar features.
            min_count: ids and tokens seen fewer times go to the OOV bucket.
            max_items: keep at most this many item ids (most frequent).
            l2: L2 regularization of the id embedding tables.
            **kwargs: ``TwoTowerRetrieval`` arguments (temperature, ...).
        """
        from ecomtf.data.vocabulary import build_vocabulary

        examples = {k: np.asarray(v) for k, v in examples.items()}
        items = examples[item_id].astype(str)
        item_vocab = build_vocabulary(items, min_count=min_count, max_size=max_items)
        # Attributes per distinct trained item: popularity must not skew
        # text vocabularies or scaling.
        if catalog is not None:
            table = {k: np.asarray(v) for k, v in catalog.items()}
            keep = np.isin(table[item_id].astype(str), np.unique(items))
            table = {k: v[keep] for k, v in table.items()}
        else:
            _, first = np.unique(items, return_index=True)
            table = {k: v[first] for k, v in examples.items() if v.ndim == 1}
        text_vocab = {
            # MiniLM brings its own vocabulary.
            name: [] if text_encoder == "minilm" else ItemTextEncoder.build_vocabulary(
                table[name], ngram_width=ngram_width, lowercase=lowercase, min_count=min_count
            )
            for name in item_text
        }
        item_mean, item_std = _statistics(table, item_numeric)
        candidate = CandidateTower(
            item_vocab,
            output_dim,
            item_id_feature=item_id,
            id_dim=id_dim,
            categorical={c: build_vocabulary(table[c].astype(str)) for c in item_categorical},
            categorical_dim=feature_dim,
            numeric=item_numeric,
            numeric_mean=item_mean,
            numeric_std=item_std,
            text=text_vocab,
            text_dim=feature_dim,
            ngram_width=ngram_width,
            lowercase=lowercase,
            text_encoder=text_encoder,
            hidden_units=candidate_hidden_units,
            dropout=dropout,
            normalize=normalize,
            l2=l2,
            name="candidate_tower",
        )
        # User attributes: one row per user, for the same reason.
        if user_id:
            _, first = np.unique(examples[user_id].astype(str), return_index=True)
            users = {k: v[first] for k, v in examples.items() if v.ndim == 1}
        else:
            users = examples
        user_mean, user_std = _statistics(users, user_numeric)
        timestamp_config = None
        if timestamp:
            ts = examples[timestamp].astype(np.int64)
            timestamp_config = {
                "time_min_ms": int(ts.min()),
                "time_max_ms": int(ts.max()),
                "num_time_buckets": int(num_time_buckets),
                "utc_offset_minutes": int(utc_offset_minutes),
                "bucket_dim": feature_dim,
                "hour_dim": max(feature_dim // 2, 1),
                "weekday_dim": max(feature_dim // 4, 1),
            }
        query = QueryTower(
            build_vocabulary(examples[user_id].astype(str), min_count=min_count) if user_id else (),
            output_dim,
            user_id_feature=user_id,
            id_dim=id_dim,
            categorical={c: build_vocabulary(users[c].astype(str)) for c in user_categorical},
            categorical_dim=feature_dim,
            numeric=user_numeric,
            numeric_mean=user_mean,
            numeric_std=user_std,
            timestamp_feature=timestamp,
            timestamp_config=timestamp_config,
            history_feature=history,
            history_vocabulary=build_vocabulary(
                examples[history].ravel().astype(str), min_count=min_count, max_size=max_items
            )
            if history
            else (),
            hidden_units=query_hidden_units,
            dropout=dropout,
            normalize=normalize,
            l2=l2,
            name="query_tower",
        )
        model = cls(query, candidate, **kwargs)
        model.build_towers()
        return model

    def build_towers(self) -> None:
        """Creates the weights (e.g. before ``load_weights``)."""
        q = _dummy(self.query_tower.input_specs(batch_size=1, history_length=1))
        c = _dummy(self.candidate_tower.input_specs(batch_size=1))
        self.query_tower(q)
        self.candidate_tower(c)

    # === Forward pass ===
    def call(self, inputs, training=None):
        return self.query_tower(inputs, training=training)

    def query_embeddings(self, inputs, training=None):
        """``[batch, output_dim]`` embeddings of raw query features."""
        return self.query_tower(inputs, training=training)

    def candidate_embeddings(self, inputs, training=None):
        """``[batch, output_dim]`` embeddings of raw item features."""
        return self.candidate_tower(inputs, training=training)

    @property
    def item_id_feature(self) -> str:
        return self.candidate_tower.item_id_feature

    def compute_loss(self, features, training=False):
        query = self.query_tower(features, training=training)
        candidate = self.candidate_tower(features, training=training)
        ids = tf.reshape(features[self.item_id_feature], [-1])
        probability = None
        if self.logq_correction:
            if SAMPLING_PROBABILITY not in features:
                raise ValueError(
                    f"logq_correction needs a {SAMPLING_PROBABILITY!r} column "
                    "(ecomtf.data.retrieval_pipeline.add_sampling_probability)"
                )
            probability = tf.reshape(tf.cast(features[SAMPLING_PROBABILITY], tf.float32), [-1])
            if self.logq_correction != 1.0:
                # q ** s: the correction subtracts s * log(q).
                probability = tf.pow(probability, self.logq_correction)
        weight = features.get(SAMPLE_WEIGHT)
        return self.task(
            query,
            candidate,
            sample_weight=weight,
            candidate_sampling_probability=probability,
            candidate_ids=ids,
            compute_metrics=not training,
            compute_batch_metrics=not training,
        )

    # === Evaluation over the catalog ===
    def set_candidates(self, candidates: Mapping[str, np.ndarray], batch_size: int = 1024) -> None:
        """Makes ``evaluate`` report factorized top-k accuracy over ``candidates``.

        Args:
            candidates: the catalog's candidate features (``catalog_features``).
            batch_size: items embedded per step while scoring.
        """
        self._candidates = {k: np.asarray(v) for k, v in candidates.items()}
        ids = self._candidates[self.item_id_feature].astype(str)
        features = {k: v for k, v in self._candidates.items() if k in self.candidate_tower.input_names()}
        ds = tf.data.Dataset.from_tensor_slices((ids, features)).batch(batch_size)
        ds = ds.map(lambda i, f: (i, self.candidate_tower(f)))
        index = tfrs.layers.factorized_top_k.Streaming(k=max(self.ks)).index_from_dataset(ds)
        self.task.factorized_metrics = [tfrs.metrics.FactorizedTopK(index, ks=self.ks)]
        # Keras caches compiled test functions; a new metric needs a retrace.
        self.test_function = None

    @property
    def candidates(self) -> dict[str, np.ndarray] | None:
        """The catalog set with ``set_candidates`` (what the servable indexes)."""
        return self._candidates

    # === Config ===
    def get_config(self):
        return {
            "name": self.name,
            "query_tower": tf.keras.layers.serialize(self.query_tower),
            "candidate_tower": tf.keras.layers.serialize(self.candidate_tower),
            "temperature": self.temperature,
            "logq_correction": self.logq_correction,
            "remove_accidental_hits": self.remove_accidental_hits,
            "num_hard_negatives": self.num_hard_negatives,
            "ks": self.ks,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class InBatchSoftmaxLoss(tf.keras.losses.Loss):
    """Softmax cross-entropy where row i's positive is column i (summed).

    Equal to ``tfrs.tasks.Retrieval``'s default loss
    (``CategoricalCrossentropy(from_logits=True)`` against the identity
    labels the task builds), but it reads the positive logit off the
    diagonal instead of multiplying a ``[batch, batch]`` label matrix, which
    the graph then never computes: at batch 8192 that matrix alone is 268 MB.
    Extra negative columns (more candidates than queries) are fine.
    """

    def __init__(self, name: str = "in_batch_softmax"):
        super().__init__(reduction=tf.keras.losses.Reduction.SUM, name=name)

    def call(self, y_true, y_pred):
        del y_true  # the identity: the positives are on the diagonal
        return tf.reduce_logsumexp(y_pred, axis=1) - tf.linalg.diag_part(y_pred)


def _statistics(table, columns):
    if not columns:
        return [], []
    values = np.stack([np.asarray(table[c], np.float64) for c in columns], axis=-1)
    return NumericNormalizer.statistics(values)


def _dummy(specs):
    out = {}
    for k, s in specs.items():
        shape = [1 if d is None else d for d in s.shape.as_list()]
        out[k] = tf.fill(shape, "") if s.dtype == tf.string else tf.zeros(shape, s.dtype)
    return out
