"""Non-neural next-item baselines: most popular, repeat, item co-occurrence, session kNN.

All score every item of a catalog for a batch of histories, so they are
evaluated by exactly the same ranking code (``ecomtf.evaluation.ranking_metrics``) as
the neural models, in the same benchmark run.

Example:
    >>> pop = MostPopularRecommender().fit(train_sequences)
    >>> knn = ItemCooccurrenceRecommender(window=3).fit(train_sequences)
    >>> scores = knn.score(histories, catalog)     # [len(histories), len(catalog)]
    >>> RepeatRecommender().fit(train_sequences)    # own history, most recent first
    >>> SessionKNNRecommender().fit(train_sequences)   # V-SKNN
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


class RepeatRecommender:
    """The history's own items, most recent first, then the most popular.

    Shops re-view, re-cart and re-buy: on event logs a large share of next
    items are items the user (or session) has just touched, and this one-line
    rule is the baseline a sequence model must beat there. Every history item
    scores above every other item; among history items the later the last
    occurrence, the higher the score; the rest are ordered by training
    popularity.

    Example:
        >>> rep = RepeatRecommender().fit([np.array(["a", "a", "b"])])
        >>> rep.score([np.array(["c", "b"])], ["a", "b", "c"])[0].argsort()[::-1].tolist()
        [1, 2, 0]
    """

    def __init__(self):
        self.popular = MostPopularRecommender()

    def fit(self, sequences: Sequence[np.ndarray]) -> "RepeatRecommender":
        """Counts training popularity (the fallback order)."""
        self.popular.fit(sequences)
        return self

    def score(self, histories: Sequence[np.ndarray], catalog: Sequence[str]) -> np.ndarray:
        """``[len(histories), len(catalog)]`` scores."""
        catalog = [str(i) for i in catalog]
        pop = self.popular.score([None], catalog)[0]
        # Popularity in [0, 1): below any history item's score (>= 1).
        base = pop / (pop.max() + 1.0) if len(pop) else pop
        out = np.tile(base, (len(histories), 1))
        pos = {c: j for j, c in enumerate(catalog)}
        for r, hist in enumerate(histories):
            recent = [str(x) for x in hist if str(x) != ""]
            n = len(recent)
            for step, item in enumerate(recent):  # later steps overwrite: last occurrence wins
                j = pos.get(item)
                if j is not None:
                    out[r, j] = 1.0 + (step + 1) / n
        return out


class SessionKNNRecommender:
    """Session-based kNN with position-decayed weights (V-SKNN).

    The current session's items are weighted by their position, the most
    recent 1 and the first ``1/len`` (linear decay); the similarity of a
    training session is the sum of the weights of the current items it
    contains. Among the ``sample_size`` most recent training sessions that
    share an item with the current one, the ``k`` most similar vote for their
    items with their similarity. Training sequences are taken in the given
    order as oldest first (sessions and per-user histories alike).

    Args:
        k: neighbours that vote.
        sample_size: most recent candidate sessions considered.

    Example:
        >>> sknn = SessionKNNRecommender(k=10).fit([np.array(["a", "b"]), np.array(["a", "c"])])
        >>> sknn.score([np.array(["b"])], ["a", "b", "c"]).round(2).tolist()
        [[1.0, 1.0, 0.0]]

    Reference:
        Ludewig and Jannach, "Evaluation of session-based recommendation
        algorithms", User Modeling and User-Adapted Interaction 28, 2018.
    """

    def __init__(self, k: int = 100, sample_size: int = 1000):
        self.k = int(k)
        self.sample_size = int(sample_size)

    def fit(self, sequences: Sequence[np.ndarray]) -> "SessionKNNRecommender":
        """Builds the session -> items and item -> sessions indexes."""
        seqs = [np.unique(np.asarray(s).astype(str)) for s in sequences]
        seqs = [s[s != ""] for s in seqs]
        flat = np.concatenate(seqs) if seqs else np.zeros(0, str)
        self.items, codes = np.unique(flat, return_inverse=True)
        self.index = {item: i for i, item in enumerate(self.items.tolist())}
        lengths = np.array([len(s) for s in seqs], np.int64)
        self.session_ptr = np.r_[0, np.cumsum(lengths)]
        self.session_items = codes.astype(np.int64)
        session_of = np.repeat(np.arange(len(seqs)), lengths)
        order = np.lexsort((session_of, self.session_items))  # by item, then session (oldest first)
        self.item_sessions = session_of[order]
        self.item_ptr = np.searchsorted(self.session_items[order], np.arange(len(self.items) + 1))
        self.num_sessions = len(seqs)
        return self

    def score(self, histories: Sequence[np.ndarray], catalog: Sequence[str]) -> np.ndarray:
        """``[len(histories), len(catalog)]`` V-SKNN scores."""
        catalog = [str(i) for i in catalog]
        pos = {c: j for j, c in enumerate(catalog)}
        to_catalog = np.array([pos.get(str(i), len(catalog)) for i in self.items] + [len(catalog)],
                              dtype=np.int64)
        out = np.zeros((len(histories), len(catalog) + 1))
        for r, hist in enumerate(histories):
            recent = [str(x) for x in hist if str(x) != ""]
            n = len(recent)
            weight = {}
            for step, item in enumerate(recent):  # the last occurrence sets the weight
                if item in self.index:
                    weight[self.index[item]] = (step + 1) / n
            if not weight:
                continue
            sessions, sims = [], []
            for i, w in weight.items():
                a, b = self.item_ptr[i], self.item_ptr[i + 1]
                sessions.append(self.item_sessions[a:b])
                sims.append(np.full(b - a, w))
            sessions, sims = np.concatenate(sessions), np.concatenate(sims)
            cand, inverse = np.unique(sessions, return_inverse=True)
            sim = np.bincount(inverse, weights=sims)
            if len(cand) > self.sample_size:  # the most recent sessions
                cand, sim = cand[-self.sample_size :], sim[-self.sample_size :]
            if len(cand) > self.k:
                top = np.argpartition(-sim, self.k - 1)[: self.k]
                cand, sim = cand[top], sim[top]
            for s, w in zip(cand, sim):
                items = self.session_items[self.session_ptr[s] : self.session_ptr[s + 1]]
                out[r, to_catalog[items]] += w
        return out[:, : len(catalog)]
