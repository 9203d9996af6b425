"""One measured step of benchmarks/scale.py, run in its own process.

    python -m benchmarks.scale_probe bare FILE
    python -m benchmarks.scale_probe read FILE
    python -m benchmarks.scale_probe prepare FILE OUT
    python -m benchmarks.scale_probe train OUT STEPS

Prints one JSON line: the step, wall seconds and the process's peak RSS
(``resource.getrusage``; ru_maxrss is in KiB on Linux), so each figure is a
fresh process's own peak and steps do not inherit each other's memory.
"""

from __future__ import annotations

import json
import resource
import sys
import time

STORE_SCHEMA_ARGS = dict(
    user="user_id", item="product_id", event_type="event_type", timestamp="event_time",
    session="user_session", price="price",
)


def _bare(path):
    import pyarrow.csv as pacsv

    # pyarrow's own CSV reader with default settings: the speed reference.
    table = pacsv.read_csv(path)
    return {"rows": table.num_rows}


def _read(path):
    from ecomtf.data import EventSchema
    from ecomtf.data import read_events

    log, report = read_events(path, EventSchema(**STORE_SCHEMA_ARGS))
    return {"rows": report.rows_read, "kept": len(log), "rejected": dict(report.rejected)}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    step, rest = argv[0], argv[1:]
    started = time.perf_counter()
    if step == "bare":
        out = _bare(rest[0])
    elif step == "read":
        out = _read(rest[0])
    elif step == "prepare":
        from benchmarks.scale import prepare_step

        out = prepare_step(rest[0], rest[1])
    elif step == "train":
        from benchmarks.scale import train_step

        out = train_step(rest[0], int(rest[1]))
    else:
        raise SystemExit(f"unknown step {step!r}")
    out.update(step=step, seconds=round(time.perf_counter() - started, 2),
               peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
