import numpy as np
import pytest
import tensorflow as tf

from ecomtf.export.purchase_predictor_servable import PurchasePredictorServable
from ecomtf.export.purchase_predictor_servable import to_tf_examples
from ecomtf.models.purchase_predictor import PurchasePredictor
from tests.export_checks import assert_outputs_close
from tests.export_checks import run_export_test
from tests.export_checks import run_tflite_test

T = 6


def planted_sequences(n=1200, seed=0):
    """Sequences whose label is (almost) 'there is a cart of a hot item'."""
    rng = np.random.default_rng(seed)
    items = np.array([f"i{j}" for j in range(30)])
    item_id = rng.choice(items, size=(n, T))
    event = rng.choice(["view", "view", "view", "cart"], size=(n, T))
    lengths = rng.integers(1, T + 1, size=n)
    for r, ln in enumerate(lengths):
        item_id[r, : T - ln] = ""
        event[r, : T - ln] = ""
    hot = np.isin(item_id, items[:5]) & (event == "cart")
    labels = hot.any(axis=1).astype(np.float32)
    dt = rng.exponential(30, size=(n, T)).astype(np.float32) * (item_id != "")
    feats = {
        "item_id": item_id,
        "event_type": event,
        "time_delta": dt,
        "dwell_time": np.roll(dt, -1, axis=1),
        "device": rng.choice(["ios", "android", "web"], size=n),
        "pages": rng.poisson(3, size=n).astype(np.float32),
    }
    return feats, labels


@pytest.fixture(scope="module")
def trained():
    tf.keras.utils.set_random_seed(1)
    feats, labels = planted_sequences()
    model = PurchasePredictor.from_dataset(feats, labels, lstm_units=16, item_dim=8, hidden_units=(16,))
    model.compile(tf.keras.optimizers.Adam(0.02), "binary_crossentropy")
    model.fit(feats, labels, epochs=8, batch_size=64, verbose=0)
    return model, feats, labels


def test_from_dataset_recognises_inputs(trained):
    model, _, labels = trained
    assert model.sequence_length == T
    assert model.step_numeric == ["time_delta", "dwell_time"]
    assert model.context_numeric == ["pages"]
    assert list(model.context_categorical) == ["device"]
    np.testing.assert_allclose(model.output_bias, np.log(labels.mean() / (1 - labels.mean())), rtol=1e-5)


def test_learns_planted_signal(trained):
    from ecomtf.evaluation.classification_metrics import roc_auc

    model, _, _ = trained
    feats, labels = planted_sequences(600, seed=5)
    p = model.predict(feats, verbose=0)[:, 0]
    assert roc_auc(labels, p) > 0.9


def test_session_features_only_and_nan_inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=400).astype(np.float32)
    feats = {"x": x, "kind": np.where(x > 0, "a", "b")}
    labels = (x > 0).astype(np.float32)
    model = PurchasePredictor.from_dataset(feats, labels, hidden_units=(8,))
    assert model.sequence_encoder is None
    model.compile(tf.keras.optimizers.Adam(0.05), "binary_crossentropy")
    model.fit(feats, labels, epochs=5, verbose=0)
    out = model.predict({"x": np.array([np.nan, 1.0], np.float32), "kind": np.array(["new", "a"])}, verbose=0)
    assert np.all(np.isfinite(out))


def test_config_round_trip_and_keras_save(trained, tmp_path):
    model, feats, _ = trained
    clone = PurchasePredictor.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    model.save(tmp_path / "m.keras")
    again = tf.keras.models.load_model(tmp_path / "m.keras")
    few = {k: v[:16] for k, v in feats.items()}
    np.testing.assert_allclose(again.predict(few, verbose=0), model.predict(few, verbose=0), atol=1e-6)


def test_unknown_ids_do_not_crash(trained):
    model, feats, _ = trained
    few = {k: v[:2].copy() for k, v in feats.items()}
    few["item_id"][:] = "never-seen"
    few["event_type"][:] = "refund"
    few["device"][:] = "fridge"
    assert np.all(np.isfinite(model.predict(few, verbose=0)))


def test_export_fresh_process_equals_predict(trained, tmp_path):
    model, feats, _ = trained
    few = {k: v[:32] for k, v in feats.items()}
    servable = PurchasePredictorServable(model, examples=few)
    path = run_export_test(servable, tmp_path / "purchase")
    want = model.predict(few, verbose=0)[:, 0]
    from ecomtf.export import run_calls_in_fresh_process

    # Sequences longer than the model's length, padded on the right, must give the same answer.
    longer = dict(few)
    for k in ("item_id", "event_type", "time_delta", "dwell_time"):
        v = few[k]
        pad = np.full((len(v), 3), "" if v.dtype.kind == "U" else 0, v.dtype)
        longer[k] = np.concatenate([v, pad], axis=1)
    # The same child also answers TF Serving's Classify API path: tf.Example in, scores out.
    got, got2, cls = run_calls_in_fresh_process(
        path, [("serving_default", few), ("serving_default", longer),
               ("classify", {"inputs": to_tf_examples(few)})])
    np.testing.assert_allclose(got["purchase_probability"], want, atol=1e-5)
    np.testing.assert_allclose(got2["purchase_probability"], want, atol=1e-5)
    np.testing.assert_allclose(cls["scores"][:, 1], want, atol=1e-5)
    assert cls["classes"][0].tolist() == [b"no_purchase", b"purchase"]


def test_tflite_parity_float_and_quantized(trained, tmp_path):
    from ecomtf.evaluation.classification_metrics import roc_auc

    model, _, _ = trained
    feats, labels = planted_sequences(1000, seed=9)
    servable = PurchasePredictorServable(model)
    run_tflite_test(servable, tmp_path / "p.tflite", feats, atol=1e-4)
    float_auc = roc_auc(labels, model.predict(feats, verbose=0)[:, 0])
    from ecomtf.export import run_tflite, to_tflite

    for q in ("dynamic", "float16"):
        path = to_tflite(servable, tmp_path / f"p_{q}.tflite", quantization=q)
        got = run_tflite(path, feats)["purchase_probability"]
        assert abs(roc_auc(labels, got) - float_auc) <= 0.01, q


def test_trains_under_mirrored_strategy(mirrored_strategy):
    strategy = mirrored_strategy
    assert strategy.num_replicas_in_sync == 2
    feats, labels = planted_sequences(256)
    with strategy.scope():
        model = PurchasePredictor.from_dataset(feats, labels, lstm_units=8, item_dim=4, hidden_units=(8,))
        model.compile("adam", "binary_crossentropy")
    ds = tf.data.Dataset.from_tensor_slices((feats, labels)).batch(64)
    hist = model.fit(ds, epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"][-1])


def test_tflite_parity_on_real_online_shoppers_rows(tmp_path):
    """Issue #2: LiteRT parity on >= 1,000 real examples; quantized AUC within 0.01."""
    from ecomtf.export import run_tflite, to_tflite
    from ecomtf.evaluation.classification_metrics import roc_auc
    from ecomtf.recipes import purchase

    data = purchase.online_shoppers_examples(seed=42)
    model, metrics = purchase.train(data.train, data.test, epochs=3, verbose=0)
    test = data.test.features
    assert len(data.test) >= 1000
    servable = PurchasePredictorServable(model)
    diffs = run_tflite_test(servable, tmp_path / "s.tflite", test, atol=1e-4)
    assert max(diffs.values()) <= 1e-4
    float_auc = metrics["auc"]
    for q in ("dynamic", "float16"):
        got = run_tflite(to_tflite(servable, tmp_path / f"s_{q}.tflite", quantization=q), test)
        assert abs(roc_auc(data.test.labels, got["purchase_probability"]) - float_auc) <= 0.01, q
    # int8: weights and activations, calibrated on training rows.
    rep = [{k: v[i : i + 1] for k, v in data.train.features.items()} for i in range(300)]
    got = run_tflite(to_tflite(servable, tmp_path / "s_int8.tflite", quantization="int8",
                               representative_inputs=rep), test)
    assert abs(roc_auc(data.test.labels, got["purchase_probability"]) - float_auc) <= 0.01
