"""The outputs, calibration and training step that every intent model shares."""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from ecomtf.text import metrics as text_metrics


class IntentModel(tf.keras.Model):
    """Base of the intent models: raw text in, logits over ``intents`` out.

    A subclass sets ``intents`` (the names, in output order),
    ``temperature`` and ``threshold`` (set by ``calibrate``), and implements
    ``member_logits`` and ``member_count``: a model is one or more members
    whose probabilities are averaged, and ``call`` returns the log of that
    mean (for one member, its logits). This class gives them all the same
    training step (with several members, each learns on its own loss),
    numpy helpers, calibration and report, and one servable
    (``IntentClassifierServable``) exports any of them.
    """

    intents: list
    temperature: float = 1.0
    threshold: float = 0.0

    @property
    def member_count(self) -> int:
        """Members whose probabilities are averaged."""
        raise NotImplementedError

    def member_logits(self, text, training=None):
        """``[batch, member_count, len(intents)]``: each member's own logits."""
        raise NotImplementedError

    def call(self, text, training=None):
        logits = self.member_logits(text, training=training)
        if self.member_count == 1:
            return logits[:, 0]
        return log_mean_probability(logits)

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
        return self.compute_metrics(x, y, log_mean_probability(member_logits), sample_weight)

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
        return text_metrics.softmax(z)

    def predict_proba(self, texts, batch_size: int = 1024) -> np.ndarray:
        """``[n, len(intents)]`` probabilities (with the calibrated temperature)."""
        return text_metrics.softmax(self.logits(texts, batch_size) / self.temperature)

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


def log_mean_probability(member_logits):
    """``log(mean_k softmax(z_k))`` over axis 1: an ensemble's probabilities as logits."""
    members = tf.cast(tf.shape(member_logits)[1], member_logits.dtype)
    return tf.reduce_logsumexp(tf.nn.log_softmax(member_logits, axis=-1), axis=1) - tf.math.log(members)


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
