"""Raw text -> WordPiece tokens -> small Transformer -> pooled vector."""

from __future__ import annotations

from typing import Iterable

import tensorflow as tf

from ecomtf.layers.transformer_encoder_block import TransformerEncoderBlock
from ecomtf.layers.wordpiece_tokenizer_layer import WordpieceTokenizerLayer
from ecomtf.layers.wordpiece_tokenizer_layer import pack_token_ids


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class TransformerTextEncoder(tf.keras.layers.Layer):
    """A small Transformer over WordPiece tokens, trained from scratch.

    Raw text is normalized and tokenized in the graph
    (``WordpieceTokenizerLayer``: TF Text ops with TFLite kernels), cut to
    ``max_length`` tokens and padded to the longest row of the batch with
    core ops (``scatter_nd``), embedded with learned token and position
    embeddings, run through ``num_layers`` pre-LN encoder blocks and
    mean-pooled over the real tokens. Empty text gives the pooled
    embedding of nothing: zeros before the final normalization.

    It models word order, which a bag of n-grams cannot, but without
    pretrained weights it needs more data and time than
    ``NgramEmbeddingEncoder``; see docs/text_models.md for when to pick it.

    Args:
        vocabulary: WordPiece vocabulary (``[PAD]`` first).
        output_dim: hidden size (and output size).
        num_layers: encoder blocks.
        num_heads: attention heads.
        intermediate_dim: feed-forward width.
        max_length: tokens kept per text (the rest is cut).
        dropout: dropout rate inside the blocks and on embeddings.
        lower_case: lower-case and strip accents.

    Call arguments:
        text: string tensor ``[batch]`` or ``[batch, 1]``.
        training: whether dropout applies.

    Returns:
        ``[batch, output_dim]`` float tensor.

    Example:
        >>> enc = TransformerTextEncoder.from_corpus(["track my order"], output_dim=16,
        ...                                          num_heads=2, vocab_size=50)
        >>> enc(tf.constant(["track it"])).shape
        TensorShape([1, 16])
    """

    def __init__(
        self,
        vocabulary,
        output_dim: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        intermediate_dim: int = 256,
        max_length: int = 64,
        dropout: float = 0.1,
        lower_case: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary = [str(v) for v in vocabulary]
        self.output_dim = int(output_dim)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.max_length = int(max_length)
        self.dropout = float(dropout)
        self.lower_case = bool(lower_case)

        # === Layers ===
        self.tokenizer = WordpieceTokenizerLayer(self.vocabulary, lower_case=self.lower_case,
                                                 name="tokenizer")
        self.token_embedding = tf.keras.layers.Embedding(
            len(self.vocabulary), self.output_dim,
            embeddings_initializer=tf.keras.initializers.RandomNormal(stddev=0.02),
            name="token_embedding",
        )
        self.position_embedding = tf.keras.layers.Embedding(
            self.max_length, self.output_dim,
            embeddings_initializer=tf.keras.initializers.RandomNormal(stddev=0.02),
            name="position_embedding",
        )
        self.embedding_norm = tf.keras.layers.LayerNormalization(epsilon=1e-6, name="embedding_norm")
        self.embedding_dropout = tf.keras.layers.Dropout(self.dropout)
        self.blocks = [
            TransformerEncoderBlock(self.num_heads, self.intermediate_dim, self.dropout,
                                    name=f"block_{i}")
            for i in range(self.num_layers)
        ]
        self.final_norm = tf.keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")

    @classmethod
    def from_corpus(cls, corpus: Iterable[str], output_dim: int = 128, *, vocab_size: int = 8000,
                    lower_case: bool = True, min_count: int = 2, **kwargs) -> "TransformerTextEncoder":
        """An encoder with a WordPiece vocabulary learned from ``corpus``."""
        from ecomtf.text.vocabulary import learn_wordpiece_vocabulary

        vocab = learn_wordpiece_vocabulary(corpus, vocab_size, lower_case=lower_case,
                                           min_count=min_count)
        return cls(vocab, output_dim, lower_case=lower_case, **kwargs)

    def token_ids(self, text):
        """``(ids [batch, length], mask [batch, length])``, cut at ``max_length``."""
        text = tf.reshape(tf.convert_to_tensor(text, tf.string), [-1])
        dense, _ = pack_token_ids(self.tokenizer(text), self.max_length)
        return dense, tf.not_equal(dense, 0)

    def call(self, text, training=None):
        ids, mask = self.token_ids(text)
        length = tf.shape(ids)[1]
        x = self.token_embedding(ids) + tf.expand_dims(self.position_embedding(tf.range(length)), 0)
        x = self.embedding_dropout(self.embedding_norm(x), training=training)
        for block in self.blocks:
            x = block(x, mask, training=training)
        weight = tf.expand_dims(tf.cast(mask, x.dtype), -1)
        pooled = tf.reduce_sum(x * weight, 1) / tf.maximum(tf.reduce_sum(weight, 1), 1.0)
        return self.final_norm(pooled)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], self.output_dim])

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": self.vocabulary,
            "output_dim": self.output_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "max_length": self.max_length,
            "dropout": self.dropout,
            "lower_case": self.lower_case,
        }
