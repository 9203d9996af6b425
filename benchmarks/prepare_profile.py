"""Where ``prepare`` spends its CPU: seconds per step of one real run, next to pyarrow's bare read.

    .venv/bin/python -m benchmarks.prepare_profile runs/scale/store-1000000.csv
    .venv/bin/python -m benchmarks.prepare_profile runs/scale/store-5000000.csv --workers 2

The file is one that ``benchmarks.scale`` writes (a store's monthly export
schema). The bare ``pyarrow.csv.read_csv`` of the file runs first (the speed
reference of the scale benchmark), then ``prepare_purchase`` itself with
timers wrapped around its steps (the functions it calls, patched in place:
no second copy of its passes), in one process (``workers=1``: the
partition workers' CPU would not show here). Times are CPU seconds of this process
(``time.process_time``, all threads), so other jobs on a shared machine
inflate them less than wall time; steps nest (``partition_examples`` includes
``finish_events`` and the session and sequence builders).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time

from benchmarks.common import machine
from benchmarks.scale import ROWS_PER_SHARD
from benchmarks.scale import STORE_SCHEMA

# (module, function, label, depth); partition_examples imports the inner
# ones at call time, so patching their modules reaches it.
STEPS = [
    ("ecomtf.data.prepare", "iter_event_chunks", "pass 1: read + validate (Arrow)", 0),
    ("ecomtf.data.prepare", "split_by_partition", "pass 1: CRC-32 partition of users", 0),
    ("ecomtf.data.prepare", "_PartitionWriter.write_table", "pass 1: write partitions", 0),
    ("ecomtf.data.prepare", "read_partition", "read partitions (IPC)", 0),
    ("ecomtf.data.prepare", "partition_examples", "pass 2: partition_examples", 0),
    ("ecomtf.data.prepare", "_arrow_ranks", "rank users and session ids", 1),
    ("ecomtf.data.event_reader", "_duplicates", "duplicates", 1),
    ("ecomtf.data.prepare", "write_partition", "write examples (IPC)", 0),
    ("ecomtf.data.prepare", "_split_partition", "pass 3: split, Parquet shards, counts", 0),
    ("pyarrow.parquet", "write_table", "Parquet writes", 1),
    ("ecomtf.data.prepare", "_ranked", "vocabulary order (manifest)", 0),
    # Steps of older versions (before session 4), to profile them too:
    ("ecomtf.data.prepare", "finish_events", "dedupe + sort (finish_events)", 1),
    ("ecomtf.data.sessions", "session_layout", "sessions (session_layout)", 1),
    ("ecomtf.data.sequences", "session_examples", "examples + padding (session_examples)", 1),
    ("ecomtf.data.prepare", "_examples_table", "examples -> Arrow table", 1),
    ("ecomtf.data.prepare", "write_splits", "pass 3: split, Parquet shards, vocabularies", 0),
]


def _timed(fn, label, totals):
    def wrapper(*args, **kwargs):
        t = time.process_time()
        try:
            out = fn(*args, **kwargs)
        finally:
            totals[label] = totals.get(label, 0.0) + time.process_time() - t
        if hasattr(out, "__next__"):  # a generator: time each batch it yields
            return _timed_iter(out, label, totals)
        return out

    return wrapper


def _timed_iter(it, label, totals):
    while True:
        t = time.process_time()
        try:
            item = next(it)
        except StopIteration:
            totals[label] = totals.get(label, 0.0) + time.process_time() - t
            return
        totals[label] = totals.get(label, 0.0) + time.process_time() - t
        yield item


@contextlib.contextmanager
def _patched(totals):
    import importlib

    undo = []
    for module_name, name, label, _ in STEPS:
        owner = importlib.import_module(module_name)
        attr = name
        if "." in name:
            cls, attr = name.split(".")
            owner = getattr(owner, cls, None)
            if owner is None:
                continue
        fn = getattr(owner, attr, None)
        if fn is None:  # an older ecomtf without this step (to profile it too)
            continue
        undo.append((owner, attr, fn))
        setattr(owner, attr, _timed(fn, label, totals))
    try:
        yield
    finally:
        for owner, attr, fn in reversed(undo):
            setattr(owner, attr, fn)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 3 and argv[1] == "--workers":
        return compare_workers(argv[0], int(argv[2]))
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    path = argv[0]
    import pyarrow.csv as pacsv

    from ecomtf.data import EventSchema
    from ecomtf.data.prepare import prepare_purchase

    print(f"machine: {machine()}")
    t, w = time.process_time(), time.perf_counter()
    rows = pacsv.read_csv(path).num_rows
    bare_cpu, bare_wall = time.process_time() - t, time.perf_counter() - w
    totals: dict = {}
    import inspect

    # In one process (workers=1), so that every step's CPU is this process's.
    one = {"workers": 1} if "workers" in inspect.signature(prepare_purchase).parameters else {}
    with tempfile.TemporaryDirectory() as out, _patched(totals):
        t, w = time.process_time(), time.perf_counter()
        prepare_purchase(path, EventSchema(**STORE_SCHEMA), out, rows_per_shard=ROWS_PER_SHARD,
                         max_length=20, **one)
        cpu, wall = time.process_time() - t, time.perf_counter() - w
    print(f"{rows:,} rows; CPU s (wall s)")
    print(f"bare pyarrow read_csv        {bare_cpu:7.2f} ({bare_wall:.2f})")
    print(f"prepare_purchase             {cpu:7.2f} ({wall:.2f})  = {cpu / bare_cpu:.1f}x the "
          f"bare read's CPU, {wall / bare_wall:.1f}x its wall time")
    for _, _, label, depth in STEPS:
        if label in totals:
            share = 100 * totals[label] / cpu
            print(f"  {'  ' * depth}{label:<48}{totals[label]:7.2f}  {share:5.1f}%")
    return 0


def compare_workers(path, workers: int) -> int:
    """``prepare`` in one process, then in ``workers`` processes, back to back: CPU s of each.

    User and system seconds of this process and of its finished children
    (the workers), so what the pool adds (fork, worker memory, the pieces'
    temporary files) shows next to the one-process run on the same file.
    """
    import resource

    from ecomtf.data import EventSchema
    from ecomtf.data.prepare import prepare_purchase

    def usage():
        a, b = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        return a.ru_utime + b.ru_utime, a.ru_stime + b.ru_stime

    print(f"machine: {machine()}")
    for n in (1, workers):
        (u0, s0), w = usage(), time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            prepare_purchase(path, EventSchema(**STORE_SCHEMA), out,
                             rows_per_shard=ROWS_PER_SHARD, max_length=20, workers=n)
        (u1, s1), wall = usage(), time.perf_counter() - w
        print(f"workers={n}: CPU {u1 - u0 + s1 - s0:.2f} s (user {u1 - u0:.2f}, system "
              f"{s1 - s0:.2f}), wall {wall:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
