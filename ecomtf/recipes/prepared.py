"""Training from prepared shards, and the ``ecomtf prepare`` command.

For logs too big for memory: ``ecomtf prepare purchase --events DIR_OR_FILE
--out prepared/shop`` writes train/test shards and a manifest
(``ecomtf.data.prepare``); ``ecomtf train purchase --prepared prepared/shop
--max-steps 1000`` streams them with tf.data. In Python::

    from ecomtf.data.prepare import prepare_purchase
    from ecomtf.recipes.prepared import train_purchase_prepared
    prepare_purchase("2019-Oct.csv.gz", schema, "prepared/oct")
    model, metrics = train_purchase_prepared("prepared/oct", max_steps=1000)

Small files keep working without this step (``ecomtf train purchase --events``).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import tempfile
import time

import numpy as np

PREPARABLE = ("purchase",)


def cluster_from_env() -> tuple[int, int]:
    """``(number of workers, this worker's index)`` from ``TF_CONFIG`` (1, 0 without it)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    workers = config.get("cluster", {}).get("worker", [])
    task = config.get("task", {})
    index = int(task.get("index", 0)) if task.get("type", "worker") == "worker" else 0
    return max(1, len(workers)), index


def default_strategy():
    """MultiWorkerMirroredStrategy when TF_CONFIG names several workers, else the default.

    Must run before TensorFlow executes any op in this process.
    """
    import tensorflow as tf

    workers, _ = cluster_from_env()
    if workers > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def purchase_model_config(manifest: dict, *, min_item_count: int = 1, max_items=None,
                          **model_kwargs) -> dict:
    """PurchasePredictor arguments from a manifest (what ``from_dataset`` learns, precomputed).

    Vocabularies, per-step scaling and the output bias come from the
    training split, as counted by ``prepare_purchase``.
    """
    vocab = [v for v, c in manifest["vocabulary"]["item_id"] if c >= min_item_count]
    if max_items is not None:
        vocab = vocab[:max_items]
    counts = manifest["counts"]
    p = counts["train_positives"] / max(1, counts["train_examples"])
    p = float(np.clip(p, 1e-4, 1 - 1e-4))
    config = dict(
        sequence_length=int(manifest["max_length"]),
        item_vocabulary=vocab,
        event_vocabulary=[v for v, _ in manifest["vocabulary"]["event_type"]],
        output_bias=float(np.log(p / (1 - p))),
        context_categorical={},
    )
    config.update(manifest.get("statistics", {}))
    config.update(model_kwargs)
    return config


def train_purchase_prepared(
    prepared_dir,
    *,
    max_steps: int = 1000,
    batch_size: int = 256,
    learning_rate: float = 3e-3,
    shuffle_buffer: int = 10_000,
    seed: int = 42,
    strategy=None,
    evaluate: bool = True,
    callbacks=(),
    backup_dir=None,
    backup_every: int = 100,
    verbose: int = 2,
    min_item_count: int = 1,
    max_items=None,
    **model_kwargs,
):
    """Trains a PurchasePredictor on prepared shards for ``max_steps`` batches.

    The training shards are streamed (``prepared_dataset``: file interleave,
    a shuffle buffer of ``shuffle_buffer`` examples, prefetch), repeated as
    needed; nothing holds the whole data set. There is no early stopping
    (no validation split is carved out): ``max_steps`` bounds the run. Test
    metrics are computed by streaming the test shards.

    With several workers in ``TF_CONFIG`` (and no ``strategy`` given) it runs
    under ``MultiWorkerMirroredStrategy``: each worker reads every N-th
    training shard (sharding by file; ``batch_size`` is the global batch),
    and with ``backup_dir`` a ``BackupAndRestore`` callback saves every
    ``backup_every`` steps, so a worker that dies is restarted and the run
    resumes from the last backup instead of from step 0.

    Returns:
        ``(model, metrics)``.
    """
    import tensorflow as tf

    from ecomtf.data.prepare import load_manifest
    from ecomtf.data.prepare import prepared_dataset
    from ecomtf.models.purchase_predictor import PurchasePredictor

    manifest = load_manifest(prepared_dir)
    if manifest.get("model") != "purchase":
        raise SystemExit(f"{prepared_dir}: prepared for {manifest.get('model')!r}, not purchase")
    strategy = strategy or default_strategy()
    tf.keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = PurchasePredictor(**purchase_model_config(
            manifest, min_item_count=min_item_count, max_items=max_items, **model_kwargs))
        model.compile(
            tf.keras.optimizers.Adam(learning_rate),
            tf.keras.losses.BinaryCrossentropy(),
            metrics=[tf.keras.metrics.AUC(name="auc")],
        )
    workers, index = cluster_from_env()
    files = None
    if workers > 1:
        from ecomtf.data.prepare import shard_files

        all_files = shard_files(prepared_dir, "train")
        if len(all_files) >= workers:
            files = all_files[index::workers]  # by file: no worker reads another's rows
    train_ds = prepared_dataset(prepared_dir, "train", batch_size=batch_size,
                                shuffle_buffer=shuffle_buffer, seed=seed, repeat=True,
                                files=files)
    if files is not None:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF)
        train_ds = train_ds.with_options(options)
    callbacks = list(callbacks)
    if backup_dir is not None:
        callbacks.append(tf.keras.callbacks.BackupAndRestore(
            os.fspath(backup_dir), save_freq=int(backup_every)))
    started = time.perf_counter()
    model.fit(train_ds, epochs=1, steps_per_epoch=max_steps, callbacks=callbacks,
              verbose=verbose)
    metrics = {"train_seconds": round(time.perf_counter() - started, 1), "steps": max_steps,
               "workers": workers}
    # With several workers, score the saved model in one process instead
    # (evaluate_prepared): predictions gathered across workers lose their order.
    if evaluate and workers == 1 and manifest["files"]["test"]:
        metrics.update(evaluate_prepared(model, prepared_dir))
    return model, metrics


def evaluate_prepared(model, prepared_dir, split: str = "test", batch_size: int = 2048) -> dict:
    """Binary metrics of ``model`` on a prepared split, streamed file by file."""
    import pyarrow.parquet as pq

    from ecomtf.data.prepare import LABEL
    from ecomtf.data.prepare import prepared_dataset
    from ecomtf.data.prepare import shard_files
    from ecomtf.evaluation.classification_metrics import binary_report

    files = shard_files(prepared_dir, split)
    # One file at a time, in order, so predictions line up with the labels.
    ds = prepared_dataset(prepared_dir, split, batch_size=batch_size, files=files,
                          cycle_length=1)
    p = model.predict(ds.map(lambda f, y: f), verbose=0)[:, 0]
    y = np.concatenate([pq.read_table(f, columns=[LABEL]).column(LABEL).to_numpy()
                        for f in files])
    return binary_report(y, p)


# === CLI ===
def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    from ecomtf.cli_args import add_event_log_arguments

    parser.add_argument("model", choices=PREPARABLE, help="the model to prepare data for")
    parser.add_argument("--events", required=True,
                        help="event log: CSV/TSV (gzip ok), Parquet, or a directory of part files")
    parser.add_argument("--out", required=True, help="directory for the shards and manifest.json")
    parser.add_argument("--shards", type=int, default=None,
                        help="user-hash partitions (default: about 250k rows each)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes reading the log and building partitions in parallel "
                             "(default: the usable cores, one per 2M rows of input, so a smaller "
                             "log runs in one; each holds one partition in memory; a "
                             "gzip file or a CSV with quotes is read by one)")
    parser.add_argument("--max-length", type=int, default=20)
    parser.add_argument("--gap-minutes", type=float, default=30)
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--test-from", help="sessions from this ISO date on are the test set")
    add_event_log_arguments(parser)


def prepare_from_args(args) -> pathlib.Path:
    from ecomtf.cli_args import schema_from_args
    from ecomtf.cli_args import test_from_ms_from_args
    from ecomtf.data.prepare import prepare_purchase

    test_from = test_from_ms_from_args(args)
    m = prepare_purchase(
        args.events, schema_from_args(args), args.out, shards=args.shards,
        max_length=args.max_length, gap_minutes=args.gap_minutes,
        test_fraction=args.test_fraction, test_from_ms=test_from, strict=args.strict,
        delimiter=args.delimiter, header=False if args.no_header else "auto",
        encoding=args.encoding, workers=args.workers,
    )
    print(_report_text(m["reject_report"]))
    c = m["counts"]
    print(f"prepared {args.out}: {m['shards']} shards; train {c['train_examples']:,} examples "
          f"({c['train_positives']:,} with a purchase), test {c['test_examples']:,}; "
          f"test = sessions from {m['split']['test_from']} on")
    return pathlib.Path(args.out)


def _report_text(d: dict) -> str:
    from collections import Counter

    from ecomtf.data import RejectReport

    r = RejectReport(source=d["source"], rows_read=d["rows_read"],
                     rejected=Counter(d["rejected"]),
                     examples={k: [(e["line"], e["row"]) for e in v]
                               for k, v in d["examples"].items()},
                     notes=list(d["notes"]))
    return str(r)


def train_prepared_from_args(args) -> pathlib.Path:
    """``ecomtf train purchase --prepared DIR``."""
    from ecomtf.recipes import purchase

    workers, index = cluster_from_env()
    model, metrics = train_purchase_prepared(
        args.prepared, max_steps=args.max_steps or 1000, batch_size=args.batch_size,
        learning_rate=args.learning_rate, seed=args.seed, lstm_units=args.lstm_units,
        item_dim=args.item_dim, hidden_units=[int(u) for u in args.hidden_units.split(",") if u],
        backup_dir=getattr(args, "backup_dir", None),
        backup_every=getattr(args, "backup_every", 100),
    )
    out = args.out
    if index > 0:
        # Every worker must save (the save is a collective op); only the chief's copy is kept.
        out = tempfile.mkdtemp(prefix=f"ecomtf-worker{index}-")
    run_dir = purchase.save_run(out, model, metrics, data=f"prepared {args.prepared}",
                                workers=workers)
    purchase._print_summary(metrics, run_dir)
    return run_dir
