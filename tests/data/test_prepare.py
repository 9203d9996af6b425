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


@pytest.mark.parametrize("seed,small", [(0, False), (1, False), (2, True)])
def test_prepare_matches_the_in_memory_path_on_tied_and_odd_logs(tmp_path, seed, small,
                                                                 monkeypatch):
    """Ties everywhere: one user's sessions starting at the same second, empty
    session ids (gap sessions "~k"), unicode ids, exact duplicates, a purchase
    first in a session; in one process and in a pool of two. ``small``: blocks
    of about 60 rows and byte ranges of 4 kB, so a partition's rows come from
    many blocks and pieces."""
    from ecomtf.recipes.purchase import events_to_examples

    batches = []
    if small:
        from ecomtf.data import event_reader
        from ecomtf.data import prepare

        monkeypatch.setattr(event_reader, "BLOCK_SIZE", 2_000)
        monkeypatch.setattr(event_reader, "PIECE_BYTES", 4_000)
        monkeypatch.setattr(event_reader, "MIN_SPLIT_BYTES", 1_000)
        split = prepare.split_by_partition
        monkeypatch.setattr(prepare, "split_by_partition", lambda t, *a: batches.append(
            t.num_rows) or split(t, *a))

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
        # The same examples (rows and line numbers; duplicates are listed in
        # partition order, so compared as sets, when all of them are shown).
        got, ref_ex = m["reject_report"]["examples"], report.to_dict()["examples"]
        assert sorted(got) == sorted(ref_ex)
        for reason in got:
            if reason != "duplicate":
                assert got[reason] == ref_ex[reason], reason
            elif len(got[reason]) == report.rejected[reason]:
                key = lambda e: e["line"]  # noqa: E731
                assert sorted(got[reason], key=key) == sorted(ref_ex[reason], key=key)
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
    if small:  # (seen in this process: workers=1) many small blocks
        assert len(batches) >= 8 and max(batches) <= 100, batches


def _die(_):
    os._exit(1)


def test_a_worker_that_dies_is_one_clear_error():
    """A worker killed from outside (the OOM killer) is a SystemExit naming what to try, not a traceback."""
    from ecomtf.data.prepare import _Runner

    with _Runner(2) as runner:
        with pytest.raises(SystemExit, match="prepare worker process died.*--workers 1"):
            list(runner.map(_die, range(4)))


# --- pass 1 in pieces: byte ranges, row groups, part files --------------------

HEADER = "user_id,item_id,event_type,timestamp,session_id,price"
_BAD = ("bad timestamp", "missing user id", "unknown event type", "negative price", "bad price",
        "wrong number of fields", "blank", "duplicate")


def _good_row(line, rng):
    """A fixed-width row (so a bad variant keeps every byte range's bounds) whose item names its line."""
    u = int(rng.integers(40))
    ev = ["view    ", "cart    ", "purchase"][int(rng.integers(3)) if rng.random() < 0.3 else 0]
    ts = f"2024-01-{1 + int(rng.integers(9)):02d}T{int(rng.integers(24)):02d}:" \
         f"{int(rng.integers(60)):02d}:00Z"
    return f"u{u:03d},i{line:06d},{ev},{ts},s{u:03d}{int(rng.integers(3))},{int(rng.integers(1, 99)):02d}.50"


def _bad_row(row, reason, rows, at):
    f = row.split(",")
    if reason == "bad timestamp":
        f[3] = "x" + f[3][1:]
    elif reason == "missing user id":
        f[0] = " " * len(f[0])
    elif reason == "unknown event type":
        f[2] = " " * len(f[2])
    elif reason == "negative price":
        f[5] = "-1.50"
    elif reason == "bad price":
        f[5] = "ab.50"
    elif reason == "wrong number of fields":
        return ",".join(f[:5]) + ";" + f[5]
    elif reason == "blank":
        return " " * len(row)
    elif reason == "duplicate":
        return rows[at - 3]  # a row of the piece before, often
    return ",".join(f)


def _write_ranged_csv(path, n, piece_bytes, *, eol="\n", seed=0, header=HEADER, lead=""):
    """A CSV whose rows next to every byte range bound (``plan_pieces``) are rejects of cycling reasons."""
    from ecomtf.data.event_reader import plan_pieces

    rng = np.random.default_rng(seed)
    first = lead.count("\n") + (2 if header else 1)  # record number of the first data row
    rows = [_good_row(first + i, rng) for i in range(n)]
    text = lead + (header + eol if header else "")
    path.write_text(text + eol.join(rows) + eol, newline="")
    plan = plan_pieces(path, SCHEMA if header else POSITIONAL, 2, piece_bytes=piece_bytes)
    width = len(rows[0]) + len(eol)
    bounds = [(p.start - len(text.encode())) // width for p in plan[0][1:]]
    for j, b in enumerate(bounds):
        for at in (b - 1, b):
            if 3 <= at < n:
                rows[at] = _bad_row(rows[at], _BAD[(j + (at - b)) % len(_BAD)], rows, at)
    path.write_text(text + eol.join(rows) + eol, newline="")
    assert plan_pieces(path, SCHEMA if header else POSITIONAL, 2, piece_bytes=piece_bytes) == plan
    return rows, len(plan[0])


POSITIONAL = EventSchema(user="0", item="1", event_type="2", timestamp="3", session="4", price="5")


def _same_prepared(a, b):
    """Two prepare_purchase outputs hold the same manifest and shards."""
    ma = json.loads((a / "manifest.json").read_text())
    mb = json.loads((b / "manifest.json").read_text())
    ma.pop("source"), mb.pop("source")
    assert ma == mb
    for split in ("train", "test"):
        for fa, fb in zip(shard_files(a, split), shard_files(b, split)):
            fa_, la, meta_a = read_examples(fa)
            fb_, lb, meta_b = read_examples(fb)
            assert la.tolist() == lb.tolist()
            assert meta_a["session_id"].tolist() == meta_b["session_id"].tolist()
            for k in fa_:
                np.testing.assert_array_equal(fa_[k], fb_[k], err_msg=k)
    return ma


def _lines_name_their_rows(manifest):
    """Every example row's item id (``i<line>``) is its reported line: numbers are global."""
    seen = 0
    for reason, examples in manifest["reject_report"]["examples"].items():
        for e in examples:
            if reason in ("duplicate", "truncated last line") or "item_id=''" in e["row"]:
                continue
            if reason == "wrong number of fields":
                item = e["row"].split(",")[1]
            else:
                item = e["row"].split("item_id=")[1].split(",")[0].strip("'")
            assert int(item[1:]) == e["line"], (reason, e)
            seen += 1
    assert seen >= 10


@pytest.fixture
def small_pieces(monkeypatch):
    from ecomtf.data import event_reader

    monkeypatch.setattr(event_reader, "PIECE_BYTES", 6_000)
    monkeypatch.setattr(event_reader, "MIN_SPLIT_BYTES", 1_000)


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_byte_ranges_give_the_same_shards_and_reject_report(tmp_path, small_pieces, eol):
    """Rejects of every kind on both sides of every range bound (and duplicates
    across them): 1 and 2 workers write the same shards and the same report,
    counts, examples and line numbers; LF and CRLF."""
    path = tmp_path / "e.csv"
    rows, pieces = _write_ranged_csv(path, 1_500, 6_000, eol=eol)
    assert pieces >= 10
    one = prepare_purchase(path, SCHEMA, tmp_path / "one", shards=3, max_length=4, workers=1)
    two = prepare_purchase(path, SCHEMA, tmp_path / "two", shards=3, max_length=4, workers=2)
    m = _same_prepared(tmp_path / "one", tmp_path / "two")
    assert one["reject_report"] == two["reject_report"]
    _lines_name_their_rows(m)
    rejected = m["reject_report"]["rejected"]
    assert set(rejected) == set(_BAD) - {"blank"}
    assert "blank lines skipped" in " ".join(m["reject_report"]["notes"])
    # What the in-memory reader counts, too.
    _, report = read_events(path, SCHEMA)
    assert rejected == dict(report.rejected)
    assert m["counts"]["rows_read"] == report.rows_read


@pytest.mark.parametrize("cut", [True, False])
def test_byte_ranges_keep_the_last_line_checks(tmp_path, small_pieces, cut):
    """A file without a final line break: its last line is checked against
    every row before it (rejected as cut, or kept with a note naming its line)."""
    path = tmp_path / "e.csv"
    rows, _ = _write_ranged_csv(path, 900, 6_000)
    text = path.read_text()[:-1]
    path.write_text(text[:-3] if cut else text)  # "12.50" -> "12", shorter than every price
    one = prepare_purchase(path, SCHEMA, tmp_path / "one", shards=3, max_length=4, workers=1)
    prepare_purchase(path, SCHEMA, tmp_path / "two", shards=3, max_length=4, workers=2)
    m = _same_prepared(tmp_path / "one", tmp_path / "two")
    if cut:
        assert m["reject_report"]["examples"]["truncated last line"][0]["line"] == 901
    else:
        assert any(n.startswith("line 901: the file ends without a line break")
                   for n in m["reject_report"]["notes"])
    assert one["counts"]["rows_read"] == read_events(path, SCHEMA)[1].rows_read


def test_byte_ranges_without_a_header_and_after_blank_lines(tmp_path, small_pieces):
    """A headerless file (positional columns) and one whose header follows blank lines."""
    for name, kwargs, schema in (("no-header.csv", dict(header=None), POSITIONAL),
                                 ("late-header.csv", dict(lead="\n  \n"), SCHEMA)):
        path = tmp_path / name
        _write_ranged_csv(path, 1_200, 6_000, **kwargs)
        prepare_purchase(path, schema, tmp_path / "one", shards=2, max_length=4, workers=1)
        prepare_purchase(path, schema, tmp_path / "two", shards=2, max_length=4, workers=2)
        _lines_name_their_rows(_same_prepared(tmp_path / "one", tmp_path / "two"))


def test_a_quote_past_the_sniffed_start_reads_the_file_in_one_piece(tmp_path, small_pieces):
    """A quoted value with a line break inside, far into the file: the ranges
    see the quote and the file is read in one piece, as without workers."""
    path = tmp_path / "e.csv"
    rows, _ = _write_ranged_csv(path, 1_500, 6_000)
    f = rows[1_200].split(",")
    rows[1_200] = ",".join(f[:4] + ['"s\nx"', f[5]])
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    prepare_purchase(path, SCHEMA, tmp_path / "one", shards=3, max_length=4, workers=1)
    prepare_purchase(path, SCHEMA, tmp_path / "two", shards=3, max_length=4, workers=2)
    m = _same_prepared(tmp_path / "one", tmp_path / "two")
    _lines_name_their_rows(m)


def test_part_files_and_row_groups_spread_over_workers(tmp_path, small_pieces):
    """A directory of CSV parts (one split in ranges, one gzip, one small) and
    one of Parquet parts with several row groups: same shards and report."""
    import gzip
    import shutil

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from ecomtf.data.event_reader import plan_pieces

    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    _write_ranged_csv(csv_dir / "part-0.csv", 1_000, 6_000, seed=1)
    _write_ranged_csv(tmp_path / "p1.csv", 300, 6_000, seed=2)
    with open(tmp_path / "p1.csv", "rb") as src, gzip.open(csv_dir / "part-1.csv.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (csv_dir / "part-2.csv").write_text(HEADER + "\nu001,i000002,view,2024-01-01T10:00:00Z,s0010,"
                                        "10.50\nu001,i000003,purchase,bad,s0010,10.50\n")
    pq_dir = tmp_path / "pq"
    pq_dir.mkdir()
    for i in range(2):
        _write_ranged_csv(tmp_path / f"q{i}.csv", 800, 6_000, seed=3 + i)
        table = pacsv.read_csv(tmp_path / f"q{i}.csv", convert_options=pacsv.ConvertOptions(
            column_types={c: "string" for c in HEADER.split(",")}),
            parse_options=pacsv.ParseOptions(invalid_row_handler=lambda r: "skip"))
        pq.write_table(table, pq_dir / f"part-{i}.parquet", row_group_size=100)
    for folder in (csv_dir, pq_dir):
        assert len(plan_pieces(folder, SCHEMA, 2)[0]) > 3
        one = prepare_purchase(folder, SCHEMA, tmp_path / "one", shards=3, max_length=4,
                               workers=1)
        prepare_purchase(folder, SCHEMA, tmp_path / "two", shards=3, max_length=4, workers=2)
        m = _same_prepared(tmp_path / "one", tmp_path / "two")
        assert m["reject_report"]["rows_rejected"] > 10
        _, report = read_events(folder, SCHEMA)
        assert one["reject_report"]["rejected"] == dict(report.rejected)


def test_an_error_in_a_later_range_names_the_files_row(tmp_path, small_pieces):
    """A byte that is not UTF-8 far into the file: the same one-line error,
    with the file's row number, as when one reader reads it all."""
    from ecomtf.data.reject_report import DataValidationError

    path = tmp_path / "e.csv"
    _write_ranged_csv(path, 1_500, 6_000)
    data = path.read_bytes()
    at = len(data) - 3_000
    path.write_bytes(data[:at] + b"\xff" + data[at + 1:])
    messages = []
    for workers in (1, 2):
        with pytest.raises(DataValidationError) as e:
            prepare_purchase(path, SCHEMA, tmp_path / f"p{workers}", shards=3, workers=workers)
        messages.append(str(e.value))
    assert messages[0] == messages[1]
    assert "cannot decode as utf-8" in messages[0]



def test_session_order_packed_and_plain_agree():
    """Sessions by (user, start, id): the packed-key sort (with its runs of
    tied starts put in order by code or by id) gives the three-key lexsort's
    order, and falls back to it when the key would not fit in 64 bits."""
    import pyarrow as pa

    from ecomtf.data import prepare

    rng = np.random.default_rng(0)
    n = 3000
    user = rng.integers(0, 40, n)
    start = rng.integers(0, 25, n) * 1000 - 7000  # many ties, negative times
    ids = np.array([f"s{i}" for i in rng.permutation(n)])
    code = rng.permutation(n)
    names = pa.array(ids)
    for got_names in (None, names):
        got = prepare._session_order(user, start, code, got_names)
        if got_names is None:
            want = np.lexsort((code, start, user))
        else:
            want = np.lexsort((np.argsort(np.argsort(ids)), start, user))
        assert got.tolist() == want.tolist()
        huge = start.astype(np.int64) * (1 << 45)  # does not pack: the lexsort path
        assert prepare._session_order(user, huge, code, got_names).tolist() == want.tolist()
        if got_names is not None:
            # The ids gathered lazily from the rows' column (session i's id at row at[i]).
            rows = pa.array(ids[::-1])
            at = n - 1 - np.arange(n)
            for t in (start, huge):
                assert prepare._session_order(user, t, code, rows, at=at).tolist() == \
                    want.tolist()


def test_renamed_events_keep_their_raw_names_for_duplicates(tmp_path):
    """With ``event_types`` two rows differing only in the raw name ("pv" and "view", both
    "view") are not duplicates, as in ``read_events``; without renaming the partitions carry
    no ``event_raw`` column (it would equal ``event_type``)."""
    from ecomtf.data import RejectReport
    from ecomtf.data import iter_event_chunks
    from ecomtf.data.prepare import _chunk_table
    from ecomtf.recipes.purchase import events_to_examples

    schema = EventSchema(session="session_id", price="price",
                         event_types={"pv": "view", "view": "view", "buy": "purchase"})
    rows = ["user_id,item_id,event_type,timestamp,session_id,price"]
    for u in range(8):
        for k in range(5):
            ev = "buy" if (u % 3 == 0 and k == 4) else ("pv" if k % 2 else "view")
            rows.append(f"u{u},i{k % 3},{ev},2024-01-0{1 + u % 4}T10:0{k}:00Z,s{u},{k + 1}.5")
    rows.append("u1,i1,view,2024-01-02T10:01:00Z,s1,2.5")  # row 3 of u1 but "view", not "pv"
    rows.append(rows[4])  # an exact duplicate
    path = tmp_path / "e.csv"
    path.write_text("\n".join(rows) + "\n")
    log, report = read_events(path, schema)
    assert report.rejected == {"duplicate": 1}
    data = events_to_examples(log, max_length=4)
    for workers in (1, 2):
        out = tmp_path / f"prep{workers}"
        m = prepare_purchase(path, schema, out, shards=3, max_length=4, workers=workers)
        assert m["reject_report"]["rejected"] == {"duplicate": 1}
        assert m["counts"]["rows_kept"] == len(log)
        for split, ref in (("train", data.train), ("test", data.test)):
            feats, labels, sessions_ = _gather(out, split)
            ref_feats, ref_labels, ref_sessions = _by_session(ref.features, ref.labels, ref.ids)
            assert sessions_.tolist() == ref_sessions.tolist(), (workers, split)
            for k in feats:
                np.testing.assert_array_equal(feats[k], ref_feats[k], err_msg=k)
    for s, renamed in ((schema, True), (SCHEMA, False)):
        chunk = next(iter_event_chunks(path, s, RejectReport(), arrow_events=True))
        assert chunk.event_type is None and chunk.event_raw is None
        table = _chunk_table(chunk)
        assert ("event_raw" in table.column_names) is renamed
        if renamed:
            assert "pv" in table.column("event_raw").to_pylist()
            assert "pv" not in table.column("event_type").to_pylist()


def test_default_workers_one_per_two_million_rows(monkeypatch):
    from ecomtf.data import prepare

    monkeypatch.setattr(prepare.os, "sched_getaffinity", lambda _: {0, 1, 2, 3}, raising=False)
    assert prepare.default_workers(4, 1_000_000) == 1  # a 1M-row log: this process
    assert prepare.default_workers(20, 5_000_000) == 3
    assert prepare.default_workers(160, 42_000_000) == 4
    assert prepare.default_workers(2, 42_000_000) == 2  # at most one per partition
    assert prepare.default_workers(4) == 4  # without an estimate: the cores


@pytest.mark.parametrize("ids", [
    ["7245601", "5196438", "0000001", "9999999"],                 # fixed width: the matrix path
    ["u1", "", "user-22", "ü-ñ", "1234567890123456789", "u1"],   # mixed lengths, empty, multi-byte UTF-8
])
def test_shard_of_is_zlib_crc32_on_every_path(ids):
    # Partitions must be stable across processes, machines and the Beam pipeline:
    # shard_of promises zlib.crc32 of the UTF-8 bytes, whichever numpy path computes it.
    import zlib

    import pyarrow as pa

    from ecomtf.data.prepare import shard_of

    want = np.array([zlib.crc32(s.encode()) % 97 for s in ids])
    np.testing.assert_array_equal(shard_of(ids, 97), want)
    # A slice (non-zero offset into the buffers) and a chunked array give the same.
    padded = pa.array(["x"] + ids + ["yy"])
    np.testing.assert_array_equal(shard_of(padded.slice(1, len(ids)), 97), want)
    np.testing.assert_array_equal(shard_of(pa.chunked_array([ids[:2], ids[2:]]), 97), want)
    # A null counts as the empty id.
    np.testing.assert_array_equal(shard_of(pa.array([None, ids[0]]), 97),
                                  [zlib.crc32(b"") % 97, want[0]])
