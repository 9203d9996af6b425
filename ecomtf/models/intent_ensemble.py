"""Trained intent models of different kinds, served as one model."""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from ecomtf.models.intent_model import IntentModel


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class IntentEnsemble(IntentModel):
    """Intent models with different encoders, averaged in one graph.

    ``IntentClassifier(members=K)`` averages n-gram models inside one
    encoder; this joins models that share nothing but their intents, e.g.
    a wide n-gram model (bag of n-grams, blind to word order) and a
    Transformer model (word order, no character n-grams). Each model's
    probabilities (its logits at temperature 1) are averaged and ``call``
    returns the log of the mean, so the ensemble calibrates, reports,
    exports (``IntentClassifierServable``) and converts to TFLite like one
    model; each query is tokenized once per model. ``fit`` trains every
    model on its own loss; ``recipes.intent.train(encoder="ngram+transformer")``
    trains them apart (each with its own learning rate and early stopping)
    and joins them. Measured on CLINC150 (docs/benchmarks/text.md): a wide
    n-gram model and a Transformer together beat each alone, are level with
    TF-IDF + logistic regression on closed-set accuracy and better at
    out-of-scope detection, for the Transformer's serving cost.

    Args:
        models: two or more intent models (``IntentModel``: an
            ``IntentClassifier`` or another ensemble) with the same intents
            in the same order.
        threshold: reject as out of scope when the top probability is below
            it (0: never).
        temperature: softmax temperature of the averaged model.

    Call arguments:
        text: string tensor ``[batch]``.
        training: whether the models' dropout applies.

    Returns:
        ``[batch, len(intents)]``: log of the models' mean probability.

    Example:
        >>> both = IntentEnsemble([ngram_model, transformer_model])
        >>> both.calibrate(val_texts, val_labels)
        >>> both.classify(["where is my parcel"])["intent"]
        array(['track_order'], dtype='<U11')
    """

    def __init__(self, models: Sequence[IntentModel], threshold: float = 0.0, temperature: float = 1.0,
                 **kwargs):
        super().__init__(**kwargs)
        models = [tf.keras.layers.deserialize(m) if isinstance(m, dict) else m for m in models]
        if len(models) < 2:
            raise ValueError("an IntentEnsemble needs at least two models")
        if not all(isinstance(m, IntentModel) for m in models):
            raise ValueError("IntentEnsemble joins intent models (IntentClassifier, IntentEnsemble)")
        intents = [str(i) for i in models[0].intents]
        for m in models[1:]:
            if [str(i) for i in m.intents] != intents:
                raise ValueError("the models must have the same intents, in the same order")
        self.models = models
        self.intents = intents
        self.threshold = float(threshold)
        self.temperature = float(temperature)

    @property
    def member_count(self) -> int:
        return len(self.models)

    # === Forward pass ===
    def member_logits(self, text, training=None):
        """``[batch, len(models), len(intents)]``: each model's logits."""
        return tf.stack([m(text, training=training) for m in self.models], axis=1)

    # === Config ===
    def get_config(self):
        return {
            "name": self.name,
            "models": [tf.keras.layers.serialize(m) for m in self.models],
            "threshold": self.threshold,
            "temperature": self.temperature,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
