"""Raw text -> pooled embeddings of WordPiece tokens, token n-grams and char n-grams."""

from __future__ import annotations

import collections
from typing import Iterable
from typing import Sequence

import tensorflow as tf
import tensorflow_text as tf_text

from ecomtf.layers.text_normalizer import TextNormalizer
from ecomtf.layers.wordpiece_tokenizer_layer import WordpieceTokenizerLayer

POOLINGS = ("mean", "sqrtn", "sum")


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class NgramEmbeddingEncoder(tf.keras.layers.Layer):
    """A fastText-style text encoder, entirely in the graph.

    Text is normalized (``FastBertNormalizer``) and cut three ways, with
    tensorflow-text ops that have TFLite kernels and that TF Serving links:

    - WordPiece tokens (``FastWordpieceTokenizer``; Chinese becomes
      characters);
    - token n-grams of width 2 .. ``ngram_width`` (``ngrams`` with
      ``STRING_JOIN``; for Chinese these are character bigrams, the usual
      strong baseline for unsegmented text);
    - character n-grams of the given widths: a second
      ``FastWordpieceTokenizer`` whose vocabulary is single characters splits
      words into characters (``h ##e ##l ##l ##o``; the ``##`` marks where
      words start), then ``ngrams`` joins them. They make the encoder robust
      to typos and unseen inflections.

    Each feature is looked up in an in-memory vocabulary (``StringLookup``,
    a TFLite hash-table builtin) and embedded; unknown features are left out.
    The output is the pooled embedding: ``"sqrtn"`` (sum / sqrt(count), the
    embedding analogue of an L2-normalized TF-IDF vector), ``"mean"`` or
    ``"sum"``. Text with no known feature gives zeros.

    Build the vocabularies with ``from_corpus`` on training text.

    Args:
        vocabulary: WordPiece vocabulary (``[PAD]`` first, ``[UNK]`` second).
        output_dim: embedding size.
        ngram_vocabulary: known token n-grams (tokens joined by a space).
        ngram_width: token n-grams of width 2 .. this (1: none).
        char_vocabulary: single characters and ``##`` forms, ``[UNK]`` first.
        char_ngram_vocabulary: known character n-grams (joined without a
            separator, e.g. ``h##e##l``).
        char_ngram_widths: widths of the character n-grams.
        lower_case: lower-case and strip accents.
        pooling: ``"sqrtn"``, ``"mean"`` or ``"sum"``.
        feature_dropout: in training, drop this fraction of feature
            occurrences (regularizes, as word dropout does).
        embeddings_regularizer: optional regularizer for the table.
        groups: independent encodings side by side (for ensembles): each
            feature has ``groups`` embeddings of ``output_dim``, each group
            its own feature-dropout mask and pooling count. The output is
            ``[batch, groups * output_dim]``, group ``g`` in columns
            ``g * output_dim .. (g + 1) * output_dim``.
        linear_units: width of a second, linear table (0: none), for the
            wide part of a wide & deep model: each feature has one
            ``linear_units`` row, zero-initialized, pooled like the
            embeddings (with its own feature-dropout mask). Its pooled rows
            are the last ``linear_units`` output columns; as many units as
            classes make it a softmax regression on the n-gram features.
            With ``output_dim=0`` there is no embedding table and the
            output is the linear part alone (the wide part next to another
            encoder, e.g. MiniLM in ``IntentClassifier``).

    Call arguments:
        text: string tensor ``[batch]`` or ``[batch, 1]``.
        training: whether feature dropout applies.

    Returns:
        ``[batch, groups * output_dim + linear_units]`` float tensor.

    Example:
        >>> texts = ["where is my order", "cancel my order", "我想退货"]
        >>> enc = NgramEmbeddingEncoder.from_corpus(texts, output_dim=16, min_count=1)
        >>> enc(tf.constant(["where is my parcel"])).shape
        TensorShape([1, 16])

    Reference:
        Joulin et al., "Bag of Tricks for Efficient Text Classification",
        EACL 2017; Bojanowski et al., "Enriching Word Vectors with Subword
        Information", TACL 2017.
    """

    def __init__(
        self,
        vocabulary,
        output_dim: int = 128,
        ngram_vocabulary=(),
        ngram_width: int = 2,
        char_vocabulary=(),
        char_ngram_vocabulary=(),
        char_ngram_widths: Sequence[int] = (3, 4, 5),
        lower_case: bool = True,
        pooling: str = "sqrtn",
        feature_dropout: float = 0.0,
        embeddings_regularizer=None,
        groups: int = 1,
        linear_units: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary = [str(v) for v in vocabulary]
        self.output_dim = int(output_dim)
        self.ngram_vocabulary = [str(v) for v in ngram_vocabulary]
        self.ngram_width = int(ngram_width)
        self.char_vocabulary = [str(v) for v in char_vocabulary]
        self.char_ngram_vocabulary = [str(v) for v in char_ngram_vocabulary]
        self.char_ngram_widths = [int(w) for w in char_ngram_widths]
        self.lower_case = bool(lower_case)
        self.pooling = str(pooling)
        self.feature_dropout = float(feature_dropout)
        self.embeddings_regularizer = tf.keras.regularizers.get(embeddings_regularizer)
        self.groups = int(groups)
        if self.groups < 1:
            raise ValueError(f"groups must be >= 1, got {groups}")
        self.linear_units = int(linear_units)
        if self.linear_units < 0:
            raise ValueError(f"linear_units must be >= 0, got {linear_units}")
        if self.output_dim < 0 or not (self.output_dim or self.linear_units):
            raise ValueError(f"output_dim must be >= 0, and > 0 without linear_units, got {output_dim}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if self.char_ngram_vocabulary and not self.char_vocabulary:
            raise ValueError("char_ngram_vocabulary needs a char_vocabulary")
        if any(w < 1 for w in self.char_ngram_widths):
            raise ValueError(f"char_ngram_widths must be >= 1, got {char_ngram_widths}")

        # === Layers ===
        self.normalizer = TextNormalizer(self.lower_case, name="normalizer")
        self.tokenizer = WordpieceTokenizerLayer(
            self.vocabulary, lower_case=self.lower_case, name="tokenizer"
        )
        self.char_splitter = None
        if self.char_vocabulary:
            # A WordPiece tokenizer whose pieces are single characters splits
            # each (pre-tokenized) word into its characters.
            self.char_splitter = tf_text.FastWordpieceTokenizer(
                self.char_vocabulary,
                token_out_type=tf.string,
                unknown_token=self.char_vocabulary[0],
                no_pretokenization=False,
                support_detokenization=False,
            )
        self.ngram_lookup = self._lookup(self.ngram_vocabulary, "ngram_lookup")
        self.char_ngram_lookup = self._lookup(self.char_ngram_vocabulary, "char_ngram_lookup")
        # One table: [tokens | token n-grams (+OOV) | char n-grams (+OOV)].
        self._ngram_offset = len(self.vocabulary)
        self._char_offset = self._ngram_offset + (len(self.ngram_vocabulary) + 1 if self.ngram_lookup else 0)
        total = self._char_offset + (len(self.char_ngram_vocabulary) + 1 if self.char_ngram_lookup else 0)
        self.embedding = None
        if self.output_dim:
            self.embedding = tf.keras.layers.Embedding(
                total,
                self.groups * self.output_dim,
                embeddings_initializer=tf.keras.initializers.RandomNormal(stddev=0.05),
                embeddings_regularizer=self.embeddings_regularizer,
                name="embedding",
            )
        self.linear_embedding = None
        if self.linear_units:
            # Zeros: the linear part starts as the uniform classifier, as a
            # softmax regression is usually started.
            self.linear_embedding = tf.keras.layers.Embedding(
                total,
                self.linear_units,
                embeddings_initializer="zeros",
                embeddings_regularizer=self.embeddings_regularizer,
                name="linear_embedding",
            )
        self._unknown_ids = [0, self.tokenizer.unknown_id]

    @staticmethod
    def _lookup(vocabulary, name):
        if not vocabulary:
            return None
        return tf.keras.layers.StringLookup(vocabulary=vocabulary, mask_token=None, name=name)

    @property
    def feature_count(self) -> int:
        """Rows of the embedding table (of the linear table when ``output_dim=0``)."""
        return (self.embedding or self.linear_embedding).input_dim

    # === Builder ===
    @classmethod
    def from_corpus(
        cls,
        corpus: Iterable[str],
        output_dim: int = 128,
        *,
        vocab_size: int = 8000,
        ngram_width: int = 2,
        char_ngram_widths: Sequence[int] = (3, 4, 5),
        max_ngrams: int = 50000,
        max_char_ngrams: int = 100000,
        min_count: int = 2,
        lower_case: bool = True,
        vocabulary: Sequence[str] | None = None,
        batch_size: int = 2048,
        **kwargs,
    ) -> "NgramEmbeddingEncoder":
        """An encoder whose vocabularies are learned from ``corpus``.

        Runs the layer's own normalization and tokenization, so the
        vocabularies match what the graph sees.

        Args:
            corpus: training texts only.
            output_dim: embedding size.
            vocab_size: WordPiece vocabulary size (unless ``vocabulary``).
            ngram_width: token n-grams of width 2 .. this.
            char_ngram_widths: character n-gram widths (empty: none).
            max_ngrams, max_char_ngrams: keep the most frequent.
            min_count: features seen fewer times are left out.
            lower_case: lower-case and strip accents.
            vocabulary: an existing WordPiece vocabulary to use.
            batch_size: texts per TensorFlow call while counting.
            **kwargs: other constructor arguments.
        """
        from ecomtf.text.vocabulary import learn_char_vocabulary
        from ecomtf.text.vocabulary import learn_wordpiece_vocabulary

        texts = [str(t) for t in corpus]
        if vocabulary is None:
            vocabulary = learn_wordpiece_vocabulary(
                texts, vocab_size, lower_case=lower_case, min_count=min_count
            )
        char_vocabulary = []
        if char_ngram_widths:
            char_vocabulary = learn_char_vocabulary(texts, lower_case=lower_case, min_count=min_count)
        probe = cls(
            vocabulary,
            1,
            ngram_width=ngram_width,
            char_vocabulary=char_vocabulary,
            char_ngram_widths=char_ngram_widths,
            lower_case=lower_case,
        )
        ngrams: collections.Counter = collections.Counter()
        chars: collections.Counter = collections.Counter()
        for start in range(0, len(texts), batch_size):
            parts = probe.feature_strings(tf.constant(texts[start : start + batch_size]))
            for ragged in parts["ngrams"]:
                ngrams.update(ragged.flat_values.numpy())
            for ragged in parts["char_ngrams"]:
                chars.update(ragged.flat_values.numpy())
        return cls(
            vocabulary,
            output_dim,
            ngram_vocabulary=_top(ngrams, min_count, max_ngrams),
            ngram_width=ngram_width,
            char_vocabulary=char_vocabulary,
            char_ngram_vocabulary=_top(chars, min_count, max_char_ngrams),
            char_ngram_widths=char_ngram_widths,
            lower_case=lower_case,
            **kwargs,
        )

    # === Features ===
    def feature_strings(self, text) -> dict:
        """The token ids and the ragged n-gram strings, before lookup."""
        normalized = self.normalizer(text)
        ids = self.tokenizer.tokenize_normalized(normalized)
        out = {"tokens": ids, "ngrams": [], "char_ngrams": []}
        if self.ngram_width >= 2:
            tokens = ids.with_flat_values(tf.gather(tf.constant(self.vocabulary), ids.flat_values))
            for width in range(2, self.ngram_width + 1):
                out["ngrams"].append(
                    tf_text.ngrams(tokens, width, reduction_type=tf_text.Reduction.STRING_JOIN,
                                   string_separator=" ")
                )
        if self.char_splitter is not None:
            chars = self.char_splitter.tokenize(normalized)
            for width in self.char_ngram_widths:
                out["char_ngrams"].append(
                    tf_text.ngrams(chars, width, reduction_type=tf_text.Reduction.STRING_JOIN,
                                   string_separator="")
                )
        return out

    # === Forward pass ===
    def call(self, text, training=None):
        text = tf.reshape(tf.convert_to_tensor(text, tf.string), [-1])
        batch = tf.shape(text)[0]
        parts = self.feature_strings(text)
        ids_list, rows_list, known_list = [], [], []

        tokens = parts["tokens"]
        token_ids = tokens.flat_values
        known = tf.logical_and(
            tf.not_equal(token_ids, self._unknown_ids[0]),
            tf.not_equal(token_ids, self._unknown_ids[1]),
        )
        ids_list.append(token_ids)
        rows_list.append(tokens.value_rowids())
        known_list.append(known)
        for group, lookup, offset in (
            ("ngrams", self.ngram_lookup, self._ngram_offset),
            ("char_ngrams", self.char_ngram_lookup, self._char_offset),
        ):
            if lookup is None:
                continue
            for ragged in parts[group]:
                index = lookup(ragged.flat_values)
                ids_list.append(index + offset)
                rows_list.append(ragged.value_rowids())
                known_list.append(tf.greater(index, 0))
        # Pooling runs on flat values and row ids, avoiding ragged concat
        # (not a TFLite builtin).
        ids = tf.concat(ids_list, 0) if len(ids_list) > 1 else ids_list[0]
        rows = tf.cast(tf.concat(rows_list, 0) if len(rows_list) > 1 else rows_list[0], tf.int32)
        # weight: [features, 1], or one column per group (and one for the
        # linear table) under feature dropout.
        weight = tf.cast(tf.concat(known_list, 0) if len(known_list) > 1 else known_list[0], tf.float32)
        weight = tf.expand_dims(weight, -1)
        linear_weight = weight
        if training and self.feature_dropout > 0:
            columns = self.groups + (1 if self.linear_embedding is not None else 0)
            keep = tf.cast(tf.random.uniform([tf.shape(weight)[0], columns]) >= self.feature_dropout,
                           tf.float32)
            weight, linear_weight = weight * keep[:, : self.groups], weight * keep[:, self.groups :]
        out = None
        if self.embedding is not None:
            vectors = tf.reshape(self.embedding(ids), [-1, self.groups, self.output_dim])
            pooled = self._pool(vectors, weight, rows, batch)
            out = tf.reshape(pooled, [-1, self.groups * self.output_dim])
        if self.linear_embedding is None:
            return out
        linear = self._pool(tf.expand_dims(self.linear_embedding(ids), 1), linear_weight, rows, batch)
        linear = tf.reshape(linear, [-1, self.linear_units])
        return linear if out is None else tf.concat([out, linear], axis=-1)

    def _pool(self, vectors, weight, rows, batch):
        """``[features, g, d]`` vectors, ``[features, g or 1]`` weights -> ``[batch, g, d]``."""
        total = tf.math.unsorted_segment_sum(vectors * tf.expand_dims(weight, -1), rows, batch)
        if self.pooling != "sum":
            count = tf.maximum(tf.math.unsorted_segment_sum(weight, rows, batch), 1.0)
            total /= tf.expand_dims(tf.sqrt(count) if self.pooling == "sqrtn" else count, -1)
        return total

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], self.groups * self.output_dim + self.linear_units])

    # === Config ===
    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": self.vocabulary,
            "output_dim": self.output_dim,
            "ngram_vocabulary": self.ngram_vocabulary,
            "ngram_width": self.ngram_width,
            "char_vocabulary": self.char_vocabulary,
            "char_ngram_vocabulary": self.char_ngram_vocabulary,
            "char_ngram_widths": self.char_ngram_widths,
            "lower_case": self.lower_case,
            "pooling": self.pooling,
            "feature_dropout": self.feature_dropout,
            "groups": self.groups,
            "linear_units": self.linear_units,
            "embeddings_regularizer": tf.keras.regularizers.serialize(self.embeddings_regularizer)
            if self.embeddings_regularizer
            else None,
        }


def _top(counts: collections.Counter, min_count: int, max_size: int | None) -> list[str]:
    counts.pop(b"", None)
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    kept = kept[:max_size] if max_size is not None else kept
    return [t.decode("utf-8") for t in kept]

