"""The Beam pipeline writes the same shards and manifest as the local prepare.

Runs where apache-beam is installed: its own environment (docs/decisions.md), which
``make test`` creates and runs this file in after the main suite:
    python3.11 -m venv .venv-beam && .venv-beam/bin/pip install -e ".[beam]" pytest
    PYTHONPATH=$PWD .venv-beam/bin/python -m pytest --noconftest tests/data/test_prepare_beam.py
(--noconftest: the shared conftest imports TensorFlow, which this environment does not need.)
"""

import json

import pytest

beam = pytest.importorskip(
    "apache_beam", reason="apache-beam lives in .venv-beam; `make test` runs this file there after the main suite")

from ecomtf.data import EventSchema  # noqa: E402
from ecomtf.data.prepare import prepare_purchase  # noqa: E402
from ecomtf.data.prepare_beam import prepare_purchase_beam  # noqa: E402

SCHEMA = EventSchema(session="session_id", price="price")


@pytest.mark.parametrize("parts", [1, 3])
def test_beam_direct_runner_matches_the_local_path(tmp_path, parts):
    import pyarrow.parquet as pq

    from ecomtf.datasets import simulate_shop

    simulate_shop(n_users=300, n_items=60, n_days=20, seed=5).to_csv(tmp_path / "shop")
    lines = (tmp_path / "shop" / "events.csv").read_text().splitlines()
    lines.append(lines[5])  # a duplicate, counted by the partition that holds its user
    lines.append("u_bad,i1,view,not a time,s,1.0")
    if parts == 1:
        events = tmp_path / "events.csv"
        events.write_text("\n".join(lines) + "\n")
    else:
        events = tmp_path / "export"
        events.mkdir()
        body = lines[1:]
        for k in range(parts):
            (events / f"part-{k:05d}.csv").write_text(
                "\n".join([lines[0]] + body[k::parts]) + "\n")
    local = prepare_purchase(events, SCHEMA, tmp_path / "local", shards=4, max_length=8)
    on_beam = prepare_purchase_beam(events, SCHEMA, tmp_path / "beam", shards=4, max_length=8)
    for key in ("counts", "files", "vocabulary", "statistics", "split", "features"):
        assert on_beam[key] == local[key], key
    assert on_beam["reject_report"]["rejected"] == local["reject_report"]["rejected"]
    assert local["reject_report"]["rejected"] == {"duplicate": 1, "bad timestamp": 1}
    for split in ("train", "test"):
        for name in local["files"][split]:
            assert pq.read_table(tmp_path / "beam" / name).equals(
                pq.read_table(tmp_path / "local" / name)), name
    assert json.loads((tmp_path / "beam" / "manifest.json").read_text())["shards"] == 4
