"""Probability that a session (or a user, within a horizon) ends in a purchase."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ecomtf.layers.behavior_sequence_encoder import BehaviorSequenceEncoder
from ecomtf.layers.categorical_embedding import CategoricalEmbedding
from ecomtf.layers.numeric_normalizer import NumericNormalizer
from ecomtf.layers.prefix_counts import PrefixCounts

ITEM_ID = "item_id"
EVENT_TYPE = "event_type"
DEFAULT_STEP_NUMERIC = ("time_delta", "dwell_time")
TIME_DELTA = "time_delta"


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class PurchasePredictor(tf.keras.Model):
    """Behaviour sequence + session context -> P(purchase).

    An LSTM reads the user's recent events (item id, event type, and
    per-step timing such as seconds since the previous event and dwell time);
    its state is joined with numeric and categorical session features
    (NaN-safe, standardized in the graph) and a small MLP gives the purchase
    probability. Either part may be absent: sequences only, session features
    only (e.g. the Online Shoppers table), or both.

    With ``wide=True`` (and a sequence) the model also has a wide part
    (Wide & Deep): ``PrefixCounts`` computes, in the graph from the raw
    sequence, the count and recency per event type, events and distinct items
    that simple count rules use; a linear layer on them is added to the deep
    logit, and they also join the MLP's input. The model then holds the
    logistic regression on counts as a special case, learned in the same
    graph, instead of having to rediscover "number of carts" through an LSTM.

    Everything a client sends is raw: string ids, event-type strings, seconds,
    numbers and category strings. Build with ``from_dataset``, which learns
    vocabularies and scaling from training data only.

    Args:
        sequence_length: events kept per sequence; 0 for no sequence input.
        item_vocabulary: item ids known to the model (others share an OOV
            bucket).
        event_vocabulary: event types known to the model.
        step_numeric: names of per-step numeric inputs.
        step_mean: training means of ``step_numeric`` (after signed log).
        step_std: their standard deviations.
        context_numeric: names of session-level numeric inputs.
        context_mean: training means of ``context_numeric``.
        context_std: their standard deviations.
        context_categorical: session-level categorical input -> vocabulary.
        item_dim: item embedding size.
        event_dim: event-type embedding size.
        lstm_units: LSTM size.
        context_dim: embedding size of each categorical context feature.
        hidden_units: sizes of the MLP layers after the merge.
        dropout: dropout rate in the MLP.
        l2: L2 regularization of the item embeddings.
        output_bias: initial logit bias; ``from_dataset`` sets it to the
            training log-odds so training starts calibrated.
        unroll: unroll the LSTM (the TFLite twin).
        wide: add the wide part on prefix counts (needs a sequence).

    Call arguments:
        inputs: dict of raw tensors: ``item_id``/``event_type`` string
            ``[batch, steps]``, each ``step_numeric`` float ``[batch, steps]``,
            each ``context_numeric`` float ``[batch]`` and each
            ``context_categorical`` string ``[batch]``.

    Returns:
        ``[batch, 1]`` purchase probabilities.

    Example:
        >>> feats = {"item_id": np.array([["", "a", "b"], ["a", "a", "c"]]),
        ...          "event_type": np.array([["", "view", "cart"], ["view"] * 3])}
        >>> model = PurchasePredictor.from_dataset(feats, np.array([1.0, 0.0]))
        >>> model.predict(feats, verbose=0).shape
        (2, 1)

    Reference:
        Sakar et al., "Real-time prediction of online shoppers' purchasing
        intention using multilayer perceptron and LSTM recurrent neural
        networks", Neural Computing and Applications 31 (2019).
    """

    def __init__(
        self,
        sequence_length: int = 0,
        item_vocabulary=(),
        event_vocabulary=(),
        step_numeric=(),
        step_mean=(),
        step_std=(),
        context_numeric=(),
        context_mean=(),
        context_std=(),
        context_categorical=None,
        item_dim: int = 32,
        event_dim: int = 8,
        lstm_units: int = 64,
        context_dim: int = 8,
        hidden_units=(64,),
        dropout: float = 0.1,
        l2: float = 0.0,
        output_bias: float = 0.0,
        unroll: bool = False,
        wide: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sequence_length = int(sequence_length)
        self.item_vocabulary = [str(v) for v in item_vocabulary]
        self.event_vocabulary = [str(v) for v in event_vocabulary]
        self.step_numeric = [str(v) for v in step_numeric]
        self.step_mean = [float(v) for v in step_mean]
        self.step_std = [float(v) for v in step_std]
        self.context_numeric = [str(v) for v in context_numeric]
        self.context_mean = [float(v) for v in context_mean]
        self.context_std = [float(v) for v in context_std]
        self.context_categorical = {
            str(k): [str(v) for v in vocab] for k, vocab in (context_categorical or {}).items()
        }
        self.item_dim = int(item_dim)
        self.event_dim = int(event_dim)
        self.lstm_units = int(lstm_units)
        self.context_dim = int(context_dim)
        self.hidden_units = [int(u) for u in hidden_units]
        self.dropout = float(dropout)
        self.l2 = float(l2)
        self.output_bias = float(output_bias)
        self.unroll = bool(unroll)
        self.wide = bool(wide) and bool(self.sequence_length)
        if not (self.sequence_length or self.context_numeric or self.context_categorical):
            raise ValueError("PurchasePredictor needs a sequence or session features")

        # === Layers ===
        self.sequence_encoder = None
        if self.sequence_length:
            self.sequence_encoder = BehaviorSequenceEncoder(
                self.item_vocabulary,
                self.event_vocabulary,
                self.sequence_length,
                numeric_mean=self.step_mean,
                numeric_std=self.step_std,
                item_dim=self.item_dim,
                event_dim=self.event_dim,
                units=self.lstm_units,
                unroll=self.unroll,
                embeddings_regularizer=tf.keras.regularizers.L2(self.l2) if self.l2 else None,
                name="sequence_encoder",
            )
        self.context_normalizer = (
            NumericNormalizer(self.context_mean, self.context_std, name="context_numeric")
            if self.context_numeric
            else None
        )
        self.context_embeddings = {
            name: CategoricalEmbedding(vocab, self.context_dim, name=f"context_{name}")
            for name, vocab in self.context_categorical.items()
        }
        self.hidden = [
            tf.keras.layers.Dense(u, activation="relu", name=f"hidden_{i}")
            for i, u in enumerate(self.hidden_units)
        ]
        self.dropouts = [tf.keras.layers.Dropout(self.dropout) for _ in self.hidden_units]
        self.head = tf.keras.layers.Dense(
            1,
            activation=None if self.wide else "sigmoid",
            # With a wide part the deep side starts silent: the model starts as the
            # count regression (``fit_wide``) and training moves it from there.
            kernel_initializer="zeros" if self.wide else "glorot_uniform",
            bias_initializer=tf.keras.initializers.Constant(self.output_bias),
            name="purchase_logit" if self.wide else "purchase_probability",
        )
        if self.wide:
            self.prefix_counts = PrefixCounts(self.event_vocabulary, self.sequence_length,
                                              name="prefix_counts")
            self.wide_logit = tf.keras.layers.Dense(1, use_bias=False, name="wide_logit")

    # === Builder ===
    @classmethod
    def from_dataset(
        cls,
        features: dict,
        labels=None,
        *,
        step_numeric=None,
        context_numeric=None,
        context_categorical=None,
        min_item_count: int = 1,
        max_items: int | None = None,
        **kwargs,
    ) -> "PurchasePredictor":
        """Builds a model whose vocabularies and scaling come from ``features``.

        Pass training data only. Inputs are recognised by shape and type
        unless named: ``item_id``/``event_type`` make the sequence; other 2-D
        float arrays are per-step numerics; 1-D floats are numeric and 1-D
        strings categorical session features.

        Args:
            features: name -> numpy array (or a ``tf.data.Dataset`` of
                ``(features, labels)`` batches, read once).
            labels: 0/1 labels; sets the initial bias to the log-odds.
            step_numeric, context_numeric, context_categorical: override the
                recognised input names.
            min_item_count: items seen fewer times go to the OOV bucket.
            max_items: keep at most this many items (most frequent).
            **kwargs: other constructor arguments.
        """
        from ecomtf.data.vocabulary import build_vocabulary

        if isinstance(features, tf.data.Dataset):
            features, labels = _collect(features)
        features = {k: np.asarray(v) for k, v in features.items()}
        config = dict(kwargs)
        if ITEM_ID in features:
            items = features[ITEM_ID]
            config["sequence_length"] = kwargs.get("sequence_length", items.shape[1])
            config["item_vocabulary"] = build_vocabulary(
                items.ravel(), min_count=min_item_count, max_size=max_items
            )
            if not config["item_vocabulary"]:
                raise ValueError(
                    f"no item occurs {min_item_count} times in the training sequences; "
                    "lower min_item_count"
                )
            config["event_vocabulary"] = build_vocabulary(features[EVENT_TYPE].ravel())
            if step_numeric is None:
                step_numeric = [
                    k for k, v in features.items()
                    if v.ndim == 2 and v.dtype.kind == "f"
                ]
            mask = items != ""
            if step_numeric:
                steps = np.stack([features[k][mask] for k in step_numeric], axis=-1)
                mean, std = NumericNormalizer.statistics(steps)
                config.update(step_numeric=step_numeric, step_mean=mean, step_std=std)
        if context_numeric is None:
            context_numeric = [
                k for k, v in features.items() if v.ndim == 1 and v.dtype.kind in "fiub"
            ]
        if context_numeric:
            values = np.stack([features[k].astype(np.float64) for k in context_numeric], -1)
            mean, std = NumericNormalizer.statistics(values)
            config.update(context_numeric=context_numeric, context_mean=mean, context_std=std)
        if context_categorical is None:
            context_categorical = [
                k for k, v in features.items() if v.ndim == 1 and v.dtype.kind in "USO"
            ]
        config["context_categorical"] = {
            k: build_vocabulary(features[k].astype(str)) for k in context_categorical
        }
        if labels is not None:
            p = float(np.clip(np.mean(labels), 1e-4, 1 - 1e-4))
            config.setdefault("output_bias", float(np.log(p / (1 - p))))
        return cls(**config)

    # === Forward pass ===
    def call(self, inputs, training=None):
        parts = []
        wide = None
        if self.wide:
            delta = inputs[TIME_DELTA] if TIME_DELTA in self.step_numeric else None
            wide = self.prefix_counts(inputs[ITEM_ID], inputs[EVENT_TYPE], delta)
            parts.append(wide)
        if self.sequence_encoder is not None:
            numeric = None
            if self.step_numeric:
                numeric = tf.stack(
                    [tf.cast(inputs[k], tf.float32) for k in self.step_numeric], axis=-1
                )
            parts.append(
                self.sequence_encoder(inputs[ITEM_ID], inputs[EVENT_TYPE], numeric)
            )
        if self.context_normalizer is not None:
            numeric = tf.stack(
                [tf.cast(inputs[k], tf.float32) for k in self.context_numeric], axis=-1
            )
            parts.append(self.context_normalizer(numeric))
        for name, layer in self.context_embeddings.items():
            parts.append(layer(inputs[name]))
        x = tf.concat(parts, axis=-1) if len(parts) > 1 else parts[0]
        for dense, drop in zip(self.hidden, self.dropouts):
            x = drop(dense(x), training=training)
        if wide is None:
            return self.head(x)
        return tf.sigmoid(self.head(x) + self.wide_logit(wide))

    def fit_wide(self, features: dict, labels, l2: float = 1e-2) -> None:
        """Starts the wide part at the logistic regression on the prefix counts.

        Fits ``ecomtf.evaluation.purchase_baselines.LogisticRegression`` on
        the ``PrefixCounts`` columns of ``features`` (training rows) and sets
        the wide weights and the output bias to it; with the deep side's
        output weights at zero, the untrained model then scores exactly as
        that regression, and training starts from a model no worse than the
        count baseline on the training rows.
        """
        from ecomtf.evaluation.purchase_baselines import LogisticRegression

        if not self.wide:
            raise ValueError("this model has no wide part")
        if not self.built:
            self(_dummy_inputs(self.input_specs(1, self.sequence_length)), training=False)
        delta = features.get(TIME_DELTA) if TIME_DELTA in self.step_numeric else None
        x = self.prefix_counts(tf.constant(np.asarray(features[ITEM_ID]).astype(str)),
                               tf.constant(np.asarray(features[EVENT_TYPE]).astype(str)),
                               None if delta is None else tf.constant(np.asarray(delta, np.float32)))
        lr = LogisticRegression(l2=l2).fit(x.numpy(), labels)
        # Back from standardized columns to the raw ones the layer feeds.
        w = lr.weights[1:] / lr.std
        b = lr.weights[0] - float(np.sum(w * lr.mean))
        self.wide_logit.kernel.assign(w[:, None].astype(np.float32))
        self.head.bias.assign([np.float32(b)])

    # === Inputs ===
    def input_specs(self, batch_size=None, steps=None) -> dict[str, tf.TensorSpec]:
        """The raw inputs, as ``TensorSpec``s named after the features."""
        specs = {}
        if self.sequence_length:
            for k in (ITEM_ID, EVENT_TYPE):
                specs[k] = tf.TensorSpec([batch_size, steps], tf.string, name=k)
            for k in self.step_numeric:
                specs[k] = tf.TensorSpec([batch_size, steps], tf.float32, name=k)
        for k in self.context_numeric:
            specs[k] = tf.TensorSpec([batch_size], tf.float32, name=k)
        for k in self.context_categorical:
            specs[k] = tf.TensorSpec([batch_size], tf.string, name=k)
        return specs

    def item_vectors(self, vectors: dict) -> int:
        """Warm-starts the item embeddings from ``{item_id: vector}``."""
        if self.sequence_encoder is None:
            raise ValueError("this model has no sequence input")
        if not self.built:
            self(_dummy_inputs(self.input_specs(1, self.sequence_length)), training=False)
        return self.sequence_encoder.set_item_vectors(vectors)

    def mobile_twin(self) -> "PurchasePredictor":
        """A copy with an unrolled LSTM (TFLite, dynamic batch), same weights."""
        twin = type(self).from_config({**self.get_config(), "unroll": True})
        twin(_dummy_inputs(self.input_specs(1, self.sequence_length or None)), training=False)
        if not self.built:
            self(_dummy_inputs(self.input_specs(1, self.sequence_length or None)), training=False)
        twin.set_weights(self.get_weights())
        return twin

    # === Config ===
    def get_config(self):
        return {
            "name": self.name,
            "sequence_length": self.sequence_length,
            "item_vocabulary": self.item_vocabulary,
            "event_vocabulary": self.event_vocabulary,
            "step_numeric": self.step_numeric,
            "step_mean": self.step_mean,
            "step_std": self.step_std,
            "context_numeric": self.context_numeric,
            "context_mean": self.context_mean,
            "context_std": self.context_std,
            "context_categorical": self.context_categorical,
            "item_dim": self.item_dim,
            "event_dim": self.event_dim,
            "lstm_units": self.lstm_units,
            "context_dim": self.context_dim,
            "hidden_units": self.hidden_units,
            "dropout": self.dropout,
            "l2": self.l2,
            "output_bias": self.output_bias,
            "unroll": self.unroll,
            "wide": self.wide,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _dummy_inputs(specs):
    out = {}
    for k, s in specs.items():
        shape = [1 if d is None else d for d in s.shape.as_list()]
        out[k] = tf.fill(shape, "") if s.dtype == tf.string else tf.zeros(shape, s.dtype)
    return out


def _collect(dataset):
    feats, labels = {}, []
    for batch in dataset:
        x, y = batch if isinstance(batch, tuple) else (batch, None)
        for k, v in x.items():
            v = v.numpy()
            feats.setdefault(k, []).append(v.astype(str) if v.dtype == object else v)
        if y is not None:
            labels.append(np.asarray(y))
    return (
        {k: np.concatenate(v) for k, v in feats.items()},
        np.concatenate(labels) if labels else None,
    )
