"""Customer query -> intent, with an out-of-scope decision."""

from __future__ import annotations

import weakref
from typing import Sequence

import numpy as np
import tensorflow as tf

from ecomtf.layers.ngram_embedding_encoder import NgramEmbeddingEncoder
from ecomtf.layers.transformer_text_encoder import TransformerTextEncoder
from ecomtf.text import metrics as text_metrics

ENCODERS = ("ngram", "transformer")


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class IntentClassifier(tf.keras.Model):
    """A text encoder and a softmax over intents, trained from labelled queries.

    The model takes raw text: normalization and tokenization run in the
    graph (TF Text), so the exported model and the trained one are the same
    pipeline. ``call`` returns logits; ``predict_proba`` applies the
    calibrated temperature. A query whose top probability is below
    ``threshold`` is out of scope ("none of our intents"); ``calibrate``
    chooses the temperature and the threshold on a validation split.

    With ``members > 1`` the model is an ensemble in one graph: the encoder
    gives ``members`` independent encodings (an ``NgramEmbeddingEncoder``
    with ``groups=members``: own embeddings and feature-dropout masks), each
    with its own softmax layer. Tokenization and lookups, most of the
    serving cost, are shared. ``call`` returns the log of the members' mean
    probability, so the ensemble serves, calibrates and converts like a
    single model. ``ensemble`` builds one from separately trained models
    (what ``recipes.intent.train(members=...)`` does: measured on Banking77,
    members trained apart, each on its own shuffle and early stopping, gain
    more than members trained side by side); ``fit`` on an ensemble trains
    every member on its own loss.

    With ``wide=True`` the model is wide & deep: next to the (deep)
    factorized n-gram member, a linear member, a softmax regression on the
    same n-gram features (the encoder's ``linear_units`` table, one weight
    per feature and intent, plus a bias). Both are trained side by side in
    one ``fit``, each on its own loss, and served as one graph that
    averages their probabilities, as an ensemble does. The two err
    differently: on CLINC150 and Banking77 the pair beats both two deep
    members and TF-IDF + logistic regression (docs/benchmarks/text.md), for
    one more table of ``features x intents`` floats.

    Args:
        encoder: a text encoder layer (``NgramEmbeddingEncoder``,
            ``TransformerTextEncoder``, or any layer mapping ``[batch]``
            strings to ``[batch, d]``).
        intents: the intent names, in output order.
        dropout: dropout on the encoding before the softmax layer.
        threshold: reject as out of scope when the top probability is below
            it (0: never).
        temperature: softmax temperature (logits / temperature).
        members: ensemble size (the encoder's output is split into this
            many equal parts, one softmax layer each).
        wide: add the linear member (needs an encoder with
            ``linear_units == len(intents)``; ``from_texts`` builds it).

    Call arguments:
        text: string tensor ``[batch]``.
        training: whether dropout applies.

    Returns:
        ``[batch, len(intents)]`` logits (for an ensemble, log mean probabilities).

    Example:
        >>> model = IntentClassifier.from_texts(texts, labels)
        >>> model.compile(LazyAdam(3e-3), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> model.fit(tf.constant(texts), model.label_ids(labels), epochs=10)
        >>> model.classify(["where is my parcel"])["intent"]
        array(['track_order'], dtype='<U11')
    """

    def __init__(self, encoder, intents: Sequence[str], dropout: float = 0.2,
                 threshold: float = 0.0, temperature: float = 1.0, members: int = 1,
                 wide: bool = False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(encoder, dict):
            encoder = tf.keras.layers.deserialize(encoder)
        self.encoder = encoder
        self.intents = [str(i) for i in intents]
        if len(set(self.intents)) != len(self.intents) or len(self.intents) < 2:
            raise ValueError("intents must be at least two distinct names")
        self.dropout = float(dropout)
        self.threshold = float(threshold)
        self.temperature = float(temperature)
        self.members = int(members)
        if self.members < 1:
            raise ValueError(f"members must be >= 1, got {members}")
        if self.members > 1 and getattr(self.encoder, "groups", 1) != self.members:
            raise ValueError(f"members={self.members} needs an encoder with groups={self.members} "
                             "(NgramEmbeddingEncoder(groups=...); from_texts builds it)")
        self.wide = bool(wide)
        if self.wide and getattr(self.encoder, "linear_units", 0) != len(self.intents):
            raise ValueError(f"wide=True needs an encoder with linear_units={len(self.intents)} (one per "
                             "intent: NgramEmbeddingEncoder(linear_units=...); from_texts builds it)")
        if not self.wide and getattr(self.encoder, "linear_units", 0):
            raise ValueError("the encoder has a linear table (linear_units) but wide=False")
        # === Layers ===
        self.drop = tf.keras.layers.Dropout(self.dropout)
        self.head = tf.keras.layers.Dense(len(self.intents), name="intent_logits")
        self.member_heads = [tf.keras.layers.Dense(len(self.intents), name=f"intent_logits_{k}")
                             for k in range(1, self.members)]
        if self.wide:
            self.wide_bias = self.add_weight("wide_bias", [len(self.intents)], initializer="zeros")

    @property
    def member_count(self) -> int:
        """Members whose probabilities are averaged: ``members``, plus one if ``wide``."""
        return self.members + int(self.wide)

    # === Builder ===
    @classmethod
    def from_texts(cls, texts, labels, *, encoder: str = "ngram", output_dim: int = 128,
                   dropout: float = 0.2, members: int = 1, wide: bool = False,
                   **encoder_kwargs) -> "IntentClassifier":
        """A model whose vocabularies and intents come from training data.

        Args:
            texts: training texts only.
            labels: their intents; the intent list is the sorted set.
            encoder: ``"ngram"`` (``NgramEmbeddingEncoder``: fast, strong on
                short queries) or ``"transformer"`` (``TransformerTextEncoder``).
            output_dim: encoding size (of each member).
            dropout: dropout before the softmax layer.
            members: ensemble size (n-gram encoder only; see the class).
            wide: add the linear member (n-gram encoder only; see the class).
            **encoder_kwargs: passed to the encoder's ``from_corpus``.
        """
        texts = [str(t) for t in np.asarray(texts).reshape(-1)]
        intents = sorted(set(np.asarray(labels, dtype=str).tolist()))
        if encoder == "ngram":
            enc = NgramEmbeddingEncoder.from_corpus(texts, output_dim, name="encoder", groups=members,
                                                    linear_units=len(intents) if wide else 0,
                                                    **encoder_kwargs)
        elif members != 1 or wide:
            raise ValueError(f"members > 1 and wide=True need the n-gram encoder, got encoder={encoder!r}")
        elif encoder == "transformer":
            enc = TransformerTextEncoder.from_corpus(texts, output_dim, name="encoder", **encoder_kwargs)
        else:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
        return cls(enc, intents, dropout=dropout, members=members, wide=wide)

    @classmethod
    def ensemble(cls, models: Sequence["IntentClassifier"]) -> "IntentClassifier":
        """One ``members=len(models)`` model from trained single n-gram models.

        The models must share intents and encoder settings (vocabularies
        included: build them from the same training texts); their embedding
        tables and softmax layers are copied side by side. The first model
        may be wide: its linear member becomes the ensemble's (the others
        must not be). Temperature and threshold start at 1 and 0:
        ``calibrate`` the result.
        """
        models = list(models)
        if len(models) < 2:
            raise ValueError("an ensemble needs at least two models")
        first = models[0]
        if any(m.members != 1 for m in models) or not all(
                isinstance(m.encoder, NgramEmbeddingEncoder) for m in models):
            raise ValueError("ensemble() takes single-member models with n-gram encoders")
        if any(m.wide for m in models[1:]):
            raise ValueError("only the first model of an ensemble may be wide (one linear member)")

        def settings(m):
            return {k: v for k, v in m.encoder.get_config().items() if k not in ("name", "linear_units")}

        config = settings(first)
        for m in models[1:]:
            if m.intents != first.intents:
                raise ValueError("the models must have the same intents, in the same order")
            if settings(m) != config:
                raise ValueError("the models' encoders differ (vocabularies or settings)")
        encoder = NgramEmbeddingEncoder(**{**config, "groups": len(models),
                                           "linear_units": first.encoder.linear_units}, name="encoder")
        out = cls(encoder, first.intents, dropout=first.dropout, members=len(models), wide=first.wide)
        out(tf.constant([""]), training=False)
        encoder.embedding.set_weights(
            [np.concatenate([m.encoder.embedding.get_weights()[0] for m in models], axis=1)])
        for head, m in zip([out.head, *out.member_heads], models):
            head.set_weights(m.head.get_weights())
        if first.wide:
            encoder.linear_embedding.set_weights(first.encoder.linear_embedding.get_weights())
            out.wide_bias.assign(first.wide_bias)
        return out

    # === Forward pass ===
    def call(self, text, training=None):
        if self.member_count == 1:
            x = self.encoder(text, training=training)
            return self.head(self.drop(x, training=training))
        return _log_mean_probability(self.member_logits(text, training=training))

    def member_logits(self, text, training=None):
        """``[batch, member_count, len(intents)]``: each member's own logits (the linear one last)."""
        x = self.encoder(text, training=training)
        linear = None
        if self.wide:
            x, linear = x[:, : -len(self.intents)], x[:, -len(self.intents) :]
        x = self.drop(x, training=training)
        parts = tf.split(x, self.members, axis=-1) if self.members > 1 else [x]
        heads = [self.head, *self.member_heads]
        logits = [head(part) for head, part in zip(heads, parts)]
        if linear is not None:
            logits.append(linear + self.wide_bias)
        return tf.stack(logits, axis=1)

    def train_step(self, data):
        if self.member_count == 1:
            return super().train_step(data)
        # Each member learns from its own loss (an ensemble, not one wide
        # model): the compiled loss is applied to every member's logits.
        x, y, sample_weight = tf.keras.utils.unpack_x_y_sample_weight(data)
        labels = tf.reshape(y, [-1, 1])
        with tf.GradientTape() as tape:
            member_logits = self.member_logits(x, training=True)
            loss = self.compute_loss(x, tf.repeat(labels, self.member_count, axis=1), member_logits,
                                     sample_weight)
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        return self.compute_metrics(x, y, _log_mean_probability(member_logits), sample_weight)

    def build_from_config(self, config):
        # Loading a saved model: create the weights by calling on raw text
        # (Model.build would feed a float placeholder).
        if not self.built:
            self(tf.constant([""]), training=False)

    def probabilities(self, text):
        """Softmax of the tempered logits, as a graph function of raw text."""
        return tf.nn.softmax(self(text, training=False) / self.temperature)

    # === Numpy helpers ===
    def label_ids(self, labels) -> np.ndarray:
        """Intent names -> output indices (an unknown name is an error)."""
        index = {k: i for i, k in enumerate(self.intents)}
        labels = np.asarray(labels, dtype=str).reshape(-1)
        unknown = sorted(set(labels.tolist()) - set(index))
        if unknown:
            raise ValueError(f"unknown intents {unknown[:5]} (the model knows {len(index)})")
        return np.array([index[y] for y in labels], np.int64)

    def logits(self, texts, batch_size: int = 1024) -> np.ndarray:
        texts = np.asarray(texts, dtype=str).reshape(-1)
        fn = _compiled(self)
        out = [fn(tf.constant(texts[i : i + batch_size])).numpy() for i in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros([0, len(self.intents)], np.float32)

    def member_probabilities(self, texts, batch_size: int = 1024) -> np.ndarray:
        """``[n, member_count, len(intents)]``: each member's softmax (no temperature).

        The model's probabilities are their mean (before the temperature);
        the first k members' mean shows what a smaller ensemble would do.
        """
        texts = np.asarray(texts, dtype=str).reshape(-1)
        out = [self.member_logits(tf.constant(texts[i : i + batch_size]), training=False).numpy()
               for i in range(0, len(texts), batch_size)]
        z = np.concatenate(out) if out else np.zeros([0, self.member_count, len(self.intents)], np.float32)
        return _softmax(z)

    def predict_proba(self, texts, batch_size: int = 1024) -> np.ndarray:
        """``[n, len(intents)]`` probabilities (with the calibrated temperature)."""
        return _softmax(self.logits(texts, batch_size) / self.temperature)

    def classify(self, texts, batch_size: int = 1024) -> dict[str, np.ndarray]:
        """``{"intent", "score", "is_out_of_scope"}`` for each text."""
        p = self.predict_proba(texts, batch_size)
        best = p.argmax(axis=1)
        score = p[np.arange(len(p)), best]
        return {
            "intent": np.array(self.intents)[best] if len(p) else np.array([], str),
            "score": score,
            "is_out_of_scope": score < self.threshold,
        }

    # === Calibration and evaluation ===
    def calibrate(self, texts, labels, out_of_scope_texts=None, *, accept_rate: float = 0.97,
                  temperature: bool = True) -> dict:
        """Sets ``temperature`` and ``threshold`` from a validation split.

        Args:
            texts, labels: in-scope validation queries (not used in training).
            out_of_scope_texts: validation queries that match no intent. With
                them, the threshold maximizes in-scope accuracy + out-of-scope
                recall, and so does the temperature: the NLL fit or a softer
                one (``text.metrics.calibrate_out_of_scope``). Without, the
                threshold accepts ``accept_rate`` of in-scope ones.
            accept_rate: see above.
            temperature: fit a softmax temperature first (Guo et al. 2017).

        Returns:
            ``{"temperature", "threshold", "nll_temperature"}``.
        """
        out_logits = None
        if out_of_scope_texts is not None and len(out_of_scope_texts):
            out_logits = self.logits(out_of_scope_texts)
        chosen = text_metrics.calibrate_out_of_scope(
            self.logits(texts), self.label_ids(labels), out_logits, accept_rate=accept_rate,
            fit=temperature)
        self.temperature, self.threshold = chosen["temperature"], chosen["threshold"]
        return chosen

    def report(self, texts, labels, out_of_scope_texts=None) -> dict:
        """Accuracy, macro-F1, per-intent scores and confusions; OOS figures if given.

        ``accuracy`` and ``macro_f1`` ignore the threshold (closed-set);
        ``in_scope_accuracy`` counts rejected in-scope queries as errors.
        """
        labels = np.asarray(labels, dtype=str)
        out = self.classify(texts)
        rep = text_metrics.classification_report(labels, out["intent"], self.intents)
        rep["threshold"] = self.threshold
        oos_scores = (self.classify(out_of_scope_texts)["score"]
                      if out_of_scope_texts is not None and len(out_of_scope_texts) else [])
        rep.update(text_metrics.out_of_scope_metrics(
            out["score"], out["intent"] == labels, oos_scores, self.threshold))
        return rep

    # === Config ===
    def get_config(self):
        return {
            "name": self.name,
            "encoder": tf.keras.layers.serialize(self.encoder),
            "intents": self.intents,
            "dropout": self.dropout,
            "threshold": self.threshold,
            "temperature": self.temperature,
            "members": self.members,
            "wide": self.wide,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _log_mean_probability(member_logits):
    """``log(mean_k softmax(z_k))`` over axis 1: an ensemble's probabilities as logits."""
    members = tf.cast(tf.shape(member_logits)[1], member_logits.dtype)
    return tf.reduce_logsumexp(tf.nn.log_softmax(member_logits, axis=-1), axis=1) - tf.math.log(members)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


_FUNCTIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _compiled(model):
    # One traced inference function per model, kept outside the model so that
    # it is not tracked (and saved) as one of its attributes.
    fn = _FUNCTIONS.get(model)
    if fn is None:
        fn = tf.function(lambda t: model(t, training=False),
                         input_signature=[tf.TensorSpec([None], tf.string)])
        _FUNCTIONS[model] = fn
    return fn
