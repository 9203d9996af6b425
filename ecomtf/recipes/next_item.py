"""Next-item recommendation: event log -> sequences -> NextItemRecommender -> top-k.

Three lines of Python do what ``ecomtf train next-item`` does::

    data = next_item.prepare(log, by="user")            # leave-one-out split
    model, metrics = next_item.train(data, epochs=30)   # + test metrics
    ecomtf.export.save_for_serving(model, "export/next_item")

The feedback loop (``--warm-start``): load the previous model (from a run
directory or straight from its TF Serving export), grow its vocabulary with
the items new events mention (old items keep their embeddings), continue
training on the new events, and export the result as the next version of the
same TF Serving base directory, which a polling server then picks up::

    old = next_item.load_model("export/next_item")      # latest version
    model, metrics = next_item.train(next_item.prepare(new_log), warm_start=old)
    ecomtf.export.save_for_serving(model, "export/next_item")   # -> version 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import time

import numpy as np

from ecomtf import recipes

NAME = "next-item"
HELP = (
    "next-item recommender (SASRec or LSTM/GRU over item, event type and time gap -> top-k "
    "next items); --warm-start continues a previous model on new events"
)
MODEL_DIR = "model"
CONFIG_FILE = "config.json"


@dataclasses.dataclass
class NextItemData:
    """Sequences split for training and evaluation.

    Attributes:
        by: ``"user"`` (leave-one-out split) or ``"session"`` (time split).
        train: training sequences.
        validation: validation cases (per user), or None.
        test: test cases.
        catalog: every item of the data, ascending id (ranking columns).
        description: one line for logs.
        exclude_seen: per user, rank only items the user did not touch before
            the target (the MovieLens protocol, where a rating is never
            repeated). Off by default: on event logs re-views, re-carts and
            re-buys are real next items and a model must be able to rank them.
    """

    by: str
    train: object
    validation: object
    test: object
    catalog: list
    description: str
    exclude_seen: bool = False


# === Data ===
def prepare(
    log,
    by: str = "user",
    *,
    gap_minutes: float = 30.0,
    test_days: float | None = None,
    test_fraction: float = 0.2,
    min_length: int = 3,
    exclude_seen: bool = False,
) -> NextItemData:
    """Event log -> sequences and an evaluation split.

    Per user: leave-one-out (last event = test, second-to-last = validation,
    ordered by (timestamp, item id)); with ``exclude_seen`` the items seen
    before the target are not ranked (the MovieLens protocol; by default
    repeats stay valid targets, as they are on shop event logs). Per session: sessions from the log's
    ``session_id`` (or cut at ``gap_minutes`` of inactivity), the latest
    ``test_days`` (or ``test_fraction`` of sessions) are the test set, every
    prefix predicting the next item.
    """
    from ecomtf.data import next_item_pipeline as nip
    from ecomtf.evaluation.ranking_metrics import sort_catalog

    catalog = sort_catalog(np.unique(np.asarray(log.item_id).astype(str)))
    if by == "user":
        seqs = nip.build_sequences(log, by="user")
        split = nip.leave_one_out_split(seqs, min_length=min_length)
        desc = (
            f"{len(log):,} events, {len(seqs):,} users, {len(catalog):,} items; leave-one-out: "
            f"{len(split.test):,} users evaluated"
        )
        return NextItemData("user", split.train, split.validation, split.test, catalog, desc,
                            exclude_seen=exclude_seen)
    if by != "session":
        raise ValueError(f"by must be 'user' or 'session', got {by!r}")
    from ecomtf.data import sessionize

    sessions = nip.build_sequences(sessionize(log, gap_seconds=gap_minutes * 60), by="session",
                                   min_length=2)
    split = nip.session_split(sessions, test_days=test_days,
                              test_fraction=None if test_days else test_fraction)
    desc = (
        f"{len(log):,} events, {len(sessions):,} sessions of 2+ events, {len(catalog):,} items; "
        f"{len(split.train):,} train sessions, {len(split.test_sessions):,} test sessions "
        f"({len(split.test):,} next-item cases)"
    )
    return NextItemData("session", split.train, None, split.test, catalog, desc)


# === Training ===
def train(
    data: NextItemData,
    *,
    warm_start=None,
    epochs: int = 30,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    min_item_count: int = 1,
    eval_every: int = 0,
    patience: int = 3,
    time_budget_s: float | None = None,
    strategy=None,
    seed: int = 42,
    verbose: int = 2,
    evaluate_test: bool = True,
    bucket: bool = True,
    baselines: bool = True,
    **model_kwargs,
):
    """Trains (or continues) a NextItemRecommender; returns ``(model, metrics)``.

    Args:
        data: from ``prepare``.
        warm_start: a previous ``NextItemRecommender`` to continue: its
            vocabulary grows with the new items of ``data`` (old items keep
            their embeddings) and ``model_kwargs`` are ignored.
        epochs: passes over the training rows.
        batch_size, learning_rate: Adam settings.
        min_item_count: items seen fewer times in training share the OOV
            bucket (useful for very sparse catalogs).
        eval_every: with per-user data, compute validation NDCG@10 every so
            many epochs, keep the best weights and stop after ``patience``
            evaluations without improvement (0: no validation).
        time_budget_s: stop after the first epoch that ends past this.
        strategy: a ``tf.distribute.Strategy`` (default: the current one).
        seed: seeds weights, shuffling and sampling.
        verbose: Keras verbosity (2: one line per epoch).
        evaluate_test: compute test metrics at the end.
        baselines: with ``evaluate_test``, also the baselines' test figures
            (``metrics["baselines"]``, see ``evaluate_baselines``).
        bucket: batch rows of similar length together (faster for
            self-attention on long, uneven histories).
        **model_kwargs: ``NextItemRecommender`` arguments (encoder,
            embedding_dim, max_len, ...); ``repeat`` defaults to
            ``not data.exclude_seen``. With ``neighbors`` the neighbour
            table is counted on ``data.train`` (cross-fitted per fold for
            training, see ``NextItemRecommender.fit_neighbors``); a warm
            start recounts it on the new training events. With
            ``session_knn`` the session-kNN store holds ``data.train``'s
            sequences (a warm start refills it with the newest ones, at most
            the old store's size) and each training row leaves its own out.

    Returns:
        ``(model, metrics)`` where metrics has ``train_seconds``, ``epochs``
        and the test figures (see ``evaluate``).
    """
    import tensorflow as tf

    import ecomtf.export.next_item_servable  # noqa: F401  (lets ecomtf.export wrap the model)
    from ecomtf.data import next_item_pipeline as nip
    from ecomtf.models.next_item_recommender import KNN_SESSION
    from ecomtf.models.next_item_recommender import NEIGHBOR_FOLD
    from ecomtf.models.next_item_recommender import NextItemRecommender

    from ecomtf.data.vocabulary import build_vocabulary

    tf.keras.utils.set_random_seed(seed)
    strategy = strategy or tf.distribute.get_strategy()

    with strategy.scope():
        if warm_start is not None:
            flat = np.concatenate(data.train.item_ids) if len(data.train) else []
            new_vocab = build_vocabulary(flat, min_count=min_item_count)
            model = warm_start.with_items(new_vocab)
            added = model.num_items - warm_start.num_items
            if verbose:
                print(f"warm start: {warm_start.num_items:,} items kept, {added:,} new items added")
        else:
            # Repeat-aware unless the protocol rules repeats out (exclude_seen).
            model_kwargs.setdefault("repeat", not data.exclude_seen)
            model = NextItemRecommender.from_sequences(
                data.train.item_ids, data.train.event_types, min_item_count=min_item_count,
                seed=seed, **model_kwargs
            )
            model.ensure_built()
        model.compile(tf.keras.optimizers.Adam(learning_rate))
    x, y = nip.training_examples(data.train, max_len=model.max_len)
    if not len(y):
        raise ValueError("no training sequence has 2 or more events")
    if model.neighbors:
        # The table counts the training split only; each training row reads the table of the
        # folds its sequence is not in (cross-fitting), the served one counts every sequence.
        model.fit_neighbors(data.train.item_ids, seed=seed)
        x[NEIGHBOR_FOLD] = _row_folds(data.train.item_ids, model, seed, y.shape[1])
    if model.session_knn:
        # The store holds the training sequences; each training row leaves its own out.
        model.fit_session_knn(data.train.item_ids)
        index = model.session_knn_index(len(data.train))
        x[KNN_SESSION] = np.repeat(np.repeat(index, _rows_per_sequence(data.train.item_ids, model))[:, None],
                                   y.shape[1], axis=1)
    ds = nip.next_item_dataset(x, y, batch_size=batch_size, shuffle=True, seed=seed,
                               bucket_boundaries=_buckets(model.max_len) if bucket else None)
    # Every training position weighs the same whatever batch it falls in.
    model.positions_per_batch = float(np.sum(y != "")) / len(y) * batch_size
    callbacks = []
    tracker = None
    if eval_every and data.validation is not None and len(data.validation):
        tracker = _validation_callback(data.validation, data.catalog, eval_every, patience, verbose,
                                       data.exclude_seen)
        callbacks.append(tracker)
    if time_budget_s:
        callbacks.append(_time_budget_callback(time_budget_s))
    if verbose:
        print(f"training {model.encoder_type} on {len(y):,} rows of up to {model.max_len} steps "
              f"({model.num_items:,} items, loss {model.loss_type})")
    started = time.perf_counter()
    cpu = time.process_time()
    history = model.fit(ds, epochs=epochs, callbacks=callbacks, verbose=verbose)
    metrics = {
        "train_seconds": round(time.perf_counter() - started, 1),
        "train_cpu_seconds": round(time.process_time() - cpu, 1),
        "epochs": len(history.history.get("loss", [])),
        "train_rows": int(len(y)),
        "items": model.num_items,
    }
    if tracker is not None and tracker.best_weights is not None:
        model.set_weights(tracker.best_weights)
        metrics["best_epoch"] = tracker.best_epoch
        metrics["validation_ndcg@10"] = round(tracker.best, 4)
    if evaluate_test:
        metrics.update(evaluate(model, data))
        if baselines:
            metrics["baselines"] = evaluate_baselines(data)
    return model, metrics


def _row_folds(sequences, model, seed: int, width: int) -> np.ndarray:
    """``[rows, width]`` fold of each training row's sequence (rows as ``training_examples`` cuts them)."""
    from ecomtf.models.next_item_recommender import fold_of_sequences

    which = fold_of_sequences(len(sequences), model.neighbor_folds, seed)
    rows = _rows_per_sequence(sequences, model)
    return np.repeat(np.repeat(which, rows)[:, None], width, axis=1).astype(np.int32)


def _rows_per_sequence(sequences, model) -> np.ndarray:
    """Training rows ``training_examples`` cuts from each sequence."""
    lengths = np.array([len(s) for s in sequences])
    return np.where(lengths >= 2, -(-(lengths - 1) // model.max_len), 0)


def _buckets(max_len: int) -> list[int]:
    edges = [e for e in (8, 16, 32, 64, 100, 150, 200, 300) if e < max_len]
    return edges


def score_histories(model, histories, catalog, batch_size: int = 256) -> np.ndarray:
    """Model scores ``[len(histories), len(catalog)]``; items the model does not know get -inf."""
    from ecomtf.data import next_item_pipeline as nip

    feats = nip.history_features(histories, model.max_len)
    feats = {k: v for k, v in feats.items() if k in model.input_specs()}
    scores = model.predict(feats, batch_size=batch_size, verbose=0)
    column = {item: j for j, item in enumerate(model.item_vocabulary)}
    idx = np.array([column.get(str(c), -1) for c in catalog])
    out = np.full((len(scores), len(catalog)), -np.inf, dtype=np.float32)
    known = idx >= 0
    out[:, known] = scores[:, idx[known]]
    return out


def evaluate_scores(scores: np.ndarray, cases, catalog, *, by: str = "user", sampled: bool = True,
                    seed: int = 42, interacted=None, exclude_seen: bool = True) -> dict:
    """Ranking figures for scores over ``catalog`` (columns in ascending id order).

    Per user: full ranking (HR@10, NDCG@10, MRR), excluding the items seen
    before the target when ``exclude_seen`` (the target itself is never
    excluded, so use it only where targets are never repeats), and, with
    ``sampled``, the target against 100 negatives drawn from items the user
    never interacted with (``interacted``: per case all the user's items;
    default: history + target). Per session: Recall@20 and MRR@20, full
    ranking without exclusions.
    """
    from ecomtf.evaluation import ranking_metrics as rm

    col = {str(c): j for j, c in enumerate(catalog)}
    targets = np.array([col.get(str(t), -1) for t in cases.targets])
    ranks = case_ranks(scores, cases, catalog, by=by, exclude_seen=exclude_seen)
    if by == "session":
        return {k: v for k, v in rm.session_report(ranks, 20).items()}
    seen = [np.array([col[s] for s in np.asarray(h).astype(str) if s in col], dtype=np.int64)
            for h in cases.seen]
    out = {f"full_{k}": v for k, v in rm.ranking_report(ranks, (10,)).items()}
    if interacted is None:
        interacted = [np.r_[s, [t]] for s, t in zip(seen, targets)]
    # The sampled protocol needs 100 items each user never touched.
    if sampled and all(len(catalog) - len(np.unique(i)) >= 100 for i in interacted):
        negatives = rm.sample_negatives(len(catalog), interacted, 100, seed)
        sranks = rm.sampled_ranks(scores, targets, negatives)
        out.update({f"sampled_{k}": v for k, v in rm.ranking_report(sranks, (10,)).items()
                    if k != "cases"})
    return out


def case_ranks(scores: np.ndarray, cases, catalog, *, by: str = "user",
               exclude_seen: bool = True) -> np.ndarray:
    """Full-ranking rank of each case's target (the ranks ``evaluate_scores`` reports).

    Per-case figures for paired tests between two scorers on the same cases.
    """
    from ecomtf.evaluation import ranking_metrics as rm

    col = {str(c): j for j, c in enumerate(catalog)}
    targets = np.array([col.get(str(t), -1) for t in cases.targets])
    if by == "session" or not exclude_seen:
        return rm.full_ranks(scores, targets)
    seen = [np.array([col[s] for s in np.asarray(h).astype(str) if s in col], dtype=np.int64)
            for h in cases.seen]
    return rm.full_ranks(scores, targets, seen)


def evaluate(model, data: NextItemData, cases=None, sampled: bool = True) -> dict:
    """Test figures of ``model`` on ``data`` (see ``evaluate_scores``)."""
    cases = data.test if cases is None else cases
    if not len(cases):
        return {}
    scores = score_histories(model, cases.histories, data.catalog)
    return evaluate_scores(scores, cases, data.catalog, by=data.by, sampled=sampled,
                           exclude_seen=data.exclude_seen)


BASELINES = ("most popular", "repeat", "item co-occurrence", "session kNN")


def make_baseline(name: str):
    """A fresh baseline recommender by its name in ``BASELINES``."""
    from ecomtf.evaluation import recommender_baselines as rb

    return {
        "most popular": rb.MostPopularRecommender,
        "repeat": rb.RepeatRecommender,
        "item co-occurrence": rb.ItemCooccurrenceRecommender,
        "session kNN": rb.SessionKNNRecommender,
    }[name]()


def evaluate_baselines(data: NextItemData, cases=None, sampled: bool = True,
                       names=BASELINES) -> dict:
    """Test figures of the simple baselines, fitted on ``data.train``.

    The same split, the same cases and the same ranking code as
    ``evaluate``: most popular; repeat (the history's own items, most recent
    first, then popularity); item co-occurrence; session kNN (V-SKNN).

    Returns:
        ``{baseline name: figures}``.
    """
    cases = data.test if cases is None else cases
    if not len(cases):
        return {}
    out = {}
    for name in names:
        base = make_baseline(name).fit(data.train.item_ids)
        scores = base.score(cases.histories.item_ids, data.catalog)
        out[name] = evaluate_scores(scores, cases, data.catalog, by=data.by, sampled=sampled,
                                    exclude_seen=data.exclude_seen)
    return out


def _validation_callback(cases, catalog, every: int, patience: int, verbose: int,
                         exclude_seen: bool = True):
    """A Keras callback: validation NDCG@10 every few epochs, best weights kept."""
    import tensorflow as tf

    class ValidationRanking(tf.keras.callbacks.Callback):
        best, best_epoch, best_weights, waited = -1.0, 0, None, 0

        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % every:
                return
            scores = score_histories(self.model, cases.histories, catalog)
            m = evaluate_scores(scores, cases, catalog, sampled=False, exclude_seen=exclude_seen)
            ndcg = m["full_NDCG@10"]
            if verbose:
                print(f"  epoch {epoch + 1}: validation HR@10 {m['full_HR@10']:.4f} "
                      f"NDCG@10 {ndcg:.4f}", flush=True)
            if ndcg > self.best:
                self.best, self.best_epoch, self.waited = ndcg, epoch + 1, 0
                self.best_weights = self.model.get_weights()
            else:
                self.waited += 1
                if self.waited >= patience:
                    self.model.stop_training = True

    return ValidationRanking()


def _time_budget_callback(seconds: float):
    """A Keras callback stopping after the first epoch that ends past ``seconds``."""
    import tensorflow as tf

    class TimeBudget(tf.keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if time.perf_counter() - self.start > seconds:
                self.model.stop_training = True

    return TimeBudget()


# === Run directories and exports ===
def save_run(run_dir, model, metrics: dict, **info) -> pathlib.Path:
    """Writes ``config.json``, the weights checkpoint, ``metrics.json`` and ``run.json``."""
    import tensorflow as tf

    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(json.dumps(model.get_config()))
    tf.train.Checkpoint(model=model).write(str(run_dir / MODEL_DIR / "weights"))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    recipes.write_run_info(run_dir, NAME, **info)
    return run_dir


def load_run(run_dir):
    """The NextItemRecommender of a run directory."""
    run_dir = pathlib.Path(run_dir)
    config = json.loads((run_dir / CONFIG_FILE).read_text())
    return _restore(config, str(run_dir / MODEL_DIR / "weights"))


def load_model(path):
    """A NextItemRecommender from a run directory or a TF Serving export.

    ``path`` may be a run directory (``run.json``), an export version
    directory (``.../next_item/3``) or an export base directory (its latest
    version). Exports carry the model config in a variable, so no run
    directory is needed to warm-start from what is being served.
    """
    import tensorflow as tf

    from ecomtf.export import existing_versions
    from ecomtf.export.next_item_servable import CONFIG_VARIABLE

    path = pathlib.Path(path)
    if (path / recipes.RUN_FILE).is_file():
        return load_run(path)
    if not (path / "saved_model.pb").is_file():
        versions = existing_versions(path)
        if not versions:
            raise FileNotFoundError(f"{path} is neither a run directory nor a SavedModel export")
        path = path / str(versions[-1])
    prefix = str(path / "variables" / "variables")
    reader = tf.train.load_checkpoint(prefix)
    key = f"{CONFIG_VARIABLE}/.ATTRIBUTES/VARIABLE_VALUE"
    if not reader.has_tensor(key):
        raise ValueError(f"{path} is not a next-item export (no {CONFIG_VARIABLE} variable)")
    config = json.loads(reader.get_tensor(key).decode())
    return _restore(config, prefix)


def export_base_of(path) -> pathlib.Path | None:
    """The TF Serving base directory of an export path, else None."""
    from ecomtf.export import existing_versions

    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file() and path.name.isdigit():
        return path.parent
    if existing_versions(path):
        return path
    return None


def _restore(config: dict, prefix: str):
    import tensorflow as tf

    import ecomtf.export.next_item_servable  # noqa: F401  (lets ecomtf.export wrap the model)

    from ecomtf.models.next_item_recommender import NextItemRecommender

    model = NextItemRecommender.from_config(config).ensure_built()
    status = tf.train.Checkpoint(model=model).read(prefix)
    status.expect_partial()
    status.assert_existing_objects_matched()
    return model


# === CLI ===
def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from ecomtf.cli_args import add_event_log_arguments

    src = parser.add_argument_group("data (one of)")
    src.add_argument("--events", "--data", dest="events",
                     help="event log CSV/TSV (gzip ok); map columns with the flags below")
    src.add_argument("--dataset", choices=["simulated"], help="built-in data: the simulated shop")
    add_event_log_arguments(parser)
    m = parser.add_argument_group("model and training")
    m.add_argument("--by", choices=["user", "session"], default="user",
                   help="one sequence per user (leave-one-out) or per session (time split)")
    m.add_argument("--encoder", choices=["sasrec", "lstm", "gru"], default="sasrec")
    m.add_argument("--max-len", type=int, default=50, help="events the model reads")
    m.add_argument("--dim", type=int, default=64, help="embedding and state size")
    m.add_argument("--blocks", type=int, default=2, help="self-attention blocks (sasrec)")
    m.add_argument("--heads", type=int, default=1, help="attention heads (sasrec)")
    m.add_argument("--layers", type=int, default=1, help="recurrent layers (lstm/gru)")
    m.add_argument("--dropout", type=float, default=0.2)
    m.add_argument("--loss", choices=["softmax", "sampled_softmax", "in_batch"], default="softmax",
                   help="full softmax, or sampled / in-batch negatives for large catalogs")
    m.add_argument("--num-sampled", type=int, default=1000, help="negatives for sampled_softmax")
    m.add_argument("--no-event-types", action="store_true", help="ignore event types")
    m.add_argument("--no-time-gaps", action="store_true", help="ignore time gaps")
    m.add_argument("--no-repeat", action="store_true",
                   help="no repeat (copy) head (default: on, unless --exclude-seen)")
    m.add_argument("--neighbors", type=int, default=0,
                   help="neighbour component: top-K co-occurrence neighbours per item, counted on the "
                        "training split and carried in the graph (0: off)")
    m.add_argument("--neighbor-window", type=int, default=10,
                   help="steps apart that count as co-occurring, for --neighbors")
    m.add_argument("--neighbor-offset", type=float, default=0.0,
                   help="added to the neighbour gate when scoring, not in training (choose it on validation data)")
    m.add_argument("--session-knn", type=int, default=0,
                   help="session-kNN component: the K training sequences most like the query's recent "
                        "items vote for their items (V-SKNN, the sequences carried in the graph; 0: off)")
    m.add_argument("--session-knn-offset", type=float, default=0.0,
                   help="added to the session-kNN gate when scoring, not in training (choose it on validation "
                        "data: the gate is learned next to a catalog head that has seen the training targets)")
    m.add_argument("--session-knn-length-power", type=float, default=0.0,
                   help="a stored sequence's vote per item is its similarity over its distinct item count to "
                        "this power (0: V-SKNN; 1: each sequence spreads its similarity over its items)")
    m.add_argument("--session-knn-blend", type=float, default=0.0,
                   help="weight in [0, 1) of the session-kNN votes (normalized) mixed into the scored "
                        "distribution when scoring, not in training (choose it on validation data)")
    m.add_argument("--min-item-count", type=int, default=1,
                   help="items seen fewer times share the OOV bucket")
    m.add_argument("--epochs", type=int, default=30)
    m.add_argument("--batch-size", type=int, default=128)
    m.add_argument("--learning-rate", type=float, default=1e-3)
    m.add_argument("--eval-every", type=int, default=0,
                   help="validation NDCG@10 every N epochs, keeping the best (per user; 0: off)")
    m.add_argument("--gap-minutes", type=float, default=30, help="session inactivity gap")
    m.add_argument("--test-days", type=float, default=None, help="per session: last N days are test")
    m.add_argument("--exclude-seen", action="store_true",
                   help="per user: do not rank items seen before the target (MovieLens protocol; "
                        "by default repeats are valid targets)")
    m.add_argument("--seed", type=int, default=42)
    loop = parser.add_argument_group("feedback loop")
    loop.add_argument("--warm-start", default=None,
                      help="previous run directory or export (base or version dir) to continue from")
    loop.add_argument("--export-dir", default=None,
                      help="TF Serving base dir to export the result to as its next version "
                           "(default with --warm-start from an export: that export's base dir)")
    parser.add_argument("--out", default="runs/next-item", help="run directory to write")


def load_events_from_args(args):
    chosen = [x for x in (args.events, args.dataset) if x]
    if len(chosen) != 1:
        raise SystemExit("give exactly one of --events/--data or --dataset")
    if args.dataset == "simulated":
        from ecomtf.datasets import simulate_shop

        return simulate_shop(seed=args.seed).events
    from ecomtf.cli_args import read_event_log_from_args

    log, report = read_event_log_from_args(args)
    print(report)
    return log


def train_from_args(args) -> pathlib.Path:
    from ecomtf.export import save_for_serving

    import ecomtf.export.next_item_servable  # noqa: F401  (registers the servable)

    if args.neighbors < 0 or args.neighbor_window < 1:
        raise SystemExit("--neighbors must be >= 0 and --neighbor-window >= 1")
    if args.session_knn < 0:
        raise SystemExit("--session-knn must be >= 0")
    if not 0.0 <= args.session_knn_blend < 1.0:
        raise SystemExit("--session-knn-blend must be in [0, 1)")
    if args.session_knn_blend and not args.session_knn:
        raise SystemExit("--session-knn-blend needs --session-knn > 0")
    log = load_events_from_args(args)
    data = prepare(log, by=args.by, gap_minutes=args.gap_minutes, test_days=args.test_days,
                   exclude_seen=args.exclude_seen)
    print(f"data: {data.description}")
    previous = load_model(args.warm_start) if args.warm_start else None
    model, metrics = train(
        data, warm_start=previous, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, min_item_count=args.min_item_count,
        eval_every=args.eval_every, seed=args.seed,
        encoder=args.encoder, max_len=args.max_len, embedding_dim=args.dim,
        num_blocks=args.blocks, num_heads=args.heads, num_layers=args.layers,
        dropout=args.dropout, loss=args.loss, num_sampled=args.num_sampled,
        use_event_types=not args.no_event_types, use_time_gaps=not args.no_time_gaps,
        repeat=not (args.no_repeat or args.exclude_seen),
        neighbors=args.neighbors, neighbor_window=args.neighbor_window, neighbor_offset=args.neighbor_offset,
        session_knn=args.session_knn,
        session_knn_offset=args.session_knn_offset, session_knn_length_power=args.session_knn_length_power,
        session_knn_blend=args.session_knn_blend,
    )
    info = {"data": data.description}
    if args.warm_start:
        info["warm_start"] = str(args.warm_start)
    export_dir = args.export_dir or (export_base_of(args.warm_start) if args.warm_start else None)
    if export_dir:
        path = save_for_serving(model, export_dir)
        info["exported"] = str(path)
        metrics["exported_version"] = int(path.name)
    run_dir = save_run(args.out, model, metrics, **info)
    _print_summary(metrics, run_dir, info.get("exported"))
    return run_dir


def _print_summary(metrics: dict, run_dir, exported=None):
    print("test metrics:")
    for k, v in metrics.items():
        if k == "baselines":
            continue
        print(f"  {k:>22}: {v:.4f}" if isinstance(v, float) else f"  {k:>22}: {v}")
    print(baseline_table(metrics))
    print(f"run saved to {run_dir}/")
    if exported:
        print(f"exported as {exported} (TF Serving loads it as the new latest version)")
    else:
        print(f"export: ecomtf export --run {run_dir} --out export/next_item")


def baseline_table(metrics: dict) -> str:
    """The model's test figures next to the baselines', one line each."""
    bases = metrics.get("baselines") or {}
    keys = [k for k in metrics if k.startswith(("full_", "sampled_", "Recall@", "MRR@"))
            and not k.endswith("cases")]
    if not keys:
        return "(no test figures)"
    width = max(len(n) for n in ["model", "ours", *bases])
    head = "  ".join(f"{k:>16}" for k in keys)
    lines = ["same split, same metric code:", f"  {'model':<{width}}  {head}"]
    for name, m in [("ours", metrics), *bases.items()]:
        cells = "  ".join(f"{m.get(k, float('nan')):>16.4f}" for k in keys)
        lines.append(f"  {name:<{width}}  {cells}")
    return "\n".join(lines)


# === Demo ===
def demo(out_dir, shop) -> dict:
    """Trains on the simulated shop (per user), exports, converts, queries in a fresh process."""
    from ecomtf.export import run_in_fresh_process
    from ecomtf.export import run_tflite
    from ecomtf.export import save_for_serving
    from ecomtf.export import to_tflite
    from ecomtf.export.next_item_servable import NextItemServable

    out_dir = pathlib.Path(out_dir)
    data = prepare(shop.events, by="user")
    print(f"simulated shop: {data.description}")
    model, metrics = train(data, epochs=12, time_budget_s=45, batch_size=64, embedding_dim=32,
                           max_len=30, num_blocks=1, dropout=0.2, learning_rate=3e-3)
    servable = NextItemServable(model, mobile_steps=20, mobile_k=10)
    path = save_for_serving(servable, out_dir / "next_item")
    # The 20 most recent events of one test user, as a client would send them.
    from ecomtf.data.next_item_pipeline import history_features

    cases = data.test.histories.take(np.arange(1))
    recent = history_features(cases, 20)
    items = recent["item_id"].astype(str)
    request = {"item_ids": items, "event_types": recent["event_type"].astype(str),
               "time_gaps": recent["time_gap"], "k": np.array([10], np.int32),
               "exclude_item_ids": items[:, -5:]}
    answer = run_in_fresh_process(path, request)
    lite = to_tflite(servable, out_dir / "tflite" / "next_item.tflite")
    mobile = {k: v for k, v in request.items() if k != "k"}
    mobile["exclude_item_ids"] = np.pad(items[:, -5:], ((0, 0), (0, 15)), constant_values="")
    lite_answer = run_tflite(lite, mobile)
    top = [x.decode() if isinstance(x, bytes) else str(x) for x in answer["item_ids"][0]]
    lite_top = [x.decode() if isinstance(x, bytes) else str(x) for x in lite_answer["item_ids"][0]]
    return {
        "saved_model": str(path),
        "tflite": str(lite),
        "test_full_HR@10": round(metrics.get("full_HR@10", float("nan")), 4),
        "test_full_NDCG@10": round(metrics.get("full_NDCG@10", float("nan")), 4),
        "train_seconds": metrics["train_seconds"],
        "example_history": [i for i in items[0].tolist() if i][-5:],
        "next_10_items": top,
        "next_10_scores": [round(float(s), 4) for s in answer["scores"][0]],
        "tflite_next_10_items": lite_top,
    }
