"""Scale: prepare and train-from-shards on a store's monthly export schema, 1M to 42M rows.

    .venv/bin/python -m benchmarks.scale                    # 1M and 5M rows
    .venv/bin/python -m benchmarks.scale --rows 1M,5M,20M,42M
    .venv/bin/python -m benchmarks.scale --rows 1M --steps 200

For each size it writes (once, deterministic, under runs/scale/) a CSV with
the columns of a multi-category store's monthly export
(``ecomtf.datasets.store_month``), then runs each step in a fresh child
process (``python -m benchmarks.scale probe STEP ...``) and prints its wall
time and peak RSS:

- ``bare``: pyarrow's own ``read_csv`` of the file (the speed reference,
  same run, same file, run just before each ``prepare``; with ``--repeat N``
  the pair is run N times and the pair with the median ratio is reported);
- ``prepare``: ``prepare_purchase`` to user-hash shards (reader, rejects,
  sessions, examples, split, vocabularies);
- ``train``: ``--steps`` training steps of the purchase model streamed from
  the shards, and the input pipeline alone for as many batches (so the
  pipeline's speed can be compared with the model's).

``probe read FILE`` measures ``read_events`` alone (the whole log as one
EventLog), for comparison with the csv-module reader it replaced.
Figures go to docs/benchmarks/scale.md by hand (``--plot`` draws memory vs
rows to docs/benchmarks/scale_memory.png).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks.common import REPO
from benchmarks.common import machine

STORE_SCHEMA = dict(
    user="user_id", item="product_id", event_type="event_type", timestamp="event_time",
    session="user_session", price="price",
)
ROWS_PER_SHARD = 250_000


def _rows(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * scale)


def prepare_step(path, out) -> dict:
    from ecomtf.data import EventSchema
    from ecomtf.data.prepare import default_workers
    from ecomtf.data.prepare import prepare_purchase

    m = prepare_purchase(path, EventSchema(**STORE_SCHEMA), out, rows_per_shard=ROWS_PER_SHARD,
                         max_length=20)
    c = m["counts"]
    return {"rows": c["rows_read"], "kept": c["rows_kept"], "rejected": m["reject_report"]["rejected"],
            "train_examples": c["train_examples"], "test_examples": c["test_examples"],
            "shards": m["shards"], "items": len(m["vocabulary"]["item_id"]),
            "workers": default_workers(m["shards"], c["rows_read"])}


def train_step(prepared, steps) -> dict:
    import tensorflow as tf

    from ecomtf.data.prepare import prepared_dataset
    from ecomtf.recipes.prepared import train_purchase_prepared

    # The input pipeline alone, same settings as training.
    ds = prepared_dataset(prepared, "train", batch_size=256, shuffle_buffer=10_000, seed=0,
                          repeat=True)
    it = iter(ds)
    next(it)
    t = time.perf_counter()
    for _ in range(steps):
        next(it)
    pipeline = time.perf_counter() - t
    del it, ds
    t = time.perf_counter()
    _, metrics = train_purchase_prepared(prepared, max_steps=steps, batch_size=256,
                                         shuffle_buffer=10_000, verbose=0, evaluate=False)
    fit = time.perf_counter() - t
    tf.keras.backend.clear_session()
    return {"steps": steps, "pipeline_steps_per_s": round(steps / pipeline, 1),
            "train_steps_per_s": round(steps / fit, 1),
            "pipeline_over_train": round((steps / pipeline) / (steps / fit), 2)}


def _bare(path) -> dict:
    import pyarrow.csv as pacsv

    # pyarrow's own CSV reader with default settings: the speed reference.
    return {"rows": pacsv.read_csv(path).num_rows}


def _read(path) -> dict:
    from ecomtf.data import EventSchema
    from ecomtf.data import read_events

    log, report = read_events(path, EventSchema(**STORE_SCHEMA))
    return {"rows": report.rows_read, "kept": len(log), "rejected": dict(report.rejected)}


def probe(argv) -> int:
    """One measured step in this (fresh) process; prints one JSON line.

    ``probe bare FILE | read FILE | prepare FILE OUT | train OUT STEPS``. Peak
    RSS is this process's own (``ru_maxrss``, KiB on Linux).
    """
    import importlib
    import resource

    step, rest = argv[0], argv[1:]
    # Modules are imported before the clock starts (since 2026-12-07 session
    # 4; before, each step's seconds included its imports, about 0.3-1 s of
    # the bare read's time at 1M rows, which made the reference slower).
    for name in {"bare": ["pyarrow.csv"], "read": ["ecomtf.data"],
                 "prepare": ["ecomtf.data", "ecomtf.data.prepare", "pyarrow.csv",
                             "pyarrow.parquet", "pyarrow.compute"],
                 "train": []}[step]:
        importlib.import_module(name)
    def cpu():
        # CPU seconds (user + system) of this process and of its finished
        # children (prepare's workers, joined when it returns).
        return sum(getattr(resource.getrusage(who), f) for who in
                   (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                   for f in ("ru_utime", "ru_stime"))

    cpu_start = cpu()
    started = time.perf_counter()
    out = {"bare": lambda: _bare(rest[0]), "read": lambda: _read(rest[0]),
           "prepare": lambda: prepare_step(rest[0], rest[1]),
           "train": lambda: train_step(rest[0], int(rest[1]))}[step]()
    out.update(step=step, seconds=round(time.perf_counter() - started, 2),
               cpu_seconds=round(cpu() - cpu_start, 2),
               peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    # prepare's partition workers are child processes: the largest one's peak,
    # and a bound on the whole step's (this process + every worker at that peak).
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if child and step == "prepare":
        out.update(worker_peak_rss_mb=round(child, 1),
                   total_peak_rss_bound_mb=round(out["peak_rss_mb"]
                                                 + out.get("workers", 1) * child, 1))
    print(json.dumps(out), flush=True)
    return 0


def _probe(*args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-m", "benchmarks.scale", "probe", *args], cwd=REPO,
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{out.stderr[-3000:]}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(line)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "probe":
        return probe(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1M,5M", help="sizes, e.g. 1M,5M,20M,42M")
    parser.add_argument("--steps", type=int, default=1000, help="training steps per size")
    parser.add_argument("--workdir", default=str(REPO / "runs" / "scale"))
    parser.add_argument("--no-train", action="store_true", help="skip the training step")
    parser.add_argument("--repeat", type=int, default=1,
                        help="bare read + prepare pairs per size (the median pair is reported)")
    parser.add_argument("--plot", action="store_true", help="write docs/benchmarks/scale_memory.png")
    parser.add_argument("--results", default=None, help="append JSON lines of results here")
    args = parser.parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    print(f"machine: {machine()}", flush=True)
    rows_list = [_rows(r) for r in args.rows.split(",") if r]
    table = []
    for rows in rows_list:
        path = os.path.join(args.workdir, f"store-{rows}.csv")
        if not os.path.exists(path):
            from ecomtf.datasets.store_month import write_store_month

            t = time.perf_counter()
            write_store_month(path + ".tmp", rows, seed=0)
            os.replace(path + ".tmp", path)
            print(f"wrote {path} ({os.path.getsize(path) / 1e9:.2f} GB) in "
                  f"{time.perf_counter() - t:.0f} s", flush=True)
        prepared = os.path.join(args.workdir, f"prepared-{rows}")
        result = {"rows": rows, "csv_gb": round(os.path.getsize(path) / 1e9, 2)}
        # Bare read and prepare back to back, --repeat times: on a shared
        # machine the load drifts, so each pair is a ratio of its own and the
        # median pair is reported (all pairs are kept in the results).
        pairs = []
        for _ in range(args.repeat):
            bare = _probe("bare", path)
            print(json.dumps(bare), flush=True)
            prep = _probe("prepare", path, prepared)
            print(json.dumps(prep), flush=True)
            pairs.append((prep["seconds"] / bare["seconds"], bare, prep))
        pairs.sort(key=lambda p: p[0])
        _, result["bare"], result["prepare"] = pairs[(len(pairs) - 1) // 2]
        if args.repeat > 1:
            result["pair_ratios"] = [round(r, 2) for r, _, _ in pairs]
            result["pairs"] = [{"bare": b, "prepare": p} for _, b, p in pairs]
        if not args.no_train:
            result["train"] = _probe("train", prepared, str(args.steps))
            print(json.dumps(result["train"]), flush=True)
        result["prepare_over_bare"] = round(
            result["prepare"]["seconds"] / result["bare"]["seconds"], 2)
        # The same pair in CPU seconds: on a shared machine the wall ratio
        # also measures how much of the cores each step got.
        result["prepare_over_bare_cpu"] = round(
            result["prepare"]["cpu_seconds"] / max(result["bare"]["cpu_seconds"], 1e-9), 2)
        table.append(result)
        if args.results:
            with open(args.results, "a") as f:
                f.write(json.dumps(result) + "\n")
    print("\nrows        CSV GB  bare s  bare MB  prepare s  prepare MB  prepare/bare  "
          "train MB  pipeline/train  CPU prepare/bare  "
          "(prepare MB: this process + workers x the largest worker)")
    for r in table:
        tr = r.get("train", {})
        prep_mb = r["prepare"].get("total_peak_rss_bound_mb", r["prepare"]["peak_rss_mb"])
        print(f"{r['rows']:>10,}  {r['csv_gb']:>6}  {r['bare']['seconds']:>6}  "
              f"{r['bare']['peak_rss_mb']:>7}  {r['prepare']['seconds']:>9}  "
              f"{prep_mb:>10}  {r['prepare_over_bare']:>12}  "
              f"{tr.get('peak_rss_mb', '-'):>8}  {tr.get('pipeline_over_train', '-'):>14}  "
              f"{r['prepare_over_bare_cpu']:>16}")
    if args.plot:
        _plot(table)
    return 0


def _plot(table):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r["rows"] / 1e6 for r in table]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(rows, [r["prepare"].get("total_peak_rss_bound_mb", r["prepare"]["peak_rss_mb"]) / 1024
                   for r in table], "o-", label="prepare (with its workers)")
    ax.plot(rows, [r["bare"]["peak_rss_mb"] / 1024 for r in table], "s--",
            label="pyarrow read_csv (whole table)")
    if all("train" in r for r in table):
        ax.plot(rows, [r["train"]["peak_rss_mb"] / 1024 for r in table], "^-",
                label="train from shards")
    ax.axhline(4, color="grey", lw=0.8, ls=":", label="target 4 GB")
    ax.set_xlabel("rows (millions)")
    ax.set_ylabel("peak RSS (GB)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(REPO / "docs" / "benchmarks" / "scale_memory.png", dpi=100)


if __name__ == "__main__":
    sys.exit(main())
