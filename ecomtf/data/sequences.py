"""Event logs -> labelled fixed-length sequences for purchase prediction."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ecomtf.data.event_log import EventLog
from ecomtf.data.reject_report import RejectReport
from ecomtf.data.sequence_examples import DWELL_TIME
from ecomtf.data.sequence_examples import EVENT_TYPE
from ecomtf.data.sequence_examples import ITEM_ID
from ecomtf.data.sequence_examples import PAD
from ecomtf.data.sequence_examples import TIME_DELTA
from ecomtf.data.sequence_examples import SequenceExamples
from ecomtf.data.sessions import session_order
from ecomtf.data.sessions import session_layout

_MS_PER_DAY = 86_400_000

__all__ = [
    "SequenceExamples",
    "session_purchase_examples",
    "purchase_within_horizon_examples",
    "padded_sequences",
]


def session_purchase_examples(
    log: EventLog,
    max_length: int = 20,
    purchase_event: str = "purchase",
    min_events: int = 1,
    extra_columns: Sequence[str] = (),
    session_ordered: bool = False,
) -> SequenceExamples:
    """One example per session: will this session end in a purchase?

    A session with a purchase is cut just before its first purchase event
    (in session order; events after it, including ties sorted after it, are
    not seen) and labelled 1; a session without one keeps all its events
    and is labelled 0. Either way the last ``max_length`` events are kept.
    Sessions left with fewer than ``min_events`` events are dropped and
    counted in ``examples.report`` under "too few events before the
    purchase" (e.g. sessions that start with one) or "too few events".

    If the log has no ``session_id``, it is first sessionized with a
    30-minute gap (noted in the report). Existing session ids are used as
    they are.

    Args:
        log: the events.
        max_length: T, events per example.
        purchase_event: the canonical purchase event name.
        min_events: fewest events an example may have (>= 1).
        extra_columns: more per-step columns: names in ``log.extra`` (str,
            padded ``""``), or ``"quantity"``/``"price"`` (float32, padded
            0, NaN as 0).
        session_ordered: the log is already in ``session_order`` (as
            ``sessionize`` returns it): skip re-sorting it.

    Returns:
        SequenceExamples with ``labels``, ``session_id``, and ``time`` = the
        session's first event.

    Example:
        >>> ex = session_purchase_examples(sessionize(log), max_length=20)
        >>> print(ex.report)
    """
    _check_lengths(max_length, min_events)
    report = RejectReport(source="session_purchase_examples")
    if log.session_id is None:
        log, code, names = session_layout(log)
        report.note("no session_id: sessions from a 30-minute inactivity gap")
    else:
        if not session_ordered:
            log = session_order(log)
        code = None  # boundaries from the (user, session id) strings
        sess = np.asarray(log.session_id)

        def names(rows):
            return sess[rows]

    return session_examples(log, code, names, report, max_length=max_length,
                            purchase_event=purchase_event, min_events=min_events,
                            extra_columns=extra_columns)


def session_examples(log, code, names, report, *, max_length=20, purchase_event="purchase",
                     min_events=1, extra_columns=()) -> SequenceExamples:
    """``session_purchase_examples`` on a session-ordered log and its session codes.

    ``code``, ``names`` are those of ``ecomtf.data.sessions.session_layout``
    (``code=None``: sessions are runs of equal (user, session_id)).
    """
    n = len(log)
    user = np.asarray(log.user_id)
    if n and code is not None:
        boundary = np.concatenate([[True], code[1:] != code[:-1]])
        starts = np.flatnonzero(boundary)
    elif n:
        sess = np.asarray(log.session_id)
        boundary = np.concatenate([[True], (user[1:] != user[:-1]) | (sess[1:] != sess[:-1])])
        starts = np.flatnonzero(boundary)
    else:
        starts = np.zeros(0, np.int64)
    ends = np.append(starts[1:], n).astype(np.int64)
    report.read(len(starts))

    is_buy = np.asarray(log.event_type) == purchase_event
    if len(starts):
        first_buy = np.minimum.reduceat(np.where(is_buy, np.arange(n), n), starts)
    else:
        first_buy = np.zeros(0, np.int64)
    has_buy = first_buy < ends
    cut = np.where(has_buy, first_buy, ends)
    count = cut - starts
    short = count < min_events
    _count_dropped(report, short & has_buy, starts, names, "too few events before the purchase")
    _count_dropped(report, short & ~has_buy, starts, names, "too few events")
    if short.any():
        report.note(f"sessions need at least min_events={min_events} events to be kept")
    keep = ~short
    ts = np.asarray(log.timestamp, np.int64)
    features = _padded(log, starts[keep], cut[keep], max_length,
                       extra_columns=extra_columns, report=report)
    return SequenceExamples(
        features=features,
        labels=has_buy[keep].astype(np.float32),
        user_id=user[starts[keep]],
        session_id=names(starts[keep]),
        time=ts[starts[keep]],
        report=report,
    )


def purchase_within_horizon_examples(
    log: EventLog,
    cutoff_ms: int,
    horizon_days: float,
    max_length: int = 20,
    purchase_event: str = "purchase",
    extra_columns: Sequence[str] = (),
) -> SequenceExamples:
    """One example per user: will they buy within ``horizon_days`` of the cutoff?

    The sequence is the user's last ``max_length`` events strictly before
    ``cutoff_ms``; the label is 1 if the user has a purchase event in
    ``[cutoff_ms, cutoff_ms + horizon_days)``. Users with no event before
    the cutoff have nothing to predict from and are counted in the report.
    The last event's ``dwell_time`` is the time until the cutoff.

    Args:
        log: the events.
        cutoff_ms: the prediction time, unix ms UTC.
        horizon_days: length of the label window in days.
        max_length: T, events per example.
        purchase_event: the canonical purchase event name.
        extra_columns: as in ``session_purchase_examples``.

    Returns:
        SequenceExamples with ``labels``, ``session_id=None`` and ``time`` =
        ``cutoff_ms`` for every example.

    Example:
        >>> cutoff, _ = parse_timestamps(["2017-12-02"], timezone="Asia/Shanghai")
        >>> ex = purchase_within_horizon_examples(log, int(cutoff[0]), 2)
    """
    _check_lengths(max_length, 1)
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be > 0, got {horizon_days}")
    cutoff_ms = int(cutoff_ms)
    report = RejectReport(source="purchase_within_horizon_examples")
    log = log.sorted()
    user = np.asarray(log.user_id)
    ts = np.asarray(log.timestamp, np.int64)
    all_users = np.unique(user)
    report.read(len(all_users))

    end = cutoff_ms + int(round(horizon_days * _MS_PER_DAY))
    in_window = (ts >= cutoff_ms) & (ts < end) & (np.asarray(log.event_type) == purchase_event)
    buyers = np.unique(user[in_window])

    past = log.take(ts < cutoff_ms)
    pu = np.asarray(past.user_id)
    m = len(past)
    starts = np.flatnonzero(np.concatenate([[True], pu[1:] != pu[:-1]])) if m else np.zeros(0, int)
    ends = np.append(starts[1:], m).astype(np.int64)
    users = pu[starts]
    missing = len(all_users) - len(users)
    if missing:
        report.reject("no events before the cutoff", n=missing)
    features = padded_sequences(past, starts, ends, max_length, cutoff_ms=cutoff_ms,
                                extra_columns=extra_columns, report=report)
    return SequenceExamples(
        features=features,
        labels=np.isin(users, buyers).astype(np.float32),
        user_id=users,
        session_id=None,
        time=np.full(len(users), cutoff_ms, np.int64),
        report=report,
    )


def padded_sequences(
    log: EventLog,
    starts: np.ndarray,
    ends: np.ndarray,
    max_length: int,
    *,
    cutoff_ms: int | np.ndarray | None = None,
    extra_columns: Sequence[str] = (),
    report: RejectReport | None = None,
) -> dict[str, np.ndarray]:
    """Left-padded [N, T] feature arrays for row ranges ``[start, end)`` of a log.

    Each example keeps the last ``max_length`` rows of its range, in log
    order. See ``SequenceExamples`` for the features.

    Args:
        log: events, ordered as the sequences should be.
        starts, ends: int arrays [N], row range of each example.
        max_length: T.
        cutoff_ms: the reference time(s) for the last event's dwell time,
            or None (then 0).
        extra_columns: as in ``session_purchase_examples``.
        report: where to note NaNs set to 0.

    Returns:
        name -> array.

    Example:
        >>> feats = padded_sequences(log, np.array([0]), np.array([3]), 5)
        >>> feats["item_id"].shape
        (1, 5)
    """
    return _padded(log, starts, ends, max_length, cutoff_ms=cutoff_ms,
                   extra_columns=extra_columns, report=report)


class _Coded:
    """A string feature as int codes [N, T] (-1 = padding) and its vocabulary.

    ``decode()`` gives the numpy str array ``padded_sequences`` returns.
    """

    def __init__(self, codes: np.ndarray, vocabulary: np.ndarray):
        self.codes = codes
        self.vocabulary = vocabulary
        self.shape = codes.shape

    def __len__(self) -> int:
        return len(self.codes)

    def decode(self) -> np.ndarray:
        table = np.concatenate([np.array([PAD]), self.vocabulary])
        return _as_str(table[self.codes + 1])


def _padded(log, starts, ends, max_length, *, cutoff_ms=None, extra_columns=(), report=None):
    starts = np.asarray(starts, np.int64)
    ends = np.asarray(ends, np.int64)
    t = int(max_length)
    idx = ends[:, None] - t + np.arange(t)[None, :]
    valid = idx >= np.maximum(starts, ends - t)[:, None]
    safe = np.where(valid, idx, 0)

    def gather(col, pad):
        return np.where(valid, np.asarray(col)[safe], pad)

    def strings(col):
        # Gathering int codes and decoding once costs a fraction of
        # gathering and padding wide numpy strings.
        col = np.asarray(col)
        if col.dtype.kind != "U":
            col = col.astype(str)
        vocabulary, inverse = np.unique(col, return_inverse=True)
        codes = np.where(valid, inverse.reshape(-1).astype(np.int32)[safe], -1) if len(col) \
            else np.full(idx.shape, -1, np.int32)
        return _Coded(codes, vocabulary).decode()

    ts = gather(np.asarray(log.timestamp, np.int64), 0)
    step = np.zeros(idx.shape, np.float32)
    step[:, 1:] = np.where(valid[:, :-1], (ts[:, 1:] - ts[:, :-1]) / 1000.0, 0.0)
    dwell = np.zeros(idx.shape, np.float32)
    dwell[:, :-1] = step[:, 1:]
    if cutoff_ms is not None and len(idx):
        last = valid[:, -1]
        dwell[:, -1] = np.where(last, (np.asarray(cutoff_ms, np.int64) - ts[:, -1]) / 1000.0, 0.0)
    out = {
        ITEM_ID: strings(log.item_id),
        EVENT_TYPE: strings(log.event_type),
        TIME_DELTA: step,
        DWELL_TIME: dwell,
    }
    for name in extra_columns:
        if name in (ITEM_ID, EVENT_TYPE, TIME_DELTA, DWELL_TIME):
            raise ValueError(f"extra column {name!r} is already a feature")
        if name in log.extra:
            out[name] = strings(log.extra[name])
        elif name in ("quantity", "price") and getattr(log, name) is not None:
            values = gather(np.asarray(getattr(log, name), np.float64), 0.0)
            nan = np.isnan(values)
            if nan.any() and report is not None:
                report.note(f"{int(nan.sum()):,} missing {name} values in sequences set to 0")
            out[name] = np.where(nan, 0.0, values).astype(np.float32)
        else:
            available = sorted(log.extra) + [
                c for c in ("quantity", "price") if getattr(log, c) is not None
            ]
            raise ValueError(
                f"extra column {name!r} is not in the log; available: {available}"
            )
    return out


def _as_str(a: np.ndarray) -> np.ndarray:
    return a if a.dtype.kind == "U" else a.astype(str)


def _check_lengths(max_length, min_events):
    if int(max_length) < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    if int(min_events) < 1:
        raise ValueError(f"min_events must be >= 1, got {min_events}")


def _count_dropped(report, mask, starts, names, reason):
    idx = np.flatnonzero(mask)
    shown = names(starts[idx[: report.max_examples]]) if len(idx) else []
    for name in shown:
        report.reject(reason, row=f"session {name}")
    if len(idx) > report.max_examples:
        report.reject(reason, n=len(idx) - report.max_examples)
