"""Runs every benchmark, one process each, and prints how each ended.

    .venv/bin/python -m benchmarks.run_all                 # all (about 1.5 h on 2 cores)
    .venv/bin/python -m benchmarks.run_all --only purchase,text_banking77
    .venv/bin/python -m benchmarks.run_all --list

Each benchmark runs as ``python -m benchmarks.<name>`` in its own process (a
fresh TensorFlow, and one failure does not hide the others' figures); its
output streams through as it runs. Figures go to docs/benchmarks.md and
docs/benchmarks/*.md by hand, with the date and the machine: the runs are
too long and the machines too noisy to rewrite the docs automatically.
The exit code is non-zero if any benchmark failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from benchmarks.common import REPO
from benchmarks.common import machine

# Order: quick quality checks first, the long ones last.
BENCHMARKS = [
    "purchase",
    "text_banking77",
    "text_clinc150",
    "text_stackfaq",
    "text_crosswoz",
    "text_latency",
    "text_minilm",
    "text_minilm_validation",
    "serving_load",
    "movielens_retrieval",
    "next_item",
    "next_item_select",
    "store_item_demand",
    "online_retail",
    "scale",
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--list", action="store_true", help="print the names and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0
    names = [n for n in args.only.split(",") if n] or BENCHMARKS
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; --list shows them")
    print(f"machine: {machine()}", flush=True)
    results = []
    for name in names:
        print(f"\n===== benchmarks.{name} =====", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}"], cwd=REPO)
        results.append((name, code, time.perf_counter() - started))
    print("\n===== summary =====")
    for name, code, seconds in results:
        print(f"{name:<22} {'ok' if code == 0 else f'FAILED (exit {code})':<16} {seconds:7.0f} s")
    return int(any(code for _, code, _ in results))


if __name__ == "__main__":
    sys.exit(main())
