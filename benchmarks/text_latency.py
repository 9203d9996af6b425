"""Latency of the exported intent model, in-process, at batch 1 and 64.

    .venv/bin/python -m benchmarks.text_latency

Trains an IntentClassifier on Banking77 briefly (latency does not depend on
how well it is trained), exports it with ``save_for_serving`` and converts it
to TFLite, then times in this one process, on the same Banking77 test
queries:

- the exported SavedModel's ``serving_default`` (raw text -> intent, score,
  out-of-scope flag, probabilities), as TF Serving would run it;
- the bare encoder (the same normalization, tokenization and pooling as a
  ``tf.function``, without head, softmax or label lookup);
- the TF Text tokenization alone (FastBertNormalizer + FastWordpieceTokenizer);
- the ``.tflite`` model under LiteRT with the TF Text kernels;
- the scikit-learn TF-IDF + logistic regression baseline's ``predict_proba``;
- with ``--members N``, the exported N-member ensemble too, with ``--wide``
  the wide & deep model, with ``--transformer`` the wide n-gram model and
  a Transformer averaged in one ``IntentEnsemble``, and with ``--checkpoint
  DIR`` a model fine-tuned from that local pretrained checkpoint, with
  ``--minilm`` an all-MiniLM-L6-v2 intent model (head on the frozen encoder,
  trained on a stratified 15% of Banking77 train: latency does not depend on
  it) as float and as dynamic-range quantized TFLite (the other rows stay the
  single model's, so each variant's cost is a ratio in one process).

Each figure is the median over repeated calls; ratios are to the bare
encoder measured in the same process (machine load cancels out).
"""

from __future__ import annotations

import argparse
import datetime
import pathlib
import tempfile
import time

import numpy as np

import ecomtf  # noqa: F401  (tf.keras -> tf_keras)
from benchmarks.common import machine
from benchmarks.common import print_table
from benchmarks.common import shared_data
from benchmarks.text_common import tfidf_logistic_regression


def median_ms(fn, batches, repeats: int) -> float:
    fn(batches[0])  # warm up (tracing, allocation)
    times = []
    for i in range(repeats):
        b = batches[i % len(batches)]
        t = time.perf_counter()
        fn(b)
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--members", type=int, default=1, help="also time an ensemble of this many")
    parser.add_argument("--wide", action="store_true", help="also time the wide & deep model")
    parser.add_argument("--transformer", action="store_true",
                        help="also time the wide n-gram + Transformer ensemble")
    parser.add_argument("--checkpoint", default=None,
                        help="also time a model fine-tuned from this local pretrained checkpoint")
    parser.add_argument("--minilm", action="store_true",
                        help="also time an all-MiniLM-L6-v2 intent model (float and dynamic-range TFLite)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from ecomtf import text
    from ecomtf.export import litert_interpreter
    from ecomtf.export import save_for_serving
    from ecomtf.export import to_tflite
    from ecomtf.export.intent_classifier_servable import IntentClassifierServable
    from ecomtf.recipes import intent

    print(f"Intent model latency, {datetime.date.today()}, {machine()}")
    splits = text.load_banking77(shared_data("banking77"))
    train, test = splits["train"], splits["test"]
    model, info = intent.train(train, epochs=args.epochs, verbose=0)
    print(f"model: {info}; encoder features: {model.encoder.feature_count:,}")
    tmp = pathlib.Path(tempfile.mkdtemp())
    servable = IntentClassifierServable(model, examples=test.texts[:4])
    with intent.without_layer_traces():
        path = save_for_serving(servable, tmp / "intent")
        lite_path = to_tflite(servable, tmp / "intent.tflite")
    serving = tf.saved_model.load(str(path)).signatures["serving_default"]
    # Variants timed next to the single model: name -> (SavedModel signature, LiteRT runner, file).
    variants = {}
    options = {f"{args.members}-member ensemble": {"members": args.members}} if args.members > 1 else {}
    if args.wide:
        options["wide & deep"] = {"wide": True}
    if args.transformer:
        options["wide n-gram + Transformer"] = {"encoder": "ngram+transformer", "wide": True}
    if args.checkpoint:
        options["pretrained checkpoint"] = {"encoder": "pretrained", "checkpoint": args.checkpoint}
    if args.minilm:
        options["MiniLM"] = {"encoder": "minilm", "trainable_layers": (0,), "max_length": 128}
    for name, option in options.items():
        data = train.split(0.15, seed=0)[1] if option.get("encoder") == "minilm" else train
        other, _ = intent.train(data, epochs=args.epochs, verbose=0, **option)
        other_servable = IntentClassifierServable(other, examples=test.texts[:4])
        folder = name.replace(" ", "_").replace("&", "and").replace("+", "and")
        with intent.without_layer_traces():
            other_path = save_for_serving(other_servable, tmp / folder)
            other_lite = to_tflite(other_servable, tmp / f"{folder}.tflite")
            quantized = (to_tflite(other_servable, tmp / f"{folder}_dynamic.tflite", quantization="dynamic")
                         if option.get("encoder") == "minilm" else None)
        variants[name] = (tf.saved_model.load(str(other_path)).signatures["serving_default"],
                          litert_interpreter(other_lite, num_threads=2).get_signature_runner("mobile"),
                          other_lite)
        if quantized is not None:
            variants[f"{name} dynamic-range"] = (
                None, litert_interpreter(quantized, num_threads=2).get_signature_runner("mobile"), quantized)
    encoder = tf.function(lambda t: model.encoder(t, training=False),
                          input_signature=[tf.TensorSpec([None], tf.string)])
    tokenizer = tf.function(lambda t: model.encoder.tokenizer(t).flat_values,
                            input_signature=[tf.TensorSpec([None], tf.string)])
    runner = litert_interpreter(lite_path, num_threads=2).get_signature_runner("mobile")
    lr = tfidf_logistic_regression(train.texts, train.labels, C=10)

    rng = np.random.default_rng(0)
    rows = []
    for batch in (1, 64):
        texts = [test.texts[rng.choice(len(test), batch, replace=False)] for _ in range(32)]
        tensors = [tf.constant(t) for t in texts]
        objects = [t.astype(object) for t in texts]
        repeats = args.repeats if batch == 1 else max(20, args.repeats // 4)
        figures = {
            "exported SavedModel serving_default": median_ms(lambda b: serving(text=b), tensors, repeats),
            "bare encoder (tf.function)": median_ms(encoder, tensors, repeats),
            "TF Text normalize + tokenize only": median_ms(tokenizer, tensors, repeats),
            "TFLite (LiteRT, 2 threads)": median_ms(lambda b: runner(text=b), objects, repeats),
            "TF-IDF + LR predict_proba (sklearn)": median_ms(lambda b: lr.predict_proba(list(b)),
                                                            [list(t) for t in texts], repeats),
        }
        for name, (signature, lite_runner, _) in variants.items():
            if signature is not None:
                figures[f"exported {name} serving_default"] = median_ms(
                    lambda b: signature(text=b), tensors, repeats)
            figures[f"{name} TFLite (LiteRT, 2 threads)"] = median_ms(
                lambda b: lite_runner(text=b), objects, repeats)
        base = figures["bare encoder (tf.function)"]
        for name, ms in figures.items():
            rows.append({"batch": batch, "what": name, "median_ms": round(ms, 3),
                         "ms_per_query": round(ms / batch, 4), "vs_bare_encoder": round(ms / base, 2)})
    print_table("Latency, in-process, median per call", rows)
    print(f"\nTFLite file: {lite_path.stat().st_size / 1024:.0f} KiB; SavedModel saved_model.pb: "
          f"{(path / 'saved_model.pb').stat().st_size / 1024:.0f} KiB")
    for name, (_, _, lite_file) in variants.items():
        print(f"{name} TFLite file: {lite_file.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
