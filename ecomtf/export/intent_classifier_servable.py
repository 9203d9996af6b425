"""Serving and mobile signatures of an intent model: raw text in, intents out."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ecomtf.export.servable import Servable
from ecomtf.export.servable import register_servable
from ecomtf.models.intent_model import IntentModel

TEXT = "text"


@register_servable(IntentModel)
class IntentClassifierServable(Servable):
    """Exports an intent model (IntentClassifier, IntentEnsemble) for TF Serving and TFLite.

    The graph normalizes and tokenizes with TF Text ops that the stock
    TF Serving 2.20 server links and that have TFLite kernels; the intent
    names, temperature and out-of-scope threshold are baked in.

    Signatures:
        serving_default: ``text [batch]`` strings -> ``intent [batch]``
            (the most likely intent's name), ``score [batch]`` (its
            probability), ``is_out_of_scope [batch]`` (score below the
            calibrated threshold) and ``probabilities [batch, n_intents]``.
        classify: TF Serving's Classify API: ``inputs``, serialized
            ``tf.Example`` protos with a bytes feature ``text`` ->
            ``classes [batch, n_intents]`` and ``scores``.
        mobile (TFLite): same inputs and outputs as serving_default; needs
            the TF Text TFLite kernels (``uses_tf_text``).

    Args:
        model: a trained, calibrated intent model.
        examples: texts for the warmup requests (default: the intent names).
    """

    uses_tf_text = True

    def __init__(self, model: IntentModel, examples=None):
        super().__init__()
        self.model = model
        self.intent_names = tf.constant(model.intents)
        self._examples = examples

    def _answer(self, text):
        p = self.model.probabilities(tf.reshape(text, [-1]))
        best = tf.argmax(p, axis=1, output_type=tf.int32)
        score = tf.reduce_max(p, axis=1)
        return {
            "intent": tf.gather(self.intent_names, best),
            "score": score,
            "is_out_of_scope": score < self.model.threshold,
            "probabilities": p,
        }

    def _classify(self, inputs):
        parsed = tf.io.parse_example(inputs, {TEXT: tf.io.FixedLenFeature([], tf.string, default_value="")})
        p = self.model.probabilities(parsed[TEXT])
        classes = tf.tile(tf.expand_dims(self.intent_names, 0), [tf.shape(p)[0], 1])
        return {"classes": classes, "scores": p}

    def signatures(self):
        return {
            "serving_default": tf.function(
                self._answer, input_signature=[tf.TensorSpec([None], tf.string, name=TEXT)]
            ),
            "classify": tf.function(
                self._classify, input_signature=[tf.TensorSpec([None], tf.string, name="inputs")]
            ),
        }

    def mobile_signatures(self):
        return {
            "mobile": tf.function(
                self._answer, input_signature=[tf.TensorSpec([None], tf.string, name=TEXT)]
            )
        }

    def warmup_inputs(self):
        texts = np.asarray(self._examples if self._examples is not None else
                           [i.replace("_", " ") for i in self.model.intents[:4]]).astype(object)
        return {"serving_default": {TEXT: texts}, "classify": {"inputs": to_tf_examples(texts)}}


def to_tf_examples(texts) -> np.ndarray:
    """Serializes texts as ``tf.Example`` protos with a ``text`` bytes feature."""
    out = []
    for t in np.asarray(texts).reshape(-1):
        raw = t if isinstance(t, bytes) else str(t).encode("utf-8")
        feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[raw]))
        example = tf.train.Example(features=tf.train.Features(feature={TEXT: feature}))
        out.append(example.SerializeToString())
    return np.array(out, dtype=object)
