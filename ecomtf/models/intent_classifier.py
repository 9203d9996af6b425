"""Customer query -> intent, with an out-of-scope decision."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from ecomtf.layers.bert_sentence_encoder import BertSentenceEncoder
from ecomtf.layers.ngram_embedding_encoder import NgramEmbeddingEncoder
from ecomtf.layers.pretrained_text_encoder import PretrainedTextEncoder
from ecomtf.layers.transformer_text_encoder import TransformerTextEncoder
from ecomtf.models.intent_model import IntentModel

ENCODERS = ("ngram", "transformer", "pretrained", "minilm")


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class IntentClassifier(IntentModel):
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
    differently: on CLINC150 the pair adds 0.4-1.1 points to the n-gram
    model and comes level with TF-IDF + logistic regression
    (docs/benchmarks/text.md), for one more table of ``features x intents``
    floats.

    A pretrained encoder (MiniLM) can be wide too: the linear member is then
    a separate ``wide_encoder``, an ``NgramEmbeddingEncoder`` with
    ``output_dim=0`` and ``linear_units=len(intents)`` (``from_texts``
    builds it from the training texts), next to the encoder's softmax layer.
    Measured on CLINC150: MiniLM's top layers fine-tuned with this wide
    member clear both the MiniLM-only model and TF-IDF + LR on closed-set
    accuracy and out-of-scope recall (docs/benchmarks/text.md).

    Args:
        encoder: a text encoder layer (``NgramEmbeddingEncoder``,
            ``TransformerTextEncoder``, ``PretrainedTextEncoder``, or any
            layer mapping ``[batch]`` strings to ``[batch, d]``).
        intents: the intent names, in output order.
        dropout: dropout on the encoding before the softmax layer.
        threshold: reject as out of scope when the top probability is below
            it (0: never).
        temperature: softmax temperature (logits / temperature).
        members: ensemble size (the encoder's output is split into this
            many equal parts, one softmax layer each).
        wide: add the linear member (needs an encoder with
            ``linear_units == len(intents)``, or a ``wide_encoder``;
            ``from_texts`` builds it).
        wide_encoder: the linear member's own n-gram layer for an encoder
            without a linear table (``NgramEmbeddingEncoder`` with
            ``output_dim=0`` and ``linear_units=len(intents)``); needs
            ``wide=True``.

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
                 wide: bool = False, wide_encoder=None, **kwargs):
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
        if isinstance(wide_encoder, dict):
            wide_encoder = tf.keras.layers.deserialize(wide_encoder)
        self.wide_encoder = wide_encoder
        if wide_encoder is not None and not (
                self.wide and getattr(wide_encoder, "output_dim", None) == 0
                and getattr(wide_encoder, "linear_units", 0) == len(self.intents)):
            raise ValueError(f"wide_encoder needs wide=True and an NgramEmbeddingEncoder with output_dim=0 and "
                             f"linear_units={len(self.intents)}")
        linear_source = self.encoder if wide_encoder is None else wide_encoder
        if self.wide and getattr(linear_source, "linear_units", 0) != len(self.intents):
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
                short queries), ``"transformer"`` (``TransformerTextEncoder``)
                ``"pretrained"`` (``PretrainedTextEncoder``: a local
                checkpoint, given as ``checkpoint=`` directory; its
                vocabulary is the checkpoint's, not learned from ``texts``)
                or ``"minilm"`` (``BertSentenceEncoder``: all-MiniLM-L6-v2
                from its pip package; ``trainable_layers=N`` fine-tunes the
                top N layers, 0 = frozen).
            output_dim: encoding size (of each member; a pretrained
                encoder has its own).
            dropout: dropout before the softmax layer.
            members: ensemble size (n-gram encoder only; see the class).
            wide: add the linear member (n-gram or MiniLM encoder; for
                MiniLM a ``wide_encoder`` learned from ``texts``; see the class).
            **encoder_kwargs: passed to the encoder's ``from_corpus``.
        """
        texts = [str(t) for t in np.asarray(texts).reshape(-1)]
        intents = sorted(set(np.asarray(labels, dtype=str).tolist()))
        if encoder == "ngram":
            enc = NgramEmbeddingEncoder.from_corpus(texts, output_dim, name="encoder", groups=members,
                                                    linear_units=len(intents) if wide else 0,
                                                    **encoder_kwargs)
        elif members != 1 or (wide and encoder != "minilm"):
            raise ValueError(f"members > 1 needs the n-gram encoder, wide=True the n-gram or MiniLM one, "
                             f"got encoder={encoder!r}")
        elif encoder == "transformer":
            enc = TransformerTextEncoder.from_corpus(texts, output_dim, name="encoder", **encoder_kwargs)
        elif encoder == "pretrained":
            if "checkpoint" not in encoder_kwargs:
                raise ValueError('encoder="pretrained" needs checkpoint= (a local SavedModel directory)')
            enc = PretrainedTextEncoder(name="encoder", **encoder_kwargs)
        elif encoder == "minilm":
            enc = BertSentenceEncoder(name="encoder", **encoder_kwargs)
            if wide:
                return cls(enc, intents, dropout=dropout, wide=True,
                           wide_encoder=wide_ngram_encoder(texts, len(intents)))
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
    def member_logits(self, text, training=None):
        """``[batch, member_count, len(intents)]``: each member's own logits (the linear one last)."""
        x = self.encoder(text, training=training)
        linear = self.wide_encoder(text, training=training) if self.wide_encoder is not None else None
        return self.members_from_encodings(x, linear, training=training)

    def members_from_encodings(self, x, linear=None, training=None):
        """``member_logits`` from the encoder's output (and the ``wide_encoder``'s, if any).

        The intent recipe calls it with MiniLM's top layers run on cached
        lower-layer states, so that path and ``call`` share one head.
        """
        if self.wide and linear is None:
            x, linear = x[:, : -len(self.intents)], x[:, -len(self.intents) :]
        x = self.drop(x, training=training)
        parts = tf.split(x, self.members, axis=-1) if self.members > 1 else [x]
        heads = [self.head, *self.member_heads]
        logits = [head(part) for head, part in zip(heads, parts)]
        if linear is not None:
            logits.append(linear + self.wide_bias)
        return tf.stack(logits, axis=1)

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
            "wide_encoder": None if self.wide_encoder is None else tf.keras.layers.serialize(self.wide_encoder),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)




# Feature dropout of the wide n-gram member next to a pretrained encoder (the n-gram model's default).
WIDE_FEATURE_DROPOUT = 0.2


def wide_ngram_encoder(texts, intents: int, **kwargs) -> NgramEmbeddingEncoder:
    """The linear n-gram member for a pretrained encoder: an ``NgramEmbeddingEncoder`` with no embedding table.

    Its vocabularies (WordPiece, token bigrams, character 3-5-grams) are
    learned from ``texts`` (training texts only), and its table holds one
    weight per feature and intent: a softmax regression on the n-gram
    features, as TF-IDF + logistic regression is.
    """
    kwargs.setdefault("feature_dropout", WIDE_FEATURE_DROPOUT)
    return NgramEmbeddingEncoder.from_corpus(texts, 0, linear_units=intents, name="wide_encoder", **kwargs)
