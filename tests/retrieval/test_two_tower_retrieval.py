import numpy as np
import pytest
import tensorflow as tf

from ecomtf.data import retrieval_pipeline as rp
from ecomtf.models.two_tower_retrieval import TwoTowerRetrieval
from ecomtf.recipes import retrieval
from ecomtf.evaluation.retrieval_metrics import evaluate_retrieval


def test_trained_model_beats_popularity_on_planted_preference(trained):
    model, metrics = trained
    # Users buy 90% in their own category (10 of 40 items): a model that
    # learned it ranks far above item popularity.
    assert metrics["hit_rate@10"] > 0.35
    assert metrics["hit_rate@10"] > metrics["popularity_hit_rate@10"] + 0.1
    assert metrics["hit_rate_unseen@10"] >= metrics["hit_rate@10"] - 1e-9
    for k in (1, 5, 10, 50, 100):
        assert 0.0 <= metrics[f"ndcg@{k}"] <= metrics[f"hit_rate@{k}"] <= 1.0
    assert metrics["hit_rate@100"] == 1.0  # 40 items


def test_factorized_top_k_in_evaluate_agrees_with_numpy_metrics(trained, data):
    model, _ = trained
    keras = model.evaluate(rp.make_retrieval_dataset(data.test, 256), return_dict=True, verbose=0)
    ours = evaluate_retrieval(model, data.test, data.candidates)
    for k in (1, 5, 10):
        want = keras[f"factorized_top_k/top_{k}_categorical_accuracy"]
        # Id-based top-k vs counting strictly higher scores: equal up to ties.
        assert abs(ours[f"hit_rate@{k}"] - want) < 0.01, (k, ours[f"hit_rate@{k}"], want)


def test_config_and_weights_round_trip(trained, data, tmp_path):
    model, metrics = trained
    path = retrieval.save_run(tmp_path / "run", model, metrics)
    again = retrieval.load_run(path)
    assert again.get_config() == model.get_config()
    q = {k: data.test[k][:5] for k in model.query_tower.input_names()}
    np.testing.assert_allclose(again(q), model(q), atol=1e-6)
    c = {k: data.candidates[k] for k in model.candidate_tower.input_names()}
    np.testing.assert_allclose(again.candidate_embeddings(c), model.candidate_embeddings(c), atol=1e-6)
    np.testing.assert_array_equal(again.candidates["item_id"], data.candidates["item_id"])


def _tiny():
    examples = {"user_id": np.array(["u1", "u2", "u1", "u3"]), "item_id": np.array(["a", "b", "a", "c"])}
    return rp.add_sampling_probability(examples)


@pytest.mark.parametrize("options", [
    {"temperature": 0.1, "normalize": True},
    {"logq_correction": 0.5, "remove_accidental_hits": True},
    {"num_hard_negatives": 1},
])
def test_task_options_train(options):
    examples = _tiny()
    model = TwoTowerRetrieval.from_dataset(examples, output_dim=4, **options)
    model.compile(tf.keras.optimizers.Adam(0.05))
    history = model.fit(rp.make_retrieval_dataset(examples, 4), epochs=5, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_logq_needs_the_probability_column():
    examples = {"user_id": np.array(["u1", "u2"]), "item_id": np.array(["a", "b"])}
    model = TwoTowerRetrieval.from_dataset(examples, output_dim=4, logq_correction=1.0)
    with pytest.raises(ValueError, match="candidate_sampling_probability"):
        model.compute_loss({k: tf.constant(v) for k, v in examples.items()})


def test_logq_correction_matches_the_formula():
    # With logQ strength s, the loss equals the plain loss on logits - s*log(q).
    examples = _tiny()
    feats = {k: tf.constant(v) for k, v in examples.items()}
    plain = TwoTowerRetrieval.from_dataset(examples, output_dim=4)
    corrected = TwoTowerRetrieval.from_config({**plain.get_config(), "logq_correction": 0.5})
    corrected.build_towers()
    corrected.set_weights(plain.get_weights())
    q = plain.query_tower(feats)
    c = plain.candidate_tower(feats)
    logits = tf.matmul(q, c, transpose_b=True) - 0.5 * tf.math.log(feats[rp.SAMPLING_PROBABILITY])
    want = tf.keras.losses.CategoricalCrossentropy(from_logits=True, reduction="sum")(tf.eye(4), logits)
    np.testing.assert_allclose(corrected.compute_loss(feats), want, rtol=1e-5)


def test_mirrored_strategy_fit(mirrored_strategy):
    examples = _tiny()
    strategy = mirrored_strategy
    with strategy.scope():
        model = TwoTowerRetrieval.from_dataset(examples, output_dim=4, temperature=0.5, normalize=True)
        model.compile(tf.keras.optimizers.Adagrad(0.1))
    history = model.fit(rp.make_retrieval_dataset(examples, 4), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_in_batch_softmax_loss_equals_tfrs_default():
    from ecomtf.models.two_tower_retrieval import InBatchSoftmaxLoss

    logits = tf.random.stateless_normal([5, 7], seed=[1, 2]) * 3.0  # 2 extra negative columns
    labels = tf.eye(5, 7)
    weights = tf.constant([1.0, 0.0, 2.0, 1.0, 0.5])
    default = tf.keras.losses.CategoricalCrossentropy(from_logits=True, reduction="sum")
    np.testing.assert_allclose(InBatchSoftmaxLoss()(labels, logits), default(labels, logits), rtol=1e-5)
    np.testing.assert_allclose(
        InBatchSoftmaxLoss()(labels, logits, sample_weight=weights),
        default(labels, logits, sample_weight=weights), rtol=1e-5,
    )
