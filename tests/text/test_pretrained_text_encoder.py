"""PretrainedTextEncoder: a local BERT-style checkpoint, packed in-graph, fine-tuned, saved, exported, run in TFLite."""

import numpy as np
import pytest
import tensorflow as tf

import ecomtf.export as ex
from ecomtf.export.intent_classifier_servable import IntentClassifierServable
from ecomtf.layers.pretrained_text_encoder import PretrainedTextEncoder
from ecomtf.models.answer_retriever import AnswerRetriever
from ecomtf.models.answer_retriever import make_pairs
from ecomtf.models.intent_classifier import IntentClassifier
from ecomtf.text.lazy_adam import LazyAdam
from tests.export_checks import run_export_test
from tests.export_checks import run_tflite_test
from tests.text.test_intent_classifier import LABELS
from tests.text.test_intent_classifier import TEXTS
from tests.text.tiny_bert import save_tiny_bert


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_bert(tmp_path_factory.mktemp("bert") / "tiny_bert", TEXTS)


def _fitted(checkpoint, seed=0, **encoder_kwargs):
    tf.keras.utils.set_random_seed(seed)
    m = IntentClassifier.from_texts(TEXTS, LABELS, encoder="pretrained", checkpoint=checkpoint,
                                    dropout=0.0, **encoder_kwargs)
    m.compile(LazyAdam(1e-2), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(tf.constant(TEXTS), m.label_ids(LABELS), epochs=25, batch_size=12, verbose=0)
    return m


def _checkpoint_weights(checkpoint):
    return {v.name: v.numpy() for v in tf.saved_model.load(str(checkpoint)).trainable_variables}


def _encoder_weights(model):
    return [(v.name, v.numpy()) for v in model.encoder.encoder_model.trainable_variables]


def test_packs_cls_tokens_sep_in_the_graph(checkpoint):
    enc = PretrainedTextEncoder(checkpoint, max_length=5)
    # Vocabulary and casing come from the checkpoint's vocab_file asset and do_lower_case.
    assert enc.lower_case and enc.vocabulary[:4] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    texts = ["Where is my order", "", "refund"]
    tokens = enc.tokenizer(tf.constant(texts)).to_list()
    assert len(tokens[0]) > 3, tokens  # so max_length=5 cuts it
    got = {k: v.numpy() for k, v in enc.encoder_inputs(tf.constant(texts)).items()}
    want_ids = np.array([[2, *tokens[0][:3], 3],
                         [2, 3, 0, 0, 0],
                         [2, *tokens[2], 3] + [0] * (3 - len(tokens[2]))])
    np.testing.assert_array_equal(got["input_word_ids"], want_ids)
    np.testing.assert_array_equal(got["input_mask"], (want_ids != 0).astype(np.int32))
    np.testing.assert_array_equal(got["input_type_ids"], np.zeros_like(want_ids))
    assert enc(tf.constant(texts)).shape == (3, enc.output_dim) == (3, 16)


def test_mean_pooling_averages_the_real_tokens(checkpoint):
    enc = PretrainedTextEncoder(checkpoint, pooling="mean")
    texts = tf.constant(["cancel my order", "我要退款 please"])
    inputs = enc.encoder_inputs(texts)
    sequence = tf.saved_model.load(str(checkpoint))(inputs, training=False)["sequence_output"].numpy()
    mask = inputs["input_mask"].numpy()
    want = [sequence[i, mask[i] == 1].mean(axis=0) for i in range(2)]
    np.testing.assert_allclose(enc(texts).numpy(), want, atol=1e-5)


def test_refuses_what_it_cannot_use(checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match="no SavedModel"):
        PretrainedTextEncoder(tmp_path / "missing")
    bare = save_tiny_bert(tmp_path / "bare", TEXTS, with_vocab_asset=False)
    with pytest.raises(ValueError, match="pass vocabulary"):
        PretrainedTextEncoder(bare)
    vocab = PretrainedTextEncoder(checkpoint).vocabulary
    with pytest.raises(ValueError, match="pass lower_case"):
        PretrainedTextEncoder(bare, vocabulary=vocab)
    assert not PretrainedTextEncoder(bare, vocabulary=vocab, lower_case=False).lower_case
    with pytest.raises(ValueError, match=r"\[CLS\]"):
        PretrainedTextEncoder(checkpoint, vocabulary=[t for t in vocab if t != "[CLS]"])
    with pytest.raises(ValueError, match="pooling"):
        PretrainedTextEncoder(checkpoint, pooling="max")
    # Callable, but not with TF Hub's encoder inputs (as TF1 Hub modules and list-input encoders).
    other = tf.train.Checkpoint(scale=tf.Variable(2.0))  # a bare trackable, as restored ones are
    other.__call__ = tf.function(lambda ids: tf.cast(ids, tf.float32) * other.scale,
                                 input_signature=[tf.TensorSpec([None, None], tf.int32)])
    other.trainable_variables = [other.scale]
    other.variables = [other.scale]
    tf.saved_model.save(other, str(tmp_path / "other"))
    with pytest.raises(ValueError, match="cannot be called as a TF Hub text encoder"):
        PretrainedTextEncoder(tmp_path / "other", vocabulary=vocab, lower_case=True)
    del other.trainable_variables
    tf.saved_model.save(other, str(tmp_path / "no_variables"))
    with pytest.raises(ValueError, match="lists no trainable_variables"):
        PretrainedTextEncoder(tmp_path / "no_variables", vocabulary=vocab, lower_case=True)
    with pytest.raises(ValueError, match="checkpoint="):
        IntentClassifier.from_texts(TEXTS, LABELS, encoder="pretrained")


@pytest.fixture(scope="module")
def fine_tuned(checkpoint):
    return _fitted(checkpoint)


def test_fine_tunes_the_checkpoint_weights(checkpoint, fine_tuned):
    assert fine_tuned.report(TEXTS, LABELS)["accuracy"] == 1.0
    original = _checkpoint_weights(checkpoint)
    assert len(fine_tuned.encoder.trainable_weights) == len(original) > 0
    unchanged = [name for name, w in _encoder_weights(fine_tuned) if np.allclose(w, original[name])]
    assert unchanged == []


def test_frozen_checkpoint_trains_only_the_head(checkpoint):
    m = _fitted(checkpoint, seed=1, fine_tune=False)
    assert m.encoder.trainable_weights == []
    assert [w.name for w in m.trainable_weights] == [w.name for w in m.head.trainable_weights]
    original = _checkpoint_weights(checkpoint)
    for name, w in _encoder_weights(m):
        np.testing.assert_array_equal(w, original[name])
    # Random checkpoint weights still separate this set a little; the point is what moved.
    assert m.report(TEXTS, LABELS)["accuracy"] > 1 / 3


def test_round_trips_exports_and_converts(checkpoint, fine_tuned, tmp_path):
    fine_tuned.calibrate(TEXTS, LABELS, ["qwerty asdf", "zzz"])
    fine_tuned.save(tmp_path / "m.keras")
    again = tf.keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(again.encoder, PretrainedTextEncoder) and again.threshold == fine_tuned.threshold
    # The fine-tuned weights come back from the .keras file, not the checkpoint.
    np.testing.assert_allclose(again.predict_proba(TEXTS), fine_tuned.predict_proba(TEXTS), atol=1e-6)
    servable = IntentClassifierServable(fine_tuned, examples=np.array(["where is my parcel", "我要退款", ""],
                                                                      dtype=object))
    run_export_test(servable, tmp_path / "intent")
    inputs = {"text": np.array(TEXTS[:15] + ["", "qwerty"], dtype=object)}
    run_tflite_test(servable, tmp_path / "m.tflite", inputs)
    # Packing is builtins only: the tokenizer's two ops are the only custom ones.
    assert ex.custom_ops((tmp_path / "m.tflite").read_bytes()) == {"FastBertNormalize",
                                                                   "FastWordpieceTokenizeWithOffsets"}


def test_refuses_to_convert_a_checkpoint_with_ops_lite_lacks(tmp_path):
    # The converter would write the new-axis slice as a custom op that fails on the
    # phone at the first call; to_tflite names it instead.
    checkpoint = save_tiny_bert(tmp_path / "sliced", TEXTS, mask_by_new_axis=True)
    model = IntentClassifier.from_texts(TEXTS, LABELS, encoder="pretrained", checkpoint=checkpoint)
    with pytest.raises(ValueError, match="no TFLite builtin and no TF Text kernel: StridedSlice"):
        ex.to_tflite(IntentClassifierServable(model), tmp_path / "m.tflite")
    assert not (tmp_path / "m.tflite").exists()


def test_answer_retriever_towers_fine_tune_their_own_copies(checkpoint, tmp_path):
    answers = [f"answer about {label.replace('_', ' ')}" for label in LABELS]
    tf.keras.utils.set_random_seed(2)
    m = AnswerRetriever.from_texts(TEXTS, answers, encoder="pretrained", checkpoint=checkpoint,
                                   shared_encoder=False, embedding_dim=8, top_k=2)
    assert isinstance(m.query_encoder, PretrainedTextEncoder) and m.answer_encoder is not m.query_encoder
    m.compile(LazyAdam(1e-2))
    m.fit(make_pairs(TEXTS, answers, LABELS).batch(12), epochs=3, verbose=0)
    original = _checkpoint_weights(checkpoint)
    query = dict((v.name, v.numpy()) for v in m.query_encoder.encoder_model.trainable_variables)
    answer = dict((v.name, v.numpy()) for v in m.answer_encoder.encoder_model.trainable_variables)
    name = next(n for n in original if "word_embeddings" in n)
    assert not np.allclose(query[name], original[name]) and not np.allclose(answer[name], original[name])
    assert not np.allclose(query[name], answer[name])
    m.set_index(sorted(set(LABELS)), sorted(set(answers)))
    m.save(tmp_path / "r.keras")
    again = tf.keras.models.load_model(tmp_path / "r.keras")
    np.testing.assert_allclose(again.query_embeddings(TEXTS), m.query_embeddings(TEXTS), atol=1e-6)
    np.testing.assert_allclose(again.index_embeddings(), m.index_embeddings(), atol=1e-6)
