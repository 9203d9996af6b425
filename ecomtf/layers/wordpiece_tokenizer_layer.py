"""Raw text -> WordPiece token ids (ragged), in the graph, TFLite-ready."""

from __future__ import annotations

from typing import Iterable

import tensorflow as tf
import tensorflow_text as tf_text

from ecomtf.layers.text_normalizer import TextNormalizer


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class WordpieceTokenizerLayer(tf.keras.layers.Layer):
    """Normalizes and WordPiece-tokenizes raw text with TF Text's fast ops.

    ``FastBertNormalizer`` then ``FastWordpieceTokenizer`` in end-to-end mode
    (``no_pretokenization=False``): text is split on whitespace and around
    punctuation and **every CJK ideograph** (BERT pre-tokenization), so
    Chinese is tokenized into characters, and each English word into the
    longest matching pieces (``orders`` -> ``order ##s``). Both ops have
    TFLite kernels and are linked in TF Serving 2.20.

    The vocabulary is held in memory (no asset file). Learn one with
    ``ecomtf.text.learn_wordpiece_vocabulary`` or ``from_corpus``; by
    convention ``vocabulary[0]`` is ``[PAD]`` and ``[UNK]`` is in it.

    Args:
        vocabulary: the WordPiece vocabulary (suffix pieces start with ``##``).
        lower_case: lower-case and strip accents first (as when learning).
        unknown_token: the token for words that cannot be split.
        max_bytes_per_word: longer words become ``unknown_token``.

    Call arguments:
        text: string tensor ``[batch]`` or ``[batch, 1]``.

    Returns:
        ``tf.RaggedTensor`` of int64 token ids, ``[batch, (tokens)]``.

    Example:
        >>> vocab = ["[PAD]", "[UNK]", "track", "order", "##s", "我", "想"]
        >>> tok = WordpieceTokenizerLayer(vocab)
        >>> tok.tokens(tf.constant(["Track orders", "我想"])).to_list()
        [[b'track', b'order', b'##s'], [b'\\xe6\\x88\\x91', b'\\xe6\\x83\\xb3']]
    """

    def __init__(
        self,
        vocabulary,
        lower_case: bool = True,
        unknown_token: str = "[UNK]",
        max_bytes_per_word: int = 100,
        **kwargs,
    ):
        super().__init__(trainable=False, **kwargs)
        self.vocabulary = [str(v) for v in vocabulary]
        self.lower_case = bool(lower_case)
        self.unknown_token = str(unknown_token)
        self.max_bytes_per_word = int(max_bytes_per_word)
        if self.unknown_token not in self.vocabulary:
            raise ValueError(f"the vocabulary must contain the unknown token {unknown_token!r}")
        self.unknown_id = self.vocabulary.index(self.unknown_token)
        self.normalizer = TextNormalizer(self.lower_case, name="normalizer")
        self.tokenizer = tf_text.FastWordpieceTokenizer(
            self.vocabulary,
            token_out_type=tf.int64,
            unknown_token=self.unknown_token,
            no_pretokenization=False,
            support_detokenization=False,
            max_bytes_per_word=self.max_bytes_per_word,
        )
        self.built = True

    @classmethod
    def from_corpus(cls, corpus: Iterable[str], vocab_size: int = 8000,
                    lower_case: bool = True, **kwargs) -> "WordpieceTokenizerLayer":
        """A tokenizer with a vocabulary learned from ``corpus`` (training text)."""
        from ecomtf.text.vocabulary import learn_wordpiece_vocabulary

        vocab = learn_wordpiece_vocabulary(corpus, vocab_size, lower_case=lower_case)
        return cls(vocab, lower_case=lower_case, **kwargs)

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def call(self, text):
        return self.tokenizer.tokenize(self.normalizer(text))

    def tokenize_normalized(self, text) -> tf.RaggedTensor:
        """Token ids of text already normalized by a ``TextNormalizer``."""
        return self.tokenizer.tokenize(tf.reshape(text, [-1]))

    def tokens(self, text) -> tf.RaggedTensor:
        """The token strings (``[batch, (tokens)]``), for n-grams and inspection."""
        ids = self(text)
        return ids.with_flat_values(tf.gather(tf.constant(self.vocabulary), ids.flat_values))

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        return {
            **config,
            "vocabulary": self.vocabulary,
            "lower_case": self.lower_case,
            "unknown_token": self.unknown_token,
            "max_bytes_per_word": self.max_bytes_per_word,
        }


def pack_token_ids(ragged: tf.RaggedTensor, max_tokens: int, *, start_id: int | None = None,
                   end_id: int | None = None):
    """Ragged token ids -> ``(dense ids [batch, width], lengths [batch])``, zero-padded.

    Keeps the first ``max_tokens`` ids of each row, optionally between
    ``start_id`` and ``end_id`` (BERT's ``[CLS] ... [SEP]``); ``width`` is the
    longest packed row (at least 1) and ``lengths`` count the special ids.
    Padding is done with ``scatter_nd`` on the flat ids rather than
    ``RaggedTensor.to_tensor`` or TF Text's ``BertPackInputs``, so the graph
    needs core TFLite builtins only.
    """
    ids = ragged.flat_values
    rows = ragged.value_rowids()
    position = tf.range(tf.size(ids, out_type=tf.int64)) - tf.gather(ragged.row_splits, rows)
    keep = position < max_tokens
    batch = ragged.nrows()
    offset = int(start_id is not None)
    lengths = tf.minimum(ragged.row_lengths(), max_tokens) + offset + int(end_id is not None)
    index = [tf.stack([tf.boolean_mask(rows, keep), tf.boolean_mask(position, keep) + offset], axis=1)]
    updates = [tf.boolean_mask(ids, keep)]
    row = tf.range(batch)
    for column, token in ((tf.zeros_like(row), start_id), (lengths - 1, end_id)):
        if token is not None:
            index.append(tf.stack([row, column], axis=1))
            updates.append(tf.fill([batch], tf.constant(token, ids.dtype)))
    width = tf.maximum(tf.reduce_max(tf.concat([lengths, [0]], 0)), 1)
    dense = tf.scatter_nd(tf.concat(index, 0), tf.concat(updates, 0), tf.stack([batch, width]))
    return dense, lengths
