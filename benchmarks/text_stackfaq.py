"""StackFAQ retrieval: AnswerRetriever vs BM25 on human-paraphrased queries.

    .venv/bin/python -m benchmarks.text_stackfaq

125 FAQ threads (title + answers) and 10 paraphrased queries per thread,
split by the collection's ``*`` separator into two halves of ~5. Fold A
trains on half 0 and tests on half 1; fold B the reverse; we report both
and their mean. Our dual encoder trains on (training paraphrase, thread) and
(thread title, thread) pairs, with one training paraphrase per thread held out
for early stopping; its index holds the threads and, as a second row, also
the training questions as keys of their threads. BM25 (k1=1.2, b=0.75, numpy, lower-cased \\w+ tokens)
is run over the thread text, and also over the thread text with the same
training paraphrases appended (so that it sees the same supervision).
A query is right when the retrieved thread is its own.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import re

import numpy as np

import ecomtf  # noqa: F401  (tf.keras -> tf_keras)
from benchmarks.common import machine
from benchmarks.common import print_table
from benchmarks.common import shared_data
from benchmarks.text_common import Timer
from benchmarks.text_common import paired_with_baseline
from benchmarks.text_common import train_option

TOKEN = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


class BM25:
    """Okapi BM25 over a small document collection, in numpy."""

    def __init__(self, documents, k1: float = 1.2, b: float = 0.75):
        docs = [tokenize(d) for d in documents]
        self.vocab = {t: i for i, t in enumerate(sorted({t for d in docs for t in d}))}
        n, v = len(docs), len(self.vocab)
        tf = np.zeros([n, v], np.float64)
        for i, d in enumerate(docs):
            for t, c in collections.Counter(d).items():
                tf[i, self.vocab[t]] = c
        df = (tf > 0).sum(0)
        self.idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        length = tf.sum(1, keepdims=True)
        norm = k1 * (1 - b + b * length / length.mean())
        self.weights = tf * (k1 + 1) / (tf + norm) * self.idf  # [docs, vocab]

    def scores(self, queries) -> np.ndarray:
        q = np.zeros([len(queries), len(self.vocab)])
        for i, text in enumerate(queries):
            for t in tokenize(text):  # repeated query terms count again, as in BM25
                if t in self.vocab:
                    q[i, self.vocab[t]] += 1
        return q @ self.weights.T


def ranked_ids(scores, ids):
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.asarray(ids)[order]


def figures(ranked, true):
    from ecomtf.text import metrics

    return {"recall@1": metrics.recall_at_k(ranked, true, 1),
            "recall@5": metrics.recall_at_k(ranked, true, 5),
            "mrr": metrics.mean_reciprocal_rank(ranked, true)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--encoder", default="ngram", help="ngram, transformer or minilm (all-MiniLM-L6-v2; "
                        "its projections start as the identity, so --epochs 0 is the pretrained retriever)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", type=train_option,
                        help="extra faq.train option, e.g. --set trainable_layers=1")
    parser.add_argument("--document-chars", type=int, default=2000,
                        help="characters of each thread our model encodes (BM25 sees all)")
    args = parser.parse_args(argv)

    from ecomtf import text
    from ecomtf.recipes import faq as faq_recipe

    print(f"StackFAQ benchmark, {datetime.date.today()}, {machine()}")
    faq = text.load_stackfaq(shared_data("stackfaq"))
    print(faq.queries.report)
    rows = []
    for fold, train_half in (("A", 0), ("B", 1)):
        half = faq.queries.columns["half"]
        train_q, test_q = faq.queries.take(half == train_half), faq.queries.take(half != train_half)
        ids = faq.answer_ids
        bm25 = BM25(faq.documents)
        rows.append({"fold": fold, "model": "BM25 (title + answers)",
                     **figures(ranked_ids(bm25.scores(test_q.texts), ids), test_q.labels), "note": ""})
        by_thread = collections.defaultdict(list)
        for t, y in zip(train_q.texts, train_q.labels):
            by_thread[y].append(t)
        augmented = [d + " " + " ".join(by_thread[i]) for d, i in zip(faq.documents, ids)]
        bm25_aug = BM25(augmented)
        bm25_ranked = ranked_ids(bm25_aug.scores(test_q.texts), ids)
        bm25_correct = bm25_ranked[:, 0] == test_q.labels
        rows.append({"fold": fold, "model": "BM25 (title + answers + training paraphrases)",
                     **figures(bm25_ranked, test_q.labels), "note": ""})
        # Thread titles are questions too: extra training pairs.
        titles = text.TextExamples(faq.questions, faq.answer_ids)
        with Timer() as t:
            mask = faq_recipe.held_out_mask(train_q.labels, 0.2, args.seed)
            model, info = faq_recipe.train(
                faq, train_q.take(~mask).concat(titles), train_q.take(mask), epochs=args.epochs,
                seed=args.seed, patience=5, document_chars=args.document_chars, verbose=0,
                encoder=args.encoder, **dict(args.set))
        note = f"{info['epochs_run']} epochs, {round(t.wall)} s wall, {round(t.cpu)} s cpu"
        label = "" if args.encoder == "ngram" else f" {args.encoder}" + "".join(f", {k}={v}" for k, v in args.set)
        ranked = model.retrieve(test_q.texts, k=len(faq))["answer_id"]
        rows.append({"fold": fold, "model": f"ecomtf AnswerRetriever{label} (documents + training questions)",
                     **figures(ranked, test_q.labels), "note": note,
                     **paired_with_baseline(ranked[:, 0] == test_q.labels, bm25_correct)})
        model.set_index(faq.answer_ids, faq.answers, model.documents)
        ranked = model.retrieve(test_q.texts, k=len(faq))["answer_id"]
        rows.append({"fold": fold, "model": f"ecomtf AnswerRetriever{label} (documents only)",
                     **figures(ranked, test_q.labels), "note": "same model",
                     **paired_with_baseline(ranked[:, 0] == test_q.labels, bm25_correct)})
        print_table("so far", rows)
    mean_rows = []
    for name in dict.fromkeys(r["model"] for r in rows):
        sel = [r for r in rows if r["model"] == name]
        mean_rows.append({"model": name, **{k: float(np.mean([r[k] for r in sel]))
                                            for k in ("recall@1", "recall@5", "mrr")}})
    print_table("StackFAQ, test halves (per fold)", rows)
    print_table("StackFAQ, mean of the two folds", mean_rows)


if __name__ == "__main__":
    main()
