"""The Arrow paths of read_events: Parquet, directories of parts, batches, bad input."""

import gzip
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecomtf.data import DataValidationError
from ecomtf.data import EventSchema
from ecomtf.data import parse_timestamps
from ecomtf.data import parse_timestamps_arrow
from ecomtf.data import read_events
from ecomtf.data import event_reader

STORE = EventSchema(user="user_id", item="product_id", event_type="event_type",
                    timestamp="event_time", session="user_session", price="price",
                    extra=("category_id",))
HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
CAT = "2053013555631882655"  # 19 digits: beyond float64's exact integers


def store_rows(n, start=0):
    out = []
    for i in range(start, start + n):
        out.append(f"2019-10-01 00:{i // 60 % 60:02d}:{i % 60:02d} UTC,view,{1000 + i % 7},"
                   f"{CAT},electronics.smartphone,apple,{10 + i % 5}.5,{500 + i % 3},s{i % 3}")
    return out


def test_store_export_with_utc_suffix_and_19_digit_ids(tmp_path):
    path = tmp_path / "2019-Oct.csv"
    path.write_text(HEADER + "\n" + "\n".join(store_rows(50)) + "\n")
    log, report = read_events(path, STORE)
    assert report.rows_read == 50 and report.rows_kept == 50
    assert set(log.extra["category_id"].tolist()) == {CAT}
    assert log.timestamp.min() == 1569888000000  # 2019-10-01T00:00:00Z
    assert log.user_id.tolist() == sorted(log.user_id.tolist())


def test_line_numbers_are_exact_across_batches(tmp_path, monkeypatch):
    # Tiny blocks: many batches, with bad rows between them.
    monkeypatch.setattr(event_reader, "BLOCK_SIZE", 1024)
    rows = store_rows(300)
    rows[40] = "2019-10-01 00:00:40 UTC,view,1"  # wrong number of fields
    rows[150] = rows[150].replace("2019-10-01", "2019-13-01")  # bad timestamp
    rows[299] = rows[299].replace(",14.5,", ",-14.5,")  # negative price
    path = tmp_path / "e.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    log, report = read_events(path, STORE)
    assert report.rows_read == 300
    assert dict(report.rejected) == {"wrong number of fields": 1, "bad timestamp": 1,
                                     "negative price": 1}
    assert report.examples["wrong number of fields"][0][0] == 42
    assert report.examples["bad timestamp"][0][0] == 152
    assert report.examples["negative price"][0][0] == 301
    assert len(log) == 297


def test_zero_prices_are_kept_and_counted(tmp_path):
    rows = store_rows(4)
    rows[1] = rows[1].replace(",11.5,", ",0,")
    path = tmp_path / "e.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    log, report = read_events(path, STORE)
    assert len(log) == 4 and not report.rejected
    assert any("1 rows with price 0 kept" in n for n in report.notes)


def _parquet(path, n=20, start=0, **override):
    cols = {
        "event_time": pa.array([f"2019-10-01 00:00:{i % 60:02d} UTC" for i in range(start, start + n)]),
        "event_type": pa.array(["view", "cart"] * (n // 2)),
        "product_id": pa.array(np.arange(start, start + n, dtype=np.int64) + 10**18),
        "category_id": pa.array([int(CAT)] * n, pa.int64()),
        "price": pa.array(np.full(n, 9.5)),
        "user_id": pa.array([f"u{i % 4}" for i in range(start, start + n)]),
        "user_session": pa.array([f"s{i % 4}" for i in range(start, start + n)]),
    }
    cols.update(override)
    pq.write_table(pa.table(cols), path)
    return path


def test_parquet_file_with_integer_ids_stays_exact(tmp_path):
    path = _parquet(tmp_path / "events.parquet")
    log, report = read_events(path, STORE)
    assert report.rows_kept == 20
    assert set(log.extra["category_id"].tolist()) == {CAT}
    assert "1000000000000000019" in log.item_id.tolist()


def test_parquet_timestamp_column(tmp_path):
    ts = pa.array(np.array(["2019-10-01T08:00:00"] * 20, "datetime64[ms]"))
    path = _parquet(tmp_path / "e.parquet", event_time=ts)
    log, _ = read_events(path, EventSchema(**{**STORE.__dict__, "timezone": "Asia/Shanghai"}))
    assert (log.timestamp == 1569888000000).all()


def test_a_directory_of_parquet_parts(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    for k in range(3):
        _parquet(d / f"part-{k:05d}.parquet", n=10, start=10 * k)
    (d / "_SUCCESS").write_text("")
    (d / "dt=2019-10-02").mkdir()  # a Hive partition folder
    _parquet(d / "dt=2019-10-02" / "part-00000.parquet", n=10, start=30)
    (d / "_temporary").mkdir()
    (d / "_temporary" / "part-9.parquet").write_bytes(b"half written")
    log, report = read_events(d, STORE)
    assert report.rows_read == 40 and len(log) == 40


def test_a_directory_of_gzip_csv_parts(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    for k in range(2):
        text = HEADER + "\n" + "\n".join(store_rows(10, start=10 * k)) + "\n"
        (d / f"part-{k}.csv.gz").write_bytes(gzip.compress(text.encode()))
    log, report = read_events(d, STORE)
    assert report.rows_read == 20 and len(log) == 20


def test_mixed_schemas_in_a_directory_name_the_file(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    _parquet(d / "part-0.parquet")
    _parquet(d / "part-1.parquet", price=pa.array(["9.5"] * 20))
    with pytest.raises(DataValidationError, match="part-1.parquet: its columns"):
        read_events(d, STORE)
    d2 = tmp_path / "csv"
    d2.mkdir()
    (d2 / "part-0.csv").write_text(HEADER + "\n" + store_rows(1)[0] + "\n")
    (d2 / "part-1.csv").write_text(HEADER.replace("brand", "maker") + "\n" + store_rows(1)[0] + "\n")
    with pytest.raises(DataValidationError, match="part-1.csv: its columns"):
        read_events(d2, STORE)


def test_mixed_formats_in_a_directory(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    _parquet(d / "part-0.parquet")
    (d / "part-1.csv").write_text(HEADER + "\n")
    with pytest.raises(DataValidationError, match="mixes Parquet files"):
        read_events(d, STORE)


def test_parquet_column_of_the_wrong_type(tmp_path):
    path = _parquet(tmp_path / "e.parquet", user_id=pa.array(np.arange(20, dtype=np.float64)))
    with pytest.raises(DataValidationError, match=r"e.parquet: column 'user_id'.*double.*floats"):
        read_events(path, STORE)
    path = _parquet(tmp_path / "f.parquet", price=pa.array([[1.0]] * 20))
    with pytest.raises(DataValidationError, match=r"f.parquet: column 'price'.*list"):
        read_events(path, STORE)


def test_unreadable_part_file(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    _parquet(d / "part-0.parquet")
    (d / "part-1.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DataValidationError, match="part-1.parquet: not a readable Parquet"):
        read_events(d, STORE)


def test_gzip_truncated_past_the_first_block(tmp_path, monkeypatch):
    monkeypatch.setattr(event_reader, "BLOCK_SIZE", 1 << 12)
    rng = np.random.default_rng(0)
    rows = store_rows(20_000)
    rows = [r + f",{rng.integers(1 << 60):x}" for r in rows]  # incompressible tail
    text = HEADER + ",noise\n" + "\n".join(rows) + "\n"
    data = gzip.compress(text.encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: int(len(data) * 0.8)])
    with pytest.raises(DataValidationError, match="cut.csv.gz: the compressed stream is truncated"):
        read_events(path, STORE)


def test_arrow_timestamps_agree_with_the_reference():
    values = [
        "2019-10-01 00:00:00 UTC", "2019-10-01T00:00:00Z", "2019-10-01 08:00:00",
        "2019-10-01 08:00:00.123", "2019-10-01T08:00:00+08:00", "1569888000",
        "1569888000000", "20191001", "2019-02-30 00:00:00", "2019-10-01 25:00:00 UTC",
        "nope", "", "  2019-10-01 00:00:00 UTC  ", "2019-10-01 00:00:00 utc",
    ]
    for zone in ("UTC", "Asia/Shanghai", "UTC-05:00"):
        ms, ok = parse_timestamps_arrow(pa.array(values), timezone=zone)
        ref_ms, ref_ok = parse_timestamps(values, timezone=zone)
        assert ok.tolist() == ref_ok.tolist(), zone
        assert ms.tolist() == ref_ms.tolist(), zone
    ms, ok = parse_timestamps_arrow(pa.array([1569888000, None]))
    assert ok.tolist() == [True, False] and ms[0] == 1569888000000


def test_store_month_generator_is_deterministic_and_readable(tmp_path):
    from ecomtf.datasets.store_month import write_store_month

    a = write_store_month(tmp_path / "a.csv", 2000, seed=1, chunk_rows=700)
    b = write_store_month(tmp_path / "b.csv", 2000, seed=1, chunk_rows=700)
    assert open(a, "rb").read() == open(b, "rb").read()
    log, report = read_events(a, STORE)
    assert report.rows_read == 2000
    assert all(len(c) == 19 for c in log.extra["category_id"].tolist())
    assert os.path.getsize(a) > 2000 * 100


def test_parquet_nulls_are_missing_ids_not_blank_lines(tmp_path):
    users = pa.array([None, ""] + [f"u{i}" for i in range(18)])
    path = _parquet(tmp_path / "e.parquet", user_id=users)
    log, report = read_events(path, STORE)
    assert report.rows_read == 20 and report.rejected == {"missing user id": 2}
    assert report.examples["missing user id"][0][0] == 1  # row numbers from 1
    assert not any("blank" in n for n in report.notes)
