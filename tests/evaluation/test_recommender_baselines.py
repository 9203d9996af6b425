import numpy as np

from ecomtf.evaluation.recommender_baselines import ItemCooccurrenceRecommender
from ecomtf.evaluation.recommender_baselines import MostPopularRecommender


def test_most_popular():
    pop = MostPopularRecommender().fit([np.array(["a", "b", "a"]), np.array(["c", "a"])])
    scores = pop.score([np.array(["x"]), np.array([])], ["c", "a", "b", "zz"])
    assert scores.tolist() == [[1, 3, 1, 0], [1, 3, 1, 0]]


def test_cooccurrence_follows_sequences():
    seqs = [np.array(list("abcd"))] * 5 + [np.array(list("axyz"))]
    knn = ItemCooccurrenceRecommender(window=1, directed=True).fit(seqs)
    scores = knn.score([np.array(["a"]), np.array(["c"]), np.array(["unknown"])], list("abcdxyz"))
    assert np.argmax(scores[0]) == 1  # a -> b (5 times) beats a -> x (once)
    assert scores[0, 4] > 0 and scores[0, 2] == 0
    assert np.argmax(scores[1]) == 3  # c -> d
    assert not scores[2].any()


def test_cooccurrence_recency_weights():
    seqs = [np.array(list("ab")), np.array(list("cd"))]
    knn = ItemCooccurrenceRecommender(window=1, history_length=2, decay=0.5).fit(seqs)
    s = knn.score([np.array(list("ac"))], list("abcd"))[0]
    assert s[3] > s[1] > 0  # the most recent item (c) votes with weight 1, a with 0.5


def test_repeat_ranks_history_most_recent_first_then_popularity():
    from ecomtf.evaluation.recommender_baselines import RepeatRecommender

    rep = RepeatRecommender().fit([np.array(["a", "a", "a", "b", "d", "d"])])
    scores = rep.score([np.array(["", "c", "b", "c"]), np.array([], str)], ["a", "b", "c", "d", "e"])
    order = [list(np.argsort(-row, kind="stable")) for row in scores]
    # Row 0: c (last), b, then popularity a (3), d (2), e (0).
    assert order[0] == [2, 1, 0, 3, 4]
    assert order[1] == [0, 3, 1, 2, 4]


def test_session_knn_weights_recent_items_and_votes_with_similarity():
    from ecomtf.evaluation.recommender_baselines import SessionKNNRecommender

    train = [np.array(["a", "x"]), np.array(["b", "y"]), np.array(["b", "y"]), np.array(["c", "z"])]
    sknn = SessionKNNRecommender(k=10).fit(train)
    catalog = ["a", "b", "c", "x", "y", "z"]
    s = sknn.score([np.array(["a", "b"])], catalog)[0]
    # b is the most recent item (weight 1), a the first (weight 1/2).
    assert s[catalog.index("y")] == 2.0 and s[catalog.index("x")] == 0.5
    assert s[catalog.index("z")] == 0.0
    # Only the k most similar sessions vote.
    top1 = SessionKNNRecommender(k=1).fit(train).score([np.array(["a", "b"])], catalog)[0]
    assert top1[catalog.index("x")] == 0.0 and top1[catalog.index("y")] == 1.0


def test_session_knn_samples_the_most_recent_sessions():
    from ecomtf.evaluation.recommender_baselines import SessionKNNRecommender

    train = [np.array(["a", "old"]), np.array(["a", "new"])]
    s = SessionKNNRecommender(k=10, sample_size=1).fit(train).score([np.array(["a"])], ["new", "old"])
    assert s.tolist() == [[1.0, 0.0]]
