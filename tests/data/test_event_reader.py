import gzip

import numpy as np
import pytest

from ecomtf.data import DataValidationError
from ecomtf.data import EventSchema
from ecomtf.data import read_events
from ecomtf.data import sniff_delimiter

TAOBAO_MAP = {"pv": "view", "cart": "cart", "fav": "favorite", "buy": "purchase"}
SCHEMA = EventSchema(user="user", item="item", event_type="event", timestamp="time")
ROWS = [
    ("u2", "i1", "view", "2017-11-25 10:00:05"),
    ("u1", "i2", "view", "2017-11-25 10:00:00"),
    ("u1", "i3", "purchase", "2017-11-25 09:00:00"),
    ("u2", "i4", "cart", "2017-11-25 10:00:01"),
]


def write(path, text, *, gz=False, newline="\n"):
    data = text.replace("\n", newline).encode("utf-8")
    if gz:
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def table(rows, delimiter=",", header=("user", "item", "event", "time")):
    lines = [delimiter.join(header)] if header else []
    lines += [delimiter.join(r) for r in rows]
    return "\n".join(lines) + "\n"


def check_basic(log):
    # Sorted by (user, timestamp).
    assert log.user_id.tolist() == ["u1", "u1", "u2", "u2"]
    assert log.item_id.tolist() == ["i3", "i2", "i4", "i1"]
    assert log.event_type.tolist() == ["purchase", "view", "cart", "view"]
    assert log.timestamp.dtype == np.int64
    assert log.timestamp[0] == 1511600400000


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters_are_sniffed(tmp_path, delimiter):
    path = write(tmp_path / "e.txt", table(ROWS, delimiter))
    log, report = read_events(path, SCHEMA)
    check_basic(log)
    assert report.rows_read == 4 and report.rows_rejected == 0


def test_gzip_and_crlf(tmp_path):
    path = write(tmp_path / "events.bin", table(ROWS), gz=True, newline="\r\n")
    log, report = read_events(path, SCHEMA)
    check_basic(log)
    assert not any("\r" in t for t in log.item_id.tolist())
    assert report.rows_kept == 4


def test_runs_of_whitespace_without_header(tmp_path):
    text = "\n".join(f"  {u}   {i}\t{e}  {t.replace(' ', 'T')}" for u, i, e, t in ROWS)
    path = write(tmp_path / "e.txt", text + "\n")
    schema = EventSchema(user="0", item="1", event_type="2", timestamp="3")
    log, report = read_events(path, schema)
    check_basic(log)
    log2, _ = read_events(path, schema, delimiter="whitespace", header=False)
    assert log2.item_id.tolist() == log.item_id.tolist()


def test_no_header_positional_columns_and_event_mapping(tmp_path):
    rows = [
        "1,2268318,2520377,pv,1511544070",
        "1,2333346,2520771,buy,1511561733",
        "2,123,99,fav,1511572885",
    ]
    path = write(tmp_path / "ub.csv", "\n".join(rows) + "\n")
    schema = EventSchema(user="0", item="1", event_type="3", timestamp="4",
                         event_types=TAOBAO_MAP, extra=("2",))
    log, report = read_events(path, schema)
    assert report.rows_kept == 3
    assert log.event_type.tolist() == ["view", "purchase", "favorite"]
    assert log.timestamp.tolist() == [1511544070000, 1511561733000, 1511572885000]
    assert log.extra["2"].tolist() == ["2520377", "2520771", "99"]


def test_header_auto_for_positional_schema(tmp_path):
    text = "uid,iid,cat,kind,ts\n" + "1,2,3,pv,1511544070\n4,5,6,pv,1511544071\n"
    path = write(tmp_path / "h.csv", text)
    schema = EventSchema(user="0", item="1", event_type="3", timestamp="4")
    log, report = read_events(path, schema)
    assert report.rows_read == 2 and log.user_id.tolist() == ["1", "4"]
    # Forcing header=False makes the header a row with a bad timestamp.
    log, report = read_events(path, schema, header=False)
    assert report.rejected == {"bad timestamp": 1}
    assert report.examples["bad timestamp"][0][0] == 1


def test_truncated_last_line_is_a_reject(tmp_path):
    text = "1,10,c,pv,1511544070\n2,11,c,pv,1511544071\n3,12,c,pv"  # no newline
    path = write(tmp_path / "cut.csv", text)
    schema = EventSchema(user="0", item="1", event_type="3", timestamp="4")
    log, report = read_events(path, schema)
    assert len(log) == 2
    assert report.rows_read == 3
    assert report.rejected == {"wrong number of fields": 1}
    assert report.examples["wrong number of fields"] == [(3, "3,12,c,pv")]


def test_nineteen_digit_ids_stay_exact(tmp_path):
    big_user, big_item = "9223372036854775807", "1234567890123456789"
    text = f"user,item,event,time\n {big_user} ,{big_item},view,1511544070\n"
    path = write(tmp_path / "big.csv", text)
    log, _ = read_events(path, SCHEMA)
    assert log.user_id.tolist() == [big_user]
    assert log.item_id.tolist() == [big_item]


def test_missing_column_names_the_column_and_the_columns_present(tmp_path):
    path = write(tmp_path / "e.csv", table(ROWS))
    schema = EventSchema(user="user", item="sku", event_type="event", timestamp="time")
    with pytest.raises(DataValidationError) as err:
        read_events(path, schema)
    message = str(err.value)
    assert "'sku'" in message and "item_id" in message
    assert "['user', 'item', 'event', 'time']" in message


def test_missing_positional_column(tmp_path):
    path = write(tmp_path / "e.csv", "1,2,pv\n3,4,pv\n")
    schema = EventSchema(user="0", item="1", event_type="2", timestamp="7")
    with pytest.raises(DataValidationError, match="'7'.*no header row"):
        read_events(path, schema)


def test_every_reject_reason_is_counted(tmp_path):
    rows = [
        "user,item,event,time,qty,price",
        "u1,i1,view,2017-11-25 10:00:00,1,9.5",   # kept
        ",i1,view,2017-11-25 10:00:00,1,9.5",     # missing user id
        "u1, ,view,2017-11-25 10:00:00,1,9.5",    # missing item id
        "u1,i1,teleport,2017-11-25 10:00:00,1,9.5",  # unknown event type
        "u1,i1,view,not a time,1,9.5",            # bad timestamp
        "u1,i1,view,2017-11-25 10:00:01,many,9.5",  # bad quantity
        "u1,i1,view,2017-11-25 10:00:02,1,free",  # bad price
        "u1,i1,view,2017-11-25 10:00:00,1,9.5",   # duplicate of line 2
        "u1,i1,view,2017-11-25 10:00:00,1",       # wrong number of fields
        "u1,i1,view,2017-11-25 10:00:03,,",       # kept, empty numbers -> NaN
    ]
    path = write(tmp_path / "e.csv", "\n".join(rows) + "\n")
    schema = EventSchema(user="user", item="item", event_type="event", timestamp="time",
                         quantity="qty", price="price",
                         event_types={"view": "view", "buy": "purchase"})
    log, report = read_events(path, schema)
    assert dict(report.rejected) == {
        "missing user id": 1, "missing item id": 1, "unknown event type": 1,
        "bad timestamp": 1, "bad quantity": 1, "bad price": 1, "duplicate": 1,
        "wrong number of fields": 1,
    }
    assert report.rows_read == 10 and report.rows_kept == 2
    assert report.examples["duplicate"][0][0] == 9
    assert report.examples["bad price"][0][0] == 8
    assert len(log) == 2
    assert log.quantity[0] == 1.0 and np.isnan(log.quantity[1])
    assert log.price[0] == 9.5 and np.isnan(log.price[1])
    assert any("empty price" in n for n in report.notes)
    assert any("teleport" in n for n in report.notes)

    with pytest.raises(DataValidationError, match="strict mode") as err:
        read_events(path, schema, strict=True)
    assert "duplicate" in str(err.value)


def test_duplicates_only_when_dedupe(tmp_path):
    rows = ROWS + [ROWS[1], ROWS[1], ROWS[3]]
    path = write(tmp_path / "e.csv", table(rows))
    log, report = read_events(path, SCHEMA)
    assert report.rejected == {"duplicate": 3}
    check_basic(log)
    log, report = read_events(path, SCHEMA, dedupe=False)
    assert len(log) == 7 and report.rows_rejected == 0


def test_dedupe_matches_a_brute_force_check(tmp_path):
    rng = np.random.default_rng(3)
    rows = [(f"u{rng.integers(3)}", f"i{rng.integers(3)}", "view",
             str(1511544070 + int(rng.integers(4)))) for _ in range(300)]
    path = write(tmp_path / "e.csv", table(rows))
    log, report = read_events(path, SCHEMA)
    seen, dups = set(), []
    for line, r in enumerate(rows, start=2):
        if r in seen:
            dups.append(line)
        seen.add(r)
    assert report.rejected["duplicate"] == len(dups)
    assert [ln for ln, _ in report.examples["duplicate"]] == dups[:3]
    assert len(log) == len(seen)


def test_allowed_event_types(tmp_path):
    path = write(tmp_path / "e.csv", table(ROWS))
    log, report = read_events(path, SCHEMA, allowed_event_types={"view", "purchase"})
    assert report.rejected == {"unknown event type": 1}
    assert sorted(set(log.event_type.tolist())) == ["purchase", "view"]


def test_default_event_type_and_timezone(tmp_path):
    path = write(tmp_path / "e.csv", "user,item,time\nu,i,2017-11-25 08:00:00\n")
    schema = EventSchema(user="user", item="item", event_type=None, timestamp="time",
                         default_event_type="purchase", timezone="Asia/Shanghai")
    log, _ = read_events(path, schema)
    assert log.event_type.tolist() == ["purchase"]
    assert log.timestamp.tolist() == [1511568000000]


def test_session_quoted_fields_blank_lines_and_bom(tmp_path):
    text = ('\ufeffuser,item,event,time,session,title\n'
            'u1,i1,view,2017-11-25T10:00:00Z,s1,"red, large"\n'
            '\n'
            'u1,i2,view,2017-11-25T10:01:00Z,s1,"say ""hi"""\n')
    path = write(tmp_path / "e.csv", text)
    schema = EventSchema(user="user", item="item", event_type="event", timestamp="time",
                         session="session", extra=("title",))
    log, report = read_events(path, schema)
    assert log.session_id.tolist() == ["s1", "s1"]
    assert log.extra["title"].tolist() == ["red, large", 'say "hi"']
    assert report.rows_read == 2
    assert any("blank" in n for n in report.notes)


def test_na_values(tmp_path):
    path = write(tmp_path / "e.csv", table([("NA", "i1", "view", "1511544070")] + ROWS[:1]))
    log, report = read_events(path, SCHEMA)
    assert len(log) == 2
    log, report = read_events(path, SCHEMA, na_values=("", "NA"))
    assert report.rejected == {"missing user id": 1}


def test_undecodable_file(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("user,item,event,time\nJos\xe9,i,view,1511544070\n".encode("latin-1"))
    with pytest.raises(DataValidationError, match="encoding"):
        read_events(path, SCHEMA)
    log, _ = read_events(path, SCHEMA, encoding="latin-1")
    assert log.user_id.tolist() == ["Jos\xe9"]


def test_empty_file_with_header(tmp_path):
    path = write(tmp_path / "e.csv", "user,item,event,time\n")
    log, report = read_events(path, SCHEMA)
    assert len(log) == 0 and report.rows_read == 0


def test_sniff_delimiter():
    assert sniff_delimiter(["a,b,c", "1,2,3"]) == ","
    assert sniff_delimiter(["a;b;c", "1;2,5;3"]) == ";"
    # Tab-separated with free text: tabs are consistent, spaces are not.
    assert sniff_delimiter(["a\tred, large\tz", "1\tsmall\t4", "x\ta b c\ty"]) == "\t"
    cdnow = [" 00001 19970101  1   11.77", " 00002 19970112  1   12.00"]
    assert sniff_delimiter(cdnow) == "whitespace"


def test_taobao_head(shared_data):
    path = shared_data / "taobao-userbehavior-head" / "UserBehavior.csv.gz"
    schema = EventSchema(user="0", item="1", event_type="3", timestamp="4",
                         event_types=TAOBAO_MAP, timestamp_format="unix_s")
    log, report = read_events(path, schema)
    assert report.rows_read == 84_476
    assert len(log) == 84_475 and report.rows_kept == 84_475
    assert dict(report.rejected) == {"wrong number of fields": 1}
    assert report.examples["wrong number of fields"] == [(84_476, "100370,1968385,1875258,pv")]
    kinds = dict(zip(*np.unique(log.event_type, return_counts=True)))
    assert {str(k): int(v) for k, v in kinds.items()} == {
        "view": 75_872, "cart": 4_497, "favorite": 2_356, "purchase": 1_750}
    assert len(np.unique(log.user_id)) == 815
    assert len(np.unique(log.item_id)) == 55_368
    # Sorted by (user, timestamp).
    same_user = log.user_id[1:] == log.user_id[:-1]
    assert (np.diff(log.timestamp)[same_user] >= 0).all()
    assert log.timestamp[log.user_id == "1"][0] == 1511544070000


@pytest.mark.slow
def test_store_item_demand_size(shared_data):
    path = shared_data / "store-item-demand" / "train.csv.gz"
    schema = EventSchema(user="store", item="item", event_type=None, timestamp="date",
                         quantity="sales", default_event_type="purchase")
    log, report = read_events(path, schema)
    assert report.rows_kept == 913_000 and report.rows_rejected == 0
    assert log.quantity.sum() > 0


def test_an_unmatched_quote_is_reported(tmp_path):
    text = 'user,item,event,time\nu1,"i1,view,1511544070\nu2,i2,view,1511544071\n'
    path = write(tmp_path / "q.csv", text)
    log, report = read_events(path, SCHEMA)
    assert len(log) == 0 and report.rejected == {"wrong number of fields": 1}
    assert any("unmatched quote" in n for n in report.notes)


def test_corrupt_gzip(tmp_path):
    data = gzip.compress(table(ROWS * 50).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataValidationError, match="truncated or corrupt"):
        read_events(path, SCHEMA)


def test_last_line_cut_inside_its_last_field_is_a_reject(tmp_path):
    # The cut keeps the field count: "1511544072" became "15115", a valid
    # but wrong unix time, so only the missing line break gives it away.
    text = "1,10,c,pv,1511544070\n2,11,c,pv,1511544071\n3,12,c,pv,15115"
    path = write(tmp_path / "cut.csv", text)
    schema = EventSchema(user="0", item="1", event_type="3", timestamp="4")
    log, report = read_events(path, schema)
    assert log.user_id.tolist() == ["1", "2"]
    assert report.rows_read == 3
    assert report.rejected == {"truncated last line": 1}
    assert report.examples["truncated last line"] == [(3, "3,12,c,pv,15115")]


def test_complete_last_line_without_line_break_is_kept_and_noted(tmp_path):
    text = "1,10,c,pv,1511544070\n2,11,c,pv,1511544071\n3,12,c,pv,1511544072"
    path = write(tmp_path / "whole.csv", text)
    schema = EventSchema(user="0", item="1", event_type="3", timestamp="4")
    log, report = read_events(path, schema)
    assert log.user_id.tolist() == ["1", "2", "3"]
    assert not report.rejected
    assert any("ends without a line break" in note for note in report.notes)
