"""IntentClassifier: learns a separable set, calibrates, saves, exports, runs in TFLite."""

import numpy as np
import pytest
import tensorflow as tf

import ecomtf.export as ex
from ecomtf.export.intent_classifier_servable import IntentClassifierServable
from ecomtf.export.intent_classifier_servable import to_tf_examples
from ecomtf.models.intent_classifier import IntentClassifier
from ecomtf.text.lazy_adam import LazyAdam
from tests.export_checks import run_export_test
from tests.export_checks import run_tflite_test

DATA = {
    "track_order": ["where is my order", "track my parcel", "has my package shipped yet",
                    "我的订单在哪里", "where's my delivery"],
    "cancel_order": ["cancel my order", "i want to cancel the purchase", "stop my order now",
                     "取消订单", "please cancel it"],
    "get_refund": ["i want a refund", "give me my money back", "refund the payment",
                   "我要退款", "how do i get reimbursed"],
}
TEXTS = [t for ts in DATA.values() for t in ts] * 4
LABELS = [k for k, ts in DATA.items() for _ in ts] * 4


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(0)
    m = IntentClassifier.from_texts(TEXTS, LABELS, output_dim=16, min_count=1)
    m.compile(LazyAdam(2e-2), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(tf.constant(TEXTS), m.label_ids(LABELS), epochs=15, batch_size=12, verbose=0)
    m.calibrate(TEXTS, LABELS, out_of_scope_texts=["qwerty asdf", "zzz"], temperature=False)
    return m


def test_learns_a_separable_set_english_and_chinese(model):
    out = model.classify(["where is my parcel", "cancel the order please", "退款", "我的订单"])
    assert out["intent"].tolist() == ["track_order", "cancel_order", "get_refund", "track_order"]
    rep = model.report(TEXTS, LABELS)
    assert rep["accuracy"] == 1.0 and rep["macro_f1"] == 1.0
    assert set(rep["per_label"]) == set(DATA)
    # Gibberish shares no feature with training text: only the biases speak; rejected.
    gib = model.classify(["qwerty asdf"])
    assert gib["is_out_of_scope"][0]
    with pytest.raises(ValueError, match="unknown intents"):
        model.label_ids(["nope"])


def test_config_and_keras_save_round_trip(model, tmp_path):
    clone = IntentClassifier.from_config(model.get_config())
    assert clone.intents == model.intents and clone.threshold == model.threshold
    model.save(tmp_path / "m.keras")
    again = tf.keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-6)
    assert again.threshold == model.threshold


def test_export_fresh_process_and_tflite_parity(model, tmp_path):
    texts = np.array(["where is my parcel", "我要退款", ""], dtype=object)
    servable = IntentClassifierServable(model, examples=texts)
    # Both signatures (serving_default and classify) are called in a fresh
    # process without ecomtf and compared with the in-process outputs below.
    path = run_export_test(servable, tmp_path / "intent")
    assert {"FastBertNormalize", "FastWordpieceTokenizeWithOffsets"} <= ex.check_serving_ops(path)["text"]
    sigs = servable.signatures()
    out = {k: v.numpy() for k, v in ex.call_signature(sigs["serving_default"], {"text": texts}).items()}
    assert [x.decode() for x in out["intent"][:2]] == ["track_order", "get_refund"]
    assert out["probabilities"].shape == (3, 3) and out["is_out_of_scope"].dtype == bool
    cls = ex.call_signature(sigs["classify"], {"inputs": to_tf_examples(texts)})
    np.testing.assert_allclose(cls["scores"].numpy(), out["probabilities"], atol=1e-6)
    assert cls["classes"].numpy()[0].astype(str).tolist() == model.intents
    inputs = {"text": np.array(TEXTS[:15] + ["", "qwerty"], dtype=object)}
    run_tflite_test(servable, tmp_path / "intent.tflite", inputs)
    lite = ex.run_tflite(tmp_path / "intent.tflite", inputs)
    assert lite["intent"].astype(str).tolist()[:15] == LABELS[:15]
    assert lite["is_out_of_scope"].dtype == bool and lite["is_out_of_scope"][-1]


def test_transformer_encoder_learns_too():
    tf.keras.utils.set_random_seed(1)
    m = IntentClassifier.from_texts(TEXTS, LABELS, encoder="transformer", output_dim=16,
                                    num_heads=2, intermediate_dim=32, min_count=1, dropout=0.0)
    m.compile(LazyAdam(1e-2), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(tf.constant(TEXTS), m.label_ids(LABELS), epochs=20, batch_size=12, verbose=0)
    assert m.report(TEXTS, LABELS)["accuracy"] == 1.0


def _fit_members(m, count):
    """Fits ``m`` on the set; returns its ``[n, count, 3]`` member logits after checking them."""
    m.compile(LazyAdam(2e-2), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    hist = m.fit(tf.constant(TEXTS), m.label_ids(LABELS), epochs=15, batch_size=12, verbose=0)
    assert hist.history["accuracy"][-1] == 1.0
    # Trained on their own losses, every member alone classifies the set
    # (a loss on the mean alone would not make each member right).
    members = m.member_logits(tf.constant(TEXTS)).numpy()
    assert members.shape == (len(TEXTS), count, 3)
    for k in range(count):
        assert (members[:, k].argmax(1) == m.label_ids(LABELS)).all(), k
    # The model's logits are the log of the members' mean probability.
    p = np.exp(members - members.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(m.predict_proba(TEXTS), p.mean(1), atol=1e-5)
    return members


def test_ensemble_members_learn_on_their_own_losses_and_convert(tmp_path):
    tf.keras.utils.set_random_seed(2)
    m = IntentClassifier.from_texts(TEXTS, LABELS, output_dim=8, min_count=1, members=3,
                                    feature_dropout=0.2)
    assert m.encoder.groups == 3
    members = _fit_members(m, 3)
    assert not np.allclose(members[:, 0], members[:, 1])
    m.save(tmp_path / "m.keras")
    again = tf.keras.models.load_model(tmp_path / "m.keras")
    assert again.members == 3
    np.testing.assert_allclose(again.predict_proba(TEXTS), m.predict_proba(TEXTS), atol=1e-6)
    inputs = {"text": np.array(TEXTS[:15] + ["", "qwerty"], dtype=object)}
    run_tflite_test(IntentClassifierServable(m), tmp_path / "ensemble.tflite", inputs)
    with pytest.raises(ValueError, match="n-gram encoder"):
        IntentClassifier.from_texts(TEXTS, LABELS, encoder="transformer", members=2, min_count=1)
    with pytest.raises(ValueError, match="groups=2"):
        IntentClassifier(m.encoder, m.intents, members=2)


def test_wide_model_trains_a_linear_member_next_to_the_deep_one(tmp_path):
    tf.keras.utils.set_random_seed(5)
    m = IntentClassifier.from_texts(TEXTS, LABELS, output_dim=8, min_count=1, wide=True,
                                    feature_dropout=0.2)
    assert m.member_count == 2 and m.encoder.linear_units == 3
    members = _fit_members(m, 2)
    # The linear member is the pooled linear table plus its bias.
    linear = m.encoder(tf.constant(TEXTS)).numpy()[:, 8:] + m.wide_bias.numpy()
    np.testing.assert_allclose(members[:, 1], linear, atol=1e-5)
    m.save(tmp_path / "m.keras")
    again = tf.keras.models.load_model(tmp_path / "m.keras")
    assert again.wide and again.member_count == 2
    np.testing.assert_allclose(again.predict_proba(TEXTS), m.predict_proba(TEXTS), atol=1e-6)
    inputs = {"text": np.array(TEXTS[:15] + ["", "qwerty"], dtype=object)}
    run_tflite_test(IntentClassifierServable(m), tmp_path / "wide.tflite", inputs)
    with pytest.raises(ValueError, match="n-gram encoder"):
        IntentClassifier.from_texts(TEXTS, LABELS, encoder="transformer", wide=True, min_count=1)
    with pytest.raises(ValueError, match="linear_units=3"):
        IntentClassifier(IntentClassifier.from_texts(TEXTS, LABELS, min_count=1).encoder, m.intents,
                         wide=True)
    with pytest.raises(ValueError, match="wide=False"):
        IntentClassifier(m.encoder, m.intents)
    # Joined with a deep model, its linear member becomes the ensemble's.
    tf.keras.utils.set_random_seed(6)
    deep = IntentClassifier.from_texts(TEXTS, LABELS, output_dim=8, min_count=1, feature_dropout=0.2)
    deep.compile(LazyAdam(2e-2), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    deep.fit(tf.constant(TEXTS), deep.label_ids(LABELS), epochs=3, batch_size=12, verbose=0)
    joined = IntentClassifier.ensemble([m, deep])
    assert joined.wide and joined.members == 2 and joined.member_count == 3
    got = joined.member_logits(tf.constant(TEXTS)).numpy()
    np.testing.assert_allclose(got[:, [0, 2]], members, atol=1e-5)
    np.testing.assert_allclose(got[:, 1], deep.logits(TEXTS), atol=1e-5)
    with pytest.raises(ValueError, match="only the first"):
        IntentClassifier.ensemble([deep, m])


def test_ensemble_joins_trained_models_side_by_side():
    singles = []
    for seed in (3, 4):
        tf.keras.utils.set_random_seed(seed)
        m = IntentClassifier.from_texts(TEXTS, LABELS, output_dim=8, min_count=1)
        m.compile(LazyAdam(2e-2), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(tf.constant(TEXTS), m.label_ids(LABELS), epochs=3, batch_size=12, verbose=0)
        singles.append(m)
    joined = IntentClassifier.ensemble(singles)
    assert joined.members == 2 and joined.encoder.groups == 2
    members = joined.member_logits(tf.constant(TEXTS)).numpy()
    for k, m in enumerate(singles):
        np.testing.assert_allclose(members[:, k], m.logits(TEXTS), atol=1e-5)
    want = (singles[0].predict_proba(TEXTS) + singles[1].predict_proba(TEXTS)) / 2
    np.testing.assert_allclose(joined.predict_proba(TEXTS), want, atol=1e-5)
    np.testing.assert_allclose(joined.member_probabilities(TEXTS)[:, 1], singles[1].predict_proba(TEXTS),
                               atol=1e-5)
    other = IntentClassifier.from_texts(TEXTS[:10], LABELS[:10], output_dim=8, min_count=1)
    with pytest.raises(ValueError, match="intents|encoders differ"):
        IntentClassifier.ensemble([singles[0], other])
    with pytest.raises(ValueError, match="at least two"):
        IntentClassifier.ensemble(singles[:1])
