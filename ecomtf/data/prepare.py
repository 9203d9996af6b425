"""``prepare``: an event log -> sharded training examples on disk, in bounded memory.

A month of a big shop (tens of millions of events) does not fit in memory as
one EventLog. ``prepare_purchase`` streams the log's record batches
(``iter_event_chunks``), hash-partitions them by user into temporary Arrow IPC files,
then builds each partition's sessions and examples alone (a user's events,
sessions and duplicates never cross partitions, so the examples are the
same as the in-memory path's), splits them by time with the same rule as
``ecomtf.recipes.purchase.events_to_examples``, and writes train/test shards
plus a manifest: counts, the reject report, the split rule, and the
vocabularies and scaling statistics learned from the training split only.
Memory is bounded by one record batch in the first pass and one partition in
the others: more rows mean more partitions (``rows_per_shard``), not more memory.

``prepared_dataset`` streams the shards with tf.data (file interleave,
shuffle buffer, prefetch), and ``shard_files`` lists them for a worker.

Example:
    >>> manifest = prepare_purchase("2019-Oct.csv.gz", schema, "prepared/oct")
    >>> ds = prepared_dataset("prepared/oct", "train", batch_size=256, shuffle_buffer=10_000)
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import zlib

import numpy as np

from ecomtf.data.event_reader import EventChunk
from ecomtf.data.event_reader import finish_events
from ecomtf.data.event_reader import iter_event_chunks
from ecomtf.data.reject_report import DataValidationError
from ecomtf.data.reject_report import RejectReport
from ecomtf.data.schema import EventSchema

MANIFEST = "manifest.json"
LABEL = "label"
_META = ("session_id", "user_id", "time")


def shard_of(user_ids, shards: int) -> np.ndarray:
    """Partition of each user id: CRC-32 of its UTF-8 bytes modulo ``shards``.

    Stable across processes and machines (unlike Python's ``hash``), so a
    Beam or multi-process run sends a user to the same partition.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    a = user_ids if isinstance(user_ids, (pa.Array, pa.ChunkedArray)) else pa.array(
        np.asarray(user_ids).astype(str))
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    d = pc.dictionary_encode(a)
    h = np.array([zlib.crc32(u.encode("utf-8")) % shards for u in d.dictionary.to_pylist()],
                 np.int64)
    return h[d.indices.to_numpy(zero_copy_only=False)] if len(h) else np.zeros(0, np.int64)


def _chunk_table(chunk: EventChunk):
    import pyarrow as pa

    cols = {
        "user_id": chunk.user_id, "item_id": chunk.item_id,
        "event_type": pa.array(chunk.event_type), "event_raw": pa.array(chunk.event_raw),
        "timestamp": pa.array(chunk.timestamp), "line": pa.array(chunk.line),
    }
    if chunk.session_id is not None:
        cols["session_id"] = chunk.session_id
    for name in ("quantity", "price"):
        if getattr(chunk, name) is not None:
            cols[name] = pa.array(getattr(chunk, name))
    for name, col in chunk.extra.items():
        cols["extra:" + name] = col
    return pa.table(cols)


def _table_chunk(table) -> EventChunk:
    from ecomtf.data.event_reader import _to_str_numpy

    def col(name):
        return table.column(name).combine_chunks() if name in table.column_names else None

    def num(name):
        c = col(name)
        return None if c is None else c.to_numpy(zero_copy_only=False)

    return EventChunk(
        user_id=col("user_id"), item_id=col("item_id"),
        event_type=_to_str_numpy(col("event_type")), event_raw=_to_str_numpy(col("event_raw")),
        timestamp=num("timestamp").astype(np.int64), session_id=col("session_id"),
        quantity=num("quantity"), price=num("price"),
        extra={n[6:]: col(n) for n in table.column_names if n.startswith("extra:")},
        line=num("line").astype(np.int64),
    )


def _examples_table(features: dict, labels, session_id, user_id, time):
    import pyarrow as pa

    from ecomtf.data.sequences import _Coded

    cols = {}
    for name, v in features.items():
        if isinstance(v, _Coded):
            cols[name] = pa.FixedSizeListArray.from_arrays(v.to_arrow(), v.shape[1])
            continue
        v = np.asarray(v)
        flat = pa.array(v.reshape(-1).astype(str) if v.dtype.kind == "U" else v.reshape(-1))
        cols[name] = pa.FixedSizeListArray.from_arrays(flat, v.shape[1]) if v.ndim == 2 else flat
    cols[LABEL] = pa.array(np.asarray(labels, np.float32))
    cols["session_id"] = pa.array(np.asarray(session_id).astype(str))
    cols["user_id"] = pa.array(np.asarray(user_id).astype(str))
    cols["time"] = pa.array(np.asarray(time, np.int64))
    return pa.table(cols)


def write_partition(table, path) -> None:
    """Writes a temporary partition file (Arrow IPC, LZ4): what pass 2 or 3 reads back.

    Temporary files are written once and read once by this machine, so
    Arrow's own format is used instead of Parquet: it cost about a quarter of
    Parquet's CPU per partition (no encoding, one fast codec).
    """
    import pyarrow as pa

    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.OSFile(os.fspath(path), "wb") as sink, pa.ipc.new_file(
            sink, table.schema, options=options) as writer:
        writer.write_table(table)


def read_partition(path):
    """A table written by ``write_partition`` (or by ``_PartitionWriter``)."""
    import pyarrow as pa

    with pa.OSFile(os.fspath(path), "rb") as source:
        return pa.ipc.open_file(source).read_all()


class _PartitionWriter:
    """Appends record batches to one Arrow IPC partition file (pass 1)."""

    def __init__(self, path, schema):
        import pyarrow as pa

        self._sink = pa.OSFile(os.fspath(path), "wb")
        self._writer = pa.ipc.new_file(self._sink, schema,
                                       options=pa.ipc.IpcWriteOptions(compression="lz4"))

    def write_table(self, table):
        self._writer.write_table(table)

    def close(self):
        self._writer.close()
        self._sink.close()


def read_examples(path) -> tuple[dict, np.ndarray, dict]:
    """``(features, labels, meta)`` numpy arrays of one shard file (for tests and tools)."""
    import pyarrow.parquet as pq

    return _columns_to_numpy(pq.read_table(path))


def _columns_to_numpy(table):
    import pyarrow as pa

    from ecomtf.data.event_reader import _to_str_numpy

    features, meta = {}, {}
    labels = None
    for name in table.column_names:
        c = table.column(name).combine_chunks()
        if pa.types.is_fixed_size_list(c.type):
            width = c.type.list_size
            values = c.flatten()
            arr = (_to_str_numpy(values) if pa.types.is_string(values.type)
                   else values.to_numpy(zero_copy_only=False))
            features[name] = arr.reshape(len(c), width)
        elif name == LABEL:
            labels = c.to_numpy(zero_copy_only=False)
        elif pa.types.is_string(c.type):
            (meta if name in _META else features)[name] = _to_str_numpy(c)
        else:
            (meta if name in _META else features)[name] = c.to_numpy(zero_copy_only=False)
    return features, labels, meta


def prepare_purchase(
    events,
    schema: EventSchema,
    out_dir,
    *,
    shards: int | None = None,
    rows_per_shard: int = 250_000,
    max_length: int = 20,
    gap_minutes: float = 30.0,
    test_fraction: float = 0.3,
    test_from_ms: int | None = None,
    purchase_event: str = "purchase",
    dedupe: bool = True,
    strict: bool = False,
    verbose: bool = False,
    **read_options,
) -> dict:
    """Turns an event log into train/test example shards for the purchase model.

    The examples are exactly those of ``ecomtf.recipes.purchase.events_to_examples``
    on the whole log (one per session, cut before its first purchase, the
    last ``max_length`` events, prices as a per-step feature when the
    schema has them), split by time: sessions starting at or after
    ``test_from_ms`` (default: the ``1 - test_fraction`` quantile of session
    start times) are the test set.

    Args:
        events: a file or a directory of part files (see ``read_events``).
        schema: the EventSchema.
        out_dir: directory to write; its previous shards are replaced.
        shards: number of user-hash partitions; default from ``rows_per_shard``
            and the input's size (about 140 bytes of CSV per row).
        rows_per_shard: target rows per partition (bounds memory: one
            partition is in memory at a time).
        max_length, gap_minutes, test_fraction, test_from_ms, purchase_event:
            as in ``events_to_examples``.
        dedupe, strict: as in ``read_events``.
        verbose: print progress.
        **read_options: ``delimiter``, ``header``, ``encoding``,
            ``allowed_event_types``, ``na_values`` for the reader.

    Returns:
        The manifest (also written to ``out_dir/manifest.json``).

    Example:
        >>> m = prepare_purchase("events.csv", EventSchema(), "prepared/shop")
        >>> m["counts"]["train_examples"]
    """
    import pyarrow as pa

    out = pathlib.Path(out_dir)
    if out.exists():
        for old in list(out.glob("*.parquet")) + [out / MANIFEST]:
            old.unlink(missing_ok=True)
        shutil.rmtree(out / "_partitions", ignore_errors=True)
    parts = out / "_partitions"
    parts.mkdir(parents=True, exist_ok=True)
    if shards is None:
        shards = max(1, int(np.ceil(_estimate_rows(events) / rows_per_shard)))
    source = os.path.basename(os.fspath(events).rstrip("/"))
    report = RejectReport(source=source)

    # Pass 1: stream record batches into user-hash partitions.
    writers = {}
    try:
        for chunk in iter_event_chunks(events, schema, report, **read_options):
            table = _chunk_table(chunk)
            part = shard_of(chunk.user_id, shards)
            for s in np.unique(part).tolist():
                sub = table.filter(pa.array(part == s))
                if s not in writers:
                    writers[s] = _PartitionWriter(parts / f"part-{s:05d}.arrow", sub.schema)
                writers[s].write_table(sub)
            if verbose:
                print(f"read {report.rows_read:,} rows", flush=True)
    finally:
        for w in writers.values():
            w.close()

    # Pass 2: per partition, dedupe, sessions, examples.
    times = []
    example_report = RejectReport(source="session_purchase_examples")
    for s in range(shards):
        path = parts / f"part-{s:05d}.arrow"
        if not path.exists():
            continue
        table, ex_report, ex_time = partition_examples(
            read_partition(path), report, dedupe=dedupe, gap_minutes=gap_minutes,
            max_length=max_length, purchase_event=purchase_event)
        path.unlink()
        example_report.merge(ex_report)
        write_partition(table, parts / f"examples-{s:05d}.arrow")
        del table
        times.append(ex_time)
        if verbose:
            print(f"partition {s + 1}/{shards}: {len(ex_time):,} examples", flush=True)
    return write_splits(out, shards, times, report, example_report, source=os.fspath(events),
                        max_length=max_length, gap_minutes=gap_minutes,
                        test_fraction=test_fraction, test_from_ms=test_from_ms, strict=strict,
                        verbose=verbose)


def partition_examples(table, report: RejectReport, *, dedupe: bool = True,
                       gap_minutes: float = 30.0, max_length: int = 20,
                       purchase_event: str = "purchase"):
    """One partition's events (a table from pass 1) -> its purchase examples.

    Duplicates are dropped and counted in ``report``; sessions and examples
    are built as ``events_to_examples`` builds them. Returns ``(examples
    table, the examples' RejectReport, session start times)``. The Beam
    pipeline (``ecomtf.data.prepare_beam``) runs this same function per key.
    """
    from ecomtf.data.sequences import session_examples
    from ecomtf.data.sessions import session_layout

    log = finish_events(_table_chunk(table), report, dedupe=dedupe)
    # session_purchase_examples(sessionize(log)) on int codes: session names
    # are built for the examples only, string features stay codes until Arrow.
    ordered, code, names = session_layout(log, gap_seconds=gap_minutes * 60)
    del log
    extra = ("price",) if ordered.price is not None else ()
    ex = session_examples(ordered, code, names, RejectReport(source="session_purchase_examples"),
                          max_length=max_length, purchase_event=purchase_event,
                          extra_columns=extra, coded=True)
    del ordered, code
    return (_examples_table(ex.features, ex.labels, ex.session_id, ex.user_id, ex.time),
            ex.report, ex.time)


def write_splits(out, shards: int, times, report: RejectReport, example_report: RejectReport, *,
                 source: str, max_length: int, gap_minutes: float, test_fraction: float,
                 test_from_ms=None, strict: bool = False, verbose: bool = False) -> dict:
    """Pass 3: ``out/_partitions/examples-*.arrow`` -> train/test shards and the manifest."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = pathlib.Path(out)
    parts = out / "_partitions"
    if strict:
        report.raise_if_rejects()
    all_times = np.concatenate(times) if times else np.zeros(0, np.int64)
    if len(all_times) == 0:
        raise DataValidationError(
            f"{os.path.basename(source)}: no examples (no rows kept?)\n{report}")
    rule = "given"
    if test_from_ms is None:
        test_from_ms = int(np.quantile(all_times, 1.0 - test_fraction))
        rule = f"the {1 - test_fraction:.2f} quantile of session start times"
    del times, all_times

    # Pass 3: split by time; vocabularies and statistics from train only.
    items, kinds = {}, {}
    step_sum = step_sq = step_n = None
    step_names = []
    counts = {"train_examples": 0, "test_examples": 0, "train_positives": 0, "test_positives": 0}
    files = {"train": [], "test": []}
    for s in range(shards):
        path = parts / f"examples-{s:05d}.arrow"
        if not path.exists():
            continue
        table = read_partition(path)
        path.unlink()
        is_test = table.column("time").to_numpy() >= test_from_ms
        for split, mask in (("train", ~is_test), ("test", is_test)):
            sub = table.filter(pa.array(mask))
            if sub.num_rows == 0:
                continue
            name = f"{split}-{s:05d}.parquet"
            pq.write_table(sub, out / name)
            files[split].append(name)
            y = sub.column(LABEL).to_numpy()
            counts[f"{split}_examples"] += len(y)
            counts[f"{split}_positives"] += int(y.sum())
            if split != "train":
                continue
            # Counted in Arrow (value_counts over the flattened sequences):
            # no numpy string copy of the shard.
            item_values = sub.column("item_id").combine_chunks().flatten()
            _count_arrow(items, item_values)
            _count_arrow(kinds, sub.column("event_type").combine_chunks().flatten())
            real = pc.not_equal(item_values, "").to_numpy(zero_copy_only=False)
            step_names = [n for n in sub.column_names if n not in _META and n != LABEL
                          and pa.types.is_fixed_size_list(sub.schema.field(n).type)
                          and pa.types.is_floating(sub.schema.field(n).type.value_type)]
            if step_names:
                v = np.stack([sub.column(k).combine_chunks().flatten().to_numpy(
                    zero_copy_only=False)[real] for k in step_names], -1).astype(np.float64)
                v = np.sign(v) * np.log1p(np.abs(v))  # NumericNormalizer.statistics(log=True)
                ok = np.isfinite(v)
                v = np.where(ok, v, 0.0)
                step_sum = v.sum(0) + (0 if step_sum is None else step_sum)
                step_sq = (v * v).sum(0) + (0 if step_sq is None else step_sq)
                step_n = ok.sum(0) + (0 if step_n is None else step_n)
    shutil.rmtree(parts, ignore_errors=True)
    stats = {}
    if step_names:
        mean = step_sum / np.maximum(step_n, 1)
        std = np.sqrt(np.maximum(step_sq / np.maximum(step_n, 1) - mean * mean, 0.0))
        std = np.where(std > 1e-6, std, 1.0)
        stats = {"step_numeric": step_names, "step_mean": mean.tolist(), "step_std": std.tolist()}
    manifest = {
        "model": "purchase",
        "source": source,
        "shards": shards,
        "max_length": max_length,
        "gap_minutes": gap_minutes,
        "split": {"test_from_ms": int(test_from_ms),
                  "test_from": str(np.datetime64(int(test_from_ms), "ms")),
                  "rule": f"test = sessions starting at or after test_from ({rule}); "
                          "vocabularies and statistics from train only"},
        "counts": {**counts, "rows_read": report.rows_read, "rows_kept": report.rows_kept,
                   "rows_rejected": report.rows_rejected},
        "files": files,
        "features": {name: _feature_spec(name) for name in _feature_names(out, files)},
        "vocabulary": {"item_id": _ranked(items), "event_type": _ranked(kinds)},
        "statistics": stats,
        "reject_report": report.to_dict(),
        "example_report": example_report.to_dict(),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    if verbose:
        print(report)
    return manifest


def _estimate_rows(events) -> float:
    """Rows in the input: Parquet metadata, or text size / 140 bytes (x4 if gzip)."""
    import pyarrow.parquet as pq

    from ecomtf.data.event_reader import _is_parquet

    rows = 0.0
    for f in _input_files(events):
        if _is_parquet(f):
            try:
                rows += pq.ParquetFile(f).metadata.num_rows
                continue
            except Exception:  # noqa: BLE001  (the reader reports the file properly)
                pass
        with open(f, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
        # A store export's CSV has about 140 bytes a row; gzip shrinks it about 4x.
        rows += os.path.getsize(f) / 140 * (4 if gz else 1)
    return rows


def _input_files(events):
    from ecomtf.data.event_reader import list_input_files

    return list_input_files(events)


def _count_arrow(counter: dict, values) -> None:
    import pyarrow.compute as pc

    vc = pc.value_counts(values)
    for u, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()):
        if u:
            counter[u] = counter.get(u, 0) + c


def _ranked(counter: dict) -> list:
    """``[[value, count], ...]``, most frequent first, ties by value (build_vocabulary's order)."""
    return [[k, v] for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def _feature_names(out, files):
    import pyarrow.parquet as pq

    name = (files["train"] or files["test"])[0]
    return [n for n in pq.read_schema(out / name).names if n not in _META and n != LABEL]


def _feature_spec(name):
    return {"dtype": "string" if name in ("item_id", "event_type") else "float32"}


def load_manifest(prepared_dir) -> dict:
    """The manifest of a prepared directory, with a clear error when there is none."""
    path = pathlib.Path(prepared_dir) / MANIFEST
    if not path.is_file():
        raise DataValidationError(
            f"{prepared_dir}: not a prepared directory (no {MANIFEST}); run `ecomtf prepare` first"
        )
    return json.loads(path.read_text())


def shard_files(prepared_dir, split: str = "train") -> list[str]:
    """Paths of a split's shard files, in order."""
    m = load_manifest(prepared_dir)
    return [os.path.join(os.fspath(prepared_dir), f) for f in m["files"][split]]


def prepared_dataset(
    prepared_dir,
    split: str = "train",
    *,
    batch_size: int = 256,
    shuffle_buffer: int = 0,
    seed: int | None = None,
    repeat: bool = False,
    files: list[str] | None = None,
    cycle_length: int = 4,
    rows_per_read: int = 8192,
):
    """A tf.data pipeline of ``(features, label)`` batches streamed from shards.

    Files are interleaved (``cycle_length`` open at once), each read in
    slices of ``rows_per_read`` rows by pyarrow, unbatched into examples,
    shuffled in a buffer of ``shuffle_buffer`` examples (0: no shuffle),
    batched and prefetched. Only the open slices and the shuffle buffer are in
    memory, never the whole data set.

    Args:
        prepared_dir: what ``prepare_purchase`` wrote.
        split: ``"train"`` or ``"test"``.
        batch_size: examples per batch.
        shuffle_buffer: examples in the shuffle buffer (0 keeps file order).
        seed: shuffle seed (file order and buffer).
        repeat: repeat forever (bound the run with ``steps``).
        files: read these shard files instead of the split's (a worker's share).
        cycle_length: files read concurrently.
        rows_per_read: rows converted to tensors at a time.

    Returns:
        A ``tf.data.Dataset``.
    """
    import pyarrow.parquet as pq
    import tensorflow as tf

    from ecomtf.data.pipeline import dataset_options

    m = load_manifest(prepared_dir)
    files = list(files) if files is not None else shard_files(prepared_dir, split)
    if not files:
        raise DataValidationError(f"{prepared_dir}: no {split} shards")
    length = int(m["max_length"])
    names = list(m["features"])
    spec = {
        n: tf.TensorSpec([None, length], tf.string if m["features"][n]["dtype"] == "string"
                         else tf.float32)
        for n in names
    }

    def read(path):
        pf = pq.ParquetFile(path.decode() if isinstance(path, bytes) else path)
        for batch in pf.iter_batches(batch_size=rows_per_read, columns=names + [LABEL]):
            import pyarrow as pa

            feats, labels, _ = _columns_to_numpy(pa.Table.from_batches([batch]))
            yield ({n: feats[n].astype(np.float32) if spec[n].dtype == tf.float32 else feats[n]
                    for n in names}, labels.astype(np.float32))

    def one_file(path):
        return tf.data.Dataset.from_generator(
            read, args=(path,), output_signature=(spec, tf.TensorSpec([None], tf.float32))
        ).unbatch()

    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_buffer:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.interleave(one_file, cycle_length=max(1, min(cycle_length, len(files))),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return ds.with_options(dataset_options())
