"""Timestamp parsing: strings in the forms shops export -> unix milliseconds UTC."""

from __future__ import annotations

import datetime as _dt
import re
import warnings
from typing import Sequence
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

import numpy as np

_MS_PER_DAY = 86_400_000
_EPOCH = _dt.datetime(1970, 1, 1)
FORMATS = ("auto", "iso", "unix", "unix_s", "unix_ms", "date")

# The reference parser. The vectorized fast paths below must agree with it;
# every value they cannot handle falls back to it.
_ISO = re.compile(
    r"""^(\d{4})([-/.]?)(\d{2})\2(\d{2})          # date, year first
    (?:(?:T|\s+)(\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?)?   # time
    \s*(Z|(?:UTC|GMT)?\s*[+-]\d{2}(?::?\d{2})?|UTC|GMT)?$   # zone
    """,
    re.X | re.I,
)
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.I)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def parse_timestamps(
    values: Sequence[str],
    fmt: str = "auto",
    timezone: str = "UTC",
) -> tuple[np.ndarray, np.ndarray]:
    """Parses timestamps to unix milliseconds UTC, flagging the ones that fail.

    Accepted forms with ``fmt="auto"``:

    - ISO-8601 and its common variants: ``2017-11-25T10:00:00``, a space
      instead of ``T``, ``/`` or ``.`` between date parts, minutes-only
      times, fractional seconds (truncated to ms), a trailing ``Z``, ``UTC``
      or an offset such as ``+08:00``, ``+0800`` or ``+08``.
    - Dates ``YYYY-MM-DD`` and ``YYYYMMDD`` (midnight in ``timezone``).
    - Unix times as digits, told apart by magnitude: below 1e11 seconds,
      below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds.
      Exactly 8 digits that form a valid date in 1900..2199 are read as
      ``YYYYMMDD`` instead (as seconds they would be 1970-1973).
      Decimal seconds such as ``1511544070.25`` are accepted too.

    ``fmt`` may force one reading: ``"iso"`` (ISO forms above), ``"date"``
    (dates only), ``"unix"`` (digits by magnitude, never dates),
    ``"unix_s"``, ``"unix_ms"``, or a ``strptime`` pattern (anything with
    a ``%``; ``%z`` gives the offset).

    Values without an offset are wall-clock times in ``timezone``: an IANA
    name (``"Asia/Shanghai"``; daylight saving handled, ambiguous times take
    the first occurrence), ``"UTC"``, or a fixed offset (``"UTC+8"``,
    ``"+08:00"``, ``"GMT-0530"``). Unix times are always UTC.

    Numeric arrays (ints or floats) are read as unix times; numpy
    ``datetime64`` arrays as naive times in ``timezone``.

    Args:
        values: the timestamps (a list, tuple or numpy array of str).
        fmt: see above.
        timezone: zone of timestamps that carry no offset.

    Returns:
        ``(ms, ok)``: int64 unix milliseconds UTC (0 where parsing failed)
        and a bool array, True where the value parsed.

    Example:
        >>> ms, ok = parse_timestamps(
        ...     ["2017-11-25 08:00:00", "1511568000", "bad"],
        ...     timezone="Asia/Shanghai")
        >>> ms.tolist(), ok.tolist()
        ([1511568000000, 1511568000000, 0], [True, True, False])
    """
    zone = _resolve_zone(timezone)
    if fmt not in FORMATS and "%" not in fmt:
        raise ValueError(
            f"unknown timestamp format {fmt!r}: use one of {FORMATS} "
            "or a strptime pattern containing '%'"
        )
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    n = len(arr)
    ms = np.zeros(n, np.int64)
    ok = np.zeros(n, bool)
    if n == 0:
        return ms, ok
    kind = arr.dtype.kind
    if kind in "iu":
        _from_numbers(arr.astype(np.int64), fmt, ms, ok, np.ones(n, bool))
        return ms, ok
    if kind == "f":
        finite = np.isfinite(arr)
        _from_floats(arr, fmt, ms, ok, finite)
        return ms, ok
    if kind == "M":
        local = arr.astype("datetime64[ms]").astype(np.int64)
        good = ~np.isnat(arr)
        ms[good] = _local_to_utc(local[good], zone)
        ok[good] = True
        return ms, ok
    if kind == "S":
        arr = np.char.decode(arr, "utf-8", errors="replace")
    elif kind != "U":
        arr = np.array(["" if v is None else str(v) for v in arr.tolist()])
    s = np.strings.strip(arr)
    lengths = np.strings.str_len(s)
    # Every later string op costs in proportion to the dtype's width.
    s = s.astype(f"U{max(1, int(lengths.max()))}")

    pending = lengths > 0
    if "%" in fmt:
        _fallback(s, pending, fmt, zone, ms, ok)
        return ms, ok
    if fmt in ("auto", "unix", "unix_s", "unix_ms", "date"):
        digits = pending & np.strings.isdigit(s)
        if fmt == "date":
            digits &= np.strings.str_len(s) == 8
        _from_digits(s, digits, fmt, zone, ms, ok)
        pending &= ~ok
    if fmt in ("auto", "iso", "date"):
        _from_iso(s, pending, fmt, zone, ms, ok)
    _fallback(s, pending & ~ok, fmt, zone, ms, ok)
    return ms, ok


# --- time zones ------------------------------------------------------------


def _resolve_zone(timezone):
    """An offset in minutes (fixed zones) or a ZoneInfo."""
    if isinstance(timezone, _dt.tzinfo):
        off = timezone.utcoffset(None)
        return int(off.total_seconds() // 60) if off is not None else timezone
    text = str(timezone).strip()
    if text.upper() in ("UTC", "GMT", "Z", ""):
        return 0
    m = _OFFSET.match(text)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
        if minutes > 18 * 60:
            raise ValueError(f"time zone offset out of range: {timezone!r}")
        return sign * minutes
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(
            f"unknown time zone {timezone!r}: use an IANA name such as "
            "'Asia/Shanghai', 'UTC', or a fixed offset such as 'UTC+8' or '+08:00'"
        ) from e


def _zone_offset_ms(local_ms: int, zone) -> int:
    naive = _EPOCH + _dt.timedelta(milliseconds=int(local_ms))
    off = naive.replace(tzinfo=zone).utcoffset()
    return int(off.total_seconds() * 1000)


def _local_to_utc(local: np.ndarray, zone) -> np.ndarray:
    """Naive wall-clock ms in ``zone`` -> UTC ms, vectorized by day."""
    local = np.asarray(local, np.int64)
    if not isinstance(zone, _dt.tzinfo):
        return local - np.int64(zone) * 60_000
    if len(local) == 0:
        return local
    # Offsets only change at a zone's transitions; most days have none, so
    # one lookup per distinct day (at its start and the next day's start)
    # covers them. Values on transition days are looked up one by one.
    days = local // _MS_PER_DAY
    udays, inverse = np.unique(days, return_inverse=True)
    start = np.array([_zone_offset_ms(d * _MS_PER_DAY, zone) for d in udays.tolist()])
    end = np.array([_zone_offset_ms((d + 1) * _MS_PER_DAY, zone) for d in udays.tolist()])
    offset = start[inverse]
    changing = (start != end)[inverse]
    if changing.any():
        idx = np.flatnonzero(changing)
        uvals, inv = np.unique(local[idx], return_inverse=True)
        offs = np.array([_zone_offset_ms(v, zone) for v in uvals.tolist()], np.int64)
        offset[idx] = offs[inv]
    return local - offset


# --- fast paths ------------------------------------------------------------

_UNIT_MS = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}


def _units(magnitude: np.ndarray, fmt: str) -> np.ndarray:
    """Milliseconds per unit for each value (by magnitude unless forced)."""
    if fmt == "unix_s":
        return np.full(magnitude.shape, 1000.0)
    if fmt == "unix_ms":
        return np.ones(magnitude.shape)
    return np.select(
        [magnitude < 1e11, magnitude < 1e14, magnitude < 1e17],
        [1000.0, 1.0, 1e-3],
        1e-6,
    )


def _from_numbers(v: np.ndarray, fmt, ms, ok, where) -> None:
    """Unix times given as integers, into ``ms``/``ok`` where ``where``."""
    if fmt in ("iso", "date") or "%" in fmt:
        return  # Numbers are not dates in those formats.
    idx = np.flatnonzero(where)
    vals = v[idx]
    unit = _units(np.abs(vals).astype(np.float64), fmt)
    out = np.empty(len(vals), np.int64)
    # Integer arithmetic, exact for seconds and milliseconds; floor division
    # for finer units.
    sec = unit == 1000.0
    out[sec] = vals[sec] * 1000
    one = unit == 1.0
    out[one] = vals[one]
    fine = ~(sec | one)
    divisor = np.round(1.0 / unit[fine]).astype(np.int64)
    out[fine] = np.floor_divide(vals[fine], divisor)
    ms[idx] = out
    ok[idx] = True


def _from_floats(v: np.ndarray, fmt, ms, ok, where) -> None:
    if fmt in ("iso", "date") or "%" in fmt:
        return
    idx = np.flatnonzero(where)
    vals = v[idx].astype(np.float64)
    unit = _units(np.abs(vals), fmt)
    ms[idx] = np.floor(vals * unit).astype(np.int64)
    ok[idx] = True


def _yyyymmdd_to_days(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days since epoch for YYYYMMDD ints, and whether each is a real date."""
    y, m, d = v // 10000, v // 100 % 100, v % 100
    valid = (y >= 1900) & (y < 2200) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31)
    ys, ms_, ds = np.where(valid, y, 1970), np.where(valid, m, 1), np.where(valid, d, 1)
    month = (ys - 1970) * 12 + (ms_ - 1)
    first = month.astype("datetime64[M]").astype("datetime64[D]")
    date = first + (ds - 1).astype("timedelta64[D]")
    # A day past the month's end (e.g. 20170231) rolls into the next month.
    valid &= date.astype("datetime64[M]") == first.astype("datetime64[M]")
    return date.astype(np.int64), valid


def _from_digits(s, where, fmt, zone, ms, ok) -> None:
    idx = np.flatnonzero(where)
    if len(idx) == 0:
        return
    sub = s[idx]
    lengths = np.strings.str_len(sub)
    rest = lengths <= 18  # int64 holds any 18-digit number; longer: fallback
    if fmt in ("auto", "date"):
        eight = np.flatnonzero(rest & (lengths == 8))
        if len(eight):
            days, valid = _yyyymmdd_to_days(sub[eight].astype(np.int64))
            pos = idx[eight[valid]]
            ms[pos] = _local_to_utc(days[valid] * _MS_PER_DAY, zone)
            ok[pos] = True
            rest[eight[valid]] = False
        if fmt == "date":
            return
    if rest.any():
        full = np.zeros(len(ms), np.int64)
        full[idx[rest]] = sub[rest].astype(np.int64)
        mask = np.zeros(len(ms), bool)
        mask[idx[rest]] = True
        _from_numbers(full, fmt, ms, ok, mask)


def _codes(strings: np.ndarray, width: int) -> np.ndarray:
    """The first ``width`` code points of each string as an [n, width] matrix."""
    head = np.strings.slice(strings, 0, width).astype(f"U{width}")
    return head.view(np.uint32).reshape(len(strings), width)


def _is_digit(c: np.ndarray) -> np.ndarray:
    return (c >= ord("0")) & (c <= ord("9"))


def _from_iso(s, where, fmt, zone, ms, ok) -> None:
    """Vectorized ISO-8601 for the usual shapes; the rest is left pending."""
    idx = np.flatnonzero(where)
    if len(idx) == 0:
        return
    sub = s[idx]
    length = np.strings.str_len(sub)
    # Zone suffixes: Z, UTC, +HH:MM, +HHMM. Offsets are found by looking at
    # the last six characters of each string.
    tail = np.strings.slice(sub, np.maximum(length - 6, 0), length).astype("U6")
    t = tail.view(np.uint32).reshape(len(sub), 6)
    tlen = np.strings.str_len(tail)
    full6 = tlen == 6
    sign6 = (t[:, 0] == ord("+")) | (t[:, 0] == ord("-"))
    colon = full6 & sign6 & _is_digit(t[:, 1]) & _is_digit(t[:, 2]) & (t[:, 3] == ord(":"))
    colon &= _is_digit(t[:, 4]) & _is_digit(t[:, 5])
    sign5 = (t[:, 1] == ord("+")) | (t[:, 1] == ord("-"))
    basic = full6 & sign5 & _is_digit(t[:, 2]) & _is_digit(t[:, 3])
    basic &= _is_digit(t[:, 4]) & _is_digit(t[:, 5])
    def num(col):
        return t[:, col].astype(np.int64) - ord("0")

    # Offsets beyond +-18:00 are not real: leave them to be rejected.
    colon &= (num(1) * 10 + num(2) <= 18) & (num(4) < 6)
    basic &= (num(2) * 10 + num(3) <= 18) & (num(4) < 6)
    zulu = np.strings.endswith(sub, "Z") | np.strings.endswith(sub, "z")
    utc_word = full6 & ((t[:, 3] | 32) == ord("u")) & ((t[:, 4] | 32) == ord("t"))
    utc_word &= (t[:, 5] | 32) == ord("c")
    cut = np.select([colon, basic, zulu, utc_word], [6, 5, 1, 3], 0)
    aware = cut > 0
    off_min = np.zeros(len(sub), np.int64)
    if (colon | basic).any():
        hh = np.where(colon, num(1) * 10 + num(2), num(2) * 10 + num(3))
        mm = num(4) * 10 + num(5)
        sign = np.where(np.where(colon, t[:, 0], t[:, 1]) == ord("-"), -1, 1)
        off_min = np.where(colon | basic, sign * (hh * 60 + mm), 0)
    core = sub
    if aware.any():
        core = np.strings.slice(sub, 0, length - cut)
        if utc_word.any():
            core = np.strings.rstrip(core)  # "... 10:00:00 UTC"
    if np.strings.find(core[:1000], "/").max() >= 0:
        core = np.strings.replace(core, "/", "-")
    core = np.strings.replace(core, " ", "T", 1)
    clen = np.strings.str_len(core)
    # Shape check (YYYY-MM-DD then nothing or T) so numpy's parser, which
    # also reads words like "today", only sees date-times.
    c = _codes(core, 11)
    shape = (clen >= 10) & (c[:, 4] == ord("-")) & (c[:, 7] == ord("-"))
    for col in (0, 1, 2, 3, 5, 6, 8, 9):
        shape &= _is_digit(c[:, col])
    shape &= (clen == 10) | (c[:, 10] == ord("T"))
    shape &= ~np.strings.endswith(core, "T")
    # Anything zone-like left (e.g. "+08", "UTC+08:00") is for the reference
    # parser; numpy would misread or warn about it.
    shape &= np.strings.count(core, "-") == 2
    for ch in ("+", "Z", "z", "U", "G", " "):
        shape &= np.strings.find(core, ch) < 0
    if fmt == "date":
        shape &= (clen == 10) & ~aware
    if not shape.any():
        return
    good = np.flatnonzero(shape)
    local, parsed = _datetime64_ms(core[good])
    good, local = good[parsed], local[parsed]
    utc = np.empty(len(good), np.int64)
    a = aware[good]
    utc[a] = local[a] - off_min[good][a] * 60_000
    utc[~a] = _local_to_utc(local[~a], zone)
    ms[idx[good]] = utc
    ok[idx[good]] = True


def _datetime64_ms(core: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """numpy's ISO parser on an array; values it rejects are flagged.

    numpy raises on the first bad value, so a failing chunk is split in
    halves until the bad values are isolated: a few bad rows cost a few
    extra calls, not a slow path for the whole column.
    """
    out = np.zeros(len(core), np.int64)
    parsed = np.ones(len(core), bool)
    todo = [(0, len(core))]
    while todo:
        lo, hi = todo.pop()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # e.g. time zone deprecation
                out[lo:hi] = core[lo:hi].astype("datetime64[ms]").astype(np.int64)
        except (ValueError, Warning):
            if hi - lo <= 64:
                parsed[lo:hi] = False
            else:
                mid = (lo + hi) // 2
                todo += [(lo, mid), (mid, hi)]
    return out, parsed


# --- the reference parser --------------------------------------------------


def _parse_one(text: str, fmt: str):
    """``(wall-clock ms, offset minutes or None)`` or None if unparsable."""
    if "%" in fmt:
        try:
            d = _dt.datetime.strptime(text, fmt)
        except ValueError:
            return None
        off = d.utcoffset()
        naive = d.replace(tzinfo=None)
        local = (naive - _EPOCH) // _dt.timedelta(milliseconds=1)
        return local, None if off is None else int(off.total_seconds() // 60)
    if fmt in ("auto", "unix", "unix_s", "unix_ms") and _NUMBER.match(text):
        if fmt == "auto" and text.isdigit() and len(text) == 8:
            days, valid = _yyyymmdd_to_days(np.array([int(text)]))
            if valid[0]:
                return int(days[0]) * _MS_PER_DAY, None
        try:
            v = float(text)
        except ValueError:
            return None
        if not np.isfinite(v):
            return None
        if text.lstrip("+-").isdigit() and abs(int(text)) < 2**63:
            # Exact integer arithmetic: floats lose ms precision past 2**53.
            unit = float(_units(np.array([abs(float(text))]), fmt)[0])
            iv = int(text)
            value = iv * int(unit) if unit >= 1 else iv // int(round(1 / unit))
        else:
            unit = float(_units(np.array([abs(v)]), fmt)[0])
            value = int(np.floor(v * unit))
        return value, 0
    if fmt not in ("auto", "iso", "date"):
        return None
    m = _ISO.match(text)
    if not m:
        return None
    y, _, mo, d, hh, mi, ss, frac, zone = m.groups()
    if fmt == "date" and (hh is not None or zone is not None):
        return None
    try:
        naive = _dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0))
    except ValueError:
        return None
    local = (naive - _EPOCH) // _dt.timedelta(milliseconds=1)
    if frac:
        local += int(frac[:3].ljust(3, "0"))
    if zone is None:
        return local, None
    z = zone.strip().upper()
    if z in ("Z", "UTC", "GMT"):
        return local, 0
    om = _OFFSET.match(z)
    if not om:
        return None
    if int(om.group(2)) > 18 or int(om.group(3) or 0) > 59:
        return None
    minutes = int(om.group(2)) * 60 + int(om.group(3) or 0)
    return local, -minutes if om.group(1) == "-" else minutes


def _fallback(s, where, fmt, zone, ms, ok) -> None:
    idx = np.flatnonzero(where)
    if len(idx) == 0:
        return
    uniq, inverse = np.unique(s[idx], return_inverse=True)
    local = np.zeros(len(uniq), np.int64)
    offset = np.zeros(len(uniq), np.int64)
    naive = np.zeros(len(uniq), bool)
    good = np.zeros(len(uniq), bool)
    for i, text in enumerate(uniq.tolist()):
        r = _parse_one(text, fmt)
        if r is None:
            continue
        good[i] = True
        local[i] = r[0]
        if r[1] is None:
            naive[i] = True
        else:
            offset[i] = r[1]
    utc = local - offset * 60_000
    if naive.any():
        utc[naive] = _local_to_utc(local[naive], zone)
    ms[idx] = np.where(good[inverse], utc[inverse], 0)
    ok[idx] = good[inverse]


# --- Arrow columns ---------------------------------------------------------

# The shape of the usual exports' times ("2019-10-01 00:00:00 UTC",
# "2017-11-25T10:00:00.123", "...Z"), which Arrow's own ISO-8601 cast reads and
# range-checks (it refuses 2017-02-30 and 25:00, unlike its strptime, which
# rolls them over). Anything else goes to parse_timestamps.
_ARROW_ISO = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,3})?( ?UTC|Z)?$"
)


_ISO_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_ISO_SEPARATORS = [4, 7, 10, 13, 16]


def _month_tables():
    """First day (since 1970-01-01) and length of each month of 1900-2199, by year * 13 + month."""
    first = (np.arange(1900, 2200) - 1970).astype("datetime64[Y]")
    months = first[:, None].astype("datetime64[M]") + np.arange(13)  # 12 + the next January
    days = months.astype("datetime64[D]").astype(np.int64)
    start = np.zeros((300, 13), np.int64)
    length = np.zeros((300, 13), np.int64)
    start[:, 1:] = days[:, :12]
    length[:, 1:] = np.diff(days, axis=1)
    return start.ravel(), length.ravel()


_MONTH_START, _MONTH_LENGTH = _month_tables()


def _fixed_width_iso(s, pending, ms, ok, zone) -> None:
    """``YYYY-MM-DD HH:MM:SS`` (or ``T``), with one suffix (none, ``Z``, `` UTC``) on every value.

    Exports write their times in one fixed shape; then the values are the rows
    of a [N, width] byte matrix, read in numpy at fixed positions without a
    regex or a cast. A value whose bytes or fields do not fit (a month 13, a
    29 February of a common year, a year outside 1900-2199) is left pending
    for the general path, so every value gets the result that path gives.
    """
    n = len(s)
    if n == 0 or s.null_count or not pending.all():
        return
    _, off_buf, data_buf = s.buffers()
    offsets = np.frombuffer(off_buf, np.int32, n + 1, s.offset * 4)
    width = int(offsets[1] - offsets[0])
    if width not in (19, 20, 23) or int(offsets[-1] - offsets[0]) != n * width:
        return
    if not (np.diff(offsets) == width).all():
        return
    b = np.frombuffer(data_buf, np.uint8, n * width, int(offsets[0])).reshape(n, width)
    suffix = bytes(b[0, 19:])
    if suffix not in (b"", b"Z", b" UTC"):
        return
    good = np.ones(n, bool)
    # Column by column (a reduction along the short rows costs more).
    for col, want in zip(range(19, width), suffix):
        good &= b[:, col] == want
    for col, want in zip(_ISO_SEPARATORS, b"-- ::"):
        good &= (b[:, col] == want) | ((b[:, col] == ord("T")) if col == 10 else False)
    if good.all():
        # The shape of ``_ARROW_ISO`` on every row: Arrow's ISO-8601 cast,
        # which is what the general path runs on such values, parses them in
        # one call (3x cheaper than the digits below); if any value fails
        # it, the digits below leave the bad ones to the general path.
        local = _fixed_width_arrow(s, width)
        if local is not None:
            ms[:] = local if suffix else _local_to_utc(local, zone)
            ok[:] = True
            return

    def number(first, count):
        nonlocal good
        v = np.zeros(n, np.int32)
        for c in _ISO_DIGITS[first:first + count]:
            digit = b[:, c] - np.uint8(48)  # bytes below "0" wrap to > 9
            good &= digit <= 9
            v = v * 10 + digit
        return v.astype(np.int64)

    year, month, day = number(0, 4), number(4, 2), number(6, 2)
    hour, minute, second = number(8, 2), number(10, 2), number(12, 2)
    # Years 1900-2199 by table: the first day of each (year, month) and its
    # length (0 for a month outside 1-12, so every day fails there).
    ym = np.clip(year - 1900, 0, 299) * 13 + np.clip(month, 0, 12)
    good &= (year >= 1900) & (year < 2200) & (month <= 12) & (day >= 1)
    good &= day <= _MONTH_LENGTH[ym]
    good &= (hour < 24) & (minute < 60) & (second < 60)
    if not good.any():
        return
    days = _MONTH_START[ym] + day - 1
    local = days * _MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000
    idx = np.flatnonzero(good)
    ms[idx] = local[idx] if suffix else _local_to_utc(local[idx], zone)
    ok[idx] = True


def _fixed_width_arrow(s, width: int):
    """Local ms of fixed-width ``YYYY-MM-DD[ T]HH:MM:SS`` + suffix values by Arrow's cast, or None.

    None when some value does not parse (the caller then reads the digits).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    core = s if width == 19 else pc.utf8_slice_codeunits(s, 0, 19)
    try:
        return pc.cast(core, pa.timestamp("ms")).cast(pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        return None


def parse_timestamps_arrow(values, fmt: str = "auto", timezone: str = "UTC"):
    """``parse_timestamps`` for an Arrow array, vectorised in Arrow compute.

    Strings of the usual shapes (unix seconds/milliseconds as digits,
    ``YYYY-MM-DD HH:MM:SS[.fff]`` with an optional ``T``, `` UTC`` or ``Z``)
    are parsed by Arrow's ISO-8601 cast and integer cast; the values these
    fast paths leave (other forms, and every value that turns out bad) go
    through ``parse_timestamps`` (numpy, then the reference parser), so both
    give the same result for every value. Integer and float columns are unix
    times; Arrow timestamp columns with a time zone are exact instants,
    without one they are wall-clock times in ``timezone``; date columns are
    midnight in ``timezone``.

    Args:
        values: a ``pyarrow.Array`` or ``ChunkedArray``.
        fmt: as in ``parse_timestamps``.
        timezone: as in ``parse_timestamps``.

    Returns:
        ``(ms, ok)`` numpy arrays, as ``parse_timestamps`` returns.

    Example:
        >>> import pyarrow as pa
        >>> parse_timestamps_arrow(pa.array(["2019-10-01 00:00:00 UTC"]))[0].tolist()
        [1569888000000]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    zone = _resolve_zone(timezone)
    if fmt not in FORMATS and "%" not in fmt:
        raise ValueError(
            f"unknown timestamp format {fmt!r}: use one of {FORMATS} "
            "or a strptime pattern containing '%'"
        )
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    n = len(values)
    ms = np.zeros(n, np.int64)
    ok = np.zeros(n, bool)
    if n == 0:
        return ms, ok
    typ = values.type
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(typ):
        v = values.cast(pa.timestamp("ms", tz=typ.tz)).cast(pa.int64()).fill_null(0).to_numpy()
        ms[:] = v if typ.tz is not None else _local_to_utc(v, zone)
        ok[:] = valid
        ms[~valid] = 0
        return ms, ok
    if pa.types.is_date(typ):
        days = values.cast(pa.date32()).cast(pa.int32()).fill_null(0).to_numpy().astype(np.int64)
        ms[:] = _local_to_utc(days * _MS_PER_DAY, zone)
        ok[:] = valid
        ms[~valid] = 0
        return ms, ok
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        kind = np.int64 if pa.types.is_integer(typ) else np.float64
        arr = values.cast(pa.from_numpy_dtype(kind)).fill_null(0).to_numpy()
        m, good = parse_timestamps(arr, fmt, timezone)
        good &= valid
        return np.where(good, m, 0), good
    if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)
            or pa.types.is_dictionary(typ)):
        return ms, ok  # Not a time: every value is a bad timestamp.
    from ecomtf.data.event_reader import _trimmed  # (it imports this module)

    # Trimmed only when some value has whitespace at an end (the reader's
    # columns arrive trimmed already).
    s = _trimmed(values.cast(pa.string()).fill_null(""))
    length = pc.utf8_length(s).to_numpy(zero_copy_only=False)
    pending = length > 0
    if fmt in ("auto", "iso"):
        _fixed_width_iso(s, pending, ms, ok, zone)
    if fmt in ("auto", "unix", "unix_s", "unix_ms") and (length[~ok] <= 18).any():
        digits = pc.match_substring_regex(s, r"^[0-9]{1,18}$").to_numpy(zero_copy_only=False)
        if fmt == "auto":
            # Eight digits may be a YYYYMMDD date: the general parser decides.
            digits &= length != 8
        if digits.any():
            full = np.zeros(n, np.int64)
            full[digits] = pc.cast(s.filter(pa.array(digits)), pa.int64()).to_numpy()
            _from_numbers(full, fmt, ms, ok, digits)
    if fmt in ("auto", "iso") and (pending & ~ok).any():
        iso = pc.match_substring_regex(s, _ARROW_ISO).to_numpy(zero_copy_only=False)
        iso &= pending & ~ok
        if iso.any():
            sub = s.filter(pa.array(iso))
            # The regex above fixed the shape, so the zone is one of these
            # suffixes; cut them with slices (a regex replace cost half the parse).
            local = None
            aware = np.zeros(len(sub), bool)
            core = sub
            for suffix in (" UTC", "UTC", "Z"):
                ends = pc.ends_with(core, suffix).to_numpy(zero_copy_only=False) & ~aware
                if ends.all():
                    core = pc.utf8_slice_codeunits(core, 0, -len(suffix))
                elif ends.any():
                    idx = np.flatnonzero(ends)
                    cut = pc.utf8_slice_codeunits(core.filter(pa.array(ends)), 0, -len(suffix))
                    mask = np.zeros(len(sub), bool)
                    mask[idx] = True
                    core = pc.replace_with_mask(core, pa.array(mask), cut)
                aware |= ends
            try:
                local = pc.cast(core, pa.timestamp("ms")).cast(pa.int64()).to_numpy()
            except pa.ArrowInvalid:
                local = None  # Some value out of range: all of them go the slow way.
            if local is not None:
                utc = local.copy()
                if (~aware).any():
                    utc[~aware] = _local_to_utc(local[~aware], zone)
                idx = np.flatnonzero(iso)
                ms[idx] = utc
                ok[idx] = True
    rest = pending & ~ok
    if rest.any():
        idx = np.flatnonzero(rest)
        texts = np.array(s.filter(pa.array(rest)).to_pylist(), dtype=str)
        m, good = parse_timestamps(texts, fmt, timezone)
        ms[idx] = m
        ok[idx] = good
    return ms, ok
