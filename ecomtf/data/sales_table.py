"""Long-format sales tables: read with a column mapping, regularized per series."""

from __future__ import annotations

import datetime
import gzip
import pathlib
import re
from typing import Iterable
from typing import Mapping
from typing import Sequence

import numpy as np

from ecomtf.data.reject_report import DataValidationError
from ecomtf.data.reject_report import RejectReport
from ecomtf.data.table_reader import CsvColumns

FREQUENCIES = {"D": 1, "W": 7}
FILL_POLICIES = ("zero", "ffill", "nan")
KEY_SEPARATOR = "|"
_EPOCH = np.datetime64("1970-01-01", "D")
# Boolean exports (pandas/Kaggle write TRUE/FALSE): read as 1/0.
_BOOLEAN_TEXT = {"true": 1.0, "false": 0.0}
_MISSING_TEXT = {"", "nan", "NaN", "NAN", "na", "NA", "N/A", "null", "NULL", "None"}
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:$|[T ])")
_SLASHED = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


class SalesTable:
    """A sales table regularized to one dense row per series on a date grid.

    The long format (one row per series and date) is what shops export; models
    need a regular grid. ``SalesTable.read`` / ``SalesTable.from_columns`` map
    columns by role (never by assumed names), count rejected rows in a
    ``RejectReport``, and lay every series on one shared daily or weekly grid:

    - ``target[s, t]`` is NaN before series ``s`` starts and after it stops
      (series may start late or stop early); missing dates inside a series'
      active range are filled by the ``fill`` policy, which the report states:
      ``"zero"`` (a missing row means nothing was sold), ``"ffill"`` (repeat
      the last value) or ``"nan"`` (leave a gap the model masks).
    - Zeros and negative values (returns) are kept as they are.
    - Duplicate (series, date) rows are summed (covariates averaged), and
      the report says how many.
    - Known-future and past-only covariates are forward- then back-filled
      within each series; a holiday flag column is filled with 0.

    Attributes:
        key_cols: the series-key column names.
        series_keys: str array ``[n_series, len(key_cols)]``.
        series_ids: str array ``[n_series]``, keys joined by ``"|"``.
        freq: ``"D"`` or ``"W"``.
        start: first grid date (``numpy.datetime64[D]``).
        target: float32 ``[n_series, length]``, NaN where there is no data.
        known: name -> float32 ``[n_series, length]``: covariates known in
            advance (price, promotion, a holiday flag column).
        past: name -> float32 ``[n_series, length]``: observed only up to now.
        static: name -> str ``[n_series]``: per-series attributes.
        holiday_col: the name in ``known`` that is a holiday flag, or None.
        holidays: sorted ``datetime64[D]`` array of holiday dates (may be
            empty), used by models to compute a holiday calendar feature.
        fill: the fill policy applied.

    Example:
        >>> table, report = SalesTable.from_columns(
        ...     {"day": ["2024-01-01", "2024-01-03"], "shop": ["a", "a"],
        ...      "units": [3, -1]},
        ...     date="day", target="units", keys=["shop"], fill="zero")
        >>> table.target.tolist()
        [[3.0, 0.0, -1.0]]
    """

    def __init__(
        self,
        *,
        key_cols: Sequence[str],
        series_keys: np.ndarray,
        freq: str,
        start,
        target: np.ndarray,
        known: Mapping[str, np.ndarray] | None = None,
        past: Mapping[str, np.ndarray] | None = None,
        static: Mapping[str, np.ndarray] | None = None,
        holiday_col: str | None = None,
        holidays: Iterable = (),
        fill: str = "zero",
    ):
        if freq not in FREQUENCIES:
            raise ValueError(f"freq must be one of {sorted(FREQUENCIES)}, got {freq!r}")
        if fill not in FILL_POLICIES:
            raise ValueError(f"fill must be one of {FILL_POLICIES}, got {fill!r}")
        self.key_cols = tuple(key_cols)
        self.series_keys = np.asarray(series_keys, dtype=str).reshape(len(target), len(self.key_cols))
        self.freq = freq
        self.start = np.datetime64(start, "D")
        self.target = np.asarray(target, np.float32)
        self.known = {k: np.asarray(v, np.float32) for k, v in (known or {}).items()}
        self.past = {k: np.asarray(v, np.float32) for k, v in (past or {}).items()}
        self.static = {k: np.asarray(v, dtype=str) for k, v in (static or {}).items()}
        self.holiday_col = holiday_col
        self.holidays = np.unique(np.asarray(list(holidays), dtype="datetime64[D]"))
        self.fill = fill
        for name, arr in {**self.known, **self.past}.items():
            if arr.shape != self.target.shape:
                raise ValueError(f"covariate {name!r} has shape {arr.shape}, target {self.target.shape}")
        for name, arr in self.static.items():
            if arr.shape != (self.n_series,):
                raise ValueError(f"static column {name!r} has shape {arr.shape}, want ({self.n_series},)")

    # --- Shape and dates -------------------------------------------------

    @property
    def n_series(self) -> int:
        return self.target.shape[0]

    @property
    def length(self) -> int:
        """Number of grid steps."""
        return self.target.shape[1]

    @property
    def step_days(self) -> int:
        return FREQUENCIES[self.freq]

    @property
    def dates(self) -> np.ndarray:
        """The grid dates, ``datetime64[D]`` ``[length]``."""
        return self.start + np.arange(self.length) * self.step_days

    @property
    def start_day(self) -> int:
        """The first grid date as days since 1970-01-01."""
        return int((self.start - _EPOCH).astype(int))

    @property
    def end(self) -> np.datetime64:
        """The last grid date."""
        return self.start + (self.length - 1) * self.step_days

    @property
    def series_ids(self) -> np.ndarray:
        return join_keys(self.series_keys)

    @property
    def active_range(self) -> tuple[np.ndarray, np.ndarray]:
        """(first, last) grid index with data per series (-1, -1 when none)."""
        has = np.isfinite(self.target)
        any_ = has.any(axis=1)
        first = np.where(any_, has.argmax(axis=1), -1)
        last = np.where(any_, self.length - 1 - has[:, ::-1].argmax(axis=1), -1)
        return first, last

    def index_of(self, date) -> int:
        """The grid index of ``date`` (may lie outside ``[0, length)``).

        Raises:
            ValueError: if a weekly grid does not contain that weekday.
        """
        offset = int((np.datetime64(date, "D") - self.start).astype(int))
        if offset % self.step_days:
            raise ValueError(
                f"{date} is not on the weekly grid (grid dates fall on "
                f"{_weekday_name(self.start)})"
            )
        return offset // self.step_days

    def covariate_names(self) -> dict[str, tuple[str, ...]]:
        """Column names by role: keys, static, known, past."""
        return {
            "keys": self.key_cols,
            "static": tuple(self.static),
            "known": tuple(self.known),
            "past": tuple(self.past),
        }

    # --- Views ----------------------------------------------------------

    def slice(self, start=None, end=None) -> "SalesTable":
        """The grid dates in ``[start, end)`` (dates or None), same series.

        ``table.slice(end=cutoff)`` is the training view of a time split.
        """
        lo = 0 if start is None else max(0, self.index_of(_round_up(start, self)))
        hi = self.length if end is None else min(self.length, self.index_of(_round_up(end, self)))
        if hi <= lo:
            raise ValueError(f"empty date range [{start}, {end}) for a table covering {self.start}..{self.end}")
        return SalesTable(
            key_cols=self.key_cols,
            series_keys=self.series_keys,
            freq=self.freq,
            start=self.start + lo * self.step_days,
            target=self.target[:, lo:hi],
            known={k: v[:, lo:hi] for k, v in self.known.items()},
            past={k: v[:, lo:hi] for k, v in self.past.items()},
            static=self.static,
            holiday_col=self.holiday_col,
            holidays=self.holidays,
            fill=self.fill,
        )

    def select(self, series) -> "SalesTable":
        """The table restricted to some series (ids or integer indices)."""
        series = np.asarray(series)
        if series.dtype.kind in "US":
            index = {s: i for i, s in enumerate(self.series_ids)}
            missing = [s for s in series if s not in index]
            if missing:
                raise KeyError(f"unknown series: {missing[:5]}")
            series = np.array([index[s] for s in series], np.int64)
        return SalesTable(
            key_cols=self.key_cols,
            series_keys=self.series_keys[series],
            freq=self.freq,
            start=self.start,
            target=self.target[series],
            known={k: v[series] for k, v in self.known.items()},
            past={k: v[series] for k, v in self.past.items()},
            static={k: v[series] for k, v in self.static.items()},
            holiday_col=self.holiday_col,
            holidays=self.holidays,
            fill=self.fill,
        )

    def __repr__(self) -> str:
        return (
            f"SalesTable({self.n_series} series x {self.length} {self.freq} steps "
            f"{self.start}..{self.end}, keys={list(self.key_cols)}, "
            f"known={list(self.known)}, past={list(self.past)}, "
            f"static={list(self.static)}, holidays={len(self.holidays)}, fill={self.fill!r})"
        )

    # --- Readers --------------------------------------------------------

    @classmethod
    def read(
        cls,
        path,
        *,
        date: str,
        target: str,
        keys: Sequence[str] = (),
        known: Sequence[str] = (),
        holiday: str | None = None,
        holidays: Iterable = (),
        past: Sequence[str] = (),
        static: Sequence[str] = (),
        freq: str = "D",
        fill: str = "zero",
        date_format: str = "auto",
        delimiter: str | None = None,
        strict: bool = False,
        week_anchor: str = "start",
    ) -> tuple["SalesTable", RejectReport]:
        """Reads a long-format CSV (optionally gzipped) with a header row.

        Args:
            path: the file (``.csv`` or ``.csv.gz``; any delimiter).
            date: the date column.
            target: the target column (units, revenue; may be negative).
            keys: series-key columns (e.g. ``["store", "item"]``); none means
                the whole file is one series.
            known: numeric covariates known in advance (price, promotion).
            holiday: a 0/1 holiday flag column (a known covariate).
            holidays: holiday dates (strings or dates): the model derives a
                holiday feature from the calendar, also for future dates.
            past: numeric covariates observed only up to the forecast origin.
            static: categorical per-series attributes (the last value wins).
            freq: ``"D"`` (daily) or ``"W"`` (weekly; dates on one weekday).
            fill: policy for dates missing inside a series' range:
                ``"zero"``, ``"ffill"`` or ``"nan"``. With ``"nan"``, rows
                with an empty target are kept as gaps instead of rejected.
            date_format: ``"auto"`` (ISO ``YYYY-MM-DD`` with an optional time,
                ``YYYY/MM/DD``, ``YYYYMMDD``), ``"unix_s"``, ``"unix_ms"`` or
                a ``strptime`` pattern such as ``"%d.%m.%Y"``.
            delimiter: the field delimiter; default: sniffed from the header.
            strict: raise ``DataValidationError`` if any row is rejected or
                a covariate value is not a number.
            week_anchor: weekly data only: does a row's date START its week
                (``"start"``, default: the row covers date..date+6) or END it
                (``"end"``: date-6..date, e.g. a retailer's week-ending
                Fridays)? It decides which week a ``holidays`` date flags.

        Returns:
            (table, report).

        Example:
            >>> table, report = SalesTable.read(
            ...     "sales.csv", date="date", target="sales",
            ...     keys=["store", "item"], known=["price"], freq="D")
            >>> print(report)
        """
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such sales table: {path}")
        stream = _csv_columns(path, delimiter)
        header = stream.header
        wanted = _wanted_columns(date, target, keys, known, holiday, past, static)
        missing = [c for c in wanted if c not in header]
        if missing:
            raise DataValidationError(
                f"{path.name}: column(s) {missing} not found; the header has {header}"
            )
        # pyarrow's streaming reader; rows with the wrong number of fields are
        # counted as rejects (blank lines are skipped by the parser).
        report = RejectReport(path.name)
        parts = {name: [] for name in wanted}
        numbers = []
        for batch, records in stream.batches(wanted):
            for name in wanted:
                parts[name].extend(batch[name].to_pylist())
            numbers.append(records)
        stream.report_invalid_rows(report)
        columns = parts
        line_numbers = np.concatenate(numbers) if numbers else np.zeros(0, np.int64)
        return cls._build(
            columns, report, line_numbers=line_numbers, date=date, target=target,
            keys=keys, known=known, holiday=holiday, holidays=holidays, past=past,
            static=static, freq=freq, fill=fill, date_format=date_format, strict=strict,
            week_anchor=week_anchor,
        )

    @classmethod
    def from_columns(
        cls,
        columns: Mapping[str, Sequence],
        *,
        date: str,
        target: str,
        keys: Sequence[str] = (),
        known: Sequence[str] = (),
        holiday: str | None = None,
        holidays: Iterable = (),
        past: Sequence[str] = (),
        static: Sequence[str] = (),
        freq: str = "D",
        fill: str = "zero",
        date_format: str = "auto",
        source: str = "columns",
        strict: bool = False,
        week_anchor: str = "start",
    ) -> tuple["SalesTable", RejectReport]:
        """Builds a table from in-memory columns (name -> equal-length sequence).

        Dates may be strings, ``datetime.date`` objects or ``datetime64``
        values. Arguments as in ``SalesTable.read``.

        Example:
            >>> shop = ecomtf.datasets.simulate_shop()
            >>> table, report = SalesTable.from_columns(
            ...     shop.daily_sales, date="date", target="units",
            ...     keys=["item_id"], known=["promo"])
        """
        wanted = _wanted_columns(date, target, keys, known, holiday, past, static)
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise DataValidationError(
                f"{source}: column(s) {missing} not found; have {sorted(columns)}"
            )
        n = len(columns[date])
        for name in wanted:
            if len(columns[name]) != n:
                raise DataValidationError(f"{source}: column {name!r} has {len(columns[name])} rows, {date!r} has {n}")
        return cls._build(
            {name: columns[name] for name in wanted}, RejectReport(source),
            line_numbers=None, date=date, target=target, keys=keys, known=known,
            holiday=holiday, holidays=holidays, past=past, static=static, freq=freq,
            fill=fill, date_format=date_format, strict=strict, week_anchor=week_anchor,
        )

    @classmethod
    def _build(cls, columns, report, *, line_numbers, date, target, keys, known, holiday,
               holidays, past, static, freq, fill, date_format, strict, week_anchor="start"):
        if freq not in FREQUENCIES:
            raise ValueError(f"freq must be one of {sorted(FREQUENCIES)}, got {freq!r}")
        if fill not in FILL_POLICIES:
            raise ValueError(f"fill must be one of {FILL_POLICIES}, got {fill!r}")
        if week_anchor not in ("start", "end"):
            raise ValueError(f"week_anchor must be 'start' or 'end', got {week_anchor!r}")
        keys, known, past, static = tuple(keys), tuple(known), tuple(past), tuple(static)
        n = len(columns[date])
        report.read(n)

        def row_text(i):
            return ",".join(str(columns[c][i]) for c in columns)

        bad = np.zeros(n, bool)

        def reject(mask, reason):
            idx = np.flatnonzero(mask & ~bad)
            if len(idx):
                report.rejected[reason] += len(idx)
                examples = report.examples.setdefault(reason, [])
                for i in idx[: max(0, report.max_examples - len(examples))]:
                    if line_numbers is None:
                        examples.append((None, f"row {i}: {row_text(i)}"))
                    else:
                        examples.append((int(line_numbers[i]), row_text(i)))
                bad[idx] = True

        days, date_ok = _parse_dates(columns[date], date_format)
        reject(~date_ok, f"unparsable date in {date!r}")
        y, y_missing, y_bad = _parse_floats(columns[target])
        reject(y_bad, f"non-numeric target in {target!r}")
        if fill != "nan":
            reject(y_missing, f"missing target in {target!r} (fill policy {fill!r}; use 'nan' to keep such rows as gaps)")
        key_values = [np.asarray([str(v).strip() for v in columns[k]], dtype=object) for k in keys]
        for k, vals in zip(keys, key_values):
            reject(vals == "", f"empty series key in {k!r}")
        step = FREQUENCIES[freq]
        anchor = 0
        if step > 1 and (~bad).any():
            weekday = np.mod(days[~bad], step)
            anchor = int(np.bincount(weekday, minlength=step).argmax())
            reject(np.mod(days, step) != anchor,
                   f"date not on the weekly grid (most dates fall on {_weekday_name(_EPOCH + anchor)})")
        if strict:
            report.raise_if_rejects()
        keep = ~bad
        if not keep.any():
            raise DataValidationError(f"no usable rows\n{report}")
        if not keys:
            report.note("no key columns: the whole table is one series")

        days = days[keep]
        y = y[keep]
        key_matrix = (
            np.stack([v[keep] for v in key_values], axis=1).astype(str)
            if keys else np.zeros((int(keep.sum()), 0), dtype=str)
        )
        joined = join_keys(key_matrix)
        series_ids, series = np.unique(joined, return_inverse=True)
        first_row = np.zeros(len(series_ids), np.int64)
        first_row[series[::-1]] = np.arange(len(series))[::-1]
        series_keys = key_matrix[first_row] if keys else np.zeros((len(series_ids), 0), dtype=str)
        start = int(days.min())
        start -= (start - anchor) % step
        t = (days - start) // step
        length = int(t.max()) + 1
        shape = (len(series_ids), length)

        # Duplicates are summed (several transactions on one day), counted.
        count = np.zeros(shape, np.int32)
        np.add.at(count, (series, t), 1)
        finite = np.isfinite(y)
        total = np.zeros(shape, np.float64)
        np.add.at(total, (series[finite], t[finite]), y[finite])
        n_finite = np.zeros(shape, np.int32)
        np.add.at(n_finite, (series[finite], t[finite]), 1)
        duplicates = int((count > 1).sum())
        if duplicates:
            report.note(
                f"{duplicates:,} (series, date) pairs had several rows "
                f"({int(count[count > 1].sum()):,} rows): targets summed, covariates averaged"
            )
        target_grid = np.where(n_finite > 0, total, np.nan)
        has = n_finite > 0
        any_ = has.any(axis=1)
        first = np.where(any_, has.argmax(axis=1), length)
        last = np.where(any_, length - 1 - has[:, ::-1].argmax(axis=1), -1)
        inside = (np.arange(length)[None, :] >= first[:, None]) & (np.arange(length)[None, :] <= last[:, None])
        gaps = inside & ~has
        n_gaps = int(gaps.sum())
        n_empty_rows = int((~finite).sum())
        what = "date(s)" if freq == "D" else "week(s)"
        if fill == "zero":
            target_grid[gaps] = 0.0
            rule = "set to 0 (a missing row means nothing was sold)"
        elif fill == "ffill":
            target_grid = np.where(inside, _ffill(target_grid), np.nan)
            rule = "filled with the series' previous value"
        else:
            rule = "left as gaps (NaN) that models mask"
        report.note(
            f"fill policy {fill!r}: {n_gaps:,} missing {what} inside series' active ranges {rule}"
            + (f"; {n_empty_rows:,} row(s) with an empty target kept as gaps" if fill == "nan" and n_empty_rows else "")
        )
        late = int((first > 0).sum())
        early = int((last < length - 1).sum())
        if late or early:
            report.note(
                f"{late:,} series start after and {early:,} stop before the table's "
                f"date range; outside its own range a series has no data (NaN)"
            )
        negative = int((target_grid < 0).sum())
        if negative:
            report.note(f"{negative:,} negative target value(s) (returns) kept as they are")
        no_data = int((~any_).sum())
        if no_data:
            report.note(f"{no_data:,} series have no target values at all")

        def grid_of(values_name, flag=False):
            values = columns[values_name]
            v, v_missing, v_bad = _parse_floats(values)
            v = v[keep]
            ok = np.isfinite(v)
            s_ = np.zeros(shape, np.float64)
            c_ = np.zeros(shape, np.int32)
            np.add.at(s_, (series[ok], t[ok]), v[ok])
            np.add.at(c_, (series[ok], t[ok]), 1)
            g = np.where(c_ > 0, s_ / np.maximum(c_, 1), np.nan)
            unparsed = int(v_bad[keep].sum())
            if unparsed and not ok.any():
                # A mapped column with no number at all is a mistake (wrong
                # column, or text flags): refuse it rather than read zeros.
                bad_values = sorted(set(np.asarray(values, dtype=str)[keep][v_bad[keep]].tolist()))[:3]
                raise DataValidationError(
                    f"column {values_name!r} has no numbers (values like {bad_values}); "
                    "map a numeric or TRUE/FALSE column")
            if unparsed and strict:
                raise DataValidationError(
                    f"--strict: column {values_name!r} has {unparsed:,} non-numeric value(s)")
            if flag:
                g = np.where(np.isnan(g), 0.0, g)
            else:
                g = _ffill(g)
                g = _ffill(g[:, ::-1])[:, ::-1]
            return g.astype(np.float32), unparsed, int((~ok).sum())

        known_grids, past_grids = {}, {}
        for name in known:
            known_grids[name], unparsed, empty = grid_of(name)
            _note_covariate(report, name, "known", unparsed, empty, "forward/back-filled within the series")
        if holiday is not None:
            known_grids[holiday], unparsed, empty = grid_of(holiday, flag=True)
            _note_covariate(report, holiday, "holiday flag", unparsed, empty, "set to 0; dates without a row are not holidays")
        for name in past:
            past_grids[name], unparsed, empty = grid_of(name)
            _note_covariate(report, name, "past", unparsed, empty, "forward/back-filled within the series")
        static_values = {}
        for name in static:
            vals = np.asarray([str(v).strip() for v in columns[name]], dtype=object)[keep]
            order = np.lexsort((t, series))
            last_row = np.zeros(len(series_ids), np.int64)
            last_row[series[order]] = order
            static_values[name] = vals[last_row].astype(str)
            varying = _count_varying(series, vals, len(series_ids))
            if varying:
                report.note(f"static column {name!r} varies within {varying:,} series: the latest value is used")

        holiday_list = np.asarray(list(holidays))
        holiday_days, holiday_ok = _parse_dates(holiday_list, "auto")
        if not holiday_ok.all():
            raise DataValidationError(
                f"unparsable holiday date(s): {list(holiday_list[~holiday_ok][:5])}"
            )
        holiday_days = holiday_days.astype(np.int64)
        if freq == "W" and len(holiday_days):
            if week_anchor == "end":
                # Grid dates end their week: the week of a holiday d is the
                # grid date in [d, d + 6]; the model flags [date, date + 7),
                # so the dates are stored 6 days later.
                holiday_days = holiday_days + 6
            report.note(
                f"weekly holidays: a row's date {'ends' if week_anchor == 'end' else 'starts'} its week "
                f"(week_anchor {week_anchor!r}); a holiday flags the week that contains it")
        table = cls(
            key_cols=keys,
            series_keys=series_keys,
            freq=freq,
            start=_EPOCH + start,
            target=target_grid.astype(np.float32),
            known=known_grids,
            past=past_grids,
            static=static_values,
            holiday_col=holiday,
            holidays=_EPOCH + holiday_days,
            fill=fill,
        )
        report.note(
            f"{table.n_series:,} series on a {'daily' if freq == 'D' else 'weekly'} grid "
            f"{table.start}..{table.end} ({table.length:,} steps)"
        )
        return table, report


def join_keys(keys: np.ndarray) -> np.ndarray:
    """Series ids: the key columns of each row joined by ``"|"`` (``""`` for none)."""
    keys = np.asarray(keys, dtype=str)
    if keys.ndim == 1:
        return keys.astype(str)
    if keys.shape[1] == 0:
        return np.full(keys.shape[0], "", dtype=str)
    if keys.shape[1] == 1:
        return keys[:, 0].astype(str)
    return np.asarray([KEY_SEPARATOR.join(row) for row in keys.tolist()], dtype=str)


def to_days(dates) -> np.ndarray:
    """Dates (ISO strings, ``datetime.date``, ``datetime64``) -> int days since 1970-01-01."""
    days, ok = _parse_dates(np.atleast_1d(np.asarray(dates, dtype=object)), "auto")
    if not ok.all():
        raise ValueError(f"unparsable date(s): {list(np.atleast_1d(dates)[~ok][:5])}")
    return days


def _wanted_columns(date, target, keys, known, holiday, past, static) -> list[str]:
    wanted = [date, target, *keys, *known, *([holiday] if holiday else []), *past, *static]
    seen = set()
    dup = [c for c in wanted if c in seen or seen.add(c)]
    if dup:
        raise ValueError(f"column(s) {dup} are mapped to more than one role")
    return wanted


def _csv_columns(path: pathlib.Path, delimiter: str | None) -> CsvColumns:
    """The streaming Arrow reader of a sales or future-covariates CSV (gzip ok), header checked."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8-sig") as f:
        head = f.readline()
    if not head.strip():
        raise DataValidationError(f"{path} is empty (no header row)")
    return CsvColumns(path, delimiter=delimiter or _sniff_delimiter(head))


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _parse_dates(values, date_format: str) -> tuple[np.ndarray, np.ndarray]:
    """(int64 days since 1970-01-01, ok mask) for any date-like values."""
    arr = np.asarray(values)
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    if arr.dtype.kind == "M":
        ok = ~np.isnat(arr)
        days = np.where(ok, arr.astype("datetime64[D]").astype(np.int64), 0)
        return days, ok
    if date_format in ("unix_s", "unix_ms"):
        v, missing, bad = _parse_floats(arr)
        ok = ~(missing | bad)
        div = 86400.0 if date_format == "unix_s" else 86400000.0
        return np.where(ok, np.floor(np.nan_to_num(v) / div), 0).astype(np.int64), ok
    if arr.dtype.kind in "iuf":
        raise DataValidationError(
            "numeric dates need date_format='unix_s' or 'unix_ms' (or pass date strings)"
        )
    uniques, inverse = np.unique(arr.astype(str), return_inverse=True)
    parsed = np.array([_parse_one_date(u.strip(), date_format) for u in uniques], dtype=object)
    ok_u = np.array([p is not None for p in parsed], bool)
    days_u = np.array([p if p is not None else 0 for p in parsed], np.int64)
    return days_u[inverse.ravel()], ok_u[inverse.ravel()]


def _parse_one_date(text: str, date_format: str):
    try:
        if date_format != "auto":
            d = datetime.datetime.strptime(text, date_format).date()
        else:
            m = _ISO.match(text) or _SLASHED.match(text) or _COMPACT.match(text)
            if not m:
                return None
            d = datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    return (d - datetime.date(1970, 1, 1)).days


def _parse_floats(values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float64 values with NaN, missing mask, unparsable mask)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iufb":
        v = arr.astype(np.float64)
        return v, np.isnan(v), np.zeros(len(v), bool)
    if arr.dtype == object:
        # Mixed Python objects (None, floats, strings): normalize to text.
        arr = np.asarray(["" if x is None else str(x) for x in arr.tolist()], dtype=str)
    try:
        v = arr.astype(np.float64)
        return v, np.isnan(v), np.zeros(len(v), bool)
    except ValueError:
        pass
    uniques, inverse = np.unique(arr, return_inverse=True)
    vals = np.full(len(uniques), np.nan)
    missing_u = np.zeros(len(uniques), bool)
    bad_u = np.zeros(len(uniques), bool)
    for i, u in enumerate(uniques):
        s = u.strip()
        if s in _MISSING_TEXT:
            missing_u[i] = True
            continue
        if s.lower() in _BOOLEAN_TEXT:
            vals[i] = _BOOLEAN_TEXT[s.lower()]
            continue
        try:
            vals[i] = float(s)
        except ValueError:
            bad_u[i] = True
    inverse = inverse.ravel()
    v = vals[inverse]
    return v, missing_u[inverse] | (np.isnan(v) & ~bad_u[inverse]), bad_u[inverse]


def _ffill(grid: np.ndarray) -> np.ndarray:
    """Forward-fills NaN along the last axis (leading NaN stay NaN)."""
    valid = ~np.isnan(grid)
    idx = np.where(valid, np.arange(grid.shape[1])[None, :], 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    out = np.take_along_axis(grid, idx, axis=1)
    started = np.maximum.accumulate(valid, axis=1)
    return np.where(started, out, np.nan)


def _round_up(date, table: SalesTable):
    """The first grid date on or after ``date``."""
    offset = int((np.datetime64(date, "D") - table.start).astype(int))
    return table.start + -(-offset // table.step_days) * table.step_days


def _weekday_name(day) -> str:
    return ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"][
        int((np.datetime64(day, "D") - _EPOCH).astype(int)) % 7
    ]


def _count_varying(series: np.ndarray, values: np.ndarray, n_series: int) -> int:
    codes, inv = np.unique(values.astype(str), return_inverse=True)
    pairs = np.unique(np.stack([series, inv.ravel()], 1), axis=0)
    per_series = np.bincount(pairs[:, 0], minlength=n_series)
    return int((per_series > 1).sum())


def _note_covariate(report, name, role, unparsed, empty, rule) -> None:
    if unparsed or empty:
        report.note(
            f"{role} covariate {name!r}: {empty:,} empty or non-numeric value(s) "
            f"({unparsed:,} non-numeric) {rule}"
        )


def read_future_covariates(
    path,
    table: SalesTable,
    horizon: int,
    *,
    date: str,
    date_format: str = "auto",
    delimiter: str | None = None,
) -> tuple[dict[str, np.ndarray], RejectReport]:
    """Future values of a table's known covariates from a long-format file.

    The plan for the ``horizon`` steps after the table's last date (prices,
    promotions, holiday flags): one row per series and date, with the
    table's date and key columns and any of its known covariates. Steps the
    file does not give stay NaN, and the model carries each series' last
    value forward there (a holiday flag: 0), as the serving graph does.

    Args:
        path: CSV file (gzip ok) with a header row.
        table: the sales table the model was trained on.
        horizon: steps after the table's end.
        date: the date column (as for the table).
        date_format, delimiter: as for ``SalesTable.read``.

    Returns:
        (column -> float32 ``[n_series, horizon]``, report). Rows off the
        grid, outside the horizon, of unknown series or with non-numeric
        values are counted in the report.

    Example:
        >>> future, report = read_future_covariates(
        ...     "plan.csv", table, 8, date="week")
        >>> future["price"].shape
        (n_series, 8)
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise DataValidationError(f"no such future covariates file: {path}")
    stream = _csv_columns(path, delimiter)
    header, delimiter = stream.header, stream.delimiter
    need = [date, *table.key_cols]
    missing = [c for c in need if c not in header]
    if missing:
        raise DataValidationError(f"{path.name}: column(s) {missing} not found; the header has {header}")
    cols = [c for c in table.known if c in header]
    if not cols:
        raise DataValidationError(
            f"{path.name}: none of the known covariates {list(table.known)} is a column; the header has {header}")
    report = RejectReport(path.name)
    column = {name: [] for name in need + cols}
    records = []
    for batch, numbers in stream.batches(list(column)):
        for name in column:
            column[name].extend(batch[name].to_pylist())
        records.append(numbers)
    stream.report_invalid_rows(report)
    records = np.concatenate(records) if records else np.zeros(0, np.int64)
    n_rows = len(records)
    report.read(n_rows)
    days, ok = _parse_dates(np.asarray(column[date], dtype=str), date_format)
    offset = days - (table.start_day + table.length * table.step_days)
    step = np.where(offset % table.step_days == 0, offset // table.step_days, -1)
    index = {s: i for i, s in enumerate(table.series_ids)}
    keys = np.stack([np.asarray([v.strip() for v in column[k]], dtype=object) for k in table.key_cols], axis=1) \
        if table.key_cols else np.zeros((n_rows, 0), dtype=str)
    series = np.asarray([index.get(s, -1) for s in join_keys(keys.astype(str))], np.int64)
    bad = np.zeros(n_rows, bool)
    for mask, reason in (
        (~ok, f"unparsable date in {date!r}"),
        (offset % table.step_days != 0, "date not on the table's grid"),
        ((step < 0) | (step >= horizon), f"date outside the {horizon} steps after {table.end}"),
        (series < 0, "series not in the table"),
    ):
        mask = mask & ~bad
        for i in np.flatnonzero(mask)[: report.max_examples]:
            row = delimiter.join(column[name][i] for name in column)
            report.examples.setdefault(reason, []).append((int(records[i]), row))
        if mask.any():
            report.rejected[reason] += int(mask.sum())
        bad |= mask
    keep = ~bad
    future = {}
    for name in cols:
        v, _, bad = _parse_floats(column[name])
        if bad.any():
            raise DataValidationError(f"{path.name}: column {name!r} has {int(bad.sum()):,} non-numeric value(s)")
        grid = np.full((table.n_series, horizon), np.nan, np.float32)
        k = keep & np.isfinite(v)
        grid[series[k], step[k]] = v[k]
        future[name] = grid
        given = int(np.isfinite(grid).sum())
        report.note(f"future {name!r}: {given:,} of {grid.size:,} (series, step) values given; "
                    "the rest carry the series' last value" + (" (a flag: 0)" if name == table.holiday_col else ""))
    return future, report
