"""Classification and retrieval metrics for the text models, in numpy.

Computed outside Keras so a model and a scikit-learn or BM25 baseline are
scored by the same code on the same arrays.
"""

from __future__ import annotations

import numpy as np


def accuracy(y_true, y_pred) -> float:
    """Fraction of exact matches."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{y_true.shape} labels vs {y_pred.shape} predictions")
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def confusion_matrix(y_true, y_pred, labels) -> np.ndarray:
    """``[len(labels), len(labels)]`` counts: row = true label, column = predicted.

    Predictions outside ``labels`` (e.g. an out-of-scope decision) are not
    counted in any column, but still count against the true label's recall.
    """
    index = {label: i for i, label in enumerate(labels)}
    m = np.zeros([len(labels), len(labels)], np.int64)
    for t, p in zip(np.asarray(y_true).tolist(), np.asarray(y_pred).tolist()):
        if t in index and p in index:
            m[index[t], index[p]] += 1
    return m


def per_label_scores(y_true, y_pred, labels=None) -> dict[str, dict]:
    """Precision, recall, F1 and support for each label."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = sorted(set(y_true.tolist())) if labels is None else list(labels)
    out = {}
    for label in labels:
        t, p = y_true == label, y_pred == label
        tp = float(np.sum(t & p))
        precision = tp / p.sum() if p.sum() else 0.0
        recall = tp / t.sum() if t.sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": precision, "recall": recall, "f1": f1, "support": int(t.sum())}
    return out


def macro_f1(y_true, y_pred, labels=None) -> float:
    """Unweighted mean of per-label F1 over ``labels`` (default: the true labels)."""
    scores = per_label_scores(y_true, y_pred, labels)
    return float(np.mean([s["f1"] for s in scores.values()])) if scores else float("nan")


def classification_report(y_true, y_pred, labels=None, top_confusions: int = 3) -> dict:
    """Accuracy, macro-F1 and a per-label report with each label's main confusions.

    Returns:
        ``{"accuracy", "macro_f1", "per_label": {label: {precision, recall,
        f1, support, confused_with: [(other label, count), ...]}}}``.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = sorted(set(y_true.tolist())) if labels is None else list(labels)
    per = per_label_scores(y_true, y_pred, labels)
    cm = confusion_matrix(y_true, y_pred, labels)
    for i, label in enumerate(labels):
        row = cm[i].copy()
        row[i] = 0
        order = np.argsort(-row, kind="stable")[:top_confusions]
        per[label]["confused_with"] = [(labels[j], int(row[j])) for j in order if row[j] > 0]
    return {"accuracy": accuracy(y_true, y_pred), "macro_f1": macro_f1(y_true, y_pred, labels),
            "per_label": per}


def format_confusion_report(report: dict, worst: int = 10) -> str:
    """The ``worst`` labels by F1 with their main confusions, as text."""
    lines = [f"accuracy {report['accuracy']:.4f}   macro-F1 {report['macro_f1']:.4f}",
             f"{'label':<40} {'prec':>6} {'rec':>6} {'f1':>6} {'n':>5}  confused with"]
    per = report["per_label"]
    for label in sorted(per, key=lambda k: (per[k]["f1"], k))[:worst]:
        s = per[label]
        confused = ", ".join(f"{other} ({n})" for other, n in s.get("confused_with", []))
        lines.append(f"{label[:40]:<40} {s['precision']:>6.3f} {s['recall']:>6.3f} {s['f1']:>6.3f} "
                     f"{s['support']:>5}  {confused}")
    return "\n".join(lines)


# === Out-of-scope thresholds ===
def out_of_scope_metrics(in_scores, in_correct, out_scores, threshold: float) -> dict[str, float]:
    """In-scope accuracy (correct and accepted) and out-of-scope recall at ``threshold``.

    A query is rejected as out of scope when its score is below ``threshold``.
    """
    in_scores, in_correct = np.asarray(in_scores, float), np.asarray(in_correct, bool)
    out_scores = np.asarray(out_scores, float)
    accepted = in_scores >= threshold
    return {
        "in_scope_accuracy": float(np.mean(in_correct & accepted)) if len(in_scores) else float("nan"),
        "in_scope_accept_rate": float(np.mean(accepted)) if len(in_scores) else float("nan"),
        "out_of_scope_recall": float(np.mean(out_scores < threshold)) if len(out_scores) else float("nan"),
    }


def choose_threshold(in_scores, in_correct=None, out_scores=None, accept_rate: float = 0.97) -> float:
    """A rejection threshold on a confidence score, chosen on validation data.

    With out-of-scope examples (``out_scores``), the threshold maximizes
    in-scope accuracy + out-of-scope recall (each counted as a rate, so the
    two sets weigh the same whatever their sizes). Without them, it is the
    score that keeps ``accept_rate`` of the in-scope examples (so about
    ``1 - accept_rate`` of real queries are answered "I don't know").

    Args:
        in_scores: confidence of each in-scope validation example.
        in_correct: whether each was classified correctly (default: all).
        out_scores: confidence of each out-of-scope validation example.
        accept_rate: share of in-scope examples to accept when there are no
            out-of-scope examples.

    Returns:
        The threshold (reject when ``score < threshold``).
    """
    in_scores = np.asarray(in_scores, float)
    if not len(in_scores):
        raise ValueError("no in-scope scores to choose a threshold on")
    in_correct = np.ones(len(in_scores), bool) if in_correct is None else np.asarray(in_correct, bool)
    if out_scores is None or not len(out_scores):
        if not 0.0 < accept_rate <= 1.0:
            raise ValueError(f"accept_rate must be in (0, 1], got {accept_rate}")
        # The highest threshold that still accepts at least accept_rate of them.
        k = max(1, int(np.ceil(accept_rate * len(in_scores) - 1e-9)))
        return float(np.sort(in_scores)[::-1][k - 1])
    out_scores = np.asarray(out_scores, float)
    candidates = np.unique(np.concatenate([in_scores, out_scores, [-np.inf]]))
    # Sweep every distinct score as a threshold: counts by sorted search.
    in_sorted = np.sort(in_scores[in_correct])
    out_sorted = np.sort(out_scores)
    accepted_correct = len(in_sorted) - np.searchsorted(in_sorted, candidates, side="left")
    rejected_out = np.searchsorted(out_sorted, candidates, side="left")
    objective = accepted_correct / len(in_scores) + rejected_out / len(out_scores)
    return float(candidates[int(np.argmax(objective))])


def fit_temperature(logits, labels, grid=None) -> float:
    """The softmax temperature minimizing the negative log-likelihood.

    Temperature scaling (Guo et al., ICML 2017) on validation logits; a 1-D
    search over a log grid is exact enough and needs no optimizer.
    """
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels, np.int64)
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 200)) if grid is None else np.asarray(grid)

    def nll(t):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -np.mean(logp[np.arange(len(labels)), labels])

    losses = [nll(t) for t in grid]
    return float(grid[int(np.argmin(losses))])


# Temperatures tried for out-of-scope detection (next to the NLL fit): on
# CLINC150 validation, softening (T >= 1) raised in-scope accuracy +
# out-of-scope recall for every model measured (docs/decisions.md).
OUT_OF_SCOPE_TEMPERATURES = (1.0, 1.5, 2.0, 3.0)


def calibrate_out_of_scope(logits, labels, out_logits=None, *, accept_rate: float = 0.97,
                           fit: bool = True, temperatures=OUT_OF_SCOPE_TEMPERATURES) -> dict:
    """A softmax temperature and a top-probability threshold, chosen on validation logits.

    The temperature is first fitted by negative log-likelihood
    (``fit_temperature``). With out-of-scope examples (``out_logits``) the
    threshold's purpose can be measured, so the temperature is then the one,
    among the NLL fit and ``temperatures``, whose best threshold
    (``choose_threshold``) gives the highest in-scope accuracy +
    out-of-scope recall; ties keep the NLL fit. This matters for averaged
    members (an ensemble, a wide & deep model): their mean probability is
    under-confident, the NLL fit sharpens it (T < 1), and sharpening was
    measured to hurt out-of-scope detection by the top probability.

    Args:
        logits: ``[n, classes]`` in-scope validation logits.
        labels: their class indices.
        out_logits: ``[m, classes]`` out-of-scope validation logits (optional).
        accept_rate: without ``out_logits``, the share of in-scope examples
            the threshold keeps.
        fit: fit a temperature (False: 1).
        temperatures: the candidates tried next to the NLL fit.

    Returns:
        ``{"temperature", "threshold", "nll_temperature"}``.
    """
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels, np.int64)
    nll = fit_temperature(logits, labels) if fit else 1.0
    has_out = out_logits is not None and len(out_logits) > 0
    if has_out:
        out_logits = np.asarray(out_logits, np.float64)
    candidates = [nll, *(t for t in temperatures if t != nll)] if fit and has_out else [nll]
    best = None
    for t in candidates:
        p = softmax(logits / t)
        score, correct = p.max(axis=1), p.argmax(axis=1) == labels
        out_score = softmax(out_logits / t).max(axis=1) if has_out else None
        threshold = choose_threshold(score, correct, out_score, accept_rate)
        objective = 0.0
        if has_out:
            m = out_of_scope_metrics(score, correct, out_score, threshold)
            objective = m["in_scope_accuracy"] + m["out_of_scope_recall"]
        if best is None or objective > best[0] + 1e-12:
            best = (objective, float(t), threshold)
    return {"temperature": best[1], "threshold": best[2], "nll_temperature": float(nll)}


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in numpy."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# === Retrieval ===
def recall_at_k(ranked_ids, true_ids, k: int) -> float:
    """Fraction of queries whose right answer is in the first ``k`` results."""
    ranked = np.asarray(ranked_ids)[:, :k]
    true = np.asarray(true_ids).reshape(-1, 1)
    return float(np.mean(np.any(ranked == true, axis=1)))


def mean_reciprocal_rank(ranked_ids, true_ids) -> float:
    """Mean of 1/rank of the right answer (0 when it is not in the list)."""
    ranked = np.asarray(ranked_ids)
    hit = ranked == np.asarray(true_ids).reshape(-1, 1)
    first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, np.inf)
    return float(np.mean(1.0 / first))
