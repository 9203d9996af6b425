"""Per-session next-item: anonymous sessions cut at an inactivity gap, time split, Recall@20."""

import numpy as np

from ecomtf.data.event_log import EventLog
from ecomtf.recipes import next_item
from ecomtf.evaluation.recommender_baselines import MostPopularRecommender

RING = [f"p{k:02d}" for k in range(40)]  # more items than the 20 Recall@20 looks at


def session_log(n_users=50, sessions_per_user=4, seed=0):
    """Each user has a few sessions hours apart; a session walks a few steps of RING.

    Gaps inside a session are seconds to minutes, between sessions 2 to 6
    hours, so the 30-minute rule recovers every session. Popularity is
    skewed (sessions start more often at low ring positions), so most-popular
    is not a uniform guess.
    """
    rng = np.random.default_rng(seed)
    start_weights = np.linspace(3.0, 1.0, len(RING))
    start_weights /= start_weights.sum()
    users, items, kinds, times = [], [], [], []
    for u in range(n_users):
        t = 1_700_000_000_000 + int(rng.integers(0, 3_600_000))
        for _ in range(sessions_per_user):
            pos = int(rng.choice(len(RING), p=start_weights))
            for _ in range(int(rng.integers(4, 8))):
                users.append(f"u{u}")
                items.append(RING[pos % len(RING)])
                kinds.append("view")
                times.append(t)
                pos += 1
                t += int(rng.integers(5_000, 300_000))
            t += int(rng.integers(2, 6)) * 3_600_000
    return EventLog(user_id=np.array(users), item_id=np.array(items), event_type=np.array(kinds),
                    timestamp=np.array(times, dtype=np.int64))


def test_session_model_beats_most_popular_on_recall_at_20():
    data = next_item.prepare(session_log(), by="session")
    assert data.by == "session" and data.validation is None
    # The 30-minute gap finds every planted session; the latest 20% are test.
    assert "200 sessions of 2+ events" in data.description
    assert 150 <= len(data.train) <= 160 and len(data.test) > 100
    # Every test case is a prefix of a session and its next item.
    assert all(1 <= len(h) < 8 for h in data.test.histories.item_ids)

    model, metrics = next_item.train(data, epochs=6, batch_size=32, learning_rate=1e-2,
                                     embedding_dim=16, max_len=8, num_blocks=1, verbose=0)
    assert set(metrics) >= {"Recall@20", "MRR@20"}
    pop = MostPopularRecommender().fit(data.train.item_ids)
    pop_scores = pop.score(data.test.histories.item_ids, data.catalog)
    base = next_item.evaluate_scores(pop_scores, data.test, data.catalog, by="session")
    assert metrics["cases"] == base["cases"] == len(data.test)
    assert 0.2 < base["Recall@20"] < 0.8
    assert metrics["Recall@20"] > max(0.9, base["Recall@20"] + 0.15)
    assert metrics["MRR@20"] > base["MRR@20"]
