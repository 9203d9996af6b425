"""Purchase prediction: event log or session table -> trained PurchasePredictor.

Three lines of Python do what ``ecomtf train purchase`` does::

    data = purchase.events_to_examples(log, max_length=20)
    model, metrics = purchase.train(data.train, data.test)
    ecomtf.export.save_for_serving(model, "export/purchase")
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import time

import numpy as np

from ecomtf import recipes

NAME = "purchase"
HELP = "purchase predictor (event log sequences and/or session features -> P(purchase))"


@dataclasses.dataclass
class Split:
    """Features and labels of one split (and the example ids, when known)."""

    features: dict
    labels: np.ndarray
    ids: np.ndarray | None = None

    def __len__(self):
        return len(self.labels)

    def take(self, index) -> "Split":
        return Split(
            {k: v[index] for k, v in self.features.items()},
            self.labels[index],
            None if self.ids is None else self.ids[index],
        )


@dataclasses.dataclass
class PurchaseData:
    train: Split
    test: Split
    reports: list
    description: str


# === Data ===
def events_to_examples(
    log,
    *,
    max_length: int = 20,
    gap_minutes: float = 30.0,
    test_from_ms: int | None = None,
    test_fraction: float = 0.3,
    seed: int = 42,
    purchase_event: str = "purchase",
) -> PurchaseData:
    """Sessions of an event log -> one example per session, cut before its first purchase.

    Splits by time: sessions starting at or after ``test_from_ms`` (default:
    the time that leaves ``test_fraction`` of sessions for testing) are the
    test set, so no future behaviour leaks into training.
    """
    from ecomtf.data import sessionize
    from ecomtf.data import session_purchase_examples

    sessions = sessionize(log, gap_seconds=gap_minutes * 60)
    # Prices are a purchase signal when the log has them (per-step numeric).
    extra = ("price",) if log.price is not None else ()
    ex = session_purchase_examples(
        sessions, max_length=max_length, purchase_event=purchase_event, extra_columns=extra
    )
    if test_from_ms is None:
        test_from_ms = int(np.quantile(ex.time, 1.0 - test_fraction))
    is_test = ex.time >= test_from_ms
    feats = dict(ex.features)
    labels = np.asarray(ex.labels, np.float32)
    reports = [r for r in [getattr(ex, "report", None)] if r is not None]
    whole = Split(feats, labels, ex.session_id)
    data = PurchaseData(
        train=whole.take(~is_test),
        test=whole.take(is_test),
        reports=reports,
        description=(
            f"{len(labels):,} sessions ({labels.mean():.1%} with a purchase); test = sessions from "
            f"{np.datetime64(int(test_from_ms), 'ms')} on"
        ),
    )
    _check_both_classes(data)
    return data


def table_to_examples(features: dict, labels, *, test_fraction=0.3, seed=42) -> PurchaseData:
    """One row per session (e.g. Online Shoppers): stratified split with a seed."""
    from ecomtf.data import stratified_split

    labels = np.asarray(labels, np.float32)
    train_idx, test_idx = stratified_split(labels, test_fraction, seed)
    whole = Split(dict(features), labels)
    data = PurchaseData(
        whole.take(train_idx), whole.take(test_idx), [],
        f"{len(labels):,} rows ({labels.mean():.1%} positive); stratified "
        f"{1 - test_fraction:.0%}/{test_fraction:.0%} split, seed {seed}",
    )
    _check_both_classes(data)
    return data


def _check_both_classes(data: PurchaseData):
    for name, split in (("train", data.train), ("test", data.test)):
        if len(split) == 0 or split.labels.min() == split.labels.max():
            raise ValueError(
                f"the {name} split has {len(split)} examples and only one class; "
                "a purchase model needs both purchases and non-purchases"
            )


# === Training ===
def train(
    train_split: Split,
    test_split: Split | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 3e-3,
    balance: bool = False,
    item2vec: bool = False,
    strategy=None,
    seed: int = 42,
    verbose: int = 2,
    baselines: bool = True,
    **model_kwargs,
):
    """Trains a PurchasePredictor; returns ``(model, metrics on test_split)``.

    With ``baselines`` the metrics also hold the simple baselines' test AUC
    on the same split (``metrics["baselines"]``, see ``evaluate_baselines``).

    Validation for early stopping is a seeded 10% of the training split, never
    the test split. ``balance`` weights classes inversely to their frequency
    (probabilities are then no longer calibrated).
    """
    import tensorflow as tf

    from ecomtf.data import make_dataset
    from ecomtf.evaluation.classification_metrics import binary_report
    from ecomtf.models.purchase_predictor import PurchasePredictor

    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train_split))
    n_val = max(1, len(order) // 10)
    fit_split, val_split = train_split.take(order[n_val:]), train_split.take(order[:n_val])

    strategy = strategy or tf.distribute.get_strategy()
    # The wide part on prefix counts: never below a count rule (a no-op without sequences).
    model_kwargs.setdefault("wide", True)
    with strategy.scope():
        model = PurchasePredictor.from_dataset(fit_split.features, fit_split.labels, **model_kwargs)
        if model.wide:
            model.fit_wide(fit_split.features, fit_split.labels)
        if item2vec and model.sequence_length:
            from ecomtf.models.item2vec import Item2Vec

            vectors = Item2Vec.fit_sequences(
                fit_split.features["item_id"], dim=model.item_dim, seed=seed
            )
            hits = model.item_vectors(vectors)
            if verbose:
                print(f"item2vec warm start: {hits:,} of {len(model.item_vocabulary):,} items")
        model.compile(
            tf.keras.optimizers.Adam(learning_rate),
            tf.keras.losses.BinaryCrossentropy(),
            metrics=[tf.keras.metrics.AUC(name="auc")],
        )
    class_weight = None
    if balance:
        p = float(fit_split.labels.mean())
        class_weight = {0: 0.5 / (1 - p), 1: 0.5 / p}
    train_ds = make_dataset(fit_split.features, fit_split.labels, batch_size=batch_size,
                            shuffle=True, seed=seed)
    val_ds = make_dataset(val_split.features, val_split.labels, batch_size=1024)
    stop = tf.keras.callbacks.EarlyStopping(
        "val_auc", mode="max", patience=3, restore_best_weights=True
    )
    started = time.perf_counter()
    model.fit(train_ds, validation_data=val_ds, epochs=epochs, class_weight=class_weight,
              callbacks=[stop], verbose=verbose)
    metrics = {"train_seconds": round(time.perf_counter() - started, 1)}
    if test_split is not None:
        p = predict(model, test_split.features)
        # The F1 threshold is chosen on the validation split, then scored on test.
        validation = (val_split.labels, predict(model, val_split.features))
        metrics.update(binary_report(test_split.labels, p, validation=validation))
        if baselines:
            metrics["baselines"] = evaluate_baselines(train_split, test_split)
    return model, metrics


def evaluate_baselines(train_split: Split, test_split: Split) -> dict:
    """Test AUC of the simple baselines, fitted on ``train_split`` (same rows as the model).

    Count rules on the prefix (per event type: count and recency; distinct
    items; events), the count rule with the best *training* AUC, and a
    logistic regression on the counts (numpy; see
    ``ecomtf.evaluation.purchase_baselines``). Session tables get a logistic
    regression on their numeric columns.

    Returns:
        ``{name: {"auc": ...}}``; ``"best count rule"`` also names the rule.
    """
    from ecomtf.evaluation.classification_metrics import roc_auc
    from ecomtf.evaluation.purchase_baselines import purchase_baselines

    scores = purchase_baselines(train_split.features, train_split.labels, test_split.features)
    chosen = scores.pop("_chosen rule", None)
    out = {name: {"auc": roc_auc(test_split.labels, s)} for name, s in scores.items()}
    if chosen is not None:
        out["best count rule"]["rule"] = chosen
    return out


def predict(model, features: dict, batch_size: int = 2048) -> np.ndarray:
    """P(purchase) for raw features, as a 1-D array."""
    from ecomtf.data import make_dataset

    return model.predict(make_dataset(features, batch_size=batch_size), verbose=0)[:, 0]


# === Run directories ===
def save_run(run_dir, model, metrics: dict, **info) -> pathlib.Path:
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(run_dir / "model.keras")
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    recipes.write_run_info(run_dir, NAME, **info)
    return run_dir


def load_run(run_dir):
    import tensorflow as tf

    import ecomtf.models.purchase_predictor  # noqa: F401  (registers the class)

    return tf.keras.models.load_model(pathlib.Path(run_dir) / "model.keras")


# === CLI ===
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from ecomtf.cli_args import add_event_log_arguments

    src = parser.add_argument_group("data (one of)")
    src.add_argument("--events", help="event log CSV/TSV (gzip ok); map columns with the flags below")
    src.add_argument("--sessions", help="one-row-per-session table with a label column")
    src.add_argument("--dataset", choices=["simulated", "online-shoppers"],
                     help="built-in data: the simulated shop or the bundled UCI Online Shoppers table")
    src.add_argument("--prepared", metavar="DIR",
                     help="shards written by `ecomtf prepare purchase` (streamed; for big logs)")
    add_event_log_arguments(parser)
    tab = parser.add_argument_group("session table (--sessions)")
    tab.add_argument("--label-col", default="label", help="0/1 or true/false purchase label column")
    tab.add_argument("--numeric-cols", default="", help="comma-separated numeric feature columns")
    tab.add_argument("--categorical-cols", default="", help="comma-separated categorical columns")
    m = parser.add_argument_group("model and training")
    m.add_argument("--max-length", type=int, default=20, help="events per sequence (default 20)")
    m.add_argument("--gap-minutes", type=float, default=30, help="session inactivity gap (default 30)")
    m.add_argument("--test-fraction", type=float, default=0.3)
    m.add_argument("--test-from", help="time split: sessions from this ISO date on are the test set")
    m.add_argument("--epochs", type=int, default=10)
    m.add_argument("--batch-size", type=int, default=256)
    m.add_argument("--learning-rate", type=float, default=3e-3)
    m.add_argument("--lstm-units", type=int, default=64)
    m.add_argument("--item-dim", type=int, default=32)
    m.add_argument("--hidden-units", default="64", help="comma-separated MLP sizes")
    m.add_argument("--balance", action="store_true", help="weight classes by inverse frequency")
    m.add_argument("--no-wide", action="store_true",
                   help="no wide part on prefix counts and recency per event type")
    m.add_argument("--item2vec", action="store_true",
                   help="warm-start item embeddings from skip-gram vectors of the training sequences")
    m.add_argument("--seed", type=int, default=42)
    m.add_argument("--max-steps", type=int, default=None,
                   help="with --prepared: training steps (batches) to run (default 1000)")
    m.add_argument("--backup-dir", default=None,
                   help="with --prepared: BackupAndRestore directory (resume after a worker dies)")
    m.add_argument("--backup-every", type=int, default=100, help="steps between backups")
    m.add_argument("--out", default="runs/purchase", help="run directory to write (default runs/purchase)")


def load_data_from_args(args) -> PurchaseData:
    from ecomtf.cli_args import read_event_log_from_args
    from ecomtf.cli_args import test_from_ms_from_args
    from ecomtf.data.table_reader import read_table

    chosen = [x for x in (args.events, args.sessions, args.dataset) if x]
    if len(chosen) != 1:
        raise SystemExit("give exactly one of --events, --sessions or --dataset")
    if args.dataset == "simulated":
        from ecomtf.datasets import simulate_shop

        shop = simulate_shop(seed=args.seed)
        return events_to_examples(shop.events, max_length=args.max_length,
                                  gap_minutes=args.gap_minutes, test_fraction=args.test_fraction)
    if args.dataset == "online-shoppers":
        return online_shoppers_examples(seed=args.seed, test_fraction=args.test_fraction)
    if args.sessions:
        numeric = [c for c in args.numeric_cols.split(",") if c]
        categorical = [c for c in args.categorical_cols.split(",") if c]
        feats, labels, report = read_table(args.sessions, label=args.label_col, numeric=numeric,
                                           categorical=categorical, strict=args.strict)
        print(report)
        data = table_to_examples(feats, labels, test_fraction=args.test_fraction, seed=args.seed)
        data.reports.append(report)
        return data
    log, report = read_event_log_from_args(args)
    print(report)
    test_from = test_from_ms_from_args(args)
    data = events_to_examples(log, max_length=args.max_length, gap_minutes=args.gap_minutes,
                              test_from_ms=test_from, test_fraction=args.test_fraction)
    data.reports.insert(0, report)
    return data


def online_shoppers_examples(path=None, seed=42, test_fraction=0.3) -> PurchaseData:
    """The UCI Online Shoppers table (bundled copy by default), split 70/30."""
    from ecomtf.datasets import load_online_shoppers

    shoppers = load_online_shoppers(path)
    feats = {**shoppers.numeric, **shoppers.categorical}
    data = table_to_examples(feats, shoppers.labels, test_fraction=test_fraction, seed=seed)
    data.reports.append(shoppers.report)
    return data


def train_from_args(args) -> pathlib.Path:
    if args.prepared:
        from ecomtf.recipes.prepared import train_prepared_from_args

        return train_prepared_from_args(args)
    data = load_data_from_args(args)
    print(f"data: {data.description}; train {len(data.train):,}, test {len(data.test):,}")
    model, metrics = train(
        data.train, data.test, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, balance=args.balance, item2vec=args.item2vec,
        seed=args.seed, lstm_units=args.lstm_units, item_dim=args.item_dim,
        hidden_units=[int(u) for u in args.hidden_units.split(",") if u],
        wide=not args.no_wide,
    )
    run_dir = save_run(args.out, model, metrics, data=data.description)
    _print_summary(metrics, run_dir)
    return run_dir


def _print_summary(metrics, run_dir):
    from ecomtf.evaluation.classification_metrics import format_report

    print(format_report({k: v for k, v in metrics.items() if k != "baselines"},
                        "test metrics (precision/recall/f1 at threshold 0.5; *_at_val_threshold "
                        "at the F1-best threshold chosen on the validation split):"))
    print(baseline_table(metrics))
    print(f"run saved to {run_dir}/  (export: ecomtf export --run {run_dir} --out export/purchase)")


def baseline_table(metrics: dict) -> str:
    """Test AUC of the model next to the baselines' (same split, same metric code)."""
    bases = metrics.get("baselines") or {}
    if "auc" not in metrics:
        return "(no test figures)"
    width = max(len(n) for n in ["ours", *bases])
    lines = ["test AUC, same split:", f"  {'ours':<{width}}  {metrics['auc']:.4f}"]
    for name, m in bases.items():
        note = f"  ({m['rule']})" if "rule" in m else ""
        lines.append(f"  {name:<{width}}  {m['auc']:.4f}{note}")
    return "\n".join(lines)


# === Demo ===
def demo(out_dir, shop) -> dict:
    """Trains on the simulated shop and the bundled Online Shoppers table, exports both."""
    from ecomtf.export import run_in_fresh_process
    from ecomtf.export import run_tflite
    from ecomtf.export import save_for_serving
    from ecomtf.export import to_tflite
    from ecomtf.export.purchase_predictor_servable import PurchasePredictorServable
    from ecomtf.evaluation.classification_metrics import roc_auc

    out_dir = pathlib.Path(out_dir)
    summary = {}
    data = events_to_examples(shop.events, max_length=20)
    print(f"simulated shop: {data.description}")
    model, metrics = train(data.train, data.test, epochs=6, lstm_units=32, item_dim=16,
                           hidden_units=[32], verbose=2)
    examples = {k: v[:8] for k, v in data.test.features.items()}
    servable = PurchasePredictorServable(model, examples=examples)
    path = save_for_serving(servable, out_dir / "purchase")
    answer = run_in_fresh_process(path, examples)["purchase_probability"]
    lite = to_tflite(servable, out_dir / "tflite" / "purchase.tflite")
    lite_p = run_tflite(lite, data.test.features)["purchase_probability"]
    summary["purchase"] = {
        "saved_model": str(path),
        "tflite": str(lite),
        "test_auc": round(metrics["auc"], 4),
        "bayes_optimal_auc": round(float(shop.bayes_auc), 4),
        "tflite_test_auc": round(roc_auc(data.test.labels, lite_p), 4),
        "example_answer": [round(float(x), 3) for x in answer[:4]],
    }

    shoppers = online_shoppers_examples()
    print(f"online shoppers: {shoppers.description}")
    model2, metrics2 = train(shoppers.train, shoppers.test, epochs=15, hidden_units=[64, 32], verbose=2)
    path2 = save_for_serving(model2, out_dir / "purchase_sessions")
    lite2 = to_tflite(model2, out_dir / "tflite" / "purchase_sessions.tflite")
    summary["purchase_sessions"] = {
        "saved_model": str(path2),
        "tflite": str(lite2),
        "test_auc": round(metrics2["auc"], 4),
        "test_f1": round(metrics2["f1"], 4),
    }
    return summary
