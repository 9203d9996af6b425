"""Binary-classification metrics in numpy, shared by recipes, baselines and benchmarks.

Computed outside Keras so that a model and a scikit-learn baseline are scored by
the same code on the same arrays.
"""

from __future__ import annotations

import numpy as np


def _check(y_true, y_score):
    y = np.asarray(y_true, np.float64).ravel()
    s = np.asarray(y_score, np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} differ in length")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinity")
    return y, s


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve (ties get half credit, via average ranks)."""
    y, s = _check(y_true, y_score)
    pos = y > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), np.float64)
    sorted_s = s[order]
    # Average ranks over ties.
    _, start, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(y_true, y_score) -> float:
    """Average precision (area under the precision-recall curve, step-wise)."""
    y, s = _check(y_true, y_score)
    n_pos = (y > 0.5).sum()
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    y_sorted = y[order] > 0.5
    s_sorted = s[order]
    tp = np.cumsum(y_sorted)
    k = np.arange(1, len(y) + 1)
    # Evaluate at the last index of each distinct score (tied scores act as one threshold).
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    tp, k = tp[last], k[last]
    precision = tp / k
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def log_loss(y_true, y_prob, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy."""
    y, p = _check(y_true, y_prob)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def brier_score(y_true, y_prob) -> float:
    """Mean squared error of probabilities."""
    y, p = _check(y_true, y_prob)
    return float(np.mean((p - y) ** 2))


def threshold_metrics(y_true, y_prob, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, precision, recall and F1 when predicting positive at ``threshold``."""
    y, p = _check(y_true, y_prob)
    pred = p >= threshold
    pos = y > 0.5
    tp = float(np.sum(pred & pos))
    fp = float(np.sum(pred & ~pos))
    fn = float(np.sum(~pred & pos))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": float(threshold),
        "accuracy": float(np.mean(pred == pos)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def best_f1_threshold(y_true, y_prob) -> float:
    """The threshold that maximizes F1 (choose it on validation data, not test).

    Candidates are the 1st..99th percentiles of the scores; ties go to the
    lowest. NaN when there is no positive (every threshold has F1 0).

    Raises:
        ValueError: no scores.
    """
    y, p = _check(y_true, y_prob)
    if len(p) == 0:
        raise ValueError("best_f1_threshold needs at least one score")
    if not np.any(y > 0.5):
        return float("nan")
    candidates = np.unique(np.quantile(p, np.linspace(0.01, 0.99, 99)))
    f1 = [threshold_metrics(y, p, t)["f1"] for t in candidates]
    return float(candidates[int(np.argmax(f1))])


#: Keys ``binary_report`` adds when given a validation split.
VALIDATION_THRESHOLD_KEYS = (
    "val_f1_threshold",
    "precision_at_val_threshold",
    "recall_at_val_threshold",
    "f1_at_val_threshold",
)


def binary_report(y_true, y_prob, threshold: float = 0.5, validation=None) -> dict[str, float]:
    """Every binary metric ecomtf reports, in one dict.

    Args:
        y_true, y_prob: labels and predicted probabilities to score (test).
        threshold: the fixed threshold of ``precision``/``recall``/``f1``.
            At a low base rate (3% purchases) 0.5 is rarely crossed and they
            are 0 even for a useful model; ``pr_auc`` and the validation
            threshold below say more.
        validation: optional ``(y_val, p_val)``: the F1-best threshold is
            chosen on it (never on the scored data) and precision, recall and
            F1 at that threshold are added (``VALIDATION_THRESHOLD_KEYS``).

    Example:
        >>> r = binary_report(y_test, p_test, validation=(y_val, p_val))
        >>> r["pr_auc"], r["val_f1_threshold"], r["f1_at_val_threshold"]
    """
    report = {
        "n": int(len(np.ravel(y_true))),
        "positive_rate": float(np.mean(np.asarray(y_true) > 0.5)),
        "auc": roc_auc(y_true, y_prob),
        "pr_auc": pr_auc(y_true, y_prob),
        "log_loss": log_loss(y_true, y_prob),
        "brier": brier_score(y_true, y_prob),
        **threshold_metrics(y_true, y_prob, threshold),
    }
    if validation is not None:
        y_val, p_val = validation
        chosen = best_f1_threshold(y_val, p_val)
        if np.isnan(chosen):
            at = {"precision": float("nan"), "recall": float("nan"), "f1": float("nan")}
        else:
            at = threshold_metrics(y_true, y_prob, chosen)
        report.update(zip(VALIDATION_THRESHOLD_KEYS, (chosen, at["precision"], at["recall"], at["f1"])))
    return report


def format_report(report: dict, title: str = "") -> str:
    """A one-line-per-metric text rendering."""
    lines = [title] if title else []
    width = max([14] + [len(k) for k in report])
    for k, v in report.items():
        lines.append(f"  {k:<{width}} {v:.4f}" if isinstance(v, float) else f"  {k:<{width}} {v}")
    return "\n".join(lines)
