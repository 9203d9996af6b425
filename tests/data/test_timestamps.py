import numpy as np
import pytest

from ecomtf.data import parse_timestamps
from ecomtf.data.timestamps import _parse_one

# 2017-11-25T10:00:00Z
T = 1511604000000


@pytest.mark.parametrize(
    "text",
    [
        "2017-11-25T10:00:00",
        "2017-11-25 10:00:00",
        "  2017-11-25 10:00:00  ",
        "2017-11-25T10:00",
        "2017-11-25T10:00:00Z",
        "2017-11-25T10:00:00z",
        "2017-11-25 10:00:00 UTC",
        "2017-11-25 10:00:00UTC",
        "2017-11-25 10:00:00 GMT",
        "2017-11-25T18:00:00+08:00",
        "2017-11-25T18:00:00+0800",
        "2017-11-25T18:00:00+08",
        "2017-11-25T05:00:00-05:00",
        "2017-11-25T05:00:00-0500",
        "2017-11-25 18:00:00 UTC+08:00",
        "2017/11/25 10:00:00",
        "2017.11.25 10:00:00",
        "1511604000",
        "1511604000000",
        "1511604000.0",
    ],
)
def test_forms_of_one_instant(text):
    ms, ok = parse_timestamps([text])
    assert ok.tolist() == [True]
    assert ms.tolist() == [T]


def test_fractional_seconds_are_truncated_to_ms():
    ms, ok = parse_timestamps(
        ["2017-11-25T10:00:00.5", "2017-11-25 10:00:00.123456", "2017-11-25T10:00:00,25Z",
         "2017-11-25T10:00:00.999999999+00:00", "1511604000.25"]
    )
    assert ok.all()
    assert (ms - T).tolist() == [500, 123, 250, 999, 250]


def test_dates():
    ms, ok = parse_timestamps(["2017-11-25", "20171125", "2013-01-01", "20000229"])
    assert ok.all()
    day = 86_400_000
    assert ms.tolist() == [T - 10 * 3600_000, T - 10 * 3600_000, 1356998400000, 951782400000]
    assert ms[0] % day == 0


def test_eight_digits_that_are_not_a_date_are_unix_seconds():
    ms, ok = parse_timestamps(["20170231", "99999999"])
    assert ok.all()
    assert ms.tolist() == [20170231000, 99999999000]
    # "unix" never reads dates.
    ms, _ = parse_timestamps(["20171125"], fmt="unix")
    assert ms.tolist() == [20171125000]


def test_unix_magnitudes():
    ms, ok = parse_timestamps(["1511604000", "1511604000123", "1511604000123456",
                               "1511604000123456789", "0"])
    assert ok.all()
    assert ms.tolist() == [T, T + 123, T + 123, T + 123, 0]


def test_explicit_unix_formats():
    assert parse_timestamps(["1511604000"], fmt="unix_s")[0].tolist() == [T]
    assert parse_timestamps(["1511604000000"], fmt="unix_ms")[0].tolist() == [T]
    # Forced units do not look at magnitude.
    assert parse_timestamps(["1000"], fmt="unix_ms")[0].tolist() == [1000]
    assert parse_timestamps(["-10"], fmt="unix_s")[0].tolist() == [-10_000]
    ms, ok = parse_timestamps(["2017-11-25"], fmt="unix_s")
    assert not ok[0]


def test_iso_and_date_formats_refuse_other_forms():
    ms, ok = parse_timestamps(["1511604000", "2017-11-25T10:00:00"], fmt="iso")
    assert ok.tolist() == [False, True]
    ms, ok = parse_timestamps(["2017-11-25", "20171125", "2017-11-25 10:00:00"], fmt="date")
    assert ok.tolist() == [True, True, False]
    assert ms[0] == ms[1]


def test_naive_times_are_in_the_given_zone():
    expected = 1511568000000  # 2017-11-25T00:00:00Z
    for zone in ("Asia/Shanghai", "UTC+8", "+08:00", "UTC+08:00", "GMT+0800"):
        ms, ok = parse_timestamps(["2017-11-25 08:00:00"], timezone=zone)
        assert ok[0] and ms[0] == expected, zone
    # Dates are midnight in the zone.
    ms, _ = parse_timestamps(["2017-11-25"], timezone="Asia/Shanghai")
    assert ms[0] == expected - 8 * 3600_000
    # An explicit offset or unix time ignores the zone.
    ms, _ = parse_timestamps(["2017-11-25T10:00:00Z", "1511604000"], timezone="Asia/Shanghai")
    assert ms.tolist() == [T, T]


def test_daylight_saving_time():
    ms, ok = parse_timestamps(
        ["2021-07-01 12:00:00", "2021-01-01 12:00:00", "2021-10-31 02:30:00",
         "2021-10-31 03:30:00"],
        timezone="Europe/Berlin",
    )
    assert ok.all()
    h = 3600_000
    assert ms[0] == 1625140800000 - 2 * h  # CEST +2
    assert ms[1] == 1609502400000 - 1 * h  # CET +1
    # 02:30 happens twice that night; the first (still +2) is taken.
    assert ms[2] == 1635647400000 - 2 * h
    assert ms[3] == 1635651000000 - 1 * h


def test_strptime_pattern():
    ms, ok = parse_timestamps(["25/11/2017 18:00", "nope"], fmt="%d/%m/%Y %H:%M",
                              timezone="Asia/Shanghai")
    assert ok.tolist() == [True, False]
    assert ms[0] == T
    ms, ok = parse_timestamps(["25/11/2017 11:00 +0100"], fmt="%d/%m/%Y %H:%M %z")
    assert ok[0] and ms[0] == T


def test_bad_values_are_flagged_not_raised():
    values = ["", "  ", "bad", "2017-13-01", "2017-02-30", "2017-11-25T25:00:00",
              "today", "NaT", "2017-11-25T10:00:00+25", None, "1e400"]
    ms, ok = parse_timestamps(values)
    assert not ok.any()
    assert (ms == 0).all()


def test_one_bad_value_in_a_large_column():
    rng = np.random.default_rng(0)
    base = 1511500000 + rng.integers(0, 800000, 5000)
    iso = (base * 1000).astype("datetime64[ms]").astype(str)
    iso = np.strings.replace(iso, "T", " ")
    iso[1234] = "2017-11-32 10:00:00"
    ms, ok = parse_timestamps(iso)
    assert np.flatnonzero(~ok).tolist() == [1234]
    good = np.arange(5000) != 1234
    assert (ms[good] == base[good] * 1000).all()


def test_vectorized_paths_agree_with_the_reference_parser():
    values = [
        "2017-11-25T10:00:00", "2017-11-25 10:00:00.123", "2017-11-25T10:00:00Z",
        "2017-11-25T18:00:00+08:00", "2017-11-25T18:00:00+0800", "2017-11-25",
        "20171125", "1511604000", "1511604000000", "2017-11-25 10:00:00 UTC",
        "1999-12-31T23:59:59.999", "1969-12-31T23:59:59",
    ]
    ms, ok = parse_timestamps(values)
    assert ok.all()
    for v, m in zip(values, ms.tolist()):
        local, off = _parse_one(v, "auto")
        assert local - (off or 0) * 60_000 == m, v


def test_numeric_and_datetime_arrays():
    ms, ok = parse_timestamps(np.array([1511604000, 1511604000000]))
    assert ok.all() and ms.tolist() == [T, T]
    ms, ok = parse_timestamps(np.array([1511604000.5, np.nan]))
    assert ok.tolist() == [True, False] and ms[0] == T + 500
    ms, ok = parse_timestamps(np.array(["2017-11-25T18:00"], "datetime64[m]"), timezone="UTC+8")
    assert ok[0] and ms[0] == T
    ms, ok = parse_timestamps([b"2017-11-25T10:00:00"])
    assert ok[0] and ms[0] == T


def test_empty_input_and_errors():
    ms, ok = parse_timestamps([])
    assert ms.dtype == np.int64 and ok.dtype == bool and len(ms) == 0
    with pytest.raises(ValueError, match="time zone"):
        parse_timestamps(["2017-11-25"], timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="format"):
        parse_timestamps(["2017-11-25"], fmt="weird")


def test_a_large_unix_column():
    values = (1511500000 + np.arange(200_000)).astype(str)
    ms, ok = parse_timestamps(values)
    assert ok.all()
    assert ms[-1] == (1511500000 + 199_999) * 1000


@pytest.mark.parametrize("sep,suffix,zone", [(" ", " UTC", "UTC"), ("T", "Z", "UTC"),
                                             (" ", "", "Europe/Berlin"), ("T", "", "UTC")])
def test_fixed_width_times_read_at_fixed_positions_agree_with_the_general_path(
        monkeypatch, sep, suffix, zone):
    """One shape on every row (an export's): read as a byte matrix, the same
    instants as the regex-and-cast path, bad days and months left to it."""
    import pyarrow as pa

    from ecomtf.data import timestamps

    rng = np.random.default_rng(0)
    n = 4000
    y = rng.integers(1880, 2220, n)
    m = rng.integers(0, 14, n)
    d = rng.integers(0, 32, n)
    h, mi, s = rng.integers(0, 25, n), rng.integers(0, 61, n), rng.integers(0, 61, n)
    y[:50], m[:50], d[:50] = [2000, 1900, 2024, 2023] * 12 + [2100, 2019], 2, 29  # leap days
    text = [f"{a:04d}-{b:02d}-{c:02d}{sep}{e:02d}:{f:02d}:{g:02d}{suffix}"
            for a, b, c, e, f, g in zip(y, m, d, h, mi, s)]
    text[7] = text[7].replace("-", "/", 1)
    text[8] = "x" + text[8][1:]
    values = pa.array(text)
    fast = timestamps.parse_timestamps_arrow(values, "auto", zone)
    monkeypatch.setattr(timestamps, "_fixed_width_iso", lambda *a: None)
    general = timestamps.parse_timestamps_arrow(values, "auto", zone)
    np.testing.assert_array_equal(fast[1], general[1])
    np.testing.assert_array_equal(fast[0][fast[1]], general[0][general[1]])
    assert 0.3 < fast[1].mean() < 0.95


@pytest.mark.parametrize("sep,suffix,zone", [(" ", " UTC", "UTC"), ("T", "Z", "UTC"),
                                             (" ", "", "Europe/Berlin"), ("T", "", "UTC")])
def test_fixed_width_times_all_valid_take_arrows_cast_and_agree(monkeypatch, sep, suffix, zone):
    """Every row valid (an export's usual column): Arrow's cast parses them in
    one call, with the instants of the digits path and of the general path
    (leap days, years outside the digits path's 1900-2199 table, DST)."""
    import pyarrow as pa

    from ecomtf.data import timestamps

    rng = np.random.default_rng(1)
    n = 4000
    y = rng.integers(1850, 2250, n)
    m, d = rng.integers(1, 13, n), rng.integers(1, 29, n)
    h, mi, s = rng.integers(0, 24, n), rng.integers(0, 60, n), rng.integers(0, 60, n)
    y[:40], m[:40], d[:40] = [2000, 2024, 1904, 2196] * 10, 2, 29  # leap days
    m[40:80], d[40:80], h[40:80] = 3, 31, 2  # the night clocks go forward in Berlin
    text = [f"{a:04d}-{b:02d}-{c:02d}{sep}{e:02d}:{f:02d}:{g:02d}{suffix}"
            for a, b, c, e, f, g in zip(y, m, d, h, mi, s)]
    values = pa.array(text)
    calls = []
    arrow = timestamps._fixed_width_arrow
    monkeypatch.setattr(timestamps, "_fixed_width_arrow",
                        lambda *a: calls.append(1) or arrow(*a))
    fast = timestamps.parse_timestamps_arrow(values, "auto", zone)
    assert calls and fast[1].all()
    monkeypatch.setattr(timestamps, "_fixed_width_arrow", lambda *a: None)
    digits = timestamps.parse_timestamps_arrow(values, "auto", zone)
    monkeypatch.setattr(timestamps, "_fixed_width_iso", lambda *a: None)
    general = timestamps.parse_timestamps_arrow(values, "auto", zone)
    for other in (digits, general):
        np.testing.assert_array_equal(fast[1], other[1])
        np.testing.assert_array_equal(fast[0], other[0])
