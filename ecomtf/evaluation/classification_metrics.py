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
    """The threshold that maximizes F1 (choose it on validation data, not test)."""
    y, p = _check(y_true, y_prob)
    candidates = np.unique(np.quantile(p, np.linspace(0.01, 0.99, 99)))
    f1 = [threshold_metrics(y, p, t)["f1"] for t in candidates]
    return float(candidates[int(np.argmax(f1))])


def binary_report(y_true, y_prob, threshold: float = 0.5) -> dict[str, float]:
    """Every binary metric ecomtf reports, in one dict."""
    return {
        "n": int(len(np.ravel(y_true))),
        "positive_rate": float(np.mean(np.asarray(y_true) > 0.5)),
        "auc": roc_auc(y_true, y_prob),
        "pr_auc": pr_auc(y_true, y_prob),
        "log_loss": log_loss(y_true, y_prob),
        "brier": brier_score(y_true, y_prob),
        **threshold_metrics(y_true, y_prob, threshold),
    }


def format_report(report: dict, title: str = "") -> str:
    """A one-line-per-metric text rendering."""
    lines = [title] if title else []
    for k, v in report.items():
        lines.append(f"  {k:<14} {v:.4f}" if isinstance(v, float) else f"  {k:<14} {v}")
    return "\n".join(lines)
