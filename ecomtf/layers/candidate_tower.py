"""The candidate side of a two-tower retrieval model: item id, attributes and text."""

from __future__ import annotations

import tensorflow as tf

from ecomtf.layers.categorical_embedding import CategoricalEmbedding
from ecomtf.layers.item_text_encoder import ItemTextEncoder
from ecomtf.layers.numeric_normalizer import NumericNormalizer


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class CandidateTower(tf.keras.layers.Layer):
    """Raw item features -> one candidate embedding.

    Embeds the item id (unknown items share an OOV vector), categorical
    attributes (brand, category, ...), numeric attributes (price, release
    year, ...; NaN-safe, standardized in the graph) and text fields (title,
    description, or space-separated tags such as genres) tokenized in the
    graph by ``ItemTextEncoder``. The parts are concatenated, passed through
    optional ReLU layers and projected to ``output_dim``. Because attributes
    and text are inputs, an item that was never trained on still gets a
    meaningful embedding from its attributes (cold start, re-indexing).

    A tower with only the item id and no hidden layers is exactly
    ``StringLookup + Embedding`` (no projection), the TFRS basic recipe.

    Args:
        item_vocabulary: known item ids.
        output_dim: size of the candidate embedding.
        item_id_feature: input name of the item id.
        id_dim: item-id embedding size (default ``output_dim``).
        categorical: attribute name -> vocabulary.
        categorical_dim: embedding size of each categorical attribute.
        numeric: names of numeric attributes.
        numeric_mean: their training means (after signed log).
        numeric_std: their standard deviations.
        text: text field name -> token vocabulary (see
            ``ItemTextEncoder.build_vocabulary``).
        text_dim: embedding size of each text field.
        ngram_width: word n-grams embedded by the text encoders.
        lowercase: lower-case text before tokenizing.
        text_encoder: ``"ngram"`` (``ItemTextEncoder``: word n-gram
            embeddings learned from the catalog) or ``"minilm"`` (the
            pretrained all-MiniLM-L6-v2, ``BertSentenceEncoder``, frozen,
            one copy shared by the text fields, each projected to
            ``text_dim``: titles of new items get a meaningful vector; the
            vocabularies in ``text`` are then unused).
        hidden_units: sizes of ReLU layers after the concatenation.
        dropout: dropout after each hidden layer.
        normalize: L2-normalize the output.
        l2: L2 regularization of the id embedding table.

    Call arguments:
        inputs: dict of raw tensors by feature name (extra keys are ignored).

    Returns:
        ``[batch, output_dim]`` float tensor.

    Example:
        >>> tower = CandidateTower(["a", "b"], 8, text={"title": ["red", "shoe"]})
        >>> tower({"item_id": tf.constant(["a"]),
        ...        "title": tf.constant(["red shoe"])}).shape
        TensorShape([1, 8])
    """

    def __init__(
        self,
        item_vocabulary=(),
        output_dim: int = 32,
        item_id_feature: str = "item_id",
        id_dim: int | None = None,
        categorical=None,
        categorical_dim: int = 8,
        numeric=(),
        numeric_mean=(),
        numeric_std=(),
        text=None,
        text_dim: int | None = None,
        ngram_width: int = 1,
        lowercase: bool = False,
        text_encoder: str = "ngram",
        hidden_units=(),
        dropout: float = 0.0,
        normalize: bool = False,
        l2: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.item_vocabulary = [str(v) for v in item_vocabulary]
        self.output_dim = int(output_dim)
        self.item_id_feature = item_id_feature
        self.id_dim = int(id_dim or output_dim)
        self.categorical = {str(k): [str(v) for v in vocab] for k, vocab in (categorical or {}).items()}
        self.categorical_dim = int(categorical_dim)
        self.numeric = [str(v) for v in numeric]
        self.numeric_mean = [float(v) for v in numeric_mean]
        self.numeric_std = [float(v) for v in numeric_std]
        self.text = {str(k): [str(v) for v in vocab] for k, vocab in (text or {}).items()}
        self.text_dim = int(text_dim or output_dim)
        self.ngram_width = int(ngram_width)
        self.lowercase = bool(lowercase)
        self.text_encoder = str(text_encoder)
        if self.text_encoder not in ("ngram", "minilm"):
            raise ValueError(f"text_encoder must be 'ngram' or 'minilm', got {text_encoder!r}")
        self.hidden_units = [int(u) for u in hidden_units]
        self.dropout = float(dropout)
        self.normalize = bool(normalize)
        self.l2 = float(l2)
        regularizer = tf.keras.regularizers.L2(self.l2) if self.l2 else None

        # === Layers ===
        self.item_embedding = (
            CategoricalEmbedding(
                self.item_vocabulary, self.id_dim, embeddings_regularizer=regularizer, name="item_id"
            )
            if item_id_feature
            else None
        )
        self.categorical_embeddings = {
            name: CategoricalEmbedding(vocab, self.categorical_dim, name=f"item_{name}")
            for name, vocab in self.categorical.items()
        }
        self.numeric_normalizer = (
            NumericNormalizer(self.numeric_mean, self.numeric_std, name="item_numeric")
            if self.numeric
            else None
        )
        self.minilm = None
        if self.text and self.text_encoder == "minilm":
            from ecomtf.layers.bert_sentence_encoder import BertSentenceEncoder

            # Item titles are short: 64 tokens keep serving cheap.
            self.minilm = BertSentenceEncoder(max_length=64, name="text_minilm")
        self.text_projections = {
            name: tf.keras.layers.Dense(self.text_dim, name=f"text_{name}_projection") for name in self.text
        } if self.minilm is not None else {}
        self.text_encoders = {} if self.minilm is not None else {
            name: ItemTextEncoder(
                vocab,
                self.text_dim,
                ngram_width=self.ngram_width,
                lowercase=self.lowercase,
                name=f"text_{name}",
            )
            for name, vocab in self.text.items()
        }
        self.hidden = [
            tf.keras.layers.Dense(u, activation="relu", name=f"hidden_{i}")
            for i, u in enumerate(self.hidden_units)
        ]
        self.dropouts = [tf.keras.layers.Dropout(self.dropout) for _ in self.hidden_units]
        n_parts = len(self.input_names())
        if n_parts == 0:
            raise ValueError("CandidateTower needs at least one input feature")
        only_id = n_parts == 1 and self.item_embedding is not None
        self.projection = (
            None
            if only_id and not self.hidden_units and self.id_dim == self.output_dim
            else tf.keras.layers.Dense(self.output_dim, name="projection")
        )

    @property
    def uses_text(self) -> bool:
        """Whether the graph tokenizes text (TF Text ops)."""
        return bool(self.text)

    def input_names(self) -> list[str]:
        """The feature names this tower reads."""
        names = [self.item_id_feature] if self.item_id_feature else []
        return names + list(self.categorical) + list(self.numeric) + list(self.text)

    def input_specs(self, batch_size=None) -> dict[str, tf.TensorSpec]:
        """Raw inputs as ``TensorSpec``s named after the features."""
        specs = {}
        for k in self.input_names():
            dtype = tf.float32 if k in self.numeric else tf.string
            specs[k] = tf.TensorSpec([batch_size], dtype, name=k)
        return specs

    # === Forward pass ===
    def call(self, inputs, training=None):
        parts = []
        if self.item_embedding is not None:
            parts.append(self.item_embedding(tf.reshape(inputs[self.item_id_feature], [-1])))
        for name, layer in self.categorical_embeddings.items():
            parts.append(layer(tf.reshape(inputs[name], [-1])))
        if self.numeric_normalizer is not None:
            values = [tf.reshape(tf.cast(inputs[k], tf.float32), [-1]) for k in self.numeric]
            parts.append(self.numeric_normalizer(tf.stack(values, axis=-1)))
        for name, layer in self.text_encoders.items():
            parts.append(layer(inputs[name]))
        for name, dense in self.text_projections.items():
            parts.append(dense(self.minilm(inputs[name])))
        x = tf.concat(parts, axis=-1) if len(parts) > 1 else parts[0]
        for dense, drop in zip(self.hidden, self.dropouts):
            x = drop(dense(x), training=training)
        if self.projection is not None:
            x = self.projection(x)
        if self.normalize:
            x = tf.math.l2_normalize(x, axis=-1)
        return x

    # === Config ===
    def get_config(self):
        return {
            **super().get_config(),
            "item_vocabulary": self.item_vocabulary,
            "output_dim": self.output_dim,
            "item_id_feature": self.item_id_feature,
            "id_dim": self.id_dim,
            "categorical": self.categorical,
            "categorical_dim": self.categorical_dim,
            "numeric": self.numeric,
            "numeric_mean": self.numeric_mean,
            "numeric_std": self.numeric_std,
            "text": self.text,
            "text_dim": self.text_dim,
            "ngram_width": self.ngram_width,
            "lowercase": self.lowercase,
            "text_encoder": self.text_encoder,
            "hidden_units": self.hidden_units,
            "dropout": self.dropout,
            "normalize": self.normalize,
            "l2": self.l2,
        }
