"""Purchase baselines every model is reported next to: RFM rules, prefix count rules, logistic regression."""

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


# === Count rules on a session prefix ===============================================
def prefix_count_features(features: dict, event_types=None) -> dict[str, np.ndarray]:
    """Counts and recency of a prefix, per event type, as named columns.

    The same quantities the ``PrefixCounts`` layer computes inside a
    ``PurchasePredictor`` (its wide part), so rules, the logistic regression
    on them and the model see the same facts.

    Args:
        features: ``item_id`` and ``event_type`` string ``[n, steps]`` (``""``
            padding, real steps at the end); ``time_delta`` (seconds since the
            previous event) is used when present.
        event_types: the types to describe (default: those in ``features``).

    Returns:
        For each type ``e``: ``"<e> count"``, ``"<e> recency"`` (minus the
        number of steps since its last occurrence; ``-steps - 1`` if none:
        higher = more recent) and ``"<e> seconds since"`` (``-log1p`` of the
        seconds since its last occurrence; ``-log1p(1e6)`` if none). Also
        ``"events"`` and ``"distinct items"``.
    """
    ev = np.asarray(features["event_type"]).astype(str)
    items = np.asarray(features["item_id"]).astype(str)
    n, steps = ev.shape
    if event_types is None:
        event_types = sorted(set(np.unique(ev)) - {""})
    real = items != ""
    delta = np.asarray(features.get("time_delta", np.zeros((n, steps))), np.float64)
    # Seconds from each step to the end of the prefix.
    after = np.zeros((n, steps))
    if steps > 1:
        after[:, :-1] = np.cumsum(delta[:, ::-1], axis=1)[:, ::-1][:, 1:]
    # Real steps after each step (recency wherever the padding is).
    back = np.cumsum(real[:, ::-1], axis=1)[:, ::-1] - real
    out = {}
    for e in event_types:
        hit = (ev == e) & real
        out[f"{e} count"] = hit.sum(1).astype(np.float64)
        steps_since = np.where(hit, back, steps + 1).min(1)
        out[f"{e} recency"] = -steps_since.astype(np.float64)
        seconds = np.where(hit, after, 1e6).min(1)
        out[f"{e} seconds since"] = -np.log1p(np.maximum(seconds, 0.0))
    out["events"] = real.sum(1).astype(np.float64)
    distinct = np.array([len(set(row[m].tolist())) for row, m in zip(items, real)], np.float64)
    out["distinct items"] = distinct
    return out


def rule_names(event_types) -> list[str]:
    """The count rules reported for these event types."""
    names = []
    for e in event_types:
        names += [f"{e} count", f"{e} recency"]
    return names + ["distinct items", "events"]


class LogisticRegression:
    """L2-regularized logistic regression fitted by Newton's method (numpy only).

    Columns are standardized with training statistics; counts are read as
    ``log1p``. Small and exact for the dozen count features it is meant for,
    and it keeps scikit-learn a development extra.

    Args:
        l2: penalty on the (standardized) weights.
        iterations: Newton steps.

    Example:
        >>> x = np.array([[0.0], [1.0], [2.0], [3.0]])
        >>> LogisticRegression().fit(x, np.array([0, 0, 1, 1])).predict(x).round(1).tolist()[0] < 0.5
        True
    """

    def __init__(self, l2: float = 1e-2, iterations: int = 25):
        self.l2 = float(l2)
        self.iterations = int(iterations)

    def fit(self, x, y) -> "LogisticRegression":
        x = np.asarray(x, np.float64)
        y = np.asarray(y, np.float64)
        self.mean = x.mean(0)
        self.std = x.std(0) + 1e-9
        z = np.c_[np.ones(len(x)), (x - self.mean) / self.std]
        w = np.zeros(z.shape[1])
        p0 = np.clip(y.mean(), 1e-4, 1 - 1e-4)
        w[0] = np.log(p0 / (1 - p0))
        penalty = np.full(z.shape[1], self.l2)
        penalty[0] = 0.0
        for _ in range(self.iterations):
            p = 1.0 / (1.0 + np.exp(-(z @ w)))
            grad = z.T @ (p - y) / len(y) + penalty * w
            hess = (z * (p * (1 - p))[:, None]).T @ z / len(y) + np.diag(penalty + 1e-9)
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        self.weights = w
        return self

    def predict(self, x) -> np.ndarray:
        """P(y = 1) per row."""
        z = (np.asarray(x, np.float64) - self.mean) / self.std
        return 1.0 / (1.0 + np.exp(-(self.weights[0] + z @ self.weights[1:])))


def _matrix(columns: dict) -> np.ndarray:
    # Counts are heavy-tailed: log1p keeps the regression from chasing outliers.
    return np.stack([np.log1p(v) if k.endswith(("count", "events", "items")) else v
                     for k, v in columns.items()], axis=1)


def purchase_baselines(train_features: dict, train_labels, test_features: dict) -> dict:
    """Scores of the purchase baselines on the test rows, fitted on the training rows.

    With sequences (``item_id``/``event_type``): every count rule of
    ``rule_names`` (the rule's value is the score), ``"best count rule"`` (the
    rule with the highest *training* AUC, so the choice never sees the test
    rows) and ``"logistic regression on counts"`` (on every column of
    ``prefix_count_features``). Without sequences (a session table):
    ``"logistic regression"`` on the numeric columns (NaN = training mean).

    Returns:
        ``{name: test scores}`` and, under ``"_chosen rule"``, the rule picked.
    """
    from ecomtf.evaluation.classification_metrics import roc_auc

    y = np.asarray(train_labels, np.float64)
    out = {}
    if "event_type" in train_features and "item_id" in train_features:
        types = sorted(set(np.unique(np.asarray(train_features["event_type"]).astype(str))) - {""})
        tr = prefix_count_features(train_features, types)
        te = prefix_count_features(test_features, types)
        rules = rule_names(types)
        train_auc = {r: roc_auc(y, tr[r]) for r in rules}
        for r in rules:
            out[f"rule: {r}"] = te[r]
        best = max(rules, key=lambda r: train_auc[r])
        out["best count rule"] = te[best]
        out["_chosen rule"] = best
        lr = LogisticRegression().fit(_matrix(tr), y)
        out["logistic regression on counts"] = lr.predict(_matrix(te))
        return out
    numeric = [k for k, v in train_features.items()
               if np.asarray(v).ndim == 1 and np.asarray(v).dtype.kind in "fiub"]
    if numeric:
        xtr = np.stack([np.asarray(train_features[k], np.float64) for k in numeric], 1)
        xte = np.stack([np.asarray(test_features[k], np.float64) for k in numeric], 1)
        xtr, xte = np.sign(xtr) * np.log1p(np.abs(xtr)), np.sign(xte) * np.log1p(np.abs(xte))
        means = np.nanmean(xtr, 0)
        xtr = np.where(np.isnan(xtr), means, xtr)
        xte = np.where(np.isnan(xte), means, xte)
        out["logistic regression"] = LogisticRegression().fit(xtr, y).predict(xte)
    return out
