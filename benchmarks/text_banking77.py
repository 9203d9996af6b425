"""Banking77 intent classification: IntentClassifier vs TF-IDF + logistic regression.

    .venv/bin/python -m benchmarks.text_banking77 [--encoders ngram,transformer]

Official train (10,003) / test (3,080) split, 77 intents. Our model trains on
a seeded, stratified 90% of train (10% held out for early stopping and
calibration); the baseline is fitted on all of train. Both are scored on test
by the same numpy metrics (ecomtf.text.metrics).
"""

from __future__ import annotations

import argparse
import datetime

import ecomtf  # noqa: F401  (tf.keras -> tf_keras)
from benchmarks.common import machine
from benchmarks.common import print_table
from benchmarks.common import shared_data
from benchmarks.text_common import Timer
from benchmarks.text_common import add_train_options
from benchmarks.text_common import epochs_label
from benchmarks.text_common import options_label
from benchmarks.text_common import paired_with_baseline
from benchmarks.text_common import tfidf_logistic_regression


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
    from ecomtf.text import metrics

    print(f"Banking77 benchmark, {datetime.date.today()}, {machine()}")
    splits = text.load_banking77(shared_data("banking77"))
    train, test = splits["train"], splits["test"]
    rows = []
    baseline_correct = None
    if not args.no_baseline:
        with Timer() as t:
            lr = tfidf_logistic_regression(train.texts, train.labels)
        pred = lr.predict(list(test.texts))
        baseline_correct = pred == test.labels
        rows.append({"model": "TF-IDF word 1-2 + char 2-5 -> logistic regression (C=30)",
                     "accuracy": metrics.accuracy(test.labels, pred),
                     "macro_f1": metrics.macro_f1(test.labels, pred),
                     "train_wall_s": round(t.wall), "train_cpu_s": round(t.cpu)})
        print_table("so far", rows)
    for encoder in [e for e in args.encoders.split(",") if e]:
        with Timer() as t:
            model, info = intent.train(train, encoder=encoder, epochs=args.epochs, seed=args.seed,
                                       patience=5 if "transformer" in encoder else 4, **dict(args.set))
        rep = intent.evaluate(model, test)
        paired = {} if baseline_correct is None else paired_with_baseline(
            model.classify(test.texts)["intent"] == test.labels, baseline_correct)
        rows.append({"model": f"ecomtf {type(model).__name__} ({encoder}, {epochs_label(info)}"
                              + options_label(args.set) + ")",
                     "accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"],
                     "val_accuracy": info["val_accuracy"], **paired,
                     "train_wall_s": round(t.wall), "train_cpu_s": round(t.cpu)})
        print_table("so far", rows)
        if "val_accuracy_by_members" in info:
            print("validation accuracy of the first k members' mean, k = 1..:", info["val_accuracy_by_members"])
        print(metrics.format_confusion_report(rep, worst=8))
    print_table("Banking77 test (3,080 queries, 77 intents)", rows)


if __name__ == "__main__":
    main()
