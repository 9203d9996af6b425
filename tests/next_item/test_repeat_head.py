"""The repeat (copy) head of NextItemRecommender: one softmax over catalog and history."""

import numpy as np
import pytest
import tensorflow as tf

from ecomtf.models.next_item_recommender import NextItemRecommender

ITEMS = [f"i{k}" for k in range(20)]


def _inputs():
    return {"item_id": tf.constant([["", "i1", "i2", "i1"], ["i3", "i4", "i5", "i6"]]),
            "event_type": tf.constant([["", "view", "cart", "view"]] * 2),
            "time_gap": tf.constant([[0.0, 5.0, 50.0, 500.0]] * 2)}


@pytest.mark.parametrize("by_item,item_keys", [(False, True), (True, True), (True, False)])
def test_scores_are_the_training_softmax(by_item, item_keys):
    """softmax(call) at the last step is exp(-loss) of that step's target."""
    tf.keras.utils.set_random_seed(0)
    model = NextItemRecommender(ITEMS, ["view", "cart"], max_len=6, embedding_dim=8, num_blocks=1,
                                repeat=True, dropout=0.0, repeat_by_item=by_item,
                                repeat_item_keys=item_keys)
    x = _inputs()
    probs = tf.nn.softmax(model(x)).numpy()
    for row, target in ((0, "i2"), (0, "i1"), (1, "i9")):
        y = np.full((2, 4), "", dtype=object)
        y[row, -1] = target
        loss = model.next_item_loss(x, tf.constant(y.astype(str)), training=False).numpy()
        assert np.exp(-loss) == pytest.approx(probs[row, ITEMS.index(target)], rel=1e-4)


def test_copy_mass_goes_to_history_items_only():
    tf.keras.utils.set_random_seed(1)
    plain = NextItemRecommender(ITEMS, ["view", "cart"], max_len=6, embedding_dim=8, num_blocks=1)
    rep = NextItemRecommender(ITEMS, ["view", "cart"], max_len=6, embedding_dim=8, num_blocks=1,
                              repeat=True)
    rep.ensure_built()
    plain.ensure_built()
    shared = [w for w in rep.weights if "repeat_pointer" not in w.name]
    assert len(shared) == len(plain.weights)
    for a, b in zip(plain.weights, shared):  # the shared part, in creation order
        b.assign(a)
    gain = (rep(_inputs()) - plain(_inputs())).numpy()
    history = [{"i1", "i2"}, {"i3", "i4", "i5", "i6"}]
    for row in range(2):
        for j, item in enumerate(ITEMS):
            if item in history[row]:
                assert gain[row, j] > 0
            else:
                assert gain[row, j] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("loss", ["sampled_softmax", "in_batch"])
def test_repeat_trains_with_every_loss(loss):
    tf.keras.utils.set_random_seed(2)
    model = NextItemRecommender(ITEMS, ["view", "cart"], max_len=6, embedding_dim=8, num_blocks=1,
                                repeat=True, loss=loss, num_sampled=5)
    y = tf.constant([["", "i2", "i1", "i2"], ["i4", "i5", "i6", "i4"]])
    model.compile(tf.keras.optimizers.Adam(1e-2))
    first = model.next_item_loss(_inputs(), y, training=True).numpy()
    model.fit(tf.data.Dataset.from_tensors((_inputs(), y)).repeat(30), verbose=0)
    assert np.isfinite(first)
    assert model.next_item_loss(_inputs(), y, training=False).numpy() < first
    config = model.get_config()
    assert config["repeat"] is True
    assert NextItemRecommender.from_config(config).repeat


def test_recovers_planted_repeats_of_the_simulated_shop():
    """The shop's planted repeats (back to the carted item, or to the one two views ago)
    are learned: the repeat-aware model ranks better than "the history, most recent
    first" on the same leave-one-out split, by the same metric code."""
    from ecomtf.datasets import simulate_shop
    from ecomtf.recipes import next_item

    shop = simulate_shop(n_users=1000, n_items=200, n_days=60, seed=1, repeat_views=0.3)
    data = next_item.prepare(shop.events, by="user")
    _, metrics = next_item.train(data, epochs=15, verbose=0, embedding_dim=32, max_len=20,
                                 num_blocks=1, learning_rate=3e-3)
    assert data.exclude_seen is False and metrics["full_cases"] > 600
    bases = metrics["baselines"]
    assert set(bases) == set(next_item.BASELINES)
    # Repeats are common here, so the repeat rule is strong...
    assert bases["repeat"]["full_NDCG@10"] > 2 * bases["most popular"]["full_NDCG@10"]
    # ...and the model is above it (measured 0.493 vs 0.448 NDCG@10, 0.727 vs 0.607 HR@10).
    assert metrics["full_NDCG@10"] > bases["repeat"]["full_NDCG@10"] + 0.01
    assert metrics["full_HR@10"] > bases["repeat"]["full_HR@10"]


def test_by_item_pointer_copies_each_item_once_from_its_latest_step():
    from ecomtf.layers.repeat_pointer import MASKED
    from ecomtf.layers.repeat_pointer import RepeatPointer

    ptr = RepeatPointer(dim=4, max_len=6, by_item=True)
    items = tf.constant([[7, 3, 7, 5, 7]])
    mask = tf.constant([[True, True, True, True, True]])
    queries = tf.zeros([1, 5, 4])  # no attention term: recency + count only
    keys = tf.random.normal([1, 5, 4], seed=0)
    logits = ptr(queries, keys, mask, tf.range(5), key_items=items).numpy()[0]
    copyable = logits > MASKED / 2
    # query at step 3 (items 7 3 7 5): item 7 from step 2 only, seen twice.
    assert copyable[3].tolist() == [False, True, True, True, False]
    assert copyable[4].tolist() == [False, True, False, True, True]
    plain = RepeatPointer(dim=4, max_len=6)
    plain.build()
    ptr.recency.assign(plain.recency)
    gap = logits[3, 2] - logits[3, 3]  # item 7 (2 views, 1 back) vs item 5 (1 view, now)
    assert gap == pytest.approx(np.log(2.0) + ptr.recency.numpy()[1] - ptr.recency.numpy()[0], abs=1e-4)
    assert RepeatPointer.from_config(ptr.get_config()).by_item


def test_copy_keys_without_the_item_ignore_which_item_it_is():
    """With repeat_item_keys=False two histories that differ only in their items get
    the same copy scores step by step (the copy mass moves with the items)."""
    tf.keras.utils.set_random_seed(3)
    model = NextItemRecommender(ITEMS, ["view", "cart"], max_len=6, embedding_dim=8, num_blocks=1,
                                repeat=True, dropout=0.0, repeat_item_keys=False)
    assert NextItemRecommender.from_config(model.get_config()).repeat_item_keys is False
    h, mask, _, keys, idx = model._encode(_inputs())
    swapped = dict(_inputs(), item_id=tf.constant([["", "i7", "i8", "i7"], ["i3", "i4", "i5", "i6"]]))
    _, _, _, keys2, _ = model._encode(swapped)
    np.testing.assert_allclose(keys.numpy(), keys2.numpy())
