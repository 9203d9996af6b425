"""Simple baselines every model is reported next to."""

from __future__ import annotations

import numpy as np

DAY_MS = 86_400_000


def rfm_features(log, cutoff_ms: int, users=None) -> dict[str, np.ndarray]:
    """Recency/frequency/monetary features per user from events before ``cutoff_ms``.

    Args:
        log: an EventLog (purchases, or any events).
        cutoff_ms: only events strictly before this time count.
        users: the users to describe, in order (default: every user with an
            event before the cutoff, sorted).

    Returns:
        Columns ``user_id``, ``frequency`` (repeat events, i.e. count - 1),
        ``recency_days`` (first to last event), ``age_days`` (first event to
        cutoff), ``days_since_last``, ``monetary`` (mean price, 0 if none).
    """
    before = log.timestamp < cutoff_ms
    uid, ts = log.user_id[before], log.timestamp[before]
    price = log.price[before] if log.price is not None else np.zeros(len(uid))
    if users is None:
        users = np.unique(uid)
    users = np.asarray(users).astype(str)
    index = {u: i for i, u in enumerate(users)}
    n = len(users)
    count = np.zeros(n)
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    spend = np.zeros(n)
    for u, t, p in zip(uid, ts, price):
        i = index.get(str(u))
        if i is None:
            continue
        count[i] += 1
        first[i] = min(first[i], t)
        last[i] = max(last[i], t)
        spend[i] += p
    seen = count > 0
    first = np.where(seen, first, cutoff_ms)
    last = np.where(seen, last, cutoff_ms)
    return {
        "user_id": users,
        "frequency": np.maximum(count - 1, 0).astype(np.float32),
        "recency_days": ((last - first) / DAY_MS).astype(np.float32),
        "age_days": ((cutoff_ms - first) / DAY_MS).astype(np.float32),
        "days_since_last": ((cutoff_ms - last) / DAY_MS).astype(np.float32),
        "monetary": np.where(seen, spend / np.maximum(count, 1), 0).astype(np.float32),
    }


def recency_frequency_score(rfm: dict) -> np.ndarray:
    """A no-training score: more repeat purchases, more recently, scores higher.

    ``(frequency + 1) * exp(-days_since_last / 90)``; the textbook heuristic
    that RFM segmentation encodes.
    """
    return (rfm["frequency"] + 1.0) * np.exp(-rfm["days_since_last"] / 90.0)


def event_count_features(examples) -> np.ndarray:
    """Per-sequence counts of each event type plus the sequence length.

    ``examples.features["event_type"]`` is ``[n, steps]`` with ``""`` padding.
    Returns ``[n, types + 1]`` with the types in sorted order.
    """
    ev = np.asarray(examples.features["event_type"]).astype(str)
    kinds = sorted(set(np.unique(ev)) - {""})
    cols = [(ev == k).sum(axis=1) for k in kinds] + [(ev != "").sum(axis=1)]
    return np.stack(cols, axis=1).astype(np.float32)
