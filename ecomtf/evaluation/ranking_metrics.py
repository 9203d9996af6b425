"""Top-k ranking metrics for next-item and session recommendation.

Two evaluation protocols are supported, and they give very different figures,
so reports must say which one they use:

- **Full ranking**: the target is ranked against every item of the catalog,
  except items the caller excludes (usually those the user already
  interacted with before the target; the target itself is never excluded).
- **Sampled**: the target is ranked against a fixed set of negatives (e.g.
  100 items the user never interacted with, drawn uniformly without
  replacement by ``sample_negatives``).

Ties in scores are broken by the smaller column index, so a model that gives
every item the same score is not rewarded: order the score columns by item
id (``sort_catalog``) to get the usual "ties broken by smaller item id" rule.

All ranks are 1-based. For one target per case, HR@k and Recall@k are the
same number; MRR@k counts ``1/rank`` only for ranks within ``k``.

Example:
    >>> scores = np.array([[0.1, 0.9, 0.5], [0.2, 0.2, 0.2]])
    >>> ranks = full_ranks(scores, np.array([2, 1]))
    >>> ranks.tolist()
    [2, 2]
    >>> hit_rate(ranks, 1), ndcg(ranks, 2)
    (0.0, 0.6309297535714575)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def full_ranks(
    scores: np.ndarray,
    targets: np.ndarray,
    exclude: Sequence[np.ndarray] | np.ndarray | None = None,
) -> np.ndarray:
    """1-based rank of each target among all non-excluded columns.

    Args:
        scores: float ``[cases, items]``.
        targets: int ``[cases]`` column of each target; a negative value (a
            target the model cannot score, e.g. an item unseen in training)
            gets rank ``items + 1``, a miss at every cut-off.
        exclude: per case, the columns not to rank (a list of int arrays or a
            bool mask ``[cases, items]``); the target column is never
            excluded.

    Returns:
        int64 ``[cases]``: 1 + #allowed columns with a higher score + #allowed
        columns with the same score and a smaller index.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    n, v = scores.shape
    if len(targets) != n:
        raise ValueError(f"{n} score rows but {len(targets)} targets")
    valid = targets >= 0
    t = np.where(valid, targets, 0)
    target_scores = scores[np.arange(n), t][:, None]
    cols = np.arange(v)[None, :]
    ahead = (scores > target_scores) | ((scores == target_scores) & (cols < t[:, None]))
    if exclude is not None:
        ahead &= ~_exclusion_mask(exclude, n, v)
    ranks = 1 + ahead.sum(axis=1)
    return np.where(valid, ranks, v + 1).astype(np.int64)


def sampled_ranks(scores: np.ndarray, targets: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """1-based rank of each target among itself and its sampled negatives.

    Args:
        scores: float ``[cases, items]``.
        targets: int ``[cases]`` target columns.
        negatives: int ``[cases, num_negatives]`` negative columns.

    Returns:
        int64 ``[cases]`` in ``1 .. num_negatives + 1``; ties go to the smaller
        column index.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    negatives = np.asarray(negatives, dtype=np.int64)
    rows = np.arange(len(targets))
    ts = scores[rows, targets][:, None]
    ns = scores[rows[:, None], negatives]
    ahead = (ns > ts) | ((ns == ts) & (negatives < targets[:, None]))
    return (1 + ahead.sum(axis=1)).astype(np.int64)


def sample_negatives(
    num_items: int,
    interacted: Sequence[np.ndarray],
    num_negatives: int = 100,
    seed: int | np.random.Generator = 42,
) -> np.ndarray:
    """Negatives for the sampled protocol: uniform, without replacement.

    For each case in order, ``rng.choice`` draws ``num_negatives`` columns
    from the sorted columns the user never interacted with, with one
    ``numpy.random.default_rng(seed)`` shared by all cases (so the result
    depends on the order of cases: keep users in a fixed order).

    Args:
        num_items: number of columns.
        interacted: per case, the columns the user interacted with (all of
            them, including the target).
        num_negatives: negatives per case.
        seed: seed of ``numpy.random.default_rng``, or a generator.

    Returns:
        int64 ``[cases, num_negatives]``.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    out = np.empty((len(interacted), num_negatives), dtype=np.int64)
    all_items = np.arange(num_items)
    for i, seen in enumerate(interacted):
        pool = np.setdiff1d(all_items, np.asarray(seen, dtype=np.int64))
        if len(pool) < num_negatives:
            raise ValueError(f"case {i}: only {len(pool)} items left to sample from")
        out[i] = rng.choice(pool, size=num_negatives, replace=False)
    return out


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """HR@k: the share of targets ranked within the top ``k``."""
    ranks = np.asarray(ranks)
    return float(np.mean(ranks <= k)) if len(ranks) else float("nan")


def recall(ranks: np.ndarray, k: int) -> float:
    """Recall@k with one target per case (equal to HR@k)."""
    return hit_rate(ranks, k)


def ndcg(ranks: np.ndarray, k: int) -> float:
    """NDCG@k with one target per case: ``1 / log2(rank + 1)`` within ``k``."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if not len(ranks):
        return float("nan")
    gains = np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)
    return float(np.mean(gains))


def mrr(ranks: np.ndarray, k: int | None = None) -> float:
    """Mean reciprocal rank; with ``k``, ranks beyond ``k`` count 0 (MRR@k)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if not len(ranks):
        return float("nan")
    rr = 1.0 / ranks
    if k is not None:
        rr = np.where(ranks <= k, rr, 0.0)
    return float(np.mean(rr))


def ranking_report(ranks: np.ndarray, ks: Sequence[int] = (10,), with_mrr: bool = True) -> dict:
    """``{"HR@k", "NDCG@k", ..., "MRR", "cases"}`` for the given ranks."""
    out = {}
    for k in ks:
        out[f"HR@{k}"] = hit_rate(ranks, k)
        out[f"NDCG@{k}"] = ndcg(ranks, k)
    if with_mrr:
        out["MRR"] = mrr(ranks)
    out["cases"] = int(len(ranks))
    return out


def session_report(ranks: np.ndarray, k: int = 20) -> dict:
    """Session-based figures: ``Recall@k`` and ``MRR@k``."""
    return {f"Recall@{k}": recall(ranks, k), f"MRR@{k}": mrr(ranks, k), "cases": int(len(ranks))}


def sort_catalog(item_ids: Sequence[str]) -> list[str]:
    """Item ids in ascending order: numeric when all are integers, else text.

    Put score columns in this order so that ties go to the smaller item id.
    """
    ids = [str(i) for i in item_ids]
    if ids and all(i.isdigit() for i in ids):
        return sorted(ids, key=lambda i: (len(i.lstrip("0")), i.lstrip("0")))
    return sorted(ids)


def _exclusion_mask(exclude, n: int, v: int) -> np.ndarray:
    if isinstance(exclude, np.ndarray) and exclude.dtype == bool:
        if exclude.shape != (n, v):
            raise ValueError(f"exclusion mask shape {exclude.shape} != {(n, v)}")
        return exclude
    if len(exclude) != n:
        raise ValueError(f"{n} cases but {len(exclude)} exclusion lists")
    mask = np.zeros((n, v), dtype=bool)
    for i, cols in enumerate(exclude):
        cols = np.asarray(cols, dtype=np.int64)
        mask[i, cols[(cols >= 0) & (cols < v)]] = True
    return mask
