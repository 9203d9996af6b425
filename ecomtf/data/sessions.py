"""Sessions: from a session id column, or from gaps of inactivity."""

from __future__ import annotations

import numpy as np

from ecomtf.data.event_log import EventLog


def sessionize(log: EventLog, gap_seconds: float = 1800) -> EventLog:
    """Assigns every event to a session; returns a new, session-ordered log.

    If the log has a ``session_id`` column, its sessions are kept and
    namespaced per user (``"<user>/<session>"``), so two users' session
    ``"1"`` stay apart. Otherwise (and for rows whose session id is empty)
    each user's time-ordered events are split where the time since the
    previous event is more than ``gap_seconds``; such sessions are named
    ``"<user>/<k>"`` (``"<user>/~<k>"`` for the empty-id rows of a log that
    has the column), ``k`` counting from 0 in time order.

    Args:
        log: the events.
        gap_seconds: inactivity gap that starts a new session (a gap exactly
            equal stays in the session).

    Returns:
        A new EventLog with ``session_id`` set (str), sorted by (user,
        session start, session id, timestamp), stable for ties.

    Example:
        >>> s = sessionize(log, gap_seconds=30 * 60)
        >>> len(np.unique(s.session_id))
    """
    ordered, _, names = session_layout(log, gap_seconds)
    return ordered.with_sessions(names(np.arange(len(ordered))))


def session_layout(log: EventLog, gap_seconds: float = 1800):
    """``sessionize`` on integer codes, naming sessions only when asked.

    The work is done on int codes of users and session ids (sorts and
    comparisons of numpy strings cost several times more); session names are
    strings of ``"<user>/<session>"``, built only for the rows a caller
    needs (``prepare`` needs one per example, not one per event).

    Args:
        log: the events.
        gap_seconds: as in ``sessionize``.

    Returns:
        ``(ordered, code, names)``: the log in ``sessionize``'s order (its
        ``session_id`` column is the given one, not yet namespaced), an int64
        array [n] equal for the rows of one session and different between
        sessions (the rows of a session are contiguous), and
        ``names(rows) -> str array`` of the session names of rows of
        ``ordered``.

    Example:
        >>> ordered, code, names = session_layout(log)
        >>> names(np.array([0]))
    """
    if gap_seconds < 0:
        raise ValueError(f"gap_seconds must be >= 0, got {gap_seconds}")
    n = len(log)
    user = np.asarray(log.user_id)
    if user.dtype.kind != "U":
        user = user.astype(str)
    ts = np.asarray(log.timestamp, np.int64)
    user_code = string_ranks(user)
    if log.session_id is not None:
        suffix = np.strings.strip(np.asarray(log.session_id).astype(str))
        gap_rows = np.flatnonzero(np.strings.str_len(suffix) == 0)
        gap_prefix = "~"
    else:
        suffix = None
        gap_rows = np.arange(n)
        gap_prefix = ""
    k = np.zeros(n, np.int64)
    if len(gap_rows):
        order = gap_rows[np.lexsort((ts[gap_rows], user_code[gap_rows]))]
        u, t = user_code[order], ts[order]
        new_user = np.concatenate([[True], u[1:] != u[:-1]])
        gap = np.concatenate([[False], np.diff(t) > gap_seconds * 1000.0])
        count = np.cumsum(new_user | gap)
        # Sessions numbered from 0 within each user.
        first = np.maximum.accumulate(np.where(new_user, count, 0))
        k[order] = count - first
    if suffix is not None:
        if len(gap_rows):
            names = np.strings.add(gap_prefix, k[gap_rows].astype(str))
            suffix = suffix.astype(np.result_type(suffix.dtype, names.dtype))
            suffix[gap_rows] = names
        # Ranks of the session ids: within a user they sort as the
        # "<user>/<session>" names do (same prefix), as session_order sorts.
        tie = string_ranks(suffix)
    else:
        # Only gap sessions: a user's sessions have distinct starts, so the
        # tie-break never decides; k keeps them apart.
        tie = k
    order = _session_sort(user_code, tie, ts)
    ordered = log.take(order)
    code = (user_code * (int(tie.max(initial=0)) + 1) + tie)[order]

    def names(rows):
        rows = np.asarray(rows, np.int64)
        src = order[rows]
        s = suffix[src] if suffix is not None else k[src].astype(str)
        return np.strings.add(np.strings.add(user[src], "/"), s)

    return ordered, code, names


def string_ranks(a: np.ndarray) -> np.ndarray:
    """Each row's rank among the distinct strings of ``a`` (int64).

    Sorting by rank sorts as numpy sorts the strings. A sorted column (a
    log ordered by user) is ranked by counting changes, without a sort.
    """
    a = np.asarray(a)
    n = len(a)
    if n < 2:
        return np.zeros(n, np.int64)
    if not (a[1:] < a[:-1]).any():
        codes = np.zeros(n, np.int64)
        np.cumsum(a[1:] != a[:-1], out=codes[1:])
        return codes
    return np.unique(a, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _session_sort(user_code, sess_code, ts):
    """Order by (user, session start, session, timestamp), stable."""
    n = len(ts)
    if n == 0:
        return np.zeros(0, np.int64)
    key = user_code * (int(sess_code.max()) + 1) + sess_code
    _, group = np.unique(key, return_inverse=True)
    group = group.reshape(-1)
    start = np.full(group.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(start, group, ts)
    return np.lexsort((ts, sess_code, start[group], user_code))


def session_order(log: EventLog) -> EventLog:
    """The log sorted by (user, session start, session id, timestamp), stably.

    The log must have ``session_id``; ids are used as they are (see
    ``sessionize`` to derive or namespace them).

    Args:
        log: events with ``session_id``.

    Returns:
        The reordered log.

    Example:
        >>> ordered = session_order(sessionize(log))
    """
    if log.session_id is None:
        raise ValueError("session_order needs a log with session_id; use sessionize()")
    if len(log) == 0:
        return log
    # Sessions are keyed by (user, session id): ids from a file need not be
    # unique across users.
    user_code = string_ranks(np.asarray(log.user_id))
    sess_code = string_ranks(np.asarray(log.session_id))
    return log.take(_session_sort(user_code, sess_code, np.asarray(log.timestamp, np.int64)))
