import numpy as np
import pytest

from ecomtf.evaluation.retrieval_metrics import evaluate_popularity
from ecomtf.evaluation.retrieval_metrics import retrieval_ranks
from ecomtf.evaluation.retrieval_metrics import retrieval_report


def test_ranks_count_strictly_higher_scores_and_exclusions():
    # Scores of the single query against items a..e: 5, 4, 4, 3, 1.
    c = np.array([[5.0], [4.0], [4.0], [3.0], [1.0]])
    ids = ["a", "b", "c", "d", "e"]
    q = np.ones([4, 1])
    ranks = retrieval_ranks(q, ["d", "c", "zz", "a"], c, ids, exclude=[["a", "b"], ["c"], [], ["a", "x"]])
    # d: 3 items ahead -> rank 4; minus excluded a, b -> rank 2.
    # c: only a is strictly ahead (b ties, counted in the model's favour) -> 2; its own id is never excluded.
    # zz: not in the catalog -> a miss at every cut-off (items + 1).
    np.testing.assert_array_equal(ranks["rank"], [4, 2, 6, 1])
    np.testing.assert_array_equal(ranks["rank_unseen"], [2, 2, 6, 1])
    report = retrieval_report(ranks, ks=(1, 2))
    assert report["hit_rate@1"] == 0.25 and report["hit_rate@2"] == 0.5
    assert report["hit_rate_unseen@2"] == 0.75
    assert report["ndcg@2"] == pytest.approx((1 + 1 / np.log2(3)) / 4)
    assert report["examples"] == 4


def test_popularity_baseline():
    candidates = {"item_id": np.array(["a", "b", "c"])}
    test = {"item_id": np.array(["b", "c"]), "user_id": np.array(["u", "v"])}
    report = evaluate_popularity(["b", "b", "a"], test, candidates, seen={"u": ["b"], "v": ["b"]}, ks=(1, 2))
    assert report["hit_rate@1"] == 0.5 and report["hit_rate@2"] == 0.5
    # v has seen b: excluded, c moves up to rank 2 ... a still ahead.
    assert report["hit_rate_unseen@2"] == 1.0


def test_recent_items_baseline_ranks_the_query_history_first():
    from ecomtf.evaluation.retrieval_metrics import evaluate_recent_items

    candidates = {"item_id": np.array(["a", "b", "c", "d"])}
    examples = {"item_id": np.array(["c", "b", "d"]), "user_id": np.array(["u", "v", "w"]),
                "recent_item_ids": np.array([["", "b", "c"], ["b", "c", "a"], ["", "", ""]])}
    train = np.array(["a", "a", "a", "d", "d"])
    m = evaluate_recent_items(train, examples, candidates, ks=(1, 2, 3))
    # c is the most recent item of query 0 (rank 1); b is third-to-last of query 1
    # (rank 3); query 2 has no history: popularity, d after a (rank 2).
    assert m["hit_rate@1"] == 1 / 3 and m["hit_rate@2"] == 2 / 3 and m["hit_rate@3"] == 1.0
