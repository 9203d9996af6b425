import gzip

import numpy as np
import pytest

from ecomtf.data.reject_report import DataValidationError
from ecomtf.data.sales_table import SalesTable
from ecomtf.data.sales_table import join_keys
from ecomtf.data.sales_table import to_days
from tests.forecast.conftest import daily_table


def _cols(**over):
    cols = {
        "day": ["2024-01-01", "2024-01-02", "2024-01-04", "2024-01-02", "2024-01-03"],
        "shop": ["a", "a", "a", "b", "b"],
        "units": [3, -2, 5, 1, 4],
        "price": [1.0, 1.0, "", 2.0, 2.5],
    }
    cols.update(over)
    return cols


@pytest.mark.parametrize(
    "fill, expected_a",
    [("zero", [3, -2, 0, 5]), ("ffill", [3, -2, -2, 5]), ("nan", [3, -2, np.nan, 5])],
)
def test_fill_policies_fill_gaps_inside_a_series_only(fill, expected_a):
    table, report = SalesTable.from_columns(_cols(), date="day", target="units", keys=["shop"], fill=fill)
    assert table.series_ids.tolist() == ["a", "b"]
    np.testing.assert_array_equal(table.target[0], expected_a)
    # b has rows on Jan 2-3 only: before and after its range there is no data.
    assert np.isnan(table.target[1, 0]) and np.isnan(table.target[1, 3])
    np.testing.assert_array_equal(table.target[1, 1:3], [1, 4])
    assert any(f"fill policy {fill!r}: 1 missing date(s)" in n for n in report.notes)
    assert any("negative" in n for n in report.notes)
    assert any("1 series start after and 1 stop before" in n for n in report.notes)


def test_bad_rows_are_counted_with_reasons_and_examples():
    cols = _cols(day=["2024-01-01", "31/02/2024", "2024-01-04", "2024-01-02", ""],
                 units=[3, 1, "x", None, 4])
    table, report = SalesTable.from_columns(cols, date="day", target="units", keys=["shop"])
    assert report.rows_read == 5 and report.rows_kept == 1
    assert report.rejected["unparsable date in 'day'"] == 2
    assert report.rejected["non-numeric target in 'units'"] == 1
    assert sum(v for k, v in report.rejected.items() if k.startswith("missing target")) == 1
    assert report.examples["unparsable date in 'day'"][0][1].startswith("row 1: 31/02/2024")
    # The "nan" policy keeps an empty target as a gap instead.
    _, report = SalesTable.from_columns(cols, date="day", target="units", keys=["shop"], fill="nan")
    assert report.rows_kept == 2
    with pytest.raises(DataValidationError, match="strict mode"):
        SalesTable.from_columns(cols, date="day", target="units", keys=["shop"], strict=True)


def test_duplicates_are_summed_and_covariates_averaged_and_filled():
    cols = _cols(day=["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-04", "2024-01-04"],
                 shop=["a"] * 5, units=[1, 2, 3, 4, 5], price=[1.0, 3.0, "", 5.0, ""])
    table, report = SalesTable.from_columns(cols, date="day", target="units", keys=["shop"], known=["price"])
    np.testing.assert_array_equal(table.target[0], [3, 3, 0, 9])
    # Averaged (1, 3) -> 2; an empty price is forward-filled.
    np.testing.assert_array_equal(table.known["price"][0], [2, 2, 2, 5])
    assert any("2 (series, date) pairs had several rows (4 rows)" in n for n in report.notes)


def test_weekly_grid_rejects_off_grid_dates(weekly_csv):
    table, report = SalesTable.read(
        weekly_csv, date="week_start", target="net_units", keys=["shop", "sku"],
        known=["unit_price", "on_promo"], holiday="is_holiday", freq="W",
    )
    assert table.freq == "W" and table.n_series == 6 and table.length == 120
    assert str(table.start) == "2022-01-03"
    assert report.rejected["unparsable date in 'week_start'"] == 1
    assert sum(v for k, v in report.rejected.items() if k.startswith("missing target")) == 1
    assert sum(v for k, v in report.rejected.items() if "weekly grid (most dates fall on Monday)" in k) == 1
    assert report.rows_kept == report.rows_read - 3
    assert (table.target[np.isfinite(table.target)] < 0).any()  # returns kept
    first, last = table.active_range
    ids = table.series_ids.tolist()
    assert first[ids.index("south|C-3")] == 50 and last[ids.index("north|B-2")] == 99
    assert table.target[ids.index("north|A-1"), 10] == 0  # the deleted weeks were filled with 0
    assert table.holiday_col == "is_holiday" and set(np.unique(table.known["is_holiday"])) == {0.0, 1.0}


def test_read_gzip_with_sniffed_delimiter_and_missing_column(tmp_path):
    path = tmp_path / "s.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("d\tk\ty\n2024-01-01\tx\t1\n2024-01-03\tx\t2\n\n")
    table, report = SalesTable.read(path, date="d", target="y", keys=["k"])
    assert table.target.tolist() == [[1.0, 0.0, 2.0]]
    with pytest.raises(DataValidationError, match=r"column\(s\) \['price'\] not found"):
        SalesTable.read(path, date="d", target="y", keys=["k"], known=["price"])


def test_static_holidays_slice_and_select():
    table, report = daily_table()
    assert table.n_series == 6 and table.length == 120
    assert table.static["category"].tolist() == ["toys", "toys", "games"] * 2
    assert [str(d) for d in table.holidays] == ["2023-12-25", "2024-01-01", "2024-04-01"]
    part = table.slice(start="2024-02-01", end="2024-03-01")
    assert str(part.start) == "2024-02-01" and part.length == 29
    np.testing.assert_array_equal(part.target, table.target[:, 31:60])
    sub = table.select(["s1|i0"])
    assert sub.series_keys.tolist() == [["s1", "i0"]]
    with pytest.raises(KeyError):
        table.select(["nope"])


def test_dates_and_keys_helpers():
    assert to_days(["1970-01-02", "2000-02-29", "2024-03-01T10:00:00"]).tolist() == [1, 11016, 19783]
    assert join_keys(np.array([["a", "b"], ["c", "d"]])).tolist() == ["a|b", "c|d"]
    table, _ = SalesTable.from_columns(
        {"d": np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]"), "y": [1, 2]}, date="d", target="y")
    assert table.series_ids.tolist() == [""] and table.n_series == 1


def test_read_counts_rows_with_the_wrong_number_of_fields_and_names_a_truncated_gzip(tmp_path):
    """The sales reader is pyarrow's streaming CSV reader: too many or too few fields are rejects
    (the csv module kept a row with an extra field), and a cut gzip is one error naming the file."""
    path = tmp_path / "sales.csv"
    path.write_text("date,store,sales\n2024-01-01,a,3\n2024-01-02,a,4,extra\n2024-01-03,a\n"
                    '2024-01-04,"a",5\n', encoding="utf-8")
    table, report = SalesTable.read(path, date="date", target="sales", keys=["store"], freq="D")
    assert report.rows_read == 4
    assert dict(report.rejected) == {"wrong number of fields": 2}
    assert table.n_series == 1 and table.length == 4   # 01-02 and 01-03 are filled gaps
    body = "date,store,sales\n" + "".join(f"2024-01-{d % 28 + 1:02d},s{d},{d}\n" for d in range(20000))
    blob = gzip.compress(body.encode())
    cut = tmp_path / "sales.csv.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataValidationError, match="sales.csv.gz.*truncated or corrupt"):
        SalesTable.read(cut, date="date", target="sales", keys=["store"], freq="D")


def test_future_covariates_file_counts_every_bad_row_with_its_record_number(tmp_path):
    from ecomtf.data.sales_table import read_future_covariates

    table, _ = SalesTable.from_columns(
        {"date": ["2024-01-01", "2024-01-02", "2024-01-03"], "store": ["a"] * 3,
         "sales": [1, 2, 3], "price": [9.0, 9.0, 9.5]},
        date="date", target="sales", keys=["store"], known=["price"], freq="D")
    plan = tmp_path / "plan.csv"
    plan.write_text("date,store,price\n2024-01-04,a,8\n2024-01-05,b,8\n2024-01-05,a\n"
                    "not a date,a,7\n2024-01-05,a,7.5\n", encoding="utf-8")
    future, report = read_future_covariates(plan, table, 2, date="date")
    assert future["price"].tolist() == [[8.0, 7.5]]
    assert report.rows_read == 5
    assert dict(report.rejected) == {"series not in the table": 1, "wrong number of fields": 1,
                                     "unparsable date in 'date'": 1}
    assert report.examples["series not in the table"][0][0] == 3   # record 3 (header is 1)
    assert report.examples["unparsable date in 'date'"][0][0] == 5
