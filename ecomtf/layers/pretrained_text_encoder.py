"""Raw text -> a local pretrained BERT-style encoder (TF Hub's text-encoder API) -> vector."""

from __future__ import annotations

import pathlib

import tensorflow as tf

from ecomtf.layers.wordpiece_tokenizer_layer import WordpieceTokenizerLayer
from ecomtf.layers.wordpiece_tokenizer_layer import pack_token_ids

POOLINGS = ("pooled", "mean")
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


@tf.keras.utils.register_keras_serializable(package="ecomtf")
class PretrainedTextEncoder(tf.keras.layers.Layer):
    """A pretrained Transformer encoder loaded from a local SavedModel.

    The checkpoint is a TF2 SavedModel that follows TF Hub's text-encoder
    API with a WordPiece vocabulary, as the BERT family published by
    TensorFlow does (BERT, Small BERT, ELECTRA, Talking-Heads BERT, ...: what
    ``tensorflow/models``' ``export_tfhub`` writes): called with a dict of
    ``input_word_ids``, ``input_mask`` and ``input_type_ids`` (int32
    ``[batch, length]``), it returns a dict with ``pooled_output``
    ``[batch, width]`` and ``sequence_output`` ``[batch, length, width]``.
    Its WordPiece vocabulary and casing come from the checkpoint
    (``vocab_file`` asset and ``do_lower_case`` variable, which those
    exports carry) unless given.

    Nothing is downloaded: ``checkpoint`` is a local directory (the
    unpacked TF Hub / Kaggle Models archive). Text is normalized and
    tokenized in the graph with the same TF Text ops as the other encoders
    (``FastBertNormalizer`` + ``FastWordpieceTokenizer``, which have TFLite
    kernels and are linked in TF Serving), cut to ``max_length - 2`` tokens
    and packed as ``[CLS] tokens [SEP]`` with core ops, so an exported model
    still takes raw text and needs no separate preprocessing model.

    The checkpoint's variables become the layer's weights: trainable (fine-
    tuned with the model) unless ``fine_tune=False``. They are saved with
    the model (``.keras``); loading a ``.keras`` file needs the checkpoint
    directory at the same path again (its graph is not copied into the
    ``.keras`` file). Exported SavedModels and ``.tflite`` files are
    self-contained.

    Args:
        checkpoint: directory of the SavedModel (with ``saved_model.pb``).
        vocabulary: WordPiece vocabulary (default: the checkpoint's
            ``vocab_file`` asset, else ``assets/vocab.txt``). Must hold
            ``[PAD]`` (id 0), ``[UNK]``, ``[CLS]`` and ``[SEP]``.
        lower_case: lower-case and strip accents (default: the
            checkpoint's ``do_lower_case``; required if it has none).
        max_length: tokens per text including ``[CLS]`` and ``[SEP]``.
        pooling: ``"pooled"`` (the encoder's ``pooled_output``, the
            ``[CLS]`` vector it was pretrained to pool) or ``"mean"`` (mean
            of ``sequence_output`` over real tokens).
        fine_tune: train the checkpoint's weights with the model.

    Call arguments:
        text: string tensor ``[batch]`` or ``[batch, 1]``.
        training: whether the encoder's dropout applies.

    Returns:
        ``[batch, width]`` float tensor (``output_dim`` = the encoder's width).

    Example:
        >>> enc = PretrainedTextEncoder("models/small_bert_L4_H512")
        >>> enc(tf.constant(["where is my parcel"])).shape
        TensorShape([1, 512])
    """

    def __init__(self, checkpoint, vocabulary=None, lower_case=None, max_length: int = 128,
                 pooling: str = "pooled", fine_tune: bool = True, **kwargs):
        kwargs.pop("trainable", None)
        super().__init__(trainable=bool(fine_tune), **kwargs)
        # Absolute, so a saved model reloads from another working directory.
        self.checkpoint = str(pathlib.Path(checkpoint).expanduser().resolve())
        self.max_length = int(max_length)
        self.pooling = str(pooling)
        self.fine_tune = bool(fine_tune)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if self.max_length < 3:
            raise ValueError(f"max_length must leave room for [CLS], a token and [SEP], got {max_length}")
        path = pathlib.Path(self.checkpoint)
        if not (path / "saved_model.pb").is_file():
            raise FileNotFoundError(
                f"no SavedModel at {self.checkpoint!r} (expected {path / 'saved_model.pb'}): give the "
                "directory of a local checkpoint in TF Hub's text-encoder format (unpacked archive)")
        self.encoder_model = tf.saved_model.load(self.checkpoint)
        if not callable(self.encoder_model):
            raise ValueError(f"the SavedModel at {self.checkpoint!r} is not callable; a text encoder in TF "
                             "Hub's format is called with input_word_ids, input_mask and input_type_ids")
        self.explicit_vocabulary = vocabulary is not None
        self.vocabulary = ([str(v) for v in vocabulary] if vocabulary is not None
                           else self._checkpoint_vocabulary(path))
        missing = [t for t in SPECIAL_TOKENS if t not in self.vocabulary]
        if missing or self.vocabulary[0] != "[PAD]":
            raise ValueError(f"the vocabulary must hold {SPECIAL_TOKENS} with [PAD] first "
                             f"(missing: {missing or 'none'}; first: {self.vocabulary[0]!r})")
        if lower_case is None:
            if not hasattr(self.encoder_model, "do_lower_case"):
                raise ValueError(f"the checkpoint at {self.checkpoint!r} does not say whether its "
                                 "vocabulary is lower-cased (no do_lower_case): pass lower_case")
            lower_case = bool(self.encoder_model.do_lower_case.numpy())
        self.lower_case = bool(lower_case)
        self.cls_id = self.vocabulary.index("[CLS]")
        self.sep_id = self.vocabulary.index("[SEP]")

        # === Layers ===
        self.tokenizer = WordpieceTokenizerLayer(self.vocabulary, lower_case=self.lower_case,
                                                 name="tokenizer")
        # The checkpoint's variables are this layer's weights, so Keras trains
        # them (when fine-tuning) and saves them with the model.
        if not hasattr(self.encoder_model, "trainable_variables"):
            raise ValueError(f"the SavedModel at {self.checkpoint!r} lists no trainable_variables, which TF Hub "
                             "text encoders (saved Keras models) do: it cannot be fine-tuned or saved with ours")
        variables = (self.encoder_model.trainable_variables if self.fine_tune
                     else self.encoder_model.variables)
        for v in variables:
            self.add_weight(name=v.name.split(":")[0], shape=v.shape, dtype=v.dtype,
                            trainable=self.fine_tune, getter=lambda *_, _v=v, **__: _v)
        probe = self(tf.constant(["a"]), training=False)
        self.output_dim = int(probe.shape[-1])

    def _checkpoint_vocabulary(self, path: pathlib.Path) -> list[str]:
        vocab_file = getattr(self.encoder_model, "vocab_file", None)
        candidates = [pathlib.Path(vocab_file.asset_path.numpy().decode())] if vocab_file is not None else []
        candidates.append(path / "assets" / "vocab.txt")
        for candidate in candidates:
            if candidate.is_file():
                return [line.rstrip("\n") for line in candidate.read_text(encoding="utf-8").splitlines()]
        raise ValueError(f"no WordPiece vocabulary found with the checkpoint at {self.checkpoint!r} "
                         "(no vocab_file asset, no assets/vocab.txt): pass vocabulary")

    def encoder_inputs(self, text) -> dict:
        """The encoder's int32 inputs: ``[CLS] tokens [SEP]``, padded to the longest row.

        Packed with core ops (``pack_token_ids``), not ``BertPackInputs``, so
        the graph needs TFLite builtins only.
        """
        text = tf.reshape(tf.convert_to_tensor(text, tf.string), [-1])
        word_ids, lengths = pack_token_ids(self.tokenizer(text), self.max_length - 2,
                                           start_id=self.cls_id, end_id=self.sep_id)
        mask = tf.expand_dims(tf.range(tf.shape(word_ids, out_type=tf.int64)[1]), 0) < tf.expand_dims(lengths, 1)
        return {
            "input_word_ids": tf.cast(word_ids, tf.int32),
            "input_mask": tf.cast(mask, tf.int32),
            "input_type_ids": tf.zeros_like(word_ids, dtype=tf.int32),
        }

    def call(self, text, training=None):
        inputs = self.encoder_inputs(text)
        try:
            # The restored functions were traced for Python booleans only.
            outputs = self.encoder_model(inputs, training=bool(training) and self.fine_tune)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"the checkpoint at {self.checkpoint!r} cannot be called as a TF Hub text encoder "
                "(a dict of int32 input_word_ids, input_mask, input_type_ids [batch, length], and "
                "training=); TF1 Hub modules, list-input encoders and other formats are not supported"
            ) from e
        if not isinstance(outputs, dict) or "sequence_output" not in outputs:
            raise ValueError(f"the checkpoint at {self.checkpoint!r} did not return a dict with "
                             "pooled_output and sequence_output (TF Hub's text-encoder API)")
        if self.pooling == "pooled":
            return outputs["pooled_output"]
        sequence = outputs["sequence_output"]
        weight = tf.expand_dims(tf.cast(inputs["input_mask"], sequence.dtype), -1)
        return tf.reduce_sum(sequence * weight, 1) / tf.maximum(tf.reduce_sum(weight, 1), 1.0)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], self.output_dim])

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        return {
            **config,
            "checkpoint": self.checkpoint,
            # The checkpoint's own vocabulary is read from it again on load.
            "vocabulary": self.vocabulary if self.explicit_vocabulary else None,
            "lower_case": self.lower_case,
            "max_length": self.max_length,
            "pooling": self.pooling,
            "fine_tune": self.fine_tune,
        }
