"""`make bench` runs every benchmark: the index in benchmarks/run_all.py must list each one."""

import pathlib

from benchmarks.run_all import BENCHMARKS

# Not benchmarks: shared code, and prepare_profile (a CPU profile of one
# `prepare` run on a file that benchmarks.scale wrote; it takes that file).
HELPERS = {"__init__", "common", "run_all", "text_common", "prepare_profile"}


def test_run_all_lists_every_benchmark_module():
    folder = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
    modules = {p.stem for p in folder.glob("*.py")} - HELPERS
    assert sorted(BENCHMARKS) == sorted(modules)
    for name in modules:
        assert "def main(" in (folder / f"{name}.py").read_text(), name
