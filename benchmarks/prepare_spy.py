"""Where ``prepare``'s CPU goes with its worker processes: py-spy samples of a real run, per phase.

    pip install py-spy   # not a dependency of ecomtf: a sampling profiler
    .venv/bin/python -m benchmarks.prepare_spy runs/scale/store-5000000.csv
    .venv/bin/python -m benchmarks.prepare_spy runs/scale/store-42000000.csv --rate 20
    .venv/bin/python -m benchmarks.prepare_spy --summary RAW CPU_S ROWS [RAW CPU_S ROWS ...]

``benchmarks.prepare_profile`` times steps in one process (``workers=1``);
this one samples the run the scale benchmark makes (``workers`` = the cores),
the parent, both workers and their read-ahead threads, with ``py-spy record
--subprocesses``, and sorts each sample into a phase by the functions on its
stack. A phase's CPU seconds per million rows are its share of the samples
times the run's CPU seconds (user + system of the process and its workers,
``getrusage``). Samples see Python threads only; Arrow's own threads are not
used by ``prepare``'s reader (``use_threads=False``). The file's bare
``pyarrow.csv.read_csv`` runs first, in its own process, for the CPU ratio.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile

# (phase, patterns): a sample goes to the first phase one of whose patterns is
# in its stack (a tuple: all of its strings are).
PHASES = [
    ("pass 1: CSV parse (Arrow, read-ahead thread)", ["_read_ahead.<locals>.parse"]),
    ("pass 1: checks (times, numbers, ids, event types)", ["_validate_batch", "_min_len"]),
    ("pass 1: user hash + split by partition", ["split_by_partition"]),
    ("pass 1: partition writes (IPC)", ["_PartitionWriter"]),
    ("pass 1: file reads, batch plumbing",
     ["_read_piece", "iter_event_chunks", "_TailFile", "_read_tails", "_PieceWriter"]),
    ("pass 2: read partitions (IPC)", [("_build_partition_file", "read_partition")]),
    ("pass 2: user ranks", ["_arrow_ranks"]),
    ("pass 2: session order", ["_session_order"]),
    ("pass 2: session names (user/session)", ["session_names"]),
    ("pass 2: duplicates", ["_duplicates"]),
    ("pass 2: rest of partition_examples (session ids, row sort, sequences)",
     ["partition_examples"]),
    ("pass 2: write examples (IPC)", ["write_partition", "_build_partition_file"]),
    ("pass 3: Parquet shard writes", [("_split_partition", "write_table")]),
    ("pass 3: read, split, counts", ["_split_partition"]),
    ("parent: plan, merge reports, vocabulary, manifest",
     ["write_splits", "_merge_pieces", "plan_pieces", "_estimate_rows", "read_pieces"]),
    ("process pool, imports, other", [""]),
]


def phase_counts(raw_path) -> tuple[collections.Counter, int]:
    """Samples per phase of a ``py-spy record --format raw`` file, and the total."""
    counts, total = collections.Counter(), 0
    with open(raw_path) as f:
        for line in f:
            stack, _, k = line.rstrip().rpartition(" ")
            if not k.isdigit():
                continue
            total += int(k)
            for name, patterns in PHASES:
                if any(all(p in stack for p in pat) if isinstance(pat, tuple) else pat in stack
                       for pat in patterns):
                    counts[name] += int(k)
                    break
    return counts, total


def table(runs) -> str:
    """Markdown rows: each phase's share and CPU s per million rows, one column pair a run."""
    loaded = [(phase_counts(raw), cpu, rows) for raw, cpu, rows in runs]
    lines = []
    for name, _ in PHASES:
        cells = [f"{100 * c[name] / n:.1f}% | {c[name] / n * cpu / (rows / 1e6):.2f}"
                 for (c, n), cpu, rows in loaded]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| **total** | " + " | ".join(f"100% | **{cpu / (rows / 1e6):.2f}**"
                                               for _, cpu, rows in loaded) + " |")
    return "\n".join(lines)


def _run(path) -> int:
    """The profiled child: ``prepare_purchase`` as the scale benchmark runs it; prints CPU s."""
    import resource

    from benchmarks.scale import ROWS_PER_SHARD
    from benchmarks.scale import STORE_SCHEMA
    from ecomtf.data import EventSchema
    from ecomtf.data.prepare import prepare_purchase

    with tempfile.TemporaryDirectory() as out:
        m = prepare_purchase(path, EventSchema(**STORE_SCHEMA), out,
                             rows_per_shard=ROWS_PER_SHARD, max_length=20)
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    print(json.dumps({"rows": m["counts"]["rows_read"],
                      "cpu_seconds": sum(u.ru_utime + u.ru_stime for u in usage),
                      "system_seconds": sum(u.ru_stime for u in usage)}), flush=True)
    return 0


def _bare(path) -> int:
    import resource
    import time

    import pyarrow.csv as pacsv

    t = time.perf_counter()
    rows = pacsv.read_csv(path).num_rows
    u = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"rows": rows, "cpu_seconds": u.ru_utime + u.ru_stime,
                      "seconds": time.perf_counter() - t}), flush=True)
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:
        return _run(argv[1])
    if argv[:1] == ["bare"]:
        return _bare(argv[1])
    if argv[:1] == ["--summary"] and len(argv) >= 4 and (len(argv) - 1) % 3 == 0:
        rest = argv[1:]
        print(table([(rest[i], float(rest[i + 1]), float(rest[i + 2]))
                     for i in range(0, len(rest), 3)]))
        return 0
    if not argv or argv[0].startswith("-"):
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    path, rate = argv[0], "20"
    if "--rate" in argv:
        rate = argv[argv.index("--rate") + 1]
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(spy):
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    env = dict(os.environ, PYTHONPATH=os.getcwd())

    def child(*args):
        out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
        return json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])

    bare = child(sys.executable, "-m", "benchmarks.prepare_spy", "bare", path)
    raw = os.path.join(tempfile.mkdtemp(), "prepare.txt")
    run = child(spy, "record", "--subprocesses", "--rate", rate, "--format", "raw", "-o", raw,
                "--", sys.executable, "-m", "benchmarks.prepare_spy", "run", path)
    rows = run["rows"]
    print(f"{rows:,} rows; bare read {bare['cpu_seconds']:.2f} CPU s "
          f"({bare['cpu_seconds'] / (rows / 1e6):.2f} per million rows); prepare "
          f"{run['cpu_seconds']:.2f} CPU s ({run['system_seconds']:.2f} system) = "
          f"{run['cpu_seconds'] / bare['cpu_seconds']:.2f}x; samples in {raw}")
    print("| phase | share | CPU s per million rows |\n|---|---|---|")
    print(table([(raw, run["cpu_seconds"], rows)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
