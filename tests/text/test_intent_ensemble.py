"""IntentEnsemble: models of different kinds averaged, saved, exported, run in TFLite."""

import numpy as np
import pytest
import tensorflow as tf

from ecomtf.export.intent_classifier_servable import IntentClassifierServable
from ecomtf.models.intent_classifier import IntentClassifier
from ecomtf.models.intent_ensemble import IntentEnsemble
from ecomtf.text.lazy_adam import LazyAdam
from ecomtf.text.metrics import softmax
from tests.export_checks import run_export_test
from tests.export_checks import run_tflite_test
from tests.text.test_intent_classifier import LABELS
from tests.text.test_intent_classifier import TEXTS


def _trained(seed, **kwargs):
    tf.keras.utils.set_random_seed(seed)
    m = IntentClassifier.from_texts(TEXTS, LABELS, output_dim=16, min_count=1, **kwargs)
    m.compile(LazyAdam(1e-2), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.fit(tf.constant(TEXTS), m.label_ids(LABELS), epochs=20, batch_size=12, verbose=0)
    return m


@pytest.fixture(scope="module")
def parts():
    wide = _trained(7, wide=True)
    transformer = _trained(8, encoder="transformer", num_heads=2, intermediate_dim=32, dropout=0.0)
    return wide, transformer


def test_averages_the_models_probabilities_and_round_trips(parts, tmp_path):
    wide, transformer = parts
    both = IntentEnsemble([wide, transformer])
    assert both.intents == wide.intents and both.member_count == 2
    # Each model enters with its logits (temperature 1), whatever its own
    # calibration: the ensemble is calibrated as one model.
    wide.temperature = 2.0
    want = (softmax(wide.logits(TEXTS)) + softmax(transformer.logits(TEXTS))) / 2
    np.testing.assert_allclose(both.predict_proba(TEXTS), want, atol=1e-5)
    wide.temperature = 1.0
    got = both.member_logits(tf.constant(TEXTS)).numpy()
    np.testing.assert_allclose(got[:, 1], transformer.logits(TEXTS), atol=1e-5)
    assert both.report(TEXTS, LABELS)["accuracy"] == 1.0
    chosen = both.calibrate(TEXTS, LABELS, ["qwerty asdf", "zzz"])
    assert both.threshold == chosen["threshold"] > 0
    both.save(tmp_path / "both.keras")
    again = tf.keras.models.load_model(tmp_path / "both.keras")
    assert isinstance(again, IntentEnsemble) and again.threshold == both.threshold
    assert [type(m).__name__ for m in again.models] == ["IntentClassifier"] * 2 and again.models[0].wide
    np.testing.assert_allclose(again.predict_proba(TEXTS), both.predict_proba(TEXTS), atol=1e-6)


def test_exports_and_converts_as_one_model(parts, tmp_path):
    both = IntentEnsemble(list(parts))
    both.calibrate(TEXTS, LABELS, ["qwerty asdf", "zzz"])
    texts = np.array(["where is my parcel", "我要退款", ""], dtype=object)
    servable = IntentClassifierServable(both, examples=texts)
    run_export_test(servable, tmp_path / "intent")
    inputs = {"text": np.array(TEXTS[:15] + ["", "qwerty"], dtype=object)}
    run_tflite_test(servable, tmp_path / "both.tflite", inputs)


def test_fit_trains_every_model_on_its_own_loss():
    # Untrained models joined and fitted together: each must learn the set
    # alone (a loss on the mean alone would not make each one right).
    ngram = IntentClassifier.from_texts(TEXTS, LABELS, output_dim=16, min_count=1)
    transformer = IntentClassifier.from_texts(TEXTS, LABELS, encoder="transformer", output_dim=16,
                                              num_heads=2, intermediate_dim=32, min_count=1, dropout=0.0)
    tf.keras.utils.set_random_seed(9)
    both = IntentEnsemble([ngram, transformer])
    both.compile(LazyAdam(1e-2), tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                 metrics=["accuracy"])
    hist = both.fit(tf.constant(TEXTS), both.label_ids(LABELS), epochs=20, batch_size=12, verbose=0)
    assert hist.history["accuracy"][-1] == 1.0
    for m in both.models:
        assert m.report(TEXTS, LABELS)["accuracy"] == 1.0


def test_refuses_models_that_do_not_match(parts):
    wide, _ = parts
    other = IntentClassifier.from_texts(TEXTS[:10], LABELS[:10], output_dim=8, min_count=1)
    with pytest.raises(ValueError, match="same intents"):
        IntentEnsemble([wide, other])
    with pytest.raises(ValueError, match="at least two"):
        IntentEnsemble([wide])
    with pytest.raises(ValueError, match="intent models"):
        IntentEnsemble([wide, tf.keras.Sequential()])
