"""CrossWOZ (Chinese) user-turn intent and domain accuracy, IntentClassifier vs char TF-IDF + LR.

    .venv/bin/python -m benchmarks.text_crosswoz

CrossWOZ's train split is not available offline, so both models train on the
published ``val`` dialogues (4,213 user turns with acts) and are tested on
the ``test`` dialogues (4,215): different dialogues, no overlap. Two tasks:

- domain: turns whose non-General acts name one domain (restaurant,
  attraction, hotel, metro, taxi) or none ("general": greet/thank/bye); the
  ~2% of turns spanning two domains are left out of this task;
- acts: the turn's set of intent+domain acts (e.g. ``Inform+餐馆|Request+餐馆``)
  as one label (label powerset); a test label never seen in training counts
  as an error for both models.

The baseline uses character 1-3-gram TF-IDF (the usual choice for
unsegmented Chinese).
"""

from __future__ import annotations

import argparse
import datetime

import numpy as np

import ecomtf  # noqa: F401  (tf.keras -> tf_keras)
from benchmarks.common import machine
from benchmarks.common import print_table
from benchmarks.common import shared_data
from benchmarks.text_common import add_train_options
from benchmarks.text_common import epochs_label
from benchmarks.text_common import options_label
from benchmarks.text_common import Timer
from benchmarks.text_common import tfidf_logistic_regression


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=42)
    add_train_options(parser)
    args = parser.parse_args(argv)

    from ecomtf import text
    from ecomtf.recipes import intent
    from ecomtf.text import metrics

    print(f"CrossWOZ benchmark, {datetime.date.today()}, {machine()}")
    folder = shared_data("crosswoz")
    train_all, test_all = text.load_crosswoz(folder, "val"), text.load_crosswoz(folder, "test")
    print(train_all.report)
    print(test_all.report)
    rows = []
    for task in ("domain", "acts"):
        if task == "domain":
            train = text.TextExamples(train_all.texts, train_all.columns["domain"]).take(
                train_all.columns["domain"] != "")
            test = text.TextExamples(test_all.texts, test_all.columns["domain"]).take(
                test_all.columns["domain"] != "")
        else:
            train, test = train_all, test_all
        unseen = float(np.mean(~np.isin(test.labels, train.labels)))
        with Timer() as t:
            lr = tfidf_logistic_regression(train.texts, train.labels, word_ngrams=None,
                                           char_ngrams=(1, 3), analyzer="char")
        pred = lr.predict(list(test.texts))
        rows.append({"task": task, "model": "char 1-3 TF-IDF + LR", "labels": len(train.label_set),
                     "test_rows": len(test), "unseen_label_share": unseen,
                     "accuracy": metrics.accuracy(test.labels, pred),
                     "macro_f1": metrics.macro_f1(test.labels, pred),
                     "train_cpu_s": round(t.cpu)})
        with Timer() as t:
            model, info = intent.train(train, epochs=args.epochs, seed=args.seed, patience=4,
                                       verbose=0, **dict(args.set))
        pred = model.classify(test.texts)["intent"]
        rows.append({"task": task, "model": f"ecomtf ngram ({epochs_label(info)}" + options_label(args.set) + ")",
                     "labels": len(model.intents), "test_rows": len(test), "unseen_label_share": unseen,
                     "accuracy": metrics.accuracy(test.labels, pred),
                     "macro_f1": metrics.macro_f1(test.labels, pred),
                     "train_cpu_s": round(t.cpu)})
        print_table("so far", rows)
    print_table("CrossWOZ test user turns (trained on the val dialogues)", rows)


if __name__ == "__main__":
    main()
