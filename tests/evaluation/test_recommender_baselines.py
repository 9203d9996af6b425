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
