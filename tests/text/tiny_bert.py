"""A tiny BERT-style checkpoint in TF Hub's text-encoder format, for tests.

It is saved as ``tensorflow/models``' ``export_tfhub`` saves BERT: a Keras
model with dict inputs (``input_word_ids``, ``input_mask``,
``input_type_ids``) and dict outputs (``pooled_output``,
``sequence_output``), a ``vocab_file`` asset and a ``do_lower_case``
variable, written with ``save_format="tf"``. The weights are random: tests
check the mechanics (loading, fine-tuning, saving, export, TFLite), not
pretrained knowledge.
"""

from __future__ import annotations

import pathlib

import tensorflow as tf

from ecomtf.text.vocabulary import learn_wordpiece_vocabulary

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def save_tiny_bert(directory, texts, *, width: int = 16, layers: int = 1, heads: int = 2,
                   intermediate: int = 0, vocab_size: int = 300, lower_case: bool = True, seed: int = 0,
                   with_vocab_asset: bool = True, mask_by_new_axis: bool = False) -> pathlib.Path:
    """Writes the checkpoint to ``directory`` and returns it.

    ``layers`` post-LN encoder blocks of ``heads`` attention heads, each with a
    GELU feed-forward of ``intermediate`` units (0: none). With BERT's sizes
    (e.g. ``layers=4, width=256, heads=4, intermediate=1024``, Small BERT
    L-4/H-256) it costs what such a model costs to serve, which is what
    ``benchmarks.text_latency --checkpoint`` measures with it.

    ``mask_by_new_axis`` builds the attention mask with a ``tf.newaxis``
    slice, which TFLite has no builtin for: a checkpoint that does not convert.
    """
    directory = pathlib.Path(directory)
    tf.keras.utils.set_random_seed(seed)
    learned = learn_wordpiece_vocabulary(texts, vocab_size, lower_case=lower_case, min_count=1)
    vocab = SPECIAL + [t for t in learned if t not in SPECIAL]
    word_ids = tf.keras.Input((None,), dtype=tf.int32, name="input_word_ids")
    mask = tf.keras.Input((None,), dtype=tf.int32, name="input_mask")
    type_ids = tf.keras.Input((None,), dtype=tf.int32, name="input_type_ids")
    x = (tf.keras.layers.Embedding(len(vocab), width, name="word_embeddings")(word_ids)
         + tf.keras.layers.Embedding(2, width, name="type_embeddings")(type_ids))
    x = tf.keras.layers.LayerNormalization(name="embeddings_norm")(x)
    x = tf.keras.layers.Dropout(0.1)(x)
    # As tensorflow/models builds it (a reshape, not a new-axis slice, which TFLite lacks).
    attention_mask = tf.cast(mask[:, tf.newaxis, :] if mask_by_new_axis else tf.expand_dims(mask, 1), tf.bool)
    for i in range(layers):
        suffix = "" if layers == 1 else f"_{i}"
        attended = tf.keras.layers.MultiHeadAttention(heads, width // heads, name=f"attention{suffix}")(
            x, x, attention_mask=attention_mask)
        x = tf.keras.layers.LayerNormalization(name=f"attention_norm{suffix}")(x + attended)
        if intermediate:
            hidden = tf.keras.layers.Dense(intermediate, activation="gelu", name=f"intermediate{suffix}")(x)
            x = tf.keras.layers.LayerNormalization(name=f"output_norm{suffix}")(
                x + tf.keras.layers.Dense(width, name=f"output{suffix}")(hidden))
    pooled = tf.keras.layers.Dense(width, activation="tanh", name="pooler")(x[:, 0])
    model = tf.keras.Model(
        {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": type_ids},
        {"pooled_output": pooled, "sequence_output": x})
    directory.mkdir(parents=True, exist_ok=True)
    if with_vocab_asset:
        vocab_path = directory.parent / f"{directory.name}_vocab.txt"
        vocab_path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
        model.vocab_file = tf.saved_model.Asset(str(vocab_path))
        model.do_lower_case = tf.Variable(lower_case, trainable=False)
    model.save(str(directory), include_optimizer=False, save_format="tf")
    return directory
