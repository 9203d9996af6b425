"""Two-tower retrieval: event log + catalog -> trained TwoTowerRetrieval -> top-k export.

Three lines of Python do what ``ecomtf train retrieval`` does::

    data = retrieval.prepare(log, catalog, item_categorical=["category"], item_text=["title"])
    model, metrics = retrieval.train(data)
    ecomtf.export.save_for_serving(TwoTowerServable(model), "export/retrieval")

``ecomtf export-index --run R --catalog new_catalog.csv --out export/retrieval``
re-embeds a new catalog with the trained candidate tower and writes it as the
next version, without retraining.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import time
from typing import Sequence

import numpy as np

from ecomtf import recipes

NAME = "retrieval"
HELP = "two-tower retrieval recommender (event log + catalog -> top-k items for a user)"
MODEL_DIR = "retrieval"


@dataclasses.dataclass
class RetrievalData:
    """Train/test retrieval examples, the candidate catalog, and which columns are which."""

    train: dict
    test: dict
    candidates: dict
    features: dict
    description: str


# === Data ===
def prepare(
    log,
    catalog: dict | None = None,
    users: dict | None = None,
    *,
    item_categorical: Sequence[str] = (),
    item_numeric: Sequence[str] = (),
    item_text: Sequence[str] = (),
    user_categorical: Sequence[str] = (),
    user_numeric: Sequence[str] = (),
    history_length: int = 10,
    use_time: bool = True,
    positive_event_types: Sequence[str] | None = None,
    split: str = "time",
    test_fraction: float = 0.1,
    seed: int = 42,
    catalog_item_id: str = "item_id",
    users_user_id: str = "user_id",
) -> RetrievalData:
    """Event log (+ catalog, + user table) -> train/test retrieval examples.

    Args:
        log: an ``EventLog``.
        catalog: item table (columns by name); default: the log's item ids
            with no attributes.
        users: user table (columns by name), optional.
        item_categorical, item_numeric, item_text: catalog columns by role.
        user_categorical, user_numeric: user-table columns by role.
        history_length: recent items in each query (0: none).
        use_time: give the query tower the event time.
        positive_event_types: event types that are training targets
            (default all; recent items always use every event).
        split: ``"time"`` (test on the latest ``test_fraction``) or
            ``"random"`` (seeded).
        test_fraction: share of examples to test on.
        seed: split seed.
    """
    from ecomtf.data import retrieval_pipeline as rp

    item_cols = [*item_categorical, *item_numeric, *item_text]
    user_cols = [*user_categorical, *user_numeric]
    if catalog is None:
        catalog = {catalog_item_id: np.unique(np.asarray(log.item_id).astype(str))}
    candidates = rp.catalog_features(catalog, item_cols, item_id=catalog_item_id)
    examples = rp.retrieval_examples(
        log,
        catalog=candidates,
        item_columns=item_cols,
        users=users if user_cols else None,
        user_columns=user_cols,
        history_length=history_length,
        positive_event_types=positive_event_types,
        users_user_id=users_user_id,
    )
    if split == "time":
        train, test = rp.split_by_time(examples, test_fraction)
    elif split == "random":
        train, test = rp.split_at_random(examples, test_fraction, seed=seed)
    else:
        raise ValueError(f"split must be 'time' or 'random', got {split!r}")
    train = rp.add_sampling_probability(train)
    test = rp.add_sampling_probability(test, rp.item_frequencies(train[rp.ITEM_ID]))
    missing = int((~np.isin(examples[rp.ITEM_ID], candidates[rp.ITEM_ID])).sum())
    features = {
        "item_categorical": list(item_categorical),
        "item_numeric": list(item_numeric),
        "item_text": list(item_text),
        "user_categorical": list(user_categorical),
        "user_numeric": list(user_numeric),
        "timestamp": rp.TIMESTAMP if use_time else None,
        "history": rp.HISTORY if history_length else None,
    }
    n_items = len(candidates[rp.ITEM_ID])
    description = (
        f"{len(examples[rp.ITEM_ID]):,} interactions of {len(np.unique(examples[rp.USER_ID])):,} users "
        f"on a catalog of {n_items:,} items; {split} split, test {test_fraction:.0%}"
        + (f"; {missing:,} interactions with items missing from the catalog" if missing else "")
    )
    return RetrievalData(train, test, candidates, features, description)


# === Training ===
def train(
    data: RetrievalData,
    *,
    epochs: int = 20,
    validation_fraction: float = 0.1,
    batch_size: int = 1024,
    learning_rate: float = 0.01,
    output_dim: int = 32,
    temperature: float | None = 0.1,
    logq_correction: float = 1.0,
    remove_accidental_hits: bool = True,
    num_hard_negatives: int | None = None,
    hidden_units: Sequence[int] = (),
    num_time_buckets: int = 8,
    ngram_width: int = 1,
    strategy=None,
    seed: int = 42,
    verbose: int = 2,
    max_seconds: float | None = None,
):
    """Trains a TwoTowerRetrieval; returns ``(model, metrics on data.test)``.

    Metrics are full-catalog hit rates (= recall) and NDCG at 1..100, as
    FactorizedTopK counts them and with the user's training items excluded,
    next to a popularity baseline on the same split.

    Two-tower models overfit interaction data within a few epochs, so a
    seeded ``validation_fraction`` of the training examples is held out and
    training stops when its in-batch softmax loss stops falling (the best
    epoch's weights are kept). The test split is never used for that.

    Args:
        epochs: at most this many epochs.
        validation_fraction: training examples held out for early stopping
            (0: train ``epochs`` epochs on everything).
        max_seconds: stop after the epoch that crosses this wall time.
    """
    import tensorflow as tf

    from ecomtf.data import retrieval_pipeline as rp
    from ecomtf.models.two_tower_retrieval import TwoTowerRetrieval
    from ecomtf.evaluation.retrieval_metrics import evaluate_popularity
    from ecomtf.evaluation.retrieval_metrics import evaluate_recent_items
    from ecomtf.evaluation.retrieval_metrics import evaluate_retrieval

    tf.keras.utils.set_random_seed(seed)
    strategy = strategy or tf.distribute.get_strategy()
    f = data.features
    normalize = temperature is not None
    with strategy.scope():
        model = TwoTowerRetrieval.from_dataset(
            data.train,
            data.candidates,
            user_categorical=f["user_categorical"],
            user_numeric=f["user_numeric"],
            timestamp=f["timestamp"],
            history=f["history"],
            item_categorical=f["item_categorical"],
            item_numeric=f["item_numeric"],
            item_text=f["item_text"],
            output_dim=output_dim,
            feature_dim=max(output_dim // 2, 4),
            query_hidden_units=hidden_units,
            candidate_hidden_units=hidden_units,
            normalize=normalize,
            temperature=temperature,
            logq_correction=logq_correction,
            remove_accidental_hits=remove_accidental_hits,
            num_hard_negatives=num_hard_negatives,
            num_time_buckets=num_time_buckets if f["timestamp"] else 0,
            ngram_width=ngram_width,
        )
        model.compile(tf.keras.optimizers.Adam(learning_rate))
    fit_rows, validation = data.train, None
    callbacks = [_time_limit(max_seconds)] if max_seconds else []
    if validation_fraction:
        fit_rows, val_rows = rp.split_at_random(data.train, validation_fraction, seed=seed)
        validation = rp.make_retrieval_dataset(val_rows, batch_size)
        callbacks.append(tf.keras.callbacks.EarlyStopping(
            "val_loss", patience=1, restore_best_weights=True))
    dataset = rp.make_retrieval_dataset(fit_rows, batch_size, shuffle=True, seed=seed)
    started = time.perf_counter()
    history = model.fit(dataset, validation_data=validation, epochs=epochs, verbose=verbose,
                        callbacks=callbacks)
    metrics = {
        "train_seconds": round(time.perf_counter() - started, 1),
        "epochs": len(history.history["loss"]),
    }
    model.set_candidates(data.candidates)
    seen = rp.seen_items(data.train)
    metrics.update(evaluate_retrieval(model, data.test, data.candidates, seen=seen))
    popularity = evaluate_popularity(data.train[rp.ITEM_ID], data.test, data.candidates, seen=seen)
    metrics.update({f"popularity_{k}": v for k, v in popularity.items() if k != "examples"})
    baselines = {"popularity": {k: v for k, v in popularity.items() if k != "examples"}}
    if f["history"]:
        recent = evaluate_recent_items(data.train[rp.ITEM_ID], data.test, data.candidates, seen=seen,
                                       history=f["history"])
        baselines["recent items, then popularity"] = {k: v for k, v in recent.items()
                                                       if k != "examples"}
    metrics["baselines"] = baselines
    return model, metrics


def _time_limit(seconds: float):
    """A Keras callback that stops training after the epoch that crosses ``seconds``."""
    import tensorflow as tf

    class TimeLimit(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if time.perf_counter() - self.start > seconds:
                self.model.stop_training = True

    return TimeLimit()


# === Run directories ===
def save_run(run_dir, model, metrics: dict, **info) -> pathlib.Path:
    """Writes config, weights, the candidate catalog and metrics to ``run_dir``."""
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "model.json").write_text(json.dumps(model.get_config()))
    model.save_weights(str(run_dir / "weights" / "model"))
    if model.candidates is not None:
        np.savez(run_dir / "candidates.npz", **{k: _portable(v) for k, v in model.candidates.items()})
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    recipes.write_run_info(run_dir, NAME, **info)
    return run_dir


def load_run(run_dir):
    """The trained TwoTowerRetrieval of a run, with its catalog set as candidates.

    ``ecomtf.export.save_for_serving(load_run(R), ...)`` exports it with the
    run's catalog (``TwoTowerServable``).
    """
    import ecomtf.export.two_tower_servable  # noqa: F401  (registers the servable)
    from ecomtf.models.two_tower_retrieval import TwoTowerRetrieval

    run_dir = pathlib.Path(run_dir)
    model = TwoTowerRetrieval.from_config(json.loads((run_dir / "model.json").read_text()))
    model.build_towers()
    model.load_weights(str(run_dir / "weights" / "model")).expect_partial()
    path = run_dir / "candidates.npz"
    if path.is_file():
        with np.load(path) as z:
            model.set_candidates({k: z[k] for k in z.files})
    return model


def _portable(values) -> np.ndarray:
    arr = np.asarray(values)
    return arr.astype(str) if arr.dtype == object else arr


# === CLI: train ===
def _list(text: str) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from ecomtf.cli_args import add_event_log_arguments

    src = parser.add_argument_group("data (one of --events or --dataset)")
    src.add_argument("--events", help="event log CSV/TSV (gzip ok); map columns with the flags below")
    src.add_argument("--dataset", choices=["simulated"], help="built-in data: the simulated shop")
    add_event_log_arguments(parser)
    cat = parser.add_argument_group("catalog and users")
    cat.add_argument("--catalog", help="item table CSV with a header, one row per item")
    cat.add_argument("--catalog-item-col", default="item_id", help="the catalog's item id column")
    cat.add_argument("--item-categorical", default="", help="comma-separated categorical item columns")
    cat.add_argument("--item-numeric", default="", help="comma-separated numeric item columns")
    cat.add_argument("--item-text", default="", help="comma-separated text item columns (titles, tags)")
    cat.add_argument("--users", help="user table CSV with a header, one row per user")
    cat.add_argument("--users-user-col", default="user_id")
    cat.add_argument("--user-categorical", default="")
    cat.add_argument("--user-numeric", default="")
    m = parser.add_argument_group("model and training")
    m.add_argument("--positive-events", default="",
                   help="event types that are targets, e.g. purchase,cart (default: all)")
    m.add_argument("--history-length", type=int, default=10, help="recent items per query (0: none)")
    m.add_argument("--no-time", action="store_true", help="no request-time features")
    m.add_argument("--split", choices=["time", "random"], default="time")
    m.add_argument("--test-fraction", type=float, default=0.1)
    m.add_argument("--epochs", type=int, default=20, help="at most this many (early stopping)")
    m.add_argument("--validation-fraction", type=float, default=0.1,
                   help="training examples held out for early stopping (0: none)")
    m.add_argument("--batch-size", type=int, default=1024)
    m.add_argument("--learning-rate", type=float, default=0.01)
    m.add_argument("--dim", type=int, default=32, help="embedding size")
    m.add_argument("--temperature", type=float, default=0.1,
                   help="softmax temperature on L2-normalized towers; 0: plain dot product")
    m.add_argument("--logq", type=float, default=1.0, help="logQ correction strength, 0..1")
    m.add_argument("--hard-negatives", type=int, default=None)
    m.add_argument("--hidden-units", default="", help="comma-separated ReLU layer sizes per tower")
    m.add_argument("--seed", type=int, default=42)
    m.add_argument("--out", default="runs/retrieval", help="run directory (default runs/retrieval)")


def _read_table(path, numeric, categorical, strict=False):
    from ecomtf.data.table_reader import read_table

    features, _, report = read_table(path, label=None, numeric=numeric, categorical=categorical,
                                     strict=strict)
    print(report)
    return features


def load_data_from_args(args) -> RetrievalData:
    from ecomtf.cli_args import read_event_log_from_args

    if bool(args.events) == bool(args.dataset):
        raise SystemExit("give exactly one of --events or --dataset")
    kwargs = dict(
        history_length=args.history_length,
        use_time=not args.no_time,
        positive_event_types=_list(args.positive_events) or None,
        split=args.split,
        test_fraction=args.test_fraction,
        seed=args.seed,
    )
    if args.dataset == "simulated":
        from ecomtf.datasets import simulate_shop

        shop = simulate_shop(seed=args.seed)
        return prepare(shop.events, shop.catalog, shop.users, **SHOP_FEATURES, **kwargs)
    log, report = read_event_log_from_args(args)
    print(report)
    roles = {k: _list(getattr(args, k)) for k in
             ("item_categorical", "item_numeric", "item_text", "user_categorical", "user_numeric")}
    catalog = users = None
    if args.catalog:
        catalog = _read_table(
            args.catalog, roles["item_numeric"],
            [args.catalog_item_col, *roles["item_categorical"], *roles["item_text"]], args.strict,
        )
    elif roles["item_categorical"] or roles["item_numeric"] or roles["item_text"]:
        raise SystemExit("item attribute columns need --catalog")
    if args.users:
        users = _read_table(args.users, roles["user_numeric"],
                            [args.users_user_col, *roles["user_categorical"]], args.strict)
    return prepare(log, catalog, users, catalog_item_id=args.catalog_item_col,
                   users_user_id=args.users_user_col, **roles, **kwargs)


def train_from_args(args) -> pathlib.Path:
    data = load_data_from_args(args)
    print(f"data: {data.description}; train {len(data.train['item_id']):,}, "
          f"test {len(data.test['item_id']):,}")
    model, metrics = train(
        data,
        epochs=args.epochs,
        validation_fraction=args.validation_fraction,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        output_dim=args.dim,
        temperature=args.temperature or None,
        logq_correction=args.logq,
        num_hard_negatives=args.hard_negatives,
        hidden_units=[int(u) for u in _list(args.hidden_units)],
        seed=args.seed,
    )
    run_dir = save_run(args.out, model, metrics, data=data.description)
    _print_summary(metrics, run_dir)
    return run_dir


def _print_summary(metrics: dict, run_dir) -> None:
    print("test metrics (full catalog; 'unseen' excludes the user's training items):")
    bases = metrics.get("baselines") or {}
    recent = bases.get("recent items, then popularity")
    print(f"  {'k':>4}  {'hit rate':>9}  {'unseen':>9}  {'ndcg':>7}  {'popularity':>10}"
          + (f"  {'recent items':>12}" if recent else ""))
    for k in (1, 5, 10, 50, 100):
        print(f"  {k:>4}  {metrics[f'hit_rate@{k}']:>9.4f}  {metrics[f'hit_rate_unseen@{k}']:>9.4f}  "
              f"{metrics[f'ndcg@{k}']:>7.4f}  {metrics[f'popularity_hit_rate@{k}']:>10.4f}"
              + (f"  {recent[f'hit_rate@{k}']:>12.4f}" if recent else ""))
    print("  (baselines: same split, same metric code; 'recent items' = the query's recent items, "
          "most recent first, then popularity)")
    print(f"  train {metrics['train_seconds']} s ({metrics['epochs']} epochs), "
          f"{metrics['examples']:,} test examples")
    print(f"run saved to {run_dir}/  (export: ecomtf export --run {run_dir} --out export/{MODEL_DIR})")


# === CLI: export-index ===
def add_export_index_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``ecomtf export-index``."""
    parser.add_argument("--run", required=True, help="a trained retrieval run directory")
    parser.add_argument("--catalog", required=True, help="the new item table CSV (header row)")
    parser.add_argument("--catalog-item-col", default=None,
                        help="its item id column (default: the model's item id feature name)")
    parser.add_argument("--out", default=f"export/{MODEL_DIR}", help="TF Serving base path")
    parser.add_argument("--version", type=int, default=None, help="default: next free version")
    parser.add_argument("--max-k", type=int, default=100, help="largest k a request may ask for")
    parser.add_argument("--strict", action="store_true", help="fail on any rejected catalog row")


def export_index(model, catalog: dict, base_dir, *, version: int | None = None, max_k: int = 100,
                 catalog_item_id: str | None = None) -> pathlib.Path:
    """Re-embeds ``catalog`` with the trained candidate tower; saves a new version.

    Items the model never saw in training get their embedding from their
    attributes and text (their id goes to the OOV bucket).

    Returns:
        The version directory written.
    """
    from ecomtf.data import retrieval_pipeline as rp
    from ecomtf.export import save_for_serving
    from ecomtf.export.two_tower_servable import TwoTowerServable

    tower = model.candidate_tower
    columns = [c for c in tower.input_names() if c != tower.item_id_feature]
    candidates = rp.catalog_features(catalog, columns, item_id=catalog_item_id or tower.item_id_feature)
    if tower.item_id_feature != rp.ITEM_ID:
        candidates[tower.item_id_feature] = candidates.pop(rp.ITEM_ID)
    servable = TwoTowerServable(model, candidates, max_k=max_k)
    return save_for_serving(servable, base_dir, version=version)


def export_index_from_args(args) -> pathlib.Path:
    model = load_run(args.run)
    tower = model.candidate_tower
    id_col = args.catalog_item_col or tower.item_id_feature
    categorical = [id_col] + [c for c in tower.input_names()
                              if c != tower.item_id_feature and c not in tower.numeric]
    catalog = _read_table(args.catalog, tower.numeric, categorical, args.strict)
    path = export_index(model, catalog, args.out, version=args.version, max_k=args.max_k,
                        catalog_item_id=id_col)
    ids = np.asarray(catalog[id_col]).astype(str)
    new = int((~np.isin(ids, tower.item_vocabulary)).sum())
    print(f"indexed {len(ids):,} items ({new:,} not seen in training, embedded from their "
          f"attributes) with the trained candidate tower -> {path}")
    return path


# === Demo ===
SHOP_FEATURES = dict(
    item_categorical=["category", "brand"],
    item_numeric=["price"],
    item_text=["title"],
    user_categorical=["favorite_category"],
)


def demo(out_dir, shop) -> dict:
    """Trains on the simulated shop (<= ~40 s), exports, converts, queries a fresh process."""
    from ecomtf.export import run_in_fresh_process
    from ecomtf.export import run_tflite
    from ecomtf.export import save_for_serving
    from ecomtf.export import to_tflite
    from ecomtf.export.two_tower_servable import TwoTowerServable

    out_dir = pathlib.Path(out_dir)
    data = prepare(shop.events, shop.catalog, shop.users, **SHOP_FEATURES)
    print(f"simulated shop: {data.description}")
    model, metrics = train(data, max_seconds=35, verbose=2)
    servable = TwoTowerServable(model, max_k=100)
    path = save_for_serving(servable, out_dir / MODEL_DIR)
    # The latest test query of one user, as a client would send it.
    row = int(np.argmax(data.test["timestamp"]))
    query = {k: np.asarray(data.test[k][row : row + 1]) for k in model.query_tower.input_names()}
    user = str(query["user_id"][0]) if "user_id" in query else ""
    bought = np.array([list(data.test["recent_item_ids"][row][-2:])]) if "recent_item_ids" in data.test \
        else np.array([[""]])
    request = {**query, "k": np.array([10], np.int32), "exclude_item_ids": bought}
    answer = run_in_fresh_process(path, request)
    lite = to_tflite(servable, out_dir / "tflite" / f"{MODEL_DIR}.tflite")
    lite_answer = run_tflite(lite, request, signature_key="recommend")
    top10 = [x.decode() if isinstance(x, bytes) else str(x) for x in answer["item_ids"][0]]
    lite10 = [x.decode() if isinstance(x, bytes) else str(x) for x in lite_answer["item_ids"][0]]
    titles = dict(zip(np.asarray(shop.catalog["item_id"]).tolist(), np.asarray(shop.catalog["title"]).tolist()))
    print(f"top-10 for user {user} (excluding {bought[0].tolist()}):")
    for i, (item, score) in enumerate(zip(top10, answer["scores"][0]), 1):
        print(f"  {i:>2}. {item}  {score:.3f}  {titles.get(item, '')}")
    return {
        "saved_model": str(path),
        "tflite": str(lite),
        "items_indexed": servable.num_items,
        "train_seconds": metrics["train_seconds"],
        "test_hit_rate@10": round(metrics["hit_rate@10"], 4),
        "test_hit_rate_unseen@10": round(metrics["hit_rate_unseen@10"], 4),
        "test_hit_rate@100": round(metrics["hit_rate@100"], 4),
        "popularity_hit_rate@10": round(metrics["popularity_hit_rate@10"], 4),
        "user": user,
        "top10": top10,
        "tflite_top10_matches": top10 == lite10,
    }
