"""Text encoder layers: config round trips, behaviour, save/reload, TFLite parity."""

import numpy as np
import pytest
import tensorflow as tf

import ecomtf.export as ex
from ecomtf.layers.ngram_embedding_encoder import NgramEmbeddingEncoder
from ecomtf.layers.text_normalizer import TextNormalizer
from ecomtf.layers.transformer_encoder_block import TransformerEncoderBlock
from ecomtf.layers.transformer_text_encoder import TransformerTextEncoder
from ecomtf.layers.wordpiece_tokenizer_layer import WordpieceTokenizerLayer
from ecomtf.text.vocabulary import learn_wordpiece_vocabulary
from tests.layer_checks import run_layer_test

CORPUS = ["where is my order", "track my order please", "cancel my order", "i want a refund",
          "refund my money", "我想取消订单", "我的订单在哪里", "退款"] * 2
TEXTS = tf.constant(["where is my parcel", "我想退款", "", "zzzz"])


@pytest.fixture(scope="module")
def vocab():
    return learn_wordpiece_vocabulary(CORPUS, 300, min_count=1)


def test_normalizer_and_tokenizer_configs(vocab):
    run_layer_test(TextNormalizer, {"lower_case": True}, TEXTS, expected_shape=[4], fit=False)
    out = run_layer_test(WordpieceTokenizerLayer, {"vocabulary": vocab}, TEXTS, fit=False)
    assert out.shape[0] == 4 and out[2].shape[0] == 0
    with pytest.raises(ValueError, match="unknown token"):
        WordpieceTokenizerLayer(["a", "b"])


def test_ngram_encoder_round_trip_fit_and_reload():
    enc = NgramEmbeddingEncoder.from_corpus(CORPUS, output_dim=8, min_count=1)
    run_layer_test(NgramEmbeddingEncoder, enc.get_config(), TEXTS, expected_shape=[4, 8])


def test_ngram_encoder_features_english_and_chinese():
    enc = NgramEmbeddingEncoder.from_corpus(CORPUS, output_dim=8, min_count=1)
    # Token bigrams of Chinese are character bigrams; char n-grams mark word starts.
    assert "订 单" in enc.ngram_vocabulary and "my order" in enc.ngram_vocabulary
    assert "o##r##d" in enc.char_ngram_vocabulary
    assert enc.feature_count == len(enc.vocabulary) + len(enc.ngram_vocabulary) + 1 + len(
        enc.char_ngram_vocabulary) + 1
    out = enc(TEXTS).numpy()
    # Empty text and text with no known feature encode to zeros.
    np.testing.assert_array_equal(out[2], 0)
    np.testing.assert_array_equal(out[3], 0)
    assert np.abs(out[0]).sum() > 0 and np.abs(out[1]).sum() > 0
    # Feature dropout only in training; inference is deterministic.
    drop = NgramEmbeddingEncoder.from_config({**enc.get_config(), "feature_dropout": 0.9})
    drop(TEXTS)
    drop.set_weights(enc.get_weights())
    np.testing.assert_allclose(drop(TEXTS, training=False), out, atol=1e-6)


@pytest.mark.parametrize("pooling", ["mean", "sum"])
def test_ngram_encoder_poolings(pooling):
    enc = NgramEmbeddingEncoder.from_corpus(CORPUS, output_dim=4, min_count=1, char_ngram_widths=(),
                                            ngram_width=1, pooling=pooling)
    out = enc(tf.constant(["order order"])).numpy()[0]
    vec = enc.embedding.embeddings.numpy()[enc.vocabulary.index("order")]
    np.testing.assert_allclose(out, vec if pooling == "mean" else 2 * vec, rtol=1e-5)


def test_transformer_block_and_encoder(vocab):
    run_layer_test(TransformerEncoderBlock, {"num_heads": 2, "intermediate_dim": 8},
                   tf.random.normal([2, 3, 4]), expected_shape=[2, 3, 4], fit=False)
    config = {"vocabulary": vocab, "output_dim": 8, "num_heads": 2, "intermediate_dim": 16,
              "max_length": 4}
    run_layer_test(TransformerTextEncoder, config, TEXTS, expected_shape=[4, 8])
    enc = TransformerTextEncoder(**config)
    ids, mask = enc.token_ids(tf.constant(["where is my order please", "退款", ""]))
    assert ids.shape == (3, 4)  # cut at max_length
    np.testing.assert_array_equal(mask.numpy().sum(1), [4, 2, 0])
    # Padding does not change a row's encoding.
    alone = enc(tf.constant(["退款"])).numpy()
    batched = enc(tf.constant(["退款", "where is my order please"])).numpy()[0]
    np.testing.assert_allclose(alone[0], batched, atol=1e-5)


def test_transformer_encoder_in_tflite_matches_tensorflow(tmp_path, vocab):
    # (The n-gram encoder's TFLite parity is checked through IntentClassifier.)
    transformer = TransformerTextEncoder(vocab, output_dim=8, num_heads=2, intermediate_dim=16)

    class Encoders(ex.Servable):
        uses_tf_text = True

        def __init__(self):
            super().__init__()
            self.transformer = transformer

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def encode(self, text):
            return {"transformer": self.transformer(text)}

        def mobile_signatures(self):
            return {"encode": self.encode}

    texts = {"text": np.array(CORPUS[:8] + ["", "zzz"], dtype=object)}
    path = ex.to_tflite(Encoders(), tmp_path / "enc.tflite")
    diffs = ex.check_tflite_parity(Encoders(), path, texts)
    assert set(diffs) == {"transformer"}
    assert max(diffs.values()) < 1e-4, diffs


def test_ngram_encoder_groups_are_independent_encodings():
    enc = NgramEmbeddingEncoder.from_corpus(CORPUS, output_dim=4, min_count=1, groups=3,
                                            feature_dropout=0.5)
    out = enc(TEXTS).numpy()
    assert out.shape == (4, 12) and enc.embedding.embeddings.shape[1] == 12
    # Group g is the one-group encoder over its own slice of the table.
    single = NgramEmbeddingEncoder.from_config({**enc.get_config(), "groups": 1})
    single(TEXTS)
    table = enc.embedding.embeddings.numpy()
    for g in range(3):
        single.set_weights([table[:, 4 * g : 4 * (g + 1)]])
        np.testing.assert_allclose(out[:, 4 * g : 4 * (g + 1)], single(TEXTS).numpy(), atol=1e-6)
    # In training each group draws its own feature-dropout mask: with a table
    # whose groups are equal, the groups' encodings still differ.
    enc.set_weights([np.tile(table[:, :4], [1, 3])])
    tf.keras.utils.set_random_seed(0)
    drop = enc(tf.constant(["where is my order please"]), training=True).numpy().reshape(3, 4)
    assert not np.allclose(drop[0], drop[1]) and not np.allclose(drop[1], drop[2])
    with pytest.raises(ValueError, match="groups"):
        NgramEmbeddingEncoder(enc.vocabulary, groups=0)


def test_ngram_encoder_linear_table_pools_the_same_features():
    enc = NgramEmbeddingEncoder.from_corpus(CORPUS, output_dim=4, min_count=1, linear_units=3,
                                            feature_dropout=0.5)
    run_layer_test(NgramEmbeddingEncoder, enc.get_config(), TEXTS, expected_shape=[4, 7])
    out = enc(TEXTS).numpy()
    assert out.shape == (4, 7) and enc.linear_embedding.embeddings.shape == (enc.feature_count, 3)
    # It starts at zero (a softmax regression's usual start)...
    np.testing.assert_array_equal(out[:, 4:], 0.0)
    # ...and pools exactly as the embeddings do: with the linear table set to
    # the embedding table's first 3 columns, the outputs agree.
    table = enc.embedding.embeddings.numpy()
    enc.linear_embedding.set_weights([table[:, :3]])
    out = enc(TEXTS).numpy()
    np.testing.assert_allclose(out[:, 4:], out[:, :3], atol=1e-6)
    # In training it draws its own feature-dropout mask.
    tf.keras.utils.set_random_seed(0)
    drop = enc(tf.constant(["where is my order please"]), training=True).numpy()[0]
    assert not np.allclose(drop[4:], drop[:3])
    with pytest.raises(ValueError, match="linear_units"):
        NgramEmbeddingEncoder(enc.vocabulary, linear_units=-1)


def test_ngram_encoder_linear_table_alone_is_the_same_linear_part():
    """output_dim=0: no embedding table, the output is the linear table pooled as with one."""
    enc = NgramEmbeddingEncoder.from_corpus(CORPUS, output_dim=4, min_count=1, linear_units=3)
    alone = NgramEmbeddingEncoder.from_config({**enc.get_config(), "output_dim": 0})
    run_layer_test(NgramEmbeddingEncoder, alone.get_config(), TEXTS, expected_shape=[4, 3])
    assert alone.embedding is None and alone.feature_count == enc.feature_count
    alone(TEXTS), enc(TEXTS)
    table = np.random.default_rng(0).normal(size=(enc.feature_count, 3)).astype(np.float32)
    enc.linear_embedding.set_weights([table])
    alone.linear_embedding.set_weights([table])
    np.testing.assert_allclose(alone(TEXTS).numpy(), enc(TEXTS).numpy()[:, 4:], atol=1e-6)
    with pytest.raises(ValueError, match="output_dim"):
        NgramEmbeddingEncoder(enc.vocabulary, output_dim=0)
