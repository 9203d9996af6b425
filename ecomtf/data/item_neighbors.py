"""Top-K item-to-item neighbour tables from training sequences (the model's neighbour component)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def item_neighbor_table(
    sequences: Sequence[np.ndarray],
    vocabulary: Sequence[str],
    k: int,
    window: int = 10,
    directed: bool = False,
    backward_weight: float = 1.0,
    alpha: float = 0.8,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` strongest co-occurrence neighbours of every vocabulary item.

    The statistic is the item co-occurrence baseline's
    (``ItemCooccurrenceRecommender``: pairs within ``window`` steps,
    normalized ``c_ij / (n_i^alpha n_j^(1-alpha))``), fitted on
    ``sequences`` only, so a model that carries the table in its graph
    knows what the baseline knows and no more. An item never pairs with
    itself (re-views are the repeat head's job).

    Args:
        sequences: training sequences of item ids.
        vocabulary: the model's item columns, in order; neighbours outside
            it are dropped.
        k: neighbours kept per item (strongest first).
        window: steps apart that count as co-occurring.
        directed: count only "j after i".
        backward_weight: weight of "j before i" when not directed.
        alpha: normalization exponent.

    Returns:
        ``(ids, weights)``: int32 ``[len(vocabulary), k]`` columns and
        float32 weights; unused slots have weight 0 (and column 0).

    Example:
        >>> ids, w = item_neighbor_table([np.array(["a", "b", "c"])], ["a", "b", "c"], k=2, window=1)
        >>> ids[0].tolist(), (w[0] > 0).tolist()
        ([1, 0], [True, False])
    """
    from ecomtf.evaluation.recommender_baselines import ItemCooccurrenceRecommender

    vocabulary = [str(v) for v in vocabulary]
    ids = np.zeros((len(vocabulary), k), np.int32)
    weights = np.zeros((len(vocabulary), k), np.float32)
    if not len(sequences) or k <= 0:
        return ids, weights
    cooc = ItemCooccurrenceRecommender(window=window, directed=directed, backward_weight=backward_weight,
                                       alpha=alpha).fit(sequences)
    column = {v: j for j, v in enumerate(vocabulary)}
    to_column = np.array([column.get(item, -1) for item in cooc.items.tolist()], np.int64)
    for item, i in cooc.index.items():
        row = column.get(item)
        if row is None:
            continue
        a, b = cooc.indptr[i], cooc.indptr[i + 1]
        cols, w = to_column[cooc.cols[a:b]], cooc.weights[a:b]
        keep = cols >= 0
        cols, w = cols[keep], w[keep]
        if len(w) > k:
            top = np.argpartition(-w, k - 1)[:k]
            cols, w = cols[top], w[top]
        order = np.lexsort((cols, -w))  # strongest first, ties by column
        ids[row, : len(order)] = cols[order]
        weights[row, : len(order)] = w[order]
    return ids, weights
