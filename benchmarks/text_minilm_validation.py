"""MiniLM intent settings on the VALIDATION split only (how the benchmark's settings were chosen; no test data read).

    .venv/bin/python -u -m benchmarks.text_minilm_validation --dataset clinc150 \
        --configs '[{"oos": false, "trainable_layers": [0]}, {"oos": true, "trainable_layers": [0]}]'
    .venv/bin/python -u -m benchmarks.text_minilm_validation --dataset clinc150 \
        --configs '[{"oos": true, "trainable_layers": [0, 2], "fine_tune_epochs": 4}]'
    .venv/bin/python -u -m benchmarks.text_minilm_validation --dataset banking77 \
        --configs '[{"trainable_layers": [0, 2], "fine_tune_epochs": 4}]'
    .venv/bin/python -u -m benchmarks.text_minilm_validation --dataset banking77 \
        --configs '[{"trainable_layers": [0, 2, 4], "fine_tune_epochs": 4}]'
    .venv/bin/python -u -m benchmarks.text_minilm_validation --dataset banking77 \
        --configs '[{"trainable_layers": [0, 2], "fine_tune_epochs": 4, "fine_tune_learning_rate": 2e-4}]'
    .venv/bin/python -u -m benchmarks.text_minilm_validation --dataset clinc150 \
        --configs '[{"oos": true, "trainable_layers": [0, 2], "fine_tune_epochs": 4, "fine_tune_learning_rate": 2e-4}]'
    .venv/bin/python -m benchmarks.text_minilm_validation --dataset banking77 --token-lengths
    # session 7 (docs/benchmarks/text.md): top 4 at 2e-4, label smoothing, the warm-up + linear-decay
    # schedule, all 6 layers at 1e-4, each against session 6's top 2 at 2e-4
    .venv/bin/python -u -m benchmarks.text_minilm_validation --dataset banking77 \
        --configs '[{"trainable_layers": [0, 4], "fine_tune_epochs": 4, "fine_tune_learning_rate": 2e-4}]'
    .venv/bin/python -u -m benchmarks.text_minilm_validation --dataset banking77 \
        --configs '[{"trainable_layers": [0, 2], "fine_tune_epochs": 4, "fine_tune_learning_rate": 2e-4, "label_smoothing": 0.1}]'
    .venv/bin/python -u -m benchmarks.text_minilm_validation --dataset banking77 \
        --configs '[{"trainable_layers": [0, 2], "fine_tune_epochs": 4, "fine_tune_learning_rate": 2e-4, "fine_tune_schedule": "linear"}]'
    .venv/bin/python -u -m benchmarks.text_minilm_validation --dataset banking77 \
        --configs '[{"trainable_layers": [0, 6], "fine_tune_epochs": 4, "fine_tune_learning_rate": 1e-4}]'
    .venv/bin/python -u -m benchmarks.text_minilm_validation --dataset banking77 \
        --configs '[{"trainable_layers": [0, 6], "fine_tune_epochs": 6, "fine_tune_learning_rate": 1e-4}]'

Each config is one ``intent.train(encoder="minilm", wide=True, seed=42)``
call on the benchmark's train/validation split (``"oos": true``: CLINC150's
``oos_train`` as ``out_of_scope_train``; other keys are ``intent.train``
options). Keras prints the validation accuracy of every epoch (``-u``: as it
goes); one ``RESULT`` line per config gives the validation accuracy of each
``trainable_layers`` candidate and, on CLINC150, the rule A / rule B
in-scope accuracy and OOS recall on ``val`` + ``oos_val`` (rule B's
threshold comes from in-scope ``val`` alone, as in ``text_clinc150``; rule A's
is the model's calibrated one, which saw ``oos_val``).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import ecomtf  # noqa: F401  (tf.keras -> tf_keras)
from benchmarks.common import shared_data
from benchmarks.text_clinc150 import rule_b


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["clinc150", "banking77"], default="clinc150")
    parser.add_argument("--configs", default='[{"trainable_layers": [0, 2], "fine_tune_epochs": 4}]',
                        help="JSON list of intent.train options; \"oos\": true trains on oos_train")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--token-lengths", action="store_true",
                        help="only print the token-length distribution of train and validation (with "
                             "[CLS]/[SEP], MiniLM's in-graph tokenizer, no cut): does max_length 128 cut any query?")
    args = parser.parse_args(argv)

    from ecomtf import text
    from ecomtf.recipes import intent
    from ecomtf.text import metrics
    from ecomtf.text.metrics import softmax

    if args.dataset == "clinc150":
        s = text.load_clinc150(shared_data("clinc150"))
        train, val = s["train"], s["val"]
        oos_val, oos_train = s["oos_val"].texts, s["oos_train"].texts
    else:
        s = text.load_banking77(shared_data("banking77"))
        train, val = s["train"].split(intent.VAL_FRACTION, seed=0)  # the benchmark's split
        oos_val = oos_train = None
    if args.token_lengths:
        import tensorflow as tf

        from ecomtf.layers.bert_sentence_encoder import BertSentenceEncoder

        enc = BertSentenceEncoder(max_length=512)  # the checkpoint's longest: nothing cut
        for part, data in (("train", train), ("val", val)):
            n = np.concatenate([tf.reduce_sum(enc.token_ids(tf.constant(data.texts[i:i + 4096]))[1], 1).numpy()
                                for i in range(0, len(data), 4096)])
            print("TOKENS", json.dumps({"dataset": args.dataset, "part": part, "rows": len(n),
                                        "median": float(np.median(n)), "p99": float(np.percentile(n, 99)),
                                        "max": int(n.max()), "over_128": int((n > 128).sum())}), flush=True)
        return
    for cfg in json.loads(args.configs):
        cfg = dict(cfg)
        use_oos = cfg.pop("oos", False)
        if use_oos and oos_train is None:
            parser.error("\"oos\": true needs --dataset clinc150")
        t0 = time.perf_counter()
        model, info = intent.train(train, val, out_of_scope_val=oos_val, encoder="minilm", epochs=30,
                                   seed=args.seed, patience=4, verbose=2, wide=True,
                                   out_of_scope_train=oos_train if use_oos else None, **cfg)
        out = {"config": cfg, "oos_train": use_oos, "wall_s": round(time.perf_counter() - t0), **{
            k: info[k] for k in ("trainable_layers", "val_accuracy_by_trainable_layers",
                                 "seconds_by_trainable_layers", "epochs_run")}}
        if oos_val is not None:
            start = info["cached_from_layer"]
            pv = softmax(intent.cached_logits(model, val.texts, start) / model.temperature)
            po = softmax(intent.cached_logits(model, oos_val, start) / model.temperature)
            correct = np.asarray(model.intents)[pv.argmax(1)] == val.labels
            for rule, threshold in (("A", model.threshold), ("B", rule_b(pv.max(1), correct))):
                m = metrics.out_of_scope_metrics(pv.max(1), correct, po.max(1), threshold)
                out[f"val_rule_{rule}_in_scope_oos_recall"] = [round(m["in_scope_accuracy"], 4),
                                                               round(m["out_of_scope_recall"], 4)]
            out["temperature"] = model.temperature
        print("RESULT", json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
