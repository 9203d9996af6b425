"""Helpers shared by the text benchmarks: the TF-IDF baseline, timing, training our models."""

from __future__ import annotations

import ast
import resource
import time

import numpy as np


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def add_train_options(parser) -> None:
    """``--set NAME=VALUE`` (repeatable): extra ``intent.train`` / encoder options."""
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", type=train_option,
                        help="extra intent.train / encoder option, e.g. --set output_dim=256 "
                             "--set char_ngram_widths=(2,3,4,5,6); repeatable")


def options_label(options) -> str:
    """``", output_dim=256, ..."`` for a row label (empty without options)."""
    return "".join(f", {k}={v}" for k, v in options)


def train_option(text: str) -> tuple[str, object]:
    """``"name=value"`` -> ``(name, value)``, the value read as a Python literal."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise ValueError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


class Timer:
    """``with Timer() as t: ...`` -> ``t.wall``, ``t.cpu`` seconds."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = cpu_seconds() - self._cpu


def tfidf_logistic_regression(texts, labels, *, word_ngrams=(1, 2), char_ngrams=(2, 5),
                              analyzer="char_wb", C: float = 30.0, seed: int = 0):
    """The baseline: TF-IDF of word and character n-grams -> logistic regression.

    Word uni+bigrams and within-word character 2-5-grams, sublinear TF,
    one multinomial logistic regression (lbfgs). Fitted on ``texts`` only.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.pipeline import make_union

    parts = []
    if word_ngrams:
        parts.append(TfidfVectorizer(ngram_range=word_ngrams, sublinear_tf=True))
    if char_ngrams:
        parts.append(TfidfVectorizer(analyzer=analyzer, ngram_range=char_ngrams, sublinear_tf=True,
                                     min_df=2))
    model = make_pipeline(make_union(*parts), LogisticRegression(C=C, max_iter=2000, random_state=seed))
    return model.fit(list(texts), np.asarray(labels))


def baseline_logits(model, texts):
    """Log-probabilities of a fitted sklearn pipeline, as logits for temperature scaling."""
    return np.log(np.maximum(model.predict_proba(list(texts)), 1e-12))


def tempered_top_scores(model, logits, temperature: float):
    """``(predicted labels, max probability)`` of baseline logits at ``temperature``."""
    from ecomtf.text.metrics import softmax

    p = softmax(logits / temperature)
    return model.classes_[p.argmax(1)], p.max(1)


def calibrate_baseline(model, logits, labels, out_of_scope_logits) -> dict:
    """The temperature and threshold for an sklearn baseline, chosen as ``IntentModel.calibrate`` does.

    Both models get the same calibration (``text.metrics.calibrate_out_of_scope``
    on validation data), so the comparison is of models, not of calibrations.
    """
    from ecomtf.text import metrics

    index = {c: i for i, c in enumerate(model.classes_)}
    return metrics.calibrate_out_of_scope(logits, np.array([index[y] for y in labels]), out_of_scope_logits)


def paired_with_baseline(correct, baseline_correct) -> dict:
    """The model against the baseline on the same queries (McNemar's exact test).

    ``vs_baseline``: queries only the model gets right minus queries only the
    baseline gets right, with the two counts; ``mcnemar_p``: the two-sided
    p-value that the two are equally often right where they disagree. A
    margin of a few queries with a large p is "level", whatever its sign.
    """
    from scipy.stats import binomtest

    correct, baseline_correct = np.asarray(correct, bool), np.asarray(baseline_correct, bool)
    wins, losses = int(np.sum(correct & ~baseline_correct)), int(np.sum(~correct & baseline_correct))
    p = binomtest(wins, wins + losses, 0.5).pvalue if wins + losses else 1.0
    return {"vs_baseline": f"{wins - losses:+d} ({wins}/{losses})", "mcnemar_p": round(float(p), 3)}


def epochs_label(info) -> str:
    """``"9 epochs"``, or ``"5 members, 9+11+12+9+13 epochs"`` for an ensemble."""
    epochs = info.get("member_epochs") or [info["epochs_run"]]
    if len(epochs) == 1:
        return f"{epochs[0]} epochs"
    return f"{len(epochs)} members, {'+'.join(map(str, epochs))} epochs"
