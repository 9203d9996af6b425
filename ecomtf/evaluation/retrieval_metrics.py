"""Full-catalog retrieval metrics for two-tower models.

Every test example (one query, one interacted item) is scored against every
candidate of the catalog. Two counts are reported, because they answer
different questions and give different figures:

- **as TFRS's FactorizedTopK counts**: the item is a hit at ``k`` when fewer
  than ``k`` candidates score strictly higher (ties are counted in the
  model's favour, as ``tf.math.in_top_k`` does). Items the user already has
  compete like any other. This is the figure TFRS tutorials report
  (``factorized_top_k/top_100_categorical_accuracy``).
- **unseen**: the items the user interacted with in training (``seen``) are
  removed from the ranking first (the target itself is never removed), as a
  shop does when it never recommends what the user already bought.

With one target per example, recall@k and hit rate@k are the same number;
NDCG@k is ``1 / log2(rank + 1)`` within ``k`` (see ``ecomtf.evaluation.ranking_metrics``).

Example:
    >>> report = evaluate_retrieval(model, test, candidates, seen=seen_items(train))
    >>> report["hit_rate@100"], report["hit_rate_unseen@100"]
"""

from __future__ import annotations

from typing import Mapping
from typing import Sequence

import numpy as np

from ecomtf.evaluation.ranking_metrics import hit_rate
from ecomtf.evaluation.ranking_metrics import ndcg

DEFAULT_KS = (1, 5, 10, 50, 100)


def embed(fn, features: Mapping[str, np.ndarray], names: Sequence[str], batch_size: int = 4096) -> np.ndarray:
    """Runs a tower (``fn(dict) -> [b, d]``) over numpy features in batches."""
    import tensorflow as tf

    n = len(next(iter(features.values())))
    out = []
    for start in range(0, n, batch_size):
        batch = {k: tf.constant(_portable(features[k][start : start + batch_size])) for k in names}
        out.append(np.asarray(fn(batch, training=False)))
    return np.concatenate(out) if out else np.zeros([0, 0], np.float32)


def retrieval_ranks(
    query_embeddings: np.ndarray,
    positive_ids: Sequence[str],
    candidate_embeddings: np.ndarray,
    candidate_ids: Sequence[str],
    exclude: Sequence[Sequence[str]] | None = None,
    batch_size: int = 1024,
    extra_scores=None,
) -> dict[str, np.ndarray]:
    """1-based full-catalog ranks of each example's item.

    Args:
        query_embeddings: float ``[n, d]``.
        positive_ids: ``[n]`` the interacted item of each example.
        candidate_embeddings: float ``[items, d]``.
        candidate_ids: ``[items]`` their ids.
        exclude: per example, item ids to remove from its ranking (the
            example's own item is never removed).
        batch_size: examples scored per matrix product.
        extra_scores: optional ``f(start, stop) -> [stop - start, items]``
            added to the dot products (per-query scores a baseline cannot
            express as embeddings).

    Returns:
        ``{"rank": ..., "rank_unseen": ...}``, int64 ``[n]``: 1 + the number of
        (non-excluded) candidates scoring strictly higher; ``items + 1`` when
        the item is not in the catalog (a miss at every cut-off).
    """
    q = np.asarray(query_embeddings, np.float32)
    c = np.asarray(candidate_embeddings, np.float32)
    cand_ids = np.asarray(candidate_ids).astype(str)
    index = {v: i for i, v in enumerate(cand_ids.tolist())}
    pos = np.array([index.get(v, -1) for v in np.asarray(positive_ids).astype(str).tolist()], np.int64)
    n, n_items = len(q), len(c)
    rank = np.empty(n, np.int64)
    rank_unseen = np.empty(n, np.int64)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        scores = q[start:stop] @ c.T
        if extra_scores is not None:
            scores = scores + extra_scores(start, stop)
        p = pos[start:stop]
        rows = np.arange(stop - start)
        target = scores[rows, np.maximum(p, 0)][:, None]
        ahead = scores > target
        r = 1 + ahead.sum(axis=1)
        ru = r.copy()
        if exclude is not None:
            for j in range(stop - start):
                cols = [index[v] for v in _as_list(exclude[start + j]) if v in index]
                cols = [x for x in cols if x != p[j]]
                if cols:
                    ru[j] -= int(ahead[j, cols].sum())
        miss = p < 0
        r[miss] = n_items + 1
        ru[miss] = n_items + 1
        rank[start:stop] = r
        rank_unseen[start:stop] = ru
    return {"rank": rank, "rank_unseen": rank_unseen}


def retrieval_report(ranks: Mapping[str, np.ndarray], ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """Hit rate (= recall) and NDCG at each ``k``, with and without seen items."""
    out = {}
    for k in ks:
        out[f"hit_rate@{k}"] = hit_rate(ranks["rank"], k)
        out[f"hit_rate_unseen@{k}"] = hit_rate(ranks["rank_unseen"], k)
        out[f"ndcg@{k}"] = ndcg(ranks["rank"], k)
        out[f"ndcg_unseen@{k}"] = ndcg(ranks["rank_unseen"], k)
    out["examples"] = int(len(ranks["rank"]))
    return out


def evaluate_retrieval(
    model,
    examples: Mapping[str, np.ndarray],
    candidates: Mapping[str, np.ndarray],
    *,
    seen: Mapping[str, Sequence[str]] | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 4096,
) -> dict[str, float]:
    """Full-catalog metrics of a ``TwoTowerRetrieval`` on test examples.

    Args:
        model: a trained ``TwoTowerRetrieval``.
        examples: test examples (query features and ``item_id``).
        candidates: the catalog's candidate features (``catalog_features``).
        seen: user -> items already interacted with in training
            (``ecomtf.data.retrieval_pipeline.seen_items(train)``); without
            it the unseen figures equal the plain ones.
        ks: cut-offs.

    Returns:
        ``hit_rate@k`` (as FactorizedTopK counts), ``hit_rate_unseen@k``,
        ``ndcg@k``, ``ndcg_unseen@k`` and ``examples``.
    """
    item_id = model.item_id_feature
    q = embed(model.query_tower, examples, model.query_tower.input_names(), batch_size)
    c = embed(model.candidate_tower, candidates, model.candidate_tower.input_names(), batch_size)
    exclude = None
    if seen is not None:
        exclude = _exclusions(seen, examples[model.query_tower.user_id_feature or "user_id"])
    ranks = retrieval_ranks(q, examples[item_id], c, candidates[item_id], exclude)
    return retrieval_report(ranks, ks)


def evaluate_popularity(
    train_item_ids: Sequence[str],
    examples: Mapping[str, np.ndarray],
    candidates: Mapping[str, np.ndarray],
    *,
    seen: Mapping[str, Sequence[str]] | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    item_id: str = "item_id",
    user_id: str = "user_id",
) -> dict[str, float]:
    """The same metrics for the popularity baseline (score = training count)."""
    c = _training_counts(train_item_ids, candidates[item_id])[:, None].astype(np.float32)
    q = np.ones([len(examples[item_id]), 1], np.float32)
    exclude = _exclusions(seen, examples[user_id])
    return retrieval_report(retrieval_ranks(q, examples[item_id], c, candidates[item_id], exclude), ks)


def evaluate_recent_items(
    train_item_ids: Sequence[str],
    examples: Mapping[str, np.ndarray],
    candidates: Mapping[str, np.ndarray],
    *,
    seen: Mapping[str, Sequence[str]] | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    item_id: str = "item_id",
    user_id: str = "user_id",
    history: str = "recent_item_ids",
) -> dict[str, float]:
    """The same metrics for "the query's recent items, most recent first, then popularity".

    The repeat rule of shop logs, for retrieval: every item in the query's
    ``history`` column (left-padded, most recent last) ranks above every
    other, the most recent first; the rest by training popularity. Needs the
    query's recent items (``prepare(history_length > 0)``).
    """
    cand = np.asarray(candidates[item_id]).astype(str).tolist()
    pop = _training_counts(train_item_ids, cand)
    c = (pop / (pop.max() + 1.0 if len(pop) else 1.0))[:, None].astype(np.float32)
    q = np.ones([len(examples[item_id]), 1], np.float32)
    index = {v: j for j, v in enumerate(cand)}
    recent = np.asarray(examples[history]).astype(str)

    def bonus(start, stop):
        out = np.zeros((stop - start, len(cand)), np.float32)
        for r, row in enumerate(recent[start:stop]):
            for step, item in enumerate(row.tolist()):  # later steps overwrite: most recent wins
                j = index.get(item)
                if item and j is not None:
                    out[r, j] = 1.0 + (step + 1) / len(row)
        return out

    exclude = _exclusions(seen, examples[user_id])
    ranks = retrieval_ranks(q, examples[item_id], c, candidates[item_id], exclude, extra_scores=bonus)
    return retrieval_report(ranks, ks)


def _training_counts(train_item_ids, candidate_ids) -> np.ndarray:
    """How often each candidate occurs in the training items (0 if never)."""
    uniq, counts = np.unique(np.asarray(train_item_ids).astype(str), return_counts=True)
    count = dict(zip(uniq.tolist(), counts.tolist()))
    return np.array([count.get(i, 0) for i in np.asarray(candidate_ids).astype(str).tolist()], np.float64)


def _exclusions(seen, user_ids) -> list[np.ndarray] | None:
    """Each query's seen items (``None`` when nothing is excluded)."""
    if seen is None:
        return None
    empty = np.array([], str)
    return [seen.get(u, empty) for u in np.asarray(user_ids).astype(str).tolist()]


def _as_list(values) -> list[str]:
    return [str(v) for v in np.asarray(values).ravel().tolist()]


def _portable(values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == object:
        return arr.astype(str)
    if arr.dtype == np.float64:
        return arr.astype(np.float32)
    return arr
