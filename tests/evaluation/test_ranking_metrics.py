import numpy as np
import pytest

from ecomtf.evaluation import ranking_metrics as rm


def test_full_ranks_ties_go_to_smaller_column():
    scores = np.array([[0.5, 0.5, 0.5, 0.1], [0.2, 0.9, 0.9, 0.3]])
    # Row 0: target col 1 ties with col 0 (smaller, ahead) and col 2 (larger, behind).
    assert rm.full_ranks(scores, np.array([1, 2])).tolist() == [2, 2]


def test_full_ranks_exclusion_never_excludes_target():
    scores = np.array([[0.9, 0.8, 0.7, 0.1]])
    assert rm.full_ranks(scores, np.array([2]), [np.array([0])]).tolist() == [2]
    assert rm.full_ranks(scores, np.array([2]), [np.array([0, 1, 2])]).tolist() == [1]
    mask = np.array([[True, True, False, False]])
    assert rm.full_ranks(scores, np.array([2]), mask).tolist() == [1]
    # An unscorable target is a miss.
    assert rm.full_ranks(scores, np.array([-1])).tolist() == [5]


def test_sampled_ranks():
    scores = np.array([[0.1, 0.5, 0.5, 0.9]])
    assert rm.sampled_ranks(scores, np.array([2]), np.array([[0, 1]])).tolist() == [2]
    assert rm.sampled_ranks(scores, np.array([1]), np.array([[0, 2]])).tolist() == [1]


def test_sample_negatives_is_seeded_and_avoids_interacted():
    seen = [np.array([0, 1, 2]), np.array([5])]
    a = rm.sample_negatives(200, seen, 100, seed=42)
    b = rm.sample_negatives(200, seen, 100, seed=42)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 100)
    assert not set(a[0]) & {0, 1, 2} and 5 not in a[1]
    assert all(len(set(r)) == 100 for r in a)
    # The documented procedure: rng.choice over the sorted pool, one generator.
    rng = np.random.default_rng(42)
    first = rng.choice(np.setdiff1d(np.arange(200), seen[0]), size=100, replace=False)
    np.testing.assert_array_equal(a[0], first)
    with pytest.raises(ValueError):
        rm.sample_negatives(10, [np.arange(5)], 100)


def test_metric_values():
    ranks = np.array([1, 2, 11, 4])
    assert rm.hit_rate(ranks, 10) == 0.75
    assert rm.recall(ranks, 1) == 0.25
    expected = (1 + 1 / np.log2(3) + 1 / np.log2(5)) / 4
    assert rm.ndcg(ranks, 10) == pytest.approx(expected)
    assert rm.mrr(ranks) == pytest.approx((1 + 0.5 + 1 / 11 + 0.25) / 4)
    assert rm.mrr(ranks, 10) == pytest.approx((1 + 0.5 + 0.25) / 4)
    report = rm.ranking_report(ranks)
    assert report["cases"] == 4 and report["HR@10"] == 0.75
    assert rm.session_report(ranks, 20)["Recall@20"] == 1.0


def test_sort_catalog():
    assert rm.sort_catalog(["10", "9", "100", "1"]) == ["1", "9", "10", "100"]
    assert rm.sort_catalog(["b", "a", "a1"]) == ["a", "a1", "b"]
