"""all-MiniLM-L6-v2 intent models on CLINC150 and Banking77: several seeds, against TF-IDF + LR and a linear probe.

    .venv/bin/python -m benchmarks.text_minilm --dataset clinc150 --seeds 42,43
    .venv/bin/python -m benchmarks.text_minilm --dataset banking77 --seeds 42,43
    .venv/bin/python -m benchmarks.text_minilm --dataset clinc150 --seeds 42,43 --set wide=True \
        --set "trainable_layers=(0,2)"
    .venv/bin/python -m benchmarks.text_minilm --dataset clinc150 --seeds 42,43 --oos-train --set wide=True

``intent.train(encoder="minilm")`` trains the head on the frozen encoder and
each ``trainable_layers`` candidate (``--set trainable_layers=(0,1)``: top
layers fine-tuned over cached lower-layer states) and keeps the best on
validation (CLINC150: the official val split; Banking77: a seeded 10% of
train). Baselines on the same split, printed in the same run: TF-IDF + LR
(the best earlier baseline) and the linear probe, scikit-learn logistic
regression on the frozen, mean-pooled MiniLM embeddings (the floor the issue
sets), and the probe with the TF-IDF features concatenated (probe + TF-IDF:
one logistic regression on both, the issue's strongest reference; ``--set
wide=True`` is its analogue in one graph). Out-of-scope (CLINC150) as ``text_clinc150``: both calibrated on
val + oos_val, rule A (library default) and rule B (in-scope accuracy within
1 point of closed-set accuracy on validation). ``vs_baseline``/``mcnemar_p``:
closed-set answers paired with TF-IDF + LR's on the same test queries;
our rows also pair with the probe (``vs_probe``) and probe + TF-IDF
(``vs_probe_tfidf``). ``train_wall_s``/``train_cpu_s``: the recipe's call
(training and calibration over cached states; the one-off embedding of the
texts is printed apart). ``--oos-train`` (CLINC150): our model also trains
on the 100 ``oos_train`` queries by outlier exposure
(``intent.train(out_of_scope_train=...)``); the baselines do not.
"""

from __future__ import annotations

import argparse
import datetime

import numpy as np

import ecomtf  # noqa: F401  (tf.keras -> tf_keras)
from benchmarks.common import machine
from benchmarks.common import print_table
from benchmarks.common import shared_data
from benchmarks.text_clinc150 import evaluate
from benchmarks.text_common import Timer
from benchmarks.text_common import add_train_options
from benchmarks.text_common import baseline_logits
from benchmarks.text_common import calibrate_baseline
from benchmarks.text_common import options_label
from benchmarks.text_common import paired_with_baseline
from benchmarks.text_common import tempered_top_scores
from benchmarks.text_common import tfidf_logistic_regression


def probe_embeddings(texts_by_part, start):
    """Frozen MiniLM sentence embeddings for each part, through the recipe's state cache after layer ``start``
    (the layer the recipe caches, so each text set is embedded once in the run)."""
    from ecomtf.layers.bert_sentence_encoder import BertSentenceEncoder
    from ecomtf.recipes import intent

    enc = BertSentenceEncoder()
    return {part: intent.pooled_states(*intent.advance_states(
        enc, *intent.lower_states(enc, texts, start), start, enc.num_layers))
        for part, texts in texts_by_part.items()}


def sklearn_rows(name, model_fn, x, y, parts, oos, baseline_correct, wall):
    """Rows for a fitted sklearn-style model's log-probabilities (calibrated as ours)."""
    z = {k: np.log(np.maximum(model_fn.predict_proba(v), 1e-12)) for k, v in x.items()}
    temp = calibrate_baseline(model_fn, z["val"], y["val"], z.get("oos_val"))["temperature"]
    vp, vs = tempered_top_scores(model_fn, z["val"], temp)
    tp, ts = tempered_top_scores(model_fn, z["test"], temp)
    extra = {"val_closed_set_acc": round(float(np.mean(vp == y["val"])), 4), "train_wall_s": round(wall)}
    if baseline_correct is not None:
        extra.update(paired_with_baseline(tp == y["test"], baseline_correct))
    if oos:
        return evaluate(f"{name} (T={temp:.2f})", vp, vs, tempered_top_scores(model_fn, z["oos_val"], temp)[1],
                        tp, ts, tempered_top_scores(model_fn, z["oos_test"], temp)[1], y["val"], y["test"],
                        extra), tp == y["test"]
    return [{"model": f"{name} (T={temp:.2f})", "closed_set_acc": float(np.mean(tp == y["test"])),
             **extra}], tp == y["test"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["clinc150", "banking77"], default="clinc150")
    parser.add_argument("--seeds", default="42,43")
    parser.add_argument("--epochs", type=int, default=30, help="head epochs (early stopping)")
    parser.add_argument("--oos-train", action="store_true",
                        help="CLINC150: train ours on oos_train too (outlier exposure)")
    add_train_options(parser)
    args = parser.parse_args(argv)
    if args.oos_train and args.dataset != "clinc150":
        parser.error("--oos-train needs --dataset clinc150 (Banking77 has no out-of-scope queries)")

    from sklearn.linear_model import LogisticRegression

    from ecomtf import text
    from ecomtf.recipes import intent

    print(f"MiniLM intent benchmark on {args.dataset}, {datetime.date.today()}, {machine()}")
    if args.dataset == "clinc150":
        s = text.load_clinc150(shared_data("clinc150"))
        train, val, test = s["train"], s["val"], s["test"]
        oos_val, oos_test = s["oos_val"].texts, s["oos_test"].texts
    else:
        s = text.load_banking77(shared_data("banking77"))
        train, val = s["train"].split(intent.VAL_FRACTION, seed=0)
        test = s["test"]
        oos_val = oos_test = None
    parts = {"train": train.texts, "val": val.texts, "test": test.texts}
    if oos_val is not None:
        parts.update(oos_val=oos_val, oos_test=oos_test)
    y = {"train": train.labels, "val": val.labels, "test": test.labels}
    oos = oos_val is not None
    rows = []

    with Timer() as t:
        lr = tfidf_logistic_regression(train.texts, train.labels)
    tfidf = type("TfIdf", (), {"classes_": lr.classes_,
                               "predict_proba": staticmethod(lambda v: lr.predict_proba(list(v)))})
    new, baseline_correct = sklearn_rows("TF-IDF + LR", tfidf, parts, y, parts, oos, None, t.wall)
    rows += new
    print_table("so far", rows)

    with Timer() as t_embed:
        tuned = np.atleast_1d(dict(args.set).get("trainable_layers", intent.MINILM_TRAINABLE_LAYERS))
        emb = probe_embeddings(parts, 6 - int(max(tuned)))
    print(f"frozen MiniLM embeddings of {sum(map(len, parts.values())):,} texts: {t_embed.wall:.0f} s wall")
    with Timer() as t:
        probe = LogisticRegression(C=10.0, max_iter=3000).fit(emb["train"], train.labels)
    new, probe_correct = sklearn_rows("linear probe: frozen MiniLM + LR", probe, emb, y, parts, oos,
                                      baseline_correct, t.wall)
    rows += new
    print_table("so far", rows)
    # Probe + TF-IDF: the embeddings next to the baseline's own TF-IDF features, one LR (the issue's reference).
    from scipy import sparse

    union = lr.steps[0][1]
    both = {k: sparse.hstack([sparse.csr_matrix(emb[k]), union.transform(list(v))]).tocsr()
            for k, v in parts.items()}
    with Timer() as t:
        probe_tfidf = LogisticRegression(C=10.0, max_iter=3000).fit(both["train"], train.labels)
    new, probe_tfidf_correct = sklearn_rows("probe + TF-IDF: [MiniLM, TF-IDF] + LR", probe_tfidf, both, y,
                                            parts, oos, baseline_correct, t.wall)
    rows += new
    print_table("so far", rows)

    for seed in [int(x) for x in args.seeds.split(",")]:
        with Timer() as t:
            model, info = intent.train(train, val, out_of_scope_val=oos_val, encoder="minilm",
                                       out_of_scope_train=s["oos_train"].texts if args.oos_train else None,
                                       epochs=args.epochs, seed=seed, patience=4, verbose=0, **dict(args.set))
        print({k: info[k] for k in ("trainable_layers", "val_accuracy_by_trainable_layers",
                                    "seconds_by_trainable_layers", "embed_seconds", "train_seconds")})
        # From the run's state cache (the same numbers as model.classify, a test checks it).
        start = info["cached_from_layer"]

        def classify(texts):
            from ecomtf.text.metrics import softmax

            p = softmax(intent.cached_logits(model, texts, start) / model.temperature)
            return {"intent": np.asarray(model.intents)[p.argmax(1)], "score": p.max(1)}

        te = classify(test.texts)
        correct = te["intent"] == test.labels
        name = (f"ecomtf minilm{' + wide n-grams' if info['wide'] else ''} seed {seed} "
                f"(top {info['trainable_layers']} layers tuned, "
                f"T={model.temperature:.2f}" + (", oos_train" if args.oos_train else "")
                + options_label(args.set) + ")")
        vs = {f"{k}_{name}": v for name, other in (("probe", probe_correct), ("probe_tfidf", probe_tfidf_correct))
              for k, v in paired_with_baseline(correct, other).items()}
        extra = {"val_closed_set_acc": info["val_accuracy"], **paired_with_baseline(correct, baseline_correct),
                 **{k.replace("vs_baseline", "vs"): v for k, v in vs.items()},
                 "train_wall_s": round(t.wall), "train_cpu_s": round(t.cpu)}
        if oos:
            v = classify(val.texts)
            rows += evaluate(name, v["intent"], v["score"], classify(oos_val)["score"], te["intent"],
                             te["score"], classify(oos_test)["score"], val.labels, test.labels, extra)
        else:
            rows.append({"model": name, "closed_set_acc": float(np.mean(correct)), **extra})
        print_table("so far", rows)
    print_table(f"{args.dataset} test", rows)


if __name__ == "__main__":
    main()
