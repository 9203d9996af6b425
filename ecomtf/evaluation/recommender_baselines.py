"""Non-neural next-item baselines: most popular, and item-to-item co-occurrence.

Both score every item of a catalog for a batch of histories, so they are
evaluated by exactly the same ranking code (``ecomtf.evaluation.ranking_metrics``) as
the neural models, in the same benchmark run.

Example:
    >>> pop = MostPopularRecommender().fit(train_sequences)
    >>> knn = ItemCooccurrenceRecommender(window=3).fit(train_sequences)
    >>> scores = knn.score(histories, catalog)     # [len(histories), len(catalog)]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


class MostPopularRecommender:
    """Scores every item by its number of training events.

    Combined with the evaluation's exclusion of seen items this is the
    "most popular (excluding seen)" baseline.

    Example:
        >>> MostPopularRecommender().fit([np.array(["a", "b", "a"])]).score(
        ...     [np.array(["b"])], ["a", "b", "c"])
        array([[2., 1., 0.]])
    """

    def __init__(self):
        self.counts: dict[str, int] = {}

    def fit(self, sequences: Sequence[np.ndarray]) -> "MostPopularRecommender":
        """Counts events per item over ``sequences`` (arrays of item ids)."""
        flat = _flatten(sequences)
        items, counts = np.unique(flat, return_counts=True)
        self.counts = dict(zip(items.tolist(), counts.tolist()))
        return self

    def score(self, histories: Sequence[np.ndarray], catalog: Sequence[str]) -> np.ndarray:
        """``[len(histories), len(catalog)]`` scores (the same for every row)."""
        row = np.array([self.counts.get(str(i), 0) for i in catalog], dtype=np.float64)
        return np.tile(row, (len(histories), 1))


class ItemCooccurrenceRecommender:
    """Item-to-item co-occurrence ("people who did X next did Y") scores.

    Fitting counts, for every pair of items, how often item j follows item i
    within ``window`` steps in the training sequences (both directions when
    ``directed=False``, with ``backward_weight`` on the reverse direction).
    Counts are normalized as in item-kNN, ``c_ij / (n_i^alpha * n_j^(1-alpha))``,
    damping very popular items. A history is scored from its last
    ``history_length`` items, the most recent weighted 1 and earlier ones by
    ``decay`` per step back. Memory is proportional to the number of
    distinct pairs (a sparse table), so large catalogs are fine.

    Args:
        window: steps after an item that count as co-occurring.
        directed: count only "j after i" (the next-item direction).
        backward_weight: weight of "j before i" when not directed.
        alpha: normalization exponent.
        history_length: recent history items that vote.
        decay: weight factor per step back in the history.

    Example:
        >>> knn = ItemCooccurrenceRecommender(window=1).fit([np.array(["a", "b", "c"])])
        >>> knn.score([np.array(["a"])], ["a", "b", "c"]).argmax()
        1
    """

    def __init__(
        self,
        window: int = 3,
        directed: bool = True,
        backward_weight: float = 0.5,
        alpha: float = 0.8,
        history_length: int = 10,
        decay: float = 0.6,
    ):
        self.window = int(window)
        self.directed = bool(directed)
        self.backward_weight = float(backward_weight)
        self.alpha = float(alpha)
        self.history_length = int(history_length)
        self.decay = float(decay)

    def fit(self, sequences: Sequence[np.ndarray]) -> "ItemCooccurrenceRecommender":
        """Builds the sparse, normalized co-occurrence table."""
        flat = _flatten(sequences)
        self.items, codes = np.unique(flat, return_inverse=True)
        self.index = {item: i for i, item in enumerate(self.items.tolist())}
        n = len(self.items)
        counts = np.bincount(codes, minlength=n).astype(np.float64)
        src, dst, w = [], [], []
        start = 0
        for seq in sequences:
            c = codes[start : start + len(seq)]
            start += len(seq)
            for gap in range(1, self.window + 1):
                if len(c) <= gap:
                    break
                a, b = c[:-gap], c[gap:]
                src.append(a)
                dst.append(b)
                w.append(np.ones(len(a)))
                if not self.directed:
                    src.append(b)
                    dst.append(a)
                    w.append(np.full(len(a), self.backward_weight))
        if src:
            src, dst, w = np.concatenate(src), np.concatenate(dst), np.concatenate(w)
        else:
            src = dst = np.zeros(0, np.int64)
            w = np.zeros(0)
        keep = src != dst
        src, dst, w = src[keep], dst[keep], w[keep]
        pair = src.astype(np.int64) * n + dst
        pair, inverse = np.unique(pair, return_inverse=True)
        weight = np.bincount(inverse, weights=w)
        rows, cols = pair // n, pair % n
        weight /= np.power(counts[rows], self.alpha) * np.power(counts[cols], 1.0 - self.alpha)
        # CSR layout: rows sorted (np.unique sorted the pair codes).
        self.indptr = np.searchsorted(rows, np.arange(n + 1))
        self.cols = cols
        self.weights = weight
        return self

    def score(self, histories: Sequence[np.ndarray], catalog: Sequence[str]) -> np.ndarray:
        """``[len(histories), len(catalog)]`` co-occurrence scores."""
        catalog = [str(i) for i in catalog]
        to_catalog = np.full(len(self.items) + 1, len(catalog), dtype=np.int64)
        pos = {c: j for j, c in enumerate(catalog)}
        for item, i in self.index.items():
            if item in pos:
                to_catalog[i] = pos[item]
        out = np.zeros((len(histories), len(catalog) + 1))
        for r, hist in enumerate(histories):
            recent = [str(x) for x in hist if str(x) != ""][-self.history_length :]
            weight = 1.0
            for item in reversed(recent):
                i = self.index.get(item)
                if i is not None:
                    a, b = self.indptr[i], self.indptr[i + 1]
                    np.add.at(out[r], to_catalog[self.cols[a:b]], weight * self.weights[a:b])
                weight *= self.decay
        return out[:, : len(catalog)]


def _flatten(sequences) -> np.ndarray:
    parts = [np.asarray(s).astype(str) for s in sequences]
    if not parts:
        return np.zeros(0, dtype=str)
    flat = np.concatenate(parts)
    return flat
