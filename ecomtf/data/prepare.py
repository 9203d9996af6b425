"""``prepare``: an event log -> sharded training examples on disk, in bounded memory.

A month of a big shop (tens of millions of events) does not fit in memory as
one EventLog. ``prepare_purchase`` streams the log's record batches
(``iter_event_chunks``; with several workers, pieces of the input at the same
time: ``read_pieces``), hash-partitions them by user into temporary Arrow IPC files,
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

import numpy as np

from ecomtf.data.event_reader import EventChunk
from ecomtf.data.event_reader import iter_event_chunks
from ecomtf.data.reject_report import DataValidationError
from ecomtf.data.reject_report import RejectReport
from ecomtf.data.schema import EventSchema

MANIFEST = "manifest.json"
LABEL = "label"
_META = ("session_id", "user_id", "time")
# Final shards: no compression (writing it cost more than a third of a shard's
# write), dictionary pages for the item and event strings only (session ids are
# unique: a dictionary there is wasted work).
SHARD_WRITE_OPTIONS = {
    "compression": "none",
    "use_dictionary": ["item_id.list.element", "event_type.list.element"],
    # Min/max statistics only where a reader could filter on them (the
    # session start time, the label): on the string and list columns they
    # cost 30% of a shard's write and nothing reads them.
    "write_statistics": ["time", "label"],
}
# Temporaries between passes: Arrow IPC, uncompressed (written and read once,
# on this machine: LZ4 cost 4x the write).
_IPC_OPTIONS = {"compression": None}
# Schema metadata of an examples table: the length T its sequences are padded to.
_LENGTH_KEY = "ecomtf.max_length"


def shard_of(user_ids, shards: int) -> np.ndarray:
    """Partition of each user id: CRC-32 of its UTF-8 bytes modulo ``shards``.

    Stable across processes and machines (unlike Python's ``hash``), so a
    Beam or multi-process run sends a user to the same partition. The CRC is
    ``zlib.crc32``'s, computed for all rows at once (``_crc32``).
    """
    import pyarrow as pa

    a = user_ids if isinstance(user_ids, (pa.Array, pa.ChunkedArray)) else pa.array(
        np.asarray(user_ids).astype(str))
    if isinstance(a, pa.ChunkedArray):  # chunk by chunk: no copy of the strings
        crc = (np.concatenate([_crc32(c) for c in a.chunks]) if a.num_chunks
               else np.zeros(0, np.uint32))
    else:
        crc = _crc32(a)
    return (crc % np.uint32(shards)).astype(np.int64)


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1)
    return table.astype(np.uint32)


_CRC_TABLE = _crc_table()


def _crc32(a) -> np.ndarray:
    """``zlib.crc32`` of each string of an Arrow string array (uint32), vectorised.

    The table-driven CRC runs one byte position at a time over every value
    still that long (values sorted by length), so the work is the total
    number of bytes, in numpy, with no Python call per row.
    """
    import pyarrow as pa

    if a.null_count:
        a = a.fill_null("")
    if pa.types.is_large_string(a.type):
        a = a.cast(pa.string())
    n = len(a)
    crc = np.full(n, 0xFFFFFFFF, np.uint32)
    if n == 0:
        return crc
    _, offsets_buf, data_buf = a.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32, n + 1, a.offset * 4).astype(np.int64)
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    width = int(lengths[0])
    if width and int(offsets[-1] - offsets[0]) == n * width and (lengths == width).all():
        # Every id has the same length (an export's numeric ids): the bytes
        # are an [n, width] matrix, one column a step, no sort by length.
        b = data[int(offsets[0]):int(offsets[0]) + n * width].reshape(n, width)
        for j in range(width):
            crc = _CRC_TABLE[(crc ^ b[:, j]) & 0xFF] ^ (crc >> 8)
        return crc ^ np.uint32(0xFFFFFFFF)
    by_length = np.argsort(-lengths, kind="stable")
    start = offsets[:-1][by_length]
    longest = lengths[by_length]
    c = crc[by_length]
    # still[j]: how many values have more than j bytes (a prefix of by_length).
    still = np.searchsorted(-longest, -np.arange(int(longest[0]) if n else 0), side="left")
    for j, m in enumerate(still.tolist()):
        byte = data[start[:m] + j]
        c[:m] = _CRC_TABLE[(c[:m] ^ byte) & 0xFF] ^ (c[:m] >> 8)
    crc[by_length] = c
    return crc ^ np.uint32(0xFFFFFFFF)


def _chunk_table(chunk: EventChunk):
    import pyarrow as pa

    kind = chunk.arrow.get("event_type")
    raw = chunk.arrow.get("event_raw")
    if kind is None:
        kind = pa.array(chunk.event_type)
        if raw is None and chunk.event_raw is not chunk.event_type:
            raw = pa.array(chunk.event_raw)
    cols = {"user_id": chunk.user_id, "item_id": chunk.item_id, "event_type": kind}
    # The names as written in the file only when the schema renames them
    # (otherwise they are ``event_type``, one object: see _validate_batch);
    # ``partition_examples`` compares ``event_type`` for duplicates then.
    if raw is not None and raw is not kind:
        cols["event_raw"] = raw
    cols.update({"timestamp": pa.array(chunk.timestamp), "line": pa.array(chunk.line)})
    if chunk.session_id is not None:
        cols["session_id"] = chunk.session_id
    for name in ("quantity", "price"):
        if getattr(chunk, name) is not None:
            cols[name] = pa.array(getattr(chunk, name))
    for name, col in chunk.extra.items():
        cols["extra:" + name] = col
    return pa.table(cols)


def write_partition(table, path) -> None:
    """Writes a temporary partition file (Arrow IPC): what pass 2 or 3 reads back.

    Temporary files are written once and read once by this machine, so
    Arrow's own format is used instead of Parquet (no encoding), uncompressed.
    """
    import pyarrow as pa

    options = pa.ipc.IpcWriteOptions(**_IPC_OPTIONS)
    with pa.OSFile(os.fspath(path), "wb") as sink, pa.ipc.new_file(
            sink, table.schema, options=options) as writer:
        writer.write_table(table)


def read_partition(path):
    """A table written by ``write_partition`` (or by ``_PartitionWriter``).

    Memory-mapped: the table's buffers are the file's pages (just written,
    so in the page cache), not a copy of them.
    """
    import pyarrow as pa

    with pa.memory_map(os.fspath(path), "r") as source:
        return pa.ipc.open_file(source).read_all()


class _PartitionWriter:
    """Appends record batches to one Arrow IPC partition file (pass 1)."""

    def __init__(self, path, schema):
        import pyarrow as pa

        self._sink = pa.OSFile(os.fspath(path), "wb")
        self._writer = pa.ipc.new_file(self._sink, schema,
                                       options=pa.ipc.IpcWriteOptions(**_IPC_OPTIONS))

    def write_table(self, table):
        self._writer.write_table(table)

    def close(self):
        self._writer.close()
        self._sink.close()


def read_examples(path) -> tuple[dict, np.ndarray, dict]:
    """``(features, labels, meta)`` numpy arrays of one shard file (for tests and tools).

    Sequence features come back padded on the left to [N, T], as
    ``session_purchase_examples`` returns them.
    """
    import pyarrow.parquet as pq

    return _columns_to_numpy(pq.read_table(path))


def pad_sequences(lists, length: int) -> np.ndarray:
    """A list column (variable-length sequences) -> a [N, length] numpy array, padded on the left.

    Strings are padded with ``""`` (str array), numbers with 0; the last event
    of a sequence is always in the last column, as in ``SequenceExamples``.

    Example:
        >>> pad_sequences(pa.array([["a"], ["b", "c"]]), 3)
        array([['', '', 'a'], ['', 'b', 'c']], dtype='<U1')
    """
    import pyarrow as pa

    from ecomtf.data.event_reader import _to_str_numpy

    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    n = len(lists)
    offsets = lists.offsets.to_numpy().astype(np.int64)
    lengths = np.diff(offsets)
    values = lists.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    text = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    flat = _to_str_numpy(values) if text else values.to_numpy(zero_copy_only=False)
    if text:
        out = np.full((n, length), "", dtype=flat.dtype if len(flat) else "U1")
    else:
        out = np.zeros((n, length), flat.dtype)
    if len(flat):
        row = np.repeat(np.arange(n), lengths)
        # Position within the sequence, shifted so the last event lands at length - 1.
        column = np.arange(len(flat)) - np.repeat(offsets[:-1] - offsets[0] + lengths - length,
                                                  lengths)
        out[row, column] = flat
    return out


def _columns_to_numpy(table, length: int | None = None):
    import pyarrow as pa

    from ecomtf.data.event_reader import _to_str_numpy

    if length is None:
        length = int((table.schema.metadata or {})[_LENGTH_KEY.encode()])
    features, meta = {}, {}
    labels = None
    for name in table.column_names:
        c = table.column(name).combine_chunks()
        if pa.types.is_list(c.type):
            features[name] = pad_sequences(c, length)
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
    workers: int | None = None,
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
            partition per worker is in memory at a time).
        max_length, gap_minutes, test_fraction, test_from_ms, purchase_event:
            as in ``events_to_examples``.
        dedupe, strict: as in ``read_events``.
        verbose: print progress.
        workers: processes reading pieces of the input and building
            partitions in parallel (default: the usable cores, at most
            ``shards`` and one per ``ROWS_PER_WORKER`` estimated input rows;
            1 runs everything in this process). The input is
            split as ``plan_pieces`` says (byte ranges of an uncompressed
            CSV without quotes, Parquet row groups, part files; a gzip file
            is one piece).
        **read_options: ``delimiter``, ``header``, ``encoding``,
            ``allowed_event_types``, ``na_values`` for the reader.

    Returns:
        The manifest (also written to ``out_dir/manifest.json``).

    Example:
        >>> m = prepare_purchase("events.csv", EventSchema(), "prepared/shop")
        >>> m["counts"]["train_examples"]
    """
    out = pathlib.Path(out_dir)
    if out.exists():
        for old in list(out.glob("*.parquet")) + [out / MANIFEST]:
            old.unlink(missing_ok=True)
        shutil.rmtree(out / "_partitions", ignore_errors=True)
    parts = out / "_partitions"
    parts.mkdir(parents=True, exist_ok=True)
    rows = _estimate_rows(events)
    if shards is None:
        shards = max(1, int(np.ceil(rows / rows_per_shard)))
    source = os.path.basename(os.fspath(events).rstrip("/"))
    report = RejectReport(source=source)
    options = dict(dedupe=dedupe, gap_minutes=gap_minutes, max_length=max_length,
                   purchase_event=purchase_event)
    with _Runner(default_workers(shards, rows) if workers is None else workers) as runner:
        # Pass 1: stream record batches into user-hash partitions (the
        # workers start meanwhile), in pieces on the workers when the input
        # splits (byte ranges of a CSV file, Parquet row groups, part files).
        runner.warm_up()
        pieces = read_pieces(events, schema, report, parts, shards, runner,
                             verbose=verbose, **read_options)

        # Pass 2: per partition (in parallel), dedupe, sessions, examples.
        times = []
        example_report = RejectReport(source="session_purchase_examples")
        done = 0
        partitions = sorted({s for _, _, written in pieces for s in written})
        for result in runner.map(_build_partition_file,
                                 [(parts, s, options, [(k, offset) for k, offset, written in pieces
                                                       if s in written])
                                  for s in partitions]):
            dup_report, ex_report, ex_time = result
            report.merge(dup_report)  # duplicates, in partition order
            example_report.merge(ex_report)
            times.append(ex_time)
            done += 1
            if verbose:
                print(f"partition {done}/{len(partitions)}: {len(ex_time):,} examples",
                      flush=True)
        return write_splits(out, shards, times, report, example_report,
                            source=os.fspath(events), max_length=max_length,
                            gap_minutes=gap_minutes, test_fraction=test_fraction,
                            test_from_ms=test_from_ms, strict=strict, verbose=verbose,
                            runner=runner)


# Input rows a worker process should have at least (``default_workers``): a
# second process costs more CPU than it saves below this (a 1M-row file: 2.1-2.4
# CPU s in this process against 2.6-2.8 s with two workers, and less wall time
# too on a busy machine; docs/decisions.md, "prepare's workers").
ROWS_PER_WORKER = 2_000_000


def default_workers(shards: int, rows: float | None = None) -> int:
    """Processes for the per-partition passes.

    The usable cores, at most one per partition and one per
    ``ROWS_PER_WORKER`` input rows (``rows``, as ``prepare_purchase``
    estimates them; a smaller input runs in the calling process).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    n = min(cores, shards)
    if rows is not None:
        n = min(n, int(np.ceil(rows / ROWS_PER_WORKER)))
    return max(1, n)


def split_by_partition(table, user_ids, shards: int):
    """``(partition, rows)`` pairs of a record batch's table, rows in file order.

    One stable sort by partition and one gather, then slices: the cost does
    not grow with the number of partitions (a filter per partition did).
    """
    import pyarrow as pa

    part = shard_of(user_ids, shards)
    # A stable sort of small integers: numpy's radix sort for 16-bit keys
    # (10x faster than its merge sort of int64 on a 16 MB block).
    order = np.argsort(part.astype(np.uint16) if shards <= 1 << 16 else part, kind="stable")
    counts = np.bincount(part, minlength=shards)
    ordered = table.take(pa.array(order))
    at = 0
    for s in np.flatnonzero(counts).tolist():
        yield s, ordered.slice(at, int(counts[s]))
        at += int(counts[s])


class _Runner:
    """Runs per-partition work in a pool of ``workers`` processes, or in this one.

    Each worker builds one partition at a time, so memory is ``workers``
    partitions, still flat in the number of rows. The workers are forked
    when TensorFlow is not loaded (they start at once and do not re-run the
    caller's script, which a spawned process does); with TensorFlow loaded
    they are spawned, since TensorFlow's threads do not survive a fork (a
    script calling ``prepare_purchase`` then needs the usual
    ``if __name__ == "__main__":`` guard of multiprocessing).
    """

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self._pool = None

    def __enter__(self):
        if self.workers > 1:
            import concurrent.futures
            import multiprocessing
            import sys

            method = ("fork" if "fork" in multiprocessing.get_all_start_methods()
                      and "tensorflow" not in sys.modules else "spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context(method))
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def warm_up(self):
        """Starts the workers now (they import numpy and pyarrow while this process reads)."""
        if self._pool is not None:
            for _ in range(self.workers):
                self._pool.submit(_warm_up)

    def map(self, fn, items):
        """``fn(item)`` for each item, results in order."""
        if self._pool is None:
            return map(fn, items)
        return self._results(self._pool.map(fn, items))

    def _results(self, results):
        import concurrent.futures.process

        try:
            yield from results
        except concurrent.futures.process.BrokenProcessPool:
            # A worker killed from outside (most often the kernel's OOM
            # killer) leaves nothing to report but this: say what to try.
            raise SystemExit(
                f"a prepare worker process died (out of memory?); "
                f"run again with fewer workers (--workers {max(1, self.workers // 2)}) "
                f"or more partitions (--shards)") from None


def _warm_up():
    import pyarrow.compute  # noqa: F401
    import pyarrow.parquet  # noqa: F401


def build_partition(table, parts, s: int, **options):
    """Pass 2 for one partition: its events -> ``parts/examples-<s>.arrow``.

    What both the local path and the Beam pipeline run per partition.
    Returns ``(duplicates report, examples report, session start times)``.
    """
    report = RejectReport()
    examples, ex_report, times = partition_examples(table, report, **options)
    write_partition(examples, pathlib.Path(parts) / f"examples-{s:05d}.arrow")
    return report, ex_report, times


def _build_partition_file(args):
    import pyarrow as pa
    import pyarrow.compute as pc

    parts, s, options, pieces = args
    tables = []
    for k, offset in pieces:  # in file order
        path = pathlib.Path(parts) / f"part-{s:05d}-{k:05d}.arrow"
        t = read_partition(path)
        path.unlink()
        if offset:  # record numbers of a piece after the first of its file
            i = t.schema.get_field_index("line")
            t = t.set_column(i, "line", pc.add(t.column(i), pa.scalar(offset, pa.int64())))
        tables.append(t)
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return build_partition(table, parts, s, **options)


def read_pieces(events, schema, report: RejectReport, parts, shards: int, runner=None, *,
                verbose: bool = False, **read_options) -> list:
    """Pass 1: the input -> ``parts/part-<partition>-<piece>.arrow``, rows counted in ``report``.

    With a runner of several workers, the input is split into pieces
    (``plan_pieces``: byte ranges of an uncompressed CSV file, Parquet row
    groups, part files) that the workers read, check and partition at the
    same time; their reject reports are merged in file order with record
    numbers made global (each piece counts its records, so a later piece's
    numbers are offset by the records before it). Otherwise, or when a
    byte range meets a quote character (a quoted value could span lines, so
    a range might start inside a record), the input is read in this process
    as one piece. Returns ``(piece, line offset, partitions written)`` per
    piece, in file order.
    """
    from ecomtf.data.event_reader import plan_pieces

    parts = pathlib.Path(parts)
    plan = None
    if runner is not None and runner.workers > 1:
        plan = plan_pieces(events, schema, runner.workers, **read_options)
    if plan is not None:
        pieces, reference = plan
        jobs = [(piece, k, schema, read_options, parts, shards, reference)
                for k, piece in enumerate(pieces) if not piece.tail]
        results = dict(zip([k for _, k, *_ in jobs], runner.map(_read_piece, jobs)))
        if not any(r[2].get("quoted") or r[2].get("error") for r in results.values()):
            offsets = _read_tails(pieces, results, schema, read_options, parts, shards,
                                  reference)
            if not any(r[2].get("quoted") or r[2].get("error") for r in results.values()):
                return _merge_pieces(pieces, results, offsets, report, verbose)
        # A quote (a range may cut a record), or an error, whose message would
        # count rows from the piece's start: read the input in one piece (it
        # raises the error as one reader does, with the file's row numbers).
        for f in parts.glob("part-*.arrow"):
            f.unlink()
    # One piece: the whole input in this process.
    writers = {}
    try:
        for chunk in iter_event_chunks(events, schema, report, arrow_events=True,
                                       **read_options):
            for s, sub in split_by_partition(_chunk_table(chunk), chunk.user_id, shards):
                if s not in writers:
                    writers[s] = _PartitionWriter(parts / f"part-{s:05d}-00000.arrow", sub.schema)
                writers[s].write_table(sub)
            if verbose:
                print(f"read {report.rows_read:,} rows", flush=True)
    finally:
        for w in writers.values():
            w.close()
    return [(0, 0, set(writers))]


def _read_tails(pieces, results, schema, read_options, parts, shards, reference) -> list:
    """Each piece's record-number offset; reads the ``tail`` pieces (in this process).

    A piece after the first of its file is offset by the file's header
    lines and the records of its pieces before it. A tail piece (the last
    line of a file without a final line break) is read once the rest of its
    file is: the cut-last-line check needs the shortest last-column value of
    every row before it.
    """
    import dataclasses

    offsets = []
    base = {}  # file -> its records before the next piece
    min_len = {}  # file -> shortest value of its last column so far
    for k, piece in enumerate(pieces):
        if piece.tail:
            piece = dataclasses.replace(piece, min_len=min_len.get(piece.file),
                                        line_offset=base.get(piece.file, 0))
            results[k] = _read_piece((piece, k, schema, read_options, parts, shards, reference))
        state = results[k][2]
        if piece.part == 0:
            offsets.append(0)
            base[piece.file] = state.get("header_line", 0) + state.get("records", 0)
        elif piece.tail:
            offsets.append(0)  # numbered by its reader
        else:
            offsets.append(base[piece.file])
            base[piece.file] += state.get("records", 0)
        if state.get("min_len") is not None:
            m = min_len.get(piece.file)
            min_len[piece.file] = state["min_len"] if m is None else min(m, state["min_len"])
    return offsets


def _merge_pieces(pieces, results, offsets, report, verbose) -> list:
    """Pieces' reports and notes -> ``report``, in file order, with global record numbers."""
    from ecomtf.data.event_reader import _Tally

    tally = _Tally()
    out = []
    for k, offset in enumerate(offsets):
        piece_report, piece_tally, _, written = results[k]
        if offset:
            piece_report.examples = {
                reason: [(None if line is None else line + offset, row) for line, row in ex]
                for reason, ex in piece_report.examples.items()}
        report.merge(piece_report)
        tally.merge(piece_tally)
        out.append((k, offset, written))
        if verbose:
            print(f"read {report.rows_read:,} rows ({k + 1}/{len(pieces)} pieces)", flush=True)
    tally.write_notes(report)
    return out


def _read_piece(args):
    """One piece of the input -> its partition files; ``(report, tally, state, partitions)``."""
    from ecomtf.data.event_reader import _Tally
    from ecomtf.data.event_reader import iter_piece_chunks

    piece, k, schema, read_options, parts, shards, reference = args
    report, tally, state = RejectReport(), _Tally(), {}
    writers = {}
    try:
        for chunk in iter_piece_chunks(piece, schema, report, tally, reference=reference,
                                       state=state, arrow_events=True, **read_options):
            if state.get("quoted"):
                break  # the caller reads the file in one piece
            for s, sub in split_by_partition(_chunk_table(chunk), chunk.user_id, shards):
                if s not in writers:
                    writers[s] = _PartitionWriter(
                        pathlib.Path(parts) / f"part-{s:05d}-{k:05d}.arrow", sub.schema)
                writers[s].write_table(sub)
    except DataValidationError as e:
        state["error"] = str(e)  # the caller reads the input in one piece and raises it
    finally:
        for w in writers.values():
            w.close()
    return report, tally, state, set(writers)


def partition_examples(table, report: RejectReport, *, dedupe: bool = True,
                       gap_minutes: float = 30.0, max_length: int = 20,
                       purchase_event: str = "purchase"):
    """One partition's events (a table from pass 1) -> its purchase examples.

    The examples are those ``events_to_examples`` builds from the same users
    (``finish_events``, ``sessionize``, ``session_purchase_examples``), found
    with one sort of integer codes instead of three: rows are sorted by
    (session, time, file order), sessions by (user, start, session id), and
    duplicates (which share user, session and time, so sit in one run of that
    order) are dropped and counted in ``report``. Sequences are written
    variable-length (only the real events; ``pad_sequences`` pads them on the
    left when read), so a session of 2 events costs 2 values, not
    ``max_length``. Returns ``(examples table, the examples' RejectReport,
    session start times)``. The Beam pipeline (``ecomtf.data.prepare_beam``)
    runs this same function per key.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from ecomtf.data.event_reader import _Lazy
    from ecomtf.data.event_reader import _duplicates
    from ecomtf.data.event_reader import _empty
    from ecomtf.data.event_reader import _trimmed

    if gap_minutes < 0:
        raise ValueError(f"gap_seconds must be >= 0, got {gap_minutes * 60}")
    ex_report = RejectReport(source="session_purchase_examples")
    n = table.num_rows

    def col(name):
        if name not in table.column_names:
            return None
        c = table.column(name)
        return c.combine_chunks() if c.num_chunks != 1 else c.chunk(0)

    user = col("user_id")
    ts = col("timestamp").to_numpy().astype(np.int64, copy=False)
    user_rank = _arrow_ranks(user)
    session = col("session_id")

    # Sessions (sessionize): the given ids, namespaced per user; rows with an
    # empty id (or all rows, without the column) split by inactivity gaps.
    if session is not None:
        # Pass 1 trimmed the ids already (``_validate_batch``): ``_trimmed``
        # checks two bytes a value and trims only a table that needs it.
        session = _trimmed(session.fill_null("") if session.null_count else session)
        gap_rows = np.flatnonzero(_empty(session))
    else:
        gap_rows = np.arange(n)
    k = np.zeros(n, np.int64)
    if len(gap_rows):
        o = gap_rows[np.lexsort((ts[gap_rows], user_rank[gap_rows]))]
        u, t = user_rank[o], ts[o]
        new_user = np.concatenate([[True], u[1:] != u[:-1]])
        gap = np.concatenate([[False], np.diff(t) > gap_minutes * 60 * 1000.0])
        count = np.cumsum(new_user | gap)
        k[o] = count - np.maximum.accumulate(np.where(new_user, count, 0))
    if session is not None:
        suffix = session
        if len(gap_rows):
            mask = np.zeros(n, bool)
            mask[gap_rows] = True
            suffix = pc.replace_with_mask(
                session, pa.array(mask), pa.array(np.strings.add("~", k[gap_rows].astype(str))))
        # Codes in order of first appearance tell sessions apart; the ids'
        # string order is needed only between sessions of one user that start
        # at the same time (below), so the ids are not all sorted.
        tie = pc.dictionary_encode(suffix).indices.to_numpy(zero_copy_only=False).astype(
            np.int64)
    else:
        suffix = None
        tie = k
    key = user_rank * (int(tie.max(initial=0)) + 1) + tie

    # Rows by (session, time, file order); sessions by (user, start, id).
    by_key = np.lexsort((ts, key))
    sorted_key = key[by_key]
    run = np.flatnonzero(np.concatenate([[True], sorted_key[1:] != sorted_key[:-1]])) \
        if n else np.zeros(0, np.int64)
    first = by_key[run]
    runs = _session_order(user_rank[first], ts[first], tie[first], suffix, at=first)
    order = by_key[_ranges(run[runs], np.diff(np.append(run, n))[runs])]

    if dedupe and n > 1:
        raw_name = "event_raw" if "event_raw" in table.column_names else "event_type"
        raw = {"user_id": user_rank, "item_id": _Lazy(col("item_id")),
               "event_type": _Lazy(col(raw_name))}
        if session is not None:
            raw["session_id"] = _Lazy(col("session_id"))
        raw.update({name[6:]: _Lazy(col(name)) for name in table.column_names
                    if name.startswith("extra:")})
        numbers = {name: col(name).to_numpy(zero_copy_only=False)
                   for name in ("quantity", "price") if name in table.column_names}
        dup = _duplicates(raw, _Lazy(col("event_type")), ts, numbers, np.arange(n), order)
        if len(dup):
            from types import SimpleNamespace

            from ecomtf.data.event_reader import _describe_row

            raw["user_id"] = _Lazy(user)
            row = SimpleNamespace(event_raw=raw["event_type"], timestamp=ts,
                                  quantity=numbers.get("quantity"), price=numbers.get("price"))
            line = col("line").to_numpy()
            for i in dup[: report.max_examples]:
                report.reject("duplicate", line=int(line[i]), row=_describe_row(raw, row, i))
            if len(dup) > report.max_examples:
                report.reject("duplicate", n=len(dup) - report.max_examples)
            drop = np.zeros(n, bool)
            drop[dup] = True
            order = order[~drop[order]]

    # One example per session (session_purchase_examples).
    m = len(order)
    sk = key[order]
    starts = np.flatnonzero(np.concatenate([[True], sk[1:] != sk[:-1]])) if m \
        else np.zeros(0, np.int64)
    ends = np.append(starts[1:], m).astype(np.int64)
    ex_report.read(len(starts))
    is_buy = pc.equal(col("event_type"), purchase_event).to_numpy(zero_copy_only=False)[order]
    first_buy = np.minimum.reduceat(np.where(is_buy, np.arange(m), m), starts) if m \
        else np.zeros(0, np.int64)
    has_buy = first_buy < ends
    cut = np.where(has_buy, first_buy, ends)
    keep = cut > starts  # min_events = 1

    def session_names(rows):
        src = pa.array(order[rows])
        s = suffix.take(src) if suffix is not None else pa.array(k[order[rows]].astype(str))
        return pc.binary_join_element_wise(user.take(src), s, "/")

    dropped = np.flatnonzero(~keep)
    if len(dropped):
        reason = "too few events before the purchase"
        for name in session_names(starts[dropped[: ex_report.max_examples]]).to_pylist():
            ex_report.reject(reason, row=f"session {name}")
        if len(dropped) > ex_report.max_examples:
            ex_report.reject(reason, n=len(dropped) - ex_report.max_examples)
        ex_report.note("sessions need at least min_events=1 events to be kept")
    starts, cut, labels = starts[keep], cut[keep], has_buy[keep]
    lo = np.maximum(starts, cut - int(max_length))
    lengths = cut - lo
    src = order[_ranges(lo, lengths)]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    heads = offsets[:-1]

    def listed(values):
        return pa.ListArray.from_arrays(pa.array(offsets), values)

    take = pa.array(src)
    t = ts[src]
    step = np.zeros(len(src), np.float64)
    step[1:] = np.diff(t) / 1000.0
    step[heads[heads < len(src)]] = 0.0  # the first event of a sequence
    dwell = np.zeros(len(src), np.float64)
    dwell[:-1] = step[1:]
    dwell[offsets[1:][lengths > 0] - 1] = 0.0  # the last event of a sequence
    cols = {
        "item_id": listed(col("item_id").take(take)),
        "event_type": listed(col("event_type").take(take)),
        "time_delta": listed(pa.array(step.astype(np.float32))),
        "dwell_time": listed(pa.array(dwell.astype(np.float32))),
    }
    if "price" in table.column_names:
        price = col("price").to_numpy(zero_copy_only=False)[src]
        nan = np.isnan(price)
        if nan.any():
            ex_report.note(f"{int(nan.sum()):,} missing price values in sequences set to 0")
        cols["price"] = listed(pa.array(np.where(nan, 0.0, price).astype(np.float32)))
    first_rows = order[starts]
    time = ts[first_rows]
    cols[LABEL] = pa.array(labels.astype(np.float32))
    cols["session_id"] = session_names(starts)
    cols["user_id"] = user.take(pa.array(first_rows))
    cols["time"] = pa.array(time)
    out = pa.table(cols).replace_schema_metadata({_LENGTH_KEY: str(int(max_length))})
    return out, ex_report, time


def _session_order(user, start, code, names, at=None) -> np.ndarray:
    """Sessions sorted by (user, start, session id), given the ids' codes and strings.

    ``names`` (the ids, an Arrow array: session i's id is ``names[i]``, or
    ``names[at[i]]`` when ``at`` is given) are compared only where a user has
    sessions starting at the same time, and only those are gathered;
    ``names=None``: ``code`` already sorts as the ids do.
    """
    if names is not None and at is not None:
        import pyarrow as pa

        names = _Gathered(names, at, pa)
    n = len(user)
    if n > 1:
        lo, hi = int(start.min()), int(start.max())
        if int(user.min()) >= 0 and (int(user.max()) + 1) * (hi - lo + 1) < 1 << 62:
            return _packed_session_order(user * (hi - lo + 1) + (start - lo), code, names)
    order = np.lexsort((code, start, user))
    if names is None or len(order) < 2:
        return order
    u, t = user[order], start[order]
    same = (u[1:] == u[:-1]) & (t[1:] == t[:-1])
    if not same.any():
        return order
    tied = np.zeros(len(order), bool)
    tied[1:] |= same
    tied[:-1] |= same
    import pyarrow as pa

    rank = np.zeros(len(order), np.int64)
    rows = order[tied]
    rank[rows] = _arrow_ranks(names.take(pa.array(rows)))
    return np.lexsort((rank, start, user))


class _Gathered:
    """``source.take(at)`` without gathering it: ``take(rows)`` gathers only ``rows``."""

    def __init__(self, source, at, pa):
        self.source, self.at, self.pa = source, np.asarray(at), pa

    def take(self, rows):
        rows = rows.to_numpy() if hasattr(rows, "to_numpy") else np.asarray(rows)
        return self.source.take(self.pa.array(self.at[rows]))


def _packed_session_order(packed, code, names) -> np.ndarray:
    """``_session_order`` with (user, start) packed into one int64 key.

    One unstable sort of the packed key (numpy's quicksort: 3x faster than
    a three-key ``lexsort`` on a partition's 200k sessions), then the runs of
    equal keys (one user's sessions starting together, rare) are put in
    order by ``code`` or by the ids' strings.
    """
    import pyarrow as pa

    order = np.argsort(packed)
    p = packed[order]
    same = p[1:] == p[:-1]
    if not same.any():
        return order
    tied = np.zeros(len(order), bool)
    tied[1:] |= same
    tied[:-1] |= same
    pos = np.flatnonzero(tied)  # runs of equal keys, contiguous in ``order``
    run = np.concatenate([[0], np.cumsum(~same)])[pos]
    rows = order[pos]
    key = code[rows] if names is None else _arrow_ranks(names.take(pa.array(rows)))
    order[pos] = rows[np.lexsort((key, run))]
    return order


def _ranges(starts, lengths) -> np.ndarray:
    """``concatenate([arange(s, s + l) for s, l in zip(starts, lengths)])``, vectorised."""
    starts = np.asarray(starts, np.int64)
    lengths = np.asarray(lengths, np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(total)


def _arrow_ranks(a) -> np.ndarray:
    """Each row's rank among the distinct strings of ``a`` (int64), sorted by Arrow.

    Arrow sorts strings by their UTF-8 bytes, which is code point order: the
    order numpy sorts them in (``ecomtf.data.sessions.string_ranks``).
    """
    import pyarrow.compute as pc

    if len(a) == 0:
        return np.zeros(0, np.int64)
    d = pc.dictionary_encode(a.fill_null("") if a.null_count else a)
    order = pc.sort_indices(d.dictionary).to_numpy()
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank[d.indices.to_numpy(zero_copy_only=False)]


def write_splits(out, shards: int, times, report: RejectReport, example_report: RejectReport, *,
                 source: str, max_length: int, gap_minutes: float, test_fraction: float,
                 test_from_ms=None, strict: bool = False, verbose: bool = False,
                 runner=None) -> dict:
    """Pass 3: ``out/_partitions/examples-*.arrow`` -> train/test shards and the manifest.

    Each partition is split and written alone (in ``runner``'s processes
    when given); the vocabularies and step statistics are summed over the
    partitions' training rows in partition order.
    """
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

    # Split by time; vocabularies and statistics from train only.
    items = kinds = None
    step_sum = step_sq = step_n = None
    step_names = []
    counts = {"train_examples": 0, "test_examples": 0, "train_positives": 0, "test_positives": 0}
    files = {"train": [], "test": []}
    present = [s for s in range(shards) if (parts / f"examples-{s:05d}.arrow").exists()]
    jobs = [(out, s, int(test_from_ms)) for s in present]
    for result in (runner.map if runner is not None else map)(_split_partition, jobs):
        for split in ("train", "test"):
            if result["files"][split]:
                files[split].append(result["files"][split])
        for key, n in result["counts"].items():
            counts[key] += n
        if result["items"] is not None:
            items = _add_counts(items, result["items"])
            kinds = _add_counts(kinds, result["kinds"])
        if result["step_names"]:
            step_names = result["step_names"]
            step_sum = result["step_sum"] + (0 if step_sum is None else step_sum)
            step_sq = result["step_sq"] + (0 if step_sq is None else step_sq)
            step_n = result["step_n"] + (0 if step_n is None else step_n)
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


def _split_partition(args) -> dict:
    """One partition's examples -> its train and test shard files, and its training counts."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out, s, test_from_ms = args
    path = out / "_partitions" / f"examples-{s:05d}.arrow"
    table = read_partition(path)
    path.unlink()
    is_test = pc.greater_equal(table.column("time"), pa.scalar(test_from_ms, pa.int64()))
    result = {"files": {"train": None, "test": None}, "items": None, "kinds": None,
              "step_names": [],
              "counts": {"train_examples": 0, "test_examples": 0, "train_positives": 0,
                         "test_positives": 0}}
    for split, mask in (("train", pc.invert(is_test)), ("test", is_test)):
        sub = table.filter(mask)
        if sub.num_rows == 0:
            continue
        name = f"{split}-{s:05d}.parquet"
        pq.write_table(sub, out / name, **SHARD_WRITE_OPTIONS)
        result["files"][split] = name
        y = sub.column(LABEL).to_numpy()
        result["counts"][f"{split}_examples"] += len(y)
        result["counts"][f"{split}_positives"] += int(y.sum())
        if split != "train":
            continue
        # Counted in Arrow over the sequences' values (real events only: the
        # shards hold no padding).
        result["items"] = pc.value_counts(_values(sub.column("item_id")))
        result["kinds"] = pc.value_counts(_values(sub.column("event_type")))
        step_names = [n for n in sub.column_names if n not in _META and n != LABEL
                      and pa.types.is_list(sub.schema.field(n).type)
                      and pa.types.is_floating(sub.schema.field(n).type.value_type)]
        if step_names:
            v = np.stack([_values(sub.column(k)).to_numpy(zero_copy_only=False)
                          for k in step_names], -1).astype(np.float64)
            v = np.sign(v) * np.log1p(np.abs(v))  # NumericNormalizer.statistics(log=True)
            ok = np.isfinite(v)
            v = np.where(ok, v, 0.0)
            result.update(step_names=step_names, step_sum=v.sum(0), step_sq=(v * v).sum(0),
                          step_n=ok.sum(0))
    return result


def _values(lists):
    """The flat values of a list column (its sequences' events, in order)."""
    import pyarrow as pa

    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    return lists.flatten()


def _add_counts(total, counts):
    """Sums two ``value_counts`` results (struct arrays of values and counts) by value."""
    import pyarrow as pa

    table = pa.table({"values": counts.field("values"), "counts": counts.field("counts")})
    if total is not None:
        summed = pa.concat_tables([total, table]).group_by("values").aggregate(
            [("counts", "sum")])
        table = pa.table({"values": summed.column("values"),
                          "counts": summed.column("counts_sum")})
    return table


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


def _ranked(counts) -> list:
    """``[[value, count], ...]``, most frequent first, ties by value (build_vocabulary's order).

    ``counts`` is a table of ``values`` and ``counts`` (``_add_counts``); the
    empty string (padding) is never a vocabulary entry.
    """
    import pyarrow.compute as pc

    if counts is None:
        return []
    counts = counts.filter(pc.not_equal(counts.column("values"), ""))
    order = pc.sort_indices(counts, sort_keys=[("counts", "descending"), ("values", "ascending")])
    counts = counts.take(order)
    return [[v, c] for v, c in zip(counts.column("values").to_pylist(),
                                   counts.column("counts").to_pylist())]


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
    slices of ``rows_per_read`` rows by pyarrow (sequences padded on the left
    to ``max_length`` there, ``pad_sequences``), unbatched into examples,
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

            feats, labels, _ = _columns_to_numpy(pa.Table.from_batches([batch]), length)
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
