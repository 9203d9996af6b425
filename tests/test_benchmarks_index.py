"""`make bench` runs every benchmark: the index in benchmarks/run_all.py must list each one."""

import pathlib

from benchmarks.run_all import BENCHMARKS

# Not benchmarks: shared code, and prepare_profile / prepare_spy (CPU profiles
# of one `prepare` run on a file that benchmarks.scale wrote; they take that
# file, and prepare_spy needs py-spy, which is not a dependency).
HELPERS = {"__init__", "common", "run_all", "text_common", "prepare_profile", "prepare_spy"}


def test_run_all_lists_every_benchmark_module():
    folder = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
    modules = {p.stem for p in folder.glob("*.py")} - HELPERS
    assert sorted(BENCHMARKS) == sorted(modules)
    for name in modules:
        assert "def main(" in (folder / f"{name}.py").read_text(), name
