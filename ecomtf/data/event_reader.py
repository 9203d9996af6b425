"""Reading event logs from delimited text files, with validation and a reject report."""

from __future__ import annotations

import csv
import gzip
import io
import operator
import os
import zlib
from collections import Counter

import numpy as np

from ecomtf.data.event_log import EventLog
from ecomtf.data.reject_report import DataValidationError
from ecomtf.data.reject_report import RejectReport
from ecomtf.data.schema import EventSchema
from ecomtf.data.timestamps import parse_timestamps

WHITESPACE = "whitespace"
_SNIFF_CHARS = 1 << 16
_SNIFF_CANDIDATES = (",", "\t", ";", "|")
_DELIMITER_ALIASES = {
    "\\t": "\t",
    "tab": "\t",
    " ": WHITESPACE,
    r"\s+": WHITESPACE,
    WHITESPACE: WHITESPACE,
}
# The order reasons are checked in; a row is counted under the first that applies.
REJECT_REASONS = (
    "wrong number of fields",
    "missing user id",
    "missing item id",
    "unknown event type",
    "bad timestamp",
    "bad quantity",
    "bad price",
    "duplicate",
)


def read_events(
    path,
    schema: EventSchema,
    *,
    delimiter: str | None = None,
    header="auto",
    encoding: str = "utf-8",
    strict: bool = False,
    dedupe: bool = True,
    allowed_event_types=None,
    na_values=("",),
) -> tuple[EventLog, RejectReport]:
    """Reads an event log file into an EventLog, counting every row it rejects.

    The file may be CSV, TSV or use any one-character delimiter, or runs of
    whitespace; gzip-compressed or not (told by its magic bytes); with LF or
    CRLF line ends; with or without a header row. Ids are kept as strings
    (19-digit integer ids stay exact), with surrounding whitespace stripped.

    Rows that cannot be used are not kept and are counted in the report by
    reason, with examples: "wrong number of fields" (this covers a truncated
    last line), "truncated last line" (a file without a final line break
    whose last row's final field is shorter than every earlier value of that
    column: cut mid-value), "missing user id", "missing item id", "unknown event type"
    (a raw name absent from ``schema.event_types`` when a mapping is given,
    or a name outside ``allowed_event_types``, or an empty one), "bad
    timestamp", "bad quantity", "bad price" (present but not a finite
    number; empty quantity/price cells are kept as NaN and noted), and
    "duplicate" (same values in every mapped field as an earlier kept row,
    when ``dedupe``). Blank lines are skipped and noted.

    Args:
        path: file to read (str or path-like).
        schema: where each field lives and how to read it. Columns are header
            names, or 0-based positions as digit strings (``"0"``) for files
            without a header (with a header, a digit string that is not a
            header name is a position too).
        delimiter: field separator; sniffed when None (``,``, tab, ``;``,
            ``|``, then runs of whitespace). ``"\\t"``/``"tab"`` mean tab;
            ``" "``, ``"\\s+"`` or ``"whitespace"`` mean runs of whitespace
            (fields split as ``str.split()`` does, no quoting).
        header: ``True``, ``False`` or ``"auto"``: a header is assumed when
            the first row holds one of the schema's column names, or, for an
            all-positional schema, when its timestamp field does not parse
            but the next row's does.
        encoding: text encoding; a UTF-8 byte-order mark is skipped.
        strict: raise DataValidationError (with the report) if any row is
            rejected.
        dedupe: reject exact duplicates of earlier kept rows.
        allowed_event_types: if given, canonical event names (after the
            mapping) outside this collection are rejected.
        na_values: id values that mean "missing" (``("", "NA")`` for files
            that write NA).

    Returns:
        ``(log, report)``: the kept events sorted by (user, timestamp),
        stable for ties (file order), and the reject report.

    Raises:
        DataValidationError: a mapped column is missing (the message names it
            and the columns present), the file cannot be decoded, or
            ``strict`` and some row was rejected.
        FileNotFoundError: no such file.

    Example:
        >>> schema = EventSchema(user="0", item="1", event_type="3",
        ...     timestamp="4", event_types={"pv": "view", "buy": "purchase",
        ...     "cart": "cart", "fav": "favorite"})
        >>> log, report = read_events("UserBehavior.csv.gz", schema)
        >>> print(report)
    """
    path = os.fspath(path)
    source = os.path.basename(path)
    report = RejectReport(source=source)
    enc = _encoding(encoding)
    delimiter = _resolve_delimiter(path, enc, delimiter)
    nulls = frozenset(na_values)

    with _open_text(path, enc) as stream:
        tail = _LastLine(stream)
        reader = _WhitespaceReader(tail) if delimiter == WHITESPACE else csv.reader(
            tail, delimiter=delimiter
        )
        try:
            numbered_head = _first_records(reader, 2)
            head = [row for _, row in numbered_head]
            has_header = _decide_header(header, head, schema)
            header_row = [h.strip() for h in head[0]] if has_header and head else None
            if has_header and head:
                head, numbered_head = head[1:], numbered_head[1:]
            n_fields = len(header_row) if header_row is not None else _modal_width(
                path, enc, delimiter, head
            )
            fields = schema.columns()
            positions = _resolve_columns(fields, header_row, n_fields, head, source)
            names = list(fields)
            get = operator.itemgetter(*[positions[f] for f in names])
            rows, lines, blank = _read_rows(
                numbered_head, reader, n_fields, get, report, delimiter
            )
            last_line = reader.line_num
        except UnicodeDecodeError as e:
            raise DataValidationError(
                f"{source}: cannot decode as {encoding} (line "
                f"{getattr(reader, 'line_num', '?')}): {e}; pass encoding=..."
            ) from e
        except csv.Error as e:
            raise DataValidationError(
                f"{source}: unreadable CSV near line {reader.line_num}: {e}"
            ) from e
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise DataValidationError(
                f"{source}: the compressed stream is truncated or corrupt ({e}); "
                "rows before the damage cannot be told apart from a complete file"
            ) from e
    if blank:
        report.note(f"{blank:,} blank lines skipped")

    n = len(rows)
    columns = list(zip(*rows)) if n else [() for _ in names]
    raw = {}
    for f, col in zip(names, columns):
        arr = np.array(col, dtype=str) if n else np.zeros(0, "U1")
        raw[f] = np.strings.strip(arr)
    del rows, columns
    lines = np.asarray(lines, np.int64)
    if n and not tail.ended_with_line_break and lines[-1] == last_line:
        raw, lines = _check_unterminated_last_row(
            raw, lines, positions, n_fields, report, shown_row=tail.last.rstrip("\r\n")
        )
    log = _validate(raw, schema, report, lines, nulls, dedupe, allowed_event_types)
    if strict:
        report.raise_if_rejects()
    return log, report


# --- opening and sniffing ----------------------------------------------------


def _encoding(encoding: str) -> str:
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        return "utf-8-sig"  # Same codec, but skips a byte-order mark.
    return encoding


def _open_text(path: str, encoding: str) -> io.TextIOWrapper:
    with open(path, "rb") as f:
        magic = f.read(2)
    binary = gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")
    # newline="" lets the csv module see CRLF and quoted line breaks itself.
    return io.TextIOWrapper(binary, encoding=encoding, newline="")


def _sample_lines(path: str, encoding: str) -> list[str]:
    with _open_text(path, encoding) as f:
        try:
            sample = f.read(_SNIFF_CHARS)
        except (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile):
            return []  # The main read reports the problem with context.
    lines = sample.splitlines()
    if len(sample) == _SNIFF_CHARS and len(lines) > 1:
        lines = lines[:-1]  # Probably cut by the sample size.
    return [ln for ln in lines if ln.strip()][:500]


def _resolve_delimiter(path: str, encoding: str, delimiter: str | None) -> str:
    if delimiter is not None:
        d = _DELIMITER_ALIASES.get(delimiter, delimiter)
        if d != WHITESPACE and len(d) != 1:
            raise ValueError(
                f"delimiter must be one character or 'whitespace', got {delimiter!r}"
            )
        return d
    return sniff_delimiter(_sample_lines(path, encoding))


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter that splits most lines into the same number (>1) of fields.

    Tries ``,``, tab, ``;`` and ``|`` (quote-aware), then runs of whitespace.
    A candidate wins if at least 90% of lines agree on its field count;
    among those, the most consistent, then the one giving more fields. Runs
    of whitespace win over tab when they split every line into the same,
    larger number of fields (tabs mixed with spaces).

    Args:
        lines: sample lines of the file.

    Returns:
        A one-character delimiter or ``"whitespace"``.

    Example:
        >>> sniff_delimiter(["a;b;c", "1;2;3"])
        ';'
    """
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        return ","
    best = None
    for d in _SNIFF_CANDIDATES:
        counts = [len(r) for r in csv.reader(lines, delimiter=d)]
        width, freq = Counter(counts).most_common(1)[0]
        if width < 2:
            continue
        score = (freq / len(counts), width)
        if best is None or score > best[0]:
            best = (score, d)
    ws_width, ws_freq = Counter(len(ln.split()) for ln in lines).most_common(1)[0]
    ws_consistency = ws_freq / len(lines)
    if best is not None and best[0][0] >= 0.9:
        # Tabs mixed with runs of spaces: whitespace splits every line alike
        # into more fields than tabs do.
        if best[1] == "\t" and ws_consistency == 1.0 and ws_width > best[0][1]:
            return WHITESPACE
        return best[1]
    if ws_width >= 2 and ws_consistency >= 0.9:
        return WHITESPACE
    return best[1] if best is not None else ","


class _LastLine:
    """Iterates a text stream's lines, remembering the last one.

    A file cut while it was being written (or copied) ends without a line
    break; ``ended_with_line_break`` tells the reader to look at that row.
    """

    def __init__(self, stream):
        self.stream = stream
        self.last = ""

    def __iter__(self):
        for line in self.stream:
            self.last = line
            yield line

    @property
    def ended_with_line_break(self) -> bool:
        return not self.last or self.last[-1] in "\r\n"


def _check_unterminated_last_row(raw, lines, positions, n_fields, report, shown_row):
    """Rejects a last row whose final field was probably cut off.

    Without a final line break the last row may end mid-value and still have
    the right field count (``...,1511544070`` cut to ``...,15115``, a valid
    but wrong unix time). When the file's last column is a mapped field and
    the last row's value there is shorter than every earlier value of that
    column, the row is rejected as "truncated last line"; otherwise it is kept
    and the missing line break is noted.
    """
    last_field = next((f for f, p in positions.items() if p == n_fields - 1), None)
    n = len(lines)
    if last_field is not None and n > 1:
        column = raw[last_field]
        earlier = np.strings.str_len(column[:-1])
        earlier = earlier[earlier > 0]
        if earlier.size and len(column[-1]) < earlier.min():
            report.reject("truncated last line", line=int(lines[-1]), row=shown_row)
            return {f: v[:-1] for f, v in raw.items()}, lines[:-1]
    report.note(
        f"line {int(lines[-1])}: the file ends without a line break; its last row "
        "was kept because it looks complete"
    )
    return raw, lines


class _WhitespaceReader:
    """Splits lines on runs of whitespace; counts lines like csv.reader."""

    def __init__(self, stream):
        self.stream = stream
        self.line_num = 0

    def __iter__(self):
        for line in self.stream:
            self.line_num += 1
            yield line.split()


def _first_records(reader, k: int) -> list[tuple[int, list[str]]]:
    """The first ``k`` non-blank records with their line numbers (consumed)."""
    out = []
    for row in reader:
        if row and any(c.strip() for c in row):
            out.append((reader.line_num, row))
            if len(out) == k:
                break
    return out


def _modal_width(path, encoding, delimiter, head) -> int:
    """Field count of a headerless file: the most common in a sample."""
    lines = _sample_lines(path, encoding)
    if delimiter == WHITESPACE:
        counts = [len(ln.split()) for ln in lines]
    else:
        counts = [len(r) for r in csv.reader(lines, delimiter=delimiter)]
    counts = [c for c in counts if c]
    if counts:
        return Counter(counts).most_common(1)[0][0]
    return len(head[0]) if head else 0


# --- header and columns ------------------------------------------------------


def _decide_header(header, head, schema: EventSchema) -> bool:
    if header is True or header is False:
        return header
    if header != "auto":
        raise ValueError(f"header must be True, False or 'auto', got {header!r}")
    if not head:
        return False
    first = {c.strip() for c in head[0]}
    cols = list(schema.columns().values())
    named = [c for c in cols if not c.isdigit()]
    if named:
        return any(c in first for c in named) or any(
            c.lower() in {f.lower() for f in first} for c in named
        )
    # All columns positional: a header is a first row whose timestamp does not
    # parse while the next row's does.
    pos = int(schema.timestamp)
    if pos >= len(head[0]):
        return False
    cells = [head[0][pos]] + ([head[1][pos]] if len(head) > 1 and pos < len(head[1]) else [])
    _, ok = parse_timestamps(cells, schema.timestamp_format, schema.timezone)
    return (not ok[0]) and (len(ok) < 2 or bool(ok[1]))


def _resolve_columns(fields, header_row, n_fields, head, source) -> dict[str, int]:
    out = {}
    lower = {}
    if header_row is not None:
        for i, h in enumerate(header_row):
            lower.setdefault(h.lower(), []).append(i)
    for field, col in fields.items():
        idx = None
        if header_row is not None:
            if col in header_row:
                idx = header_row.index(col)
            elif len(lower.get(col.lower(), [])) == 1:
                idx = lower[col.lower()][0]
        if idx is None and col.isdigit() and int(col) < max(n_fields, 1):
            idx = int(col)
        if idx is None:
            if header_row is not None:
                present = f"columns present: {header_row}"
            else:
                first = head[0] if head else []
                present = (
                    f"the file has no header row, so columns are 0-based positions "
                    f"'0'..'{max(n_fields - 1, 0)}'; first row: {first}"
                )
            raise DataValidationError(
                f"{source}: column {col!r} (for {field}) not found; {present}"
            )
        out[field] = idx
    return out


# --- rows ------------------------------------------------------------------


def _read_rows(head, reader, n_fields, get, report, delimiter):
    """Keeps the mapped fields of rows with the right field count.

    ``head`` holds ``(line, row)`` pairs already taken from ``reader``.
    """
    rows = []
    lines = []
    append, append_line = rows.append, lines.append
    shown = "  " if delimiter == WHITESPACE else delimiter
    wrong = []
    blank = 0

    def other(line, row):
        nonlocal blank
        if not row or (len(row) == 1 and not row[0].strip()):
            blank += 1
        else:
            wrong.append(1)
            report.reject("wrong number of fields", line=line, row=shown.join(row))
            spanned = sum(cell.count("\n") for cell in row)
            if spanned:
                report.note(
                    f"line {line}: one quoted field spans {spanned + 1} lines "
                    "(an unmatched quote?); they were read as one rejected row"
                )

    for line, row in head:
        if len(row) == n_fields:
            append(get(row))
            append_line(line)
        else:
            other(line, row)
    for row in reader:
        if len(row) == n_fields:
            append(get(row))
            append_line(reader.line_num)
        else:
            other(reader.line_num, row)
    report.read(len(rows) + len(wrong))
    return rows, lines, blank


def _parse_floats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(value, bad, empty)``: empty cells are NaN and not bad."""
    empty = np.strings.str_len(values) == 0
    try:
        out = np.where(empty, "nan", values).astype(np.float64)
    except ValueError:
        uniq, inverse = np.unique(values, return_inverse=True)
        parsed = np.empty(len(uniq))
        for i, v in enumerate(uniq.tolist()):
            try:
                parsed[i] = float(v) if v else np.nan
            except ValueError:
                parsed[i] = np.inf  # Marked bad below.
        out = parsed[inverse]
    bad = ~empty & ~np.isfinite(out)
    return np.where(bad, np.nan, out), bad, empty


def _describe(raw: dict, i: int) -> str:
    return ", ".join(f"{k}={str(v[i])!r}" for k, v in raw.items())


def _validate(raw, schema, report, lines, nulls, dedupe, allowed) -> EventLog:
    n = len(lines)
    alive = np.ones(n, bool)

    def reject(reason, bad):
        bad = bad & alive
        idx = np.flatnonzero(bad)
        if len(idx):
            for i in idx[: report.max_examples]:
                report.reject(reason, line=int(lines[i]), row=_describe(raw, i))
            if len(idx) > report.max_examples:
                report.reject(reason, n=len(idx) - report.max_examples)
            alive[idx] = False

    def missing(col):
        out = np.strings.str_len(col) == 0
        for v in nulls:
            if v:
                out |= col == v
        return out

    reject("missing user id", missing(raw["user_id"]))
    reject("missing item id", missing(raw["item_id"]))

    if schema.event_type is None:
        events = np.full(n, schema.default_event_type)
    else:
        uniq, inverse = np.unique(raw["event_type"], return_inverse=True)
        mapped = []
        for u in uniq.tolist():
            m = u if schema.event_types is None else schema.event_types.get(u)
            if m and allowed is not None and m not in allowed:
                m = None
            mapped.append(m or "")
        mapped = np.array(mapped, dtype=str) if mapped else np.zeros(0, "U1")
        events = mapped[inverse] if n else np.zeros(0, "U1")
        reject("unknown event type", np.strings.str_len(events) == 0)
        unknown = [u for u, m in zip(uniq.tolist(), mapped.tolist()) if not m]
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:10])
            report.note(f"unknown event types: {shown}" + (" ..." if len(unknown) > 10 else ""))

    ts, ok = parse_timestamps(raw["timestamp"], schema.timestamp_format, schema.timezone)
    reject("bad timestamp", ~ok)

    numbers = {}
    for field in ("quantity", "price"):
        if field in raw:
            value, bad, empty = _parse_floats(raw[field])
            reject(f"bad {field}", bad)
            kept_empty = int((empty & alive).sum())
            if kept_empty:
                report.note(f"{kept_empty:,} empty {field} cells kept as NaN")
            numbers[field] = value

    keep = np.flatnonzero(alive)
    user, times = raw["user_id"][keep], ts[keep]
    order = np.lexsort((times, user))  # stable: file order for ties
    if dedupe and len(keep) > 1:
        dup = _duplicates(raw, events, ts, numbers, keep, order)
        if len(dup):
            bad = np.zeros(n, bool)
            bad[keep[dup]] = True
            reject("duplicate", bad)
            drop = np.zeros(len(keep), bool)
            drop[dup] = True
            order = order[~drop[order]]
    rows = keep[order]
    extra = {name: raw[name][rows] for name in schema.extra}
    return EventLog(
        user_id=raw["user_id"][rows],
        item_id=raw["item_id"][rows],
        event_type=events[rows],
        timestamp=ts[rows],
        session_id=raw["session_id"][rows] if "session_id" in raw else None,
        quantity=numbers["quantity"][rows] if "quantity" in numbers else None,
        price=numbers["price"][rows] if "price" in numbers else None,
        extra=extra,
    )


def _duplicates(raw, events, ts, numbers, keep, order) -> np.ndarray:
    """Positions in ``keep`` of rows equal in every field to an earlier one.

    Duplicates share user and timestamp, so only runs of equal (user,
    timestamp) in sorted order are candidates; within them the other fields
    are compared as integer codes, vectorized.
    """
    user, times = raw["user_id"][keep][order], ts[keep][order]
    same = (user[1:] == user[:-1]) & (times[1:] == times[:-1])
    if not same.any():
        return np.zeros(0, np.int64)
    cand = np.zeros(len(order), bool)
    cand[1:] |= same
    cand[:-1] |= same
    # Run number of each candidate: equal (user, timestamp) share one.
    run = np.cumsum(np.concatenate([[True], ~same]))[cand]
    pos = order[cand]  # positions in keep, grouped by run, file order within
    rows = keep[pos]
    others = [raw[f] for f in raw if f not in ("user_id", "timestamp", "quantity", "price")]
    others += [events] + list(numbers.values())
    key = np.unique(run, return_inverse=True)[1].astype(np.int64)
    for col in others:
        values = col[rows]
        if values.dtype.kind == "f":
            values = np.where(np.isnan(values), -np.inf, values)
        code = np.unique(values, return_inverse=True)[1].astype(np.int64)
        # Both codes are < len(rows), so the product fits in int64.
        key = np.unique(key * (int(code.max()) + 1) + code, return_inverse=True)[1]
    # Within a run, candidates are in file order, and a stable sort keeps
    # that order within equal keys: the first of each key is the one kept.
    by_key = np.argsort(key, kind="stable")
    sorted_key = key[by_key]
    repeat = np.concatenate([[False], sorted_key[1:] == sorted_key[:-1]])
    return np.sort(pos[by_key][repeat])
