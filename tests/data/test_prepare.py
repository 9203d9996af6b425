"""prepare_purchase gives the same examples as the in-memory path, in shards."""

import json
import os

import numpy as np
import pytest

from ecomtf.data import EventSchema
from ecomtf.data import read_events
from ecomtf.data.prepare import prepare_purchase
from ecomtf.data.prepare import read_examples
from ecomtf.data.prepare import shard_files

SCHEMA = EventSchema(session="session_id", price="price")


@pytest.fixture(scope="module")
def shop_csv(tmp_path_factory):
    from ecomtf.datasets import simulate_shop

    folder = tmp_path_factory.mktemp("shop")
    simulate_shop(seed=3).to_csv(folder)
    return folder / "events.csv"


def _by_session(features, labels, session_id):
    order = np.argsort(session_id, kind="stable")
    return ({k: v[order] for k, v in features.items()}, labels[order], session_id[order])


def _gather(prepared, split):
    parts = [read_examples(f) for f in shard_files(prepared, split)]
    feats = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
    labels = np.concatenate([p[1] for p in parts])
    sessions = np.concatenate([p[2]["session_id"] for p in parts])
    return _by_session(feats, labels, sessions)


def test_prepared_shards_hold_the_in_memory_examples(shop_csv, tmp_path):
    from ecomtf.recipes.purchase import events_to_examples

    log, report = read_events(shop_csv, SCHEMA)
    data = events_to_examples(log, max_length=12)
    manifest = prepare_purchase(shop_csv, SCHEMA, tmp_path / "prep", shards=5, max_length=12)
    assert manifest["counts"]["rows_read"] == report.rows_read
    assert manifest["counts"]["rows_kept"] == report.rows_kept
    assert len(manifest["files"]["train"]) == 5
    for split, ref in (("train", data.train), ("test", data.test)):
        feats, labels, sessions = _gather(tmp_path / "prep", split)
        ref_feats, ref_labels, ref_sessions = _by_session(ref.features, ref.labels, ref.ids)
        assert sessions.tolist() == ref_sessions.tolist(), split
        assert labels.tolist() == ref_labels.tolist()
        assert sorted(feats) == sorted(ref_feats)
        for k in feats:
            np.testing.assert_array_equal(feats[k], ref_feats[k], err_msg=k)
    # Vocabulary and statistics come from the training split only.
    vocab = [v for v, _ in manifest["vocabulary"]["item_id"]]
    from ecomtf.data import build_vocabulary

    assert vocab == build_vocabulary(data.train.features["item_id"])
    written = json.loads((tmp_path / "prep" / "manifest.json").read_text())
    assert written["split"]["test_from_ms"] == manifest["split"]["test_from_ms"]
    assert "reject_report" in written


def test_prepare_counts_rejects_like_the_reader(tmp_path):
    path = tmp_path / "e.csv"
    rows = ["user_id,item_id,event_type,timestamp,session_id,price"]
    for u in range(6):
        for k in range(4):
            ev = "purchase" if (u % 2 and k == 3) else "view"
            rows.append(f"u{u},i{k},{ev},2024-01-0{1 + u % 3}T10:0{k}:00Z,s{u},{k + 1}.5")
    rows.append("u1,i1,view,not-a-time,s1,2.0")
    rows.append("u2,i2,view,2024-01-03T10:00:00Z,s2,-1")
    rows.append(rows[1])  # a duplicate
    path.write_text("\n".join(rows) + "\n")
    m = prepare_purchase(path, SCHEMA, tmp_path / "p", shards=3, max_length=4,
                         test_fraction=0.4)
    assert m["reject_report"]["rejected"] == {"bad timestamp": 1, "negative price": 1,
                                              "duplicate": 1}
    assert m["counts"]["rows_read"] == 27


@pytest.mark.parametrize("seed", [0, 1])
def test_prepare_matches_the_in_memory_path_on_tied_and_odd_logs(tmp_path, seed):
    """Ties everywhere: one user's sessions starting at the same second, empty
    session ids (gap sessions "~k"), unicode ids, exact duplicates, a purchase
    first in a session; in one process and in a pool of two."""
    from ecomtf.recipes.purchase import events_to_examples

    rng = np.random.default_rng(seed)
    sessions = ["s1", "s2", "S", "é", "~x", "", " ", "10", "9"]
    rows = ["user_id,item_id,event_type,timestamp,session_id,price"]
    for _ in range(600):
        u = f"u{rng.integers(12)}" if rng.random() < 0.9 else "ü中"
        t = int(rng.integers(0, 8)) * 600  # ties, and gaps of more than 30 minutes
        ev = rng.choice(["view", "view", "cart", "purchase"])
        price = "" if rng.random() < 0.05 else f"{rng.integers(1, 50)}.5"
        rows.append(f"{u},i{rng.integers(30)},{ev},{1_700_000_000 + t},"
                    f"{rng.choice(sessions)},{price}")
    rows += rows[1:40:7]  # exact duplicates
    path = tmp_path / "e.csv"
    path.write_text("\n".join(rows) + "\n")
    log, report = read_events(path, SCHEMA)
    data = events_to_examples(log, max_length=3)
    for workers in (1, 2):
        out = tmp_path / f"prep{workers}"
        m = prepare_purchase(path, SCHEMA, out, shards=3, max_length=3, workers=workers)
        assert m["reject_report"]["rejected"] == dict(report.rejected)
        assert m["counts"]["rows_kept"] == report.rows_kept == len(log)
        for split, ref in (("train", data.train), ("test", data.test)):
            feats, labels, sessions_ = _gather(out, split)
            ref_feats, ref_labels, ref_sessions = _by_session(ref.features, ref.labels, ref.ids)
            assert sessions_.tolist() == ref_sessions.tolist(), (workers, split)
            assert labels.tolist() == ref_labels.tolist()
            for k in feats:
                np.testing.assert_array_equal(feats[k], ref_feats[k], err_msg=k)
            # Within a shard, examples keep the in-memory path's order
            # (user, session start, session id).
            for f in shard_files(out, split):
                shard = read_examples(f)[2]["session_id"].tolist()
                members = set(shard)
                assert shard == [x for x in ref.ids.tolist() if x in members], f


def _die(_):
    os._exit(1)


def test_a_worker_that_dies_is_one_clear_error():
    """A worker killed from outside (the OOM killer) is a SystemExit naming what to try, not a traceback."""
    from ecomtf.data.prepare import _Runner

    with _Runner(2) as runner:
        with pytest.raises(SystemExit, match="prepare worker process died.*--workers 1"):
            list(runner.map(_die, range(4)))
