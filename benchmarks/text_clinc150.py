"""CLINC150: in-scope accuracy and out-of-scope recall, IntentClassifier vs TF-IDF + LR.

    .venv/bin/python -m benchmarks.text_clinc150 [--encoders ngram,transformer]

Official splits (data_full): train 15,000 (150 intents), val 3,000 + 100
out-of-scope, test 4,500 + 1,000 out-of-scope. Both models train on ``train``
only (no out-of-scope class). Both are calibrated alike on ``val`` +
``oos_val`` (``text.metrics.calibrate_out_of_scope``: the temperature that
serves out-of-scope detection best); then the out-of-scope threshold on the
top probability is chosen on ``val`` + ``oos_val`` by the same two rules for
both models, and applied to test:

- rule A (the library's default): maximize in-scope accuracy + OOS recall;
- rule B: the highest threshold that keeps validation in-scope accuracy
  within 1 point of the model's closed-set validation accuracy.

In-scope accuracy counts a rejected in-scope query as an error; closed-set
accuracy ignores the threshold. ``vs_baseline`` and ``mcnemar_p`` compare the
closed-set answers with the baseline's on the same test queries
(``text_common.paired_with_baseline``).
"""

from __future__ import annotations

import argparse
import datetime

import numpy as np

import ecomtf  # noqa: F401  (tf.keras -> tf_keras)
from benchmarks.common import machine
from benchmarks.common import print_table
from benchmarks.common import shared_data
from benchmarks.text_common import Timer
from benchmarks.text_common import add_train_options
from benchmarks.text_common import epochs_label
from benchmarks.text_common import baseline_logits
from benchmarks.text_common import calibrate_baseline
from benchmarks.text_common import options_label
from benchmarks.text_common import paired_with_baseline
from benchmarks.text_common import tempered_top_scores
from benchmarks.text_common import tfidf_logistic_regression


def rule_b(scores, correct, drop: float = 0.01) -> float:
    """Highest threshold keeping in-scope accuracy >= closed-set accuracy - drop."""
    target = np.mean(correct) - drop
    best = -np.inf
    for t in np.unique(scores):
        if np.mean(correct & (scores >= t)) >= target:
            best = max(best, t)
    return float(best)


def evaluate(name, val_pred, val_score, oos_val_score, test_pred, test_score, oos_test_score,
             val_labels, test_labels, extra):
    from ecomtf.text import metrics

    val_correct = val_pred == val_labels
    test_correct = test_pred == test_labels
    rows = []
    for rule, threshold in (
        ("A", metrics.choose_threshold(val_score, val_correct, oos_val_score)),
        ("B", rule_b(val_score, val_correct)),
    ):
        m = metrics.out_of_scope_metrics(test_score, test_correct, oos_test_score, threshold)
        rows.append({"model": name, "rule": rule, "threshold": round(threshold, 4),
                     "closed_set_acc": float(np.mean(test_correct)),
                     "in_scope_acc": m["in_scope_accuracy"], "oos_recall": m["out_of_scope_recall"],
                     **extra})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default="ngram",
                        help="comma-separated: ngram, transformer, ngram+transformer, pretrained "
                             "(with --set checkpoint=DIR)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-baseline", action="store_true")
    add_train_options(parser)
    args = parser.parse_args(argv)

    from ecomtf import text
    from ecomtf.recipes import intent

    print(f"CLINC150 benchmark, {datetime.date.today()}, {machine()}")
    s = text.load_clinc150(shared_data("clinc150"))
    train, val, test = s["train"], s["val"], s["test"]
    oos_val, oos_test = s["oos_val"].texts, s["oos_test"].texts
    rows = []
    baseline_correct = None
    if not args.no_baseline:
        with Timer() as t:
            lr = tfidf_logistic_regression(train.texts, train.labels)
        z = {name: baseline_logits(lr, texts) for name, texts in
             (("val", val.texts), ("test", test.texts), ("oos_val", oos_val), ("oos_test", oos_test))}
        temp = calibrate_baseline(lr, z["val"], val.labels, z["oos_val"])["temperature"]
        vp, vs = tempered_top_scores(lr, z["val"], temp)
        tp, ts = tempered_top_scores(lr, z["test"], temp)
        baseline_correct = tp == test.labels
        rows += evaluate(f"TF-IDF + LR (T={temp:.2f})", vp, vs, tempered_top_scores(lr, z["oos_val"], temp)[1],
                         tp, ts, tempered_top_scores(lr, z["oos_test"], temp)[1], val.labels, test.labels,
                         {"val_closed_set_acc": round(float(np.mean(vp == val.labels)), 4),
                          "train_wall_s": round(t.wall), "train_cpu_s": round(t.cpu)})
        print_table("so far", rows)
    for encoder in [e for e in args.encoders.split(",") if e]:
        with Timer() as t:
            model, info = intent.train(train, val, out_of_scope_val=oos_val, encoder=encoder,
                                       epochs=args.epochs, seed=args.seed,
                                       patience=5 if "transformer" in encoder else 4, **dict(args.set))
        v, te = model.classify(val.texts), model.classify(test.texts)
        paired = {} if baseline_correct is None else paired_with_baseline(te["intent"] == test.labels,
                                                                          baseline_correct)
        rows += evaluate(f"ecomtf {encoder} ({epochs_label(info)}, T={model.temperature:.2f}"
                         + options_label(args.set) + ")",
                         v["intent"], v["score"], model.classify(oos_val)["score"], te["intent"],
                         te["score"], model.classify(oos_test)["score"], val.labels, test.labels,
                         {"val_closed_set_acc": info["val_accuracy"], **paired,
                          "train_wall_s": round(t.wall), "train_cpu_s": round(t.cpu)})
        print_table("so far", rows)
    print_table("CLINC150 test (4,500 in-scope + 1,000 out-of-scope)", rows)


if __name__ == "__main__":
    main()
