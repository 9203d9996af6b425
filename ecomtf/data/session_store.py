"""The stored training sessions of the next-item model's session-kNN component."""

from __future__ import annotations

import numpy as np


def _distinct_columns(sequences, vocabulary, num_sessions: int):
    """Each of the last ``num_sessions`` sequences' distinct known item columns, most recent first."""
    column = {str(v): j for j, v in enumerate(vocabulary)}
    kept = list(sequences)[-num_sessions:] if num_sessions else []
    out = []
    for seq in kept:
        cols = [column[x] for x in np.asarray(seq).astype(str) if x in column]
        out.append(list(dict.fromkeys(reversed(cols))))  # most recent occurrence first
    return out


def session_store(sequences, vocabulary, num_sessions: int, length: int, postings: int):
    """The store of ``SessionKnnScorer``: ``(session_items, item_sessions)`` arrays.

    Keeps the last ``num_sessions`` sequences (taken as oldest first), each
    one's last ``length`` distinct known items (columns of ``vocabulary``),
    and per item the ``postings`` most recent stored sessions holding it;
    ``-1`` pads both. Fewer sequences than ``num_sessions`` leave empty rows.
    """
    items = np.full([num_sessions, length], -1, np.int32)
    lists = [[] for _ in vocabulary]
    for s, cols in enumerate(_distinct_columns(sequences, vocabulary, num_sessions)):
        distinct = cols[:length]
        items[s, : len(distinct)] = distinct
        for c in distinct:
            lists[c].append(s)
    item_sessions = np.full([len(vocabulary), postings], -1, np.int32)
    for c, held in enumerate(lists):
        recent = held[-postings:]
        item_sessions[c, : len(recent)] = recent
    return items, item_sessions


def session_store_shape(sequences, vocabulary, max_sessions: int, max_length: int, max_postings: int):
    """``(num_sessions, length, postings)`` that hold ``sequences`` within the given caps."""
    kept = _distinct_columns(sequences, vocabulary, max_sessions)
    counts = np.bincount(np.concatenate([np.asarray(c, np.int64) for c in kept]) if kept else np.zeros(0, np.int64),
                         minlength=1)
    longest = max([1] + [len(c) for c in kept])
    most = max(1, int(counts.max()))
    return max(1, len(kept)), min(longest, max_length), min(most, max_postings)
