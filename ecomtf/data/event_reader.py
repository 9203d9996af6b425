"""Reading event logs (CSV/TSV, gzip, Parquet, directories of part files) on Apache Arrow.

Files are read in record batches by pyarrow's C++ readers (``pyarrow.csv``
streaming reader, ``pyarrow.parquet``); each batch is validated with Arrow
compute and numpy, and every row not kept is counted in a RejectReport by
reason. ``iter_event_chunks`` yields the validated batches one by one (what
``ecomtf.data.prepare`` streams in bounded memory); ``read_events`` gathers
them into one EventLog, drops duplicates and sorts it.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import os
import zlib
from collections import Counter

import numpy as np

from ecomtf.data.event_log import EventLog
from ecomtf.data.reject_report import DataValidationError
from ecomtf.data.reject_report import RejectReport
from ecomtf.data.schema import EventSchema
from ecomtf.data.timestamps import parse_timestamps
from ecomtf.data.timestamps import parse_timestamps_arrow

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
    "truncated last line",
    "missing user id",
    "missing item id",
    "unknown event type",
    "bad timestamp",
    "bad quantity",
    "bad price",
    "negative price",
    "duplicate",
)
# Bytes of text the CSV reader parses at a time; a batch holds about this much
# text, so memory per batch is bounded whatever the file size.
BLOCK_SIZE = 16 << 20
# Bytes of an uncompressed CSV file per piece when ``prepare`` reads it in
# several processes (``plan_pieces``): a few pieces per worker, so that one
# slow piece does not leave the other cores idle at the end.
PIECE_BYTES = 256 << 20
# A smaller file is read in one piece (two blocks' worth at least).
MIN_SPLIT_BYTES = 2 * BLOCK_SIZE
PIECES_PER_WORKER = 4
_CSV_ROW_BYTES = 140  # a store export's CSV row, to size Parquet pieces alike
_PARQUET_BATCH_ROWS = 200_000
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_ID_FIELDS = ("user_id", "item_id", "session_id")


@dataclasses.dataclass
class EventChunk:
    """The rows of one batch that passed the row-level checks.

    Id columns stay Arrow string arrays (compact, and cheap to concatenate);
    they become numpy str arrays once, through their dictionary, when an
    EventLog is made.

    Attributes:
        user_id, item_id: ``pyarrow.StringArray``.
        event_type: numpy str array of canonical event names.
        event_raw: the event names as written in the file (for duplicate checks).
        timestamp: int64 unix ms UTC.
        session_id: ``pyarrow.StringArray`` or None.
        quantity, price: float64 arrays or None.
        extra: other mapped columns, ``pyarrow.StringArray``.
        line: int64 line (record) numbers in ``source``.
        source: the file the rows came from.
        arrow: Arrow copies of ``event_type`` and ``event_raw`` when the
            reader built them from its dictionary (``prepare`` writes these
            instead of converting the numpy columns back).
    """

    user_id: np.ndarray
    item_id: np.ndarray
    event_type: np.ndarray
    event_raw: np.ndarray
    timestamp: np.ndarray
    session_id: np.ndarray | None
    quantity: np.ndarray | None
    price: np.ndarray | None
    extra: dict
    line: np.ndarray
    source: str = ""
    arrow: dict = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.user_id)


    @staticmethod
    def concatenate(chunks: list["EventChunk"], schema: EventSchema) -> "EventChunk":
        """One chunk holding all rows of ``chunks`` in order."""
        import pyarrow as pa

        def cat(name):
            parts = [getattr(c, name) for c in chunks]
            if parts[0] is None:
                return None
            if isinstance(parts[0], np.ndarray):
                return np.concatenate(parts) if len(parts) > 1 else parts[0]
            return pa.concat_arrays(parts) if len(parts) > 1 else parts[0]

        if not chunks:
            empty_str = np.zeros(0, "U1")
            none = pa.array([], pa.string())
            return EventChunk(
                none, none, empty_str, empty_str, np.zeros(0, np.int64),
                none if schema.session else None,
                np.zeros(0) if schema.quantity else None,
                np.zeros(0) if schema.price else None,
                {name: none for name in schema.extra}, np.zeros(0, np.int64),
            )
        return EventChunk(
            user_id=cat("user_id"), item_id=cat("item_id"),
            event_type=cat("event_type"), event_raw=cat("event_raw"),
            timestamp=cat("timestamp"), session_id=cat("session_id"),
            quantity=cat("quantity"), price=cat("price"),
            extra={k: pa.concat_arrays([c.extra[k] for c in chunks]) for k in chunks[0].extra},
            line=np.concatenate([c.line for c in chunks]),
            source=chunks[0].source if len({c.source for c in chunks}) == 1 else "",
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
    """Reads an event log into an EventLog, counting every row it rejects.

    ``path`` may be a CSV/TSV file (any one-character delimiter, or runs of
    whitespace; gzip-compressed or not, told by its magic bytes; LF or CRLF
    line ends; with or without a header row), a Parquet file, or a directory
    of part files as Spark, BigQuery and Hive write them (``part-*.parquet``,
    ``*.csv.gz``, ...; names starting with ``_`` or ``.`` such as
    ``_SUCCESS`` are skipped; every part must have the same columns). Files
    are parsed by pyarrow's C++ readers batch by batch; ids are read as
    strings (19-digit integer ids stay exact), with surrounding whitespace
    stripped; integer id columns of a Parquet file are turned into their
    decimal strings, float ones are refused (they may have lost digits).

    Rows that cannot be used are not kept and are counted in the report by
    reason, with examples: "wrong number of fields" (this covers a truncated
    last line), "truncated last line" (a file without a final line break
    whose last row's final field is shorter than every earlier value of that
    column: cut mid-value), "missing user id", "missing item id", "unknown event type"
    (a raw name absent from ``schema.event_types`` when a mapping is given,
    or a name outside ``allowed_event_types``, or an empty one), "bad
    timestamp", "bad quantity", "bad price" (present but not a finite
    number; empty quantity/price cells are kept as NaN and noted),
    "negative price", and "duplicate" (same values in every mapped field as
    an earlier kept row, when ``dedupe``). Rows with a price of exactly 0 are
    kept (shops log free items and gifts) and counted in a note. Blank lines
    are skipped and noted. Line numbers in the report count records (a
    quoted value spanning lines is one record), from 1 including the header.

    Args:
        path: file or directory to read (str or path-like).
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
            and the columns present), a file cannot be decoded or is
            truncated or corrupt, the parts of a directory disagree on their
            columns, a Parquet column has a type that cannot hold the field,
            or ``strict`` and some row was rejected. Messages name the file.
        FileNotFoundError: no such file.

    Example:
        >>> schema = EventSchema(user="0", item="1", event_type="3",
        ...     timestamp="4", event_types={"pv": "view", "buy": "purchase",
        ...     "cart": "cart", "fav": "favorite"})
        >>> log, report = read_events("UserBehavior.csv.gz", schema)
        >>> print(report)
    """
    path = os.fspath(path)
    report = RejectReport(source=os.path.basename(path.rstrip("/")))
    chunks = list(iter_event_chunks(
        path, schema, report, delimiter=delimiter, header=header, encoding=encoding,
        allowed_event_types=allowed_event_types, na_values=na_values,
    ))
    chunk = EventChunk.concatenate(chunks, schema)
    del chunks
    log = finish_events(chunk, report, dedupe=dedupe)
    if strict:
        report.raise_if_rejects()
    return log, report


def finish_events(chunk: EventChunk, report: RejectReport, *, dedupe: bool = True) -> EventLog:
    """Drops duplicates (counted) and sorts by (user, timestamp), stable.

    Duplicates share the user, so a hash partition by user can run this on
    each partition alone and find the same duplicates.
    """
    user_rank = _ranks(chunk.user_id)
    times = chunk.timestamp
    # Ranks of the users' strings sort like the strings and cost a fraction.
    order = np.lexsort((times, user_rank))  # stable: file order for ties
    n = len(chunk)
    if dedupe and n > 1:
        raw = {"user_id": user_rank, "item_id": _Lazy(chunk.item_id),
               "event_type": chunk.event_raw}
        if chunk.session_id is not None:
            raw["session_id"] = _Lazy(chunk.session_id)
        raw.update({k: _Lazy(v) for k, v in chunk.extra.items()})
        numbers = {k: v for k, v in (("quantity", chunk.quantity), ("price", chunk.price))
                   if v is not None}
        keep = np.arange(n)
        dup = _duplicates(raw, chunk.event_type, times, numbers, keep, order)
        if len(dup):
            raw["user_id"] = _Lazy(chunk.user_id)
            for i in dup[: report.max_examples]:
                report.reject("duplicate", line=int(chunk.line[i]),
                              row=_describe_row(raw, chunk, i))
            if len(dup) > report.max_examples:
                report.reject("duplicate", n=len(dup) - report.max_examples)
            drop = np.zeros(n, bool)
            drop[dup] = True
            order = order[~drop[order]]
    del user_rank
    import pyarrow as pa

    take = pa.array(order)

    def strings(a):
        # Arrow gathers the rows (C++), then one sequential conversion.
        return _to_str_numpy(a.take(take))

    return EventLog(
        user_id=strings(chunk.user_id), item_id=strings(chunk.item_id),
        event_type=chunk.event_type[order], timestamp=times[order],
        session_id=None if chunk.session_id is None else strings(chunk.session_id),
        quantity=None if chunk.quantity is None else chunk.quantity[order],
        price=None if chunk.price is None else chunk.price[order],
        extra={k: strings(v) for k, v in chunk.extra.items()},
    )


class _Lazy:
    """An Arrow string column that becomes numpy only for the rows indexed."""

    def __init__(self, array):
        self.array = array

    def __getitem__(self, index):
        import pyarrow as pa

        if isinstance(index, (int, np.integer)):
            return _to_str_numpy(self.array.slice(int(index), 1))[0]
        return _to_str_numpy(self.array.take(pa.array(np.asarray(index))))


def _describe_row(raw: dict, chunk: EventChunk, i: int) -> str:
    parts = [f"user_id={str(raw['user_id'][i])!r}", f"item_id={str(raw['item_id'][i])!r}",
             f"event_type={str(chunk.event_raw[i])!r}",
             f"timestamp={str(np.datetime64(int(chunk.timestamp[i]), 'ms'))}Z"]
    if "session_id" in raw:
        parts.append(f"session_id={str(raw['session_id'][i])!r}")
    for name in ("quantity", "price"):
        v = getattr(chunk, name)
        if v is not None:
            parts.append(f"{name}={float(v[i])!r}")
    return ", ".join(parts)


# --- sources ---------------------------------------------------------------


def list_input_files(path) -> list[str]:
    """The files a path names: itself, or a directory's part files, sorted.

    Sub-directories (Hive partitions such as ``dt=2019-10-01/``) are walked,
    in sorted order. Names starting with ``_`` or ``.`` (``_SUCCESS``,
    ``_temporary/``, ``.part-0.crc``) and ``*.crc`` files are skipped, as
    Spark and Hive leave them next to parts.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        os.stat(path)  # FileNotFoundError with the name, as open() gives
        return [path]
    files = []
    for root, dirs, names in os.walk(path):
        # Hive-style partition folders (dt=2019-10-01/) are read too; Spark's
        # _temporary and hidden folders are not data.
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        files += [os.path.join(root, n) for n in sorted(names)
                  if not n.startswith(("_", ".")) and not n.endswith(".crc")]
    if not files:
        raise DataValidationError(f"{path}: the directory holds no data files")
    kinds = {_is_parquet(f) for f in files}
    if len(kinds) > 1:
        pq = [os.path.basename(f) for f in files if _is_parquet(f)][:3]
        txt = [os.path.basename(f) for f in files if not _is_parquet(f)][:3]
        raise DataValidationError(
            f"{path}: the directory mixes Parquet files ({pq}) and text files ({txt}); "
            "one directory must hold one format"
        )
    return files


def _is_parquet(path: str) -> bool:
    if path.lower().endswith(_PARQUET_SUFFIXES):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PAR1"
    except OSError:
        return False


def iter_event_chunks(
    path,
    schema: EventSchema,
    report: RejectReport,
    *,
    delimiter: str | None = None,
    header="auto",
    encoding: str = "utf-8",
    allowed_event_types=None,
    na_values=("",),
    arrow_events: bool = False,
):
    """Yields EventChunks of rows that pass the row-level checks, in file order.

    Every row read is counted in ``report`` (kept, or rejected by reason);
    duplicates are not looked for here (see ``finish_events``). Arguments are
    those of ``read_events``. Memory is bounded by one batch (about
    ``BLOCK_SIZE`` bytes of text) plus what the caller keeps. With
    ``arrow_events`` the chunks carry their event names as Arrow arrays
    only (``EventChunk.arrow``; ``event_type`` and ``event_raw`` are None),
    which is what ``prepare`` writes: no numpy str arrays are made.

    Example:
        >>> report = RejectReport("events")
        >>> for chunk in iter_event_chunks("events/", schema, report):
        ...     print(len(chunk))
    """
    files = list_input_files(path)
    many = len(files) > 1 or os.path.isdir(os.fspath(path))
    tally = _Tally()
    reference = None  # the first file's columns: every part must match
    for file in files:
        piece = Piece(file, prefix=f"{os.path.basename(file)}: " if many else "")
        state = {}
        yield from iter_piece_chunks(
            piece, schema, report, tally, reference=reference, state=state,
            delimiter=delimiter, header=header, encoding=encoding,
            allowed_event_types=allowed_event_types, na_values=na_values,
            arrow_events=arrow_events,
        )
        if reference is None:
            reference = (os.path.basename(file), state["columns"])
    tally.write_notes(report)


@dataclasses.dataclass(frozen=True)
class Piece:
    """A part of the input that one process reads alone (``plan_pieces``).

    Attributes:
        file: the file.
        prefix: what reject examples start with (the file's name in a directory).
        part: its position among the pieces of ``file`` (0: the one with the header).
        start, end: bytes ``[start, end)`` of an uncompressed CSV file
            (``end=None``: to the end of the file). Pieces start right after a
            line break.
        row_groups: the Parquet row groups to read (None: all).
        tail: the last line of a file that does not end with a line break:
            read after the file's other pieces, by the caller, with
            ``min_len`` and ``line_offset`` from them (``plan_pieces``).
        min_len: shortest value of the file's last column before this piece.
        line_offset: added to the record numbers this piece reports.
    """

    file: str
    prefix: str = ""
    part: int = 0
    start: int = 0
    end: int | None = None
    row_groups: tuple | None = None
    tail: bool = False
    min_len: int | None = None
    line_offset: int = 0


def iter_piece_chunks(
    piece: Piece,
    schema: EventSchema,
    report: RejectReport,
    tally: "_Tally",
    *,
    reference=None,
    state: dict | None = None,
    delimiter: str | None = None,
    header="auto",
    encoding: str = "utf-8",
    allowed_event_types=None,
    na_values=("",),
    arrow_events: bool = False,
):
    """Yields the checked EventChunks of one piece of the input (a whole file or a part).

    Rows are counted in ``report``, notes for the end in ``tally``; record
    numbers are the file's for a piece with ``part == 0`` and count from 1
    (plus ``piece.line_offset``) for a later one, whose caller adds the
    records of the pieces before it. ``state`` receives ``columns``,
    ``header_line``, ``records`` (records read after the header),
    ``min_len`` (shortest value of the file's last column, when mapped) and
    ``quoted`` (a quote character was seen in a byte range). ``arrow_events``:
    as in ``iter_event_chunks``.
    """
    state = {} if state is None else state
    file = piece.file
    name = os.path.basename(file)
    parquet = _is_parquet(file)
    try:
        if parquet:
            batches, columns = _parquet_batches(file, schema, piece.row_groups, state)
        else:
            batches, columns = _csv_batches(
                file, schema, report, delimiter, header, encoding, piece.prefix, tally,
                piece=piece, state=state,
            )
    except OSError as e:
        raise DataValidationError(f"{name}: cannot read the file ({e})") from e
    if reference is not None and columns != reference[1]:
        raise DataValidationError(
            f"{name}: its columns {columns} differ from {reference[0]}'s "
            f"{reference[1]}; every part file of a directory must have the same schema"
        )
    state["columns"] = columns
    nulls = tuple(v for v in na_values)
    for cols, lines in batches:
        chunk = _validate_batch(
            cols, lines, schema, report, tally, nulls, allowed_event_types, piece.prefix, name,
            text=not parquet, numpy_events=not arrow_events,
        )
        if len(chunk):
            yield chunk


def plan_pieces(path, schema: EventSchema, workers: int, *, delimiter: str | None = None,
                header="auto", encoding: str = "utf-8", piece_bytes: int | None = None,
                **_):
    """Splits the input into pieces that processes can read at the same time, or None.

    A directory's files are pieces of their own; a Parquet file with several
    row groups is split by row groups; an uncompressed UTF-8 CSV file (not
    split on runs of whitespace) is split into byte ranges that start right
    after a ``\n``. A range is a run of whole records only when no quoted
    value spans lines, so the ranges are used only for a file without any
    ``"`` (the quote character): the first 64 KiB are checked here, and each
    range's reader checks its bytes (``state["quoted"]``; the caller then
    reads the file in one piece instead). A gzip file is one piece (its
    stream cannot be entered in the middle). A file not ending with a line
    break gets a ``tail`` piece for its last line (the truncated-last-line
    check needs the shortest value of the rows before it).

    Returns:
        ``(pieces, reference)`` with the first file's ``(name, columns)``,
        or None when the input is one piece (read it with ``iter_event_chunks``).
    """
    piece_bytes = piece_bytes or PIECE_BYTES
    files = list_input_files(path)
    many = len(files) > 1 or os.path.isdir(os.fspath(path))
    pieces = []
    reference = None
    for file in files:
        prefix = f"{os.path.basename(file)}: " if many else ""
        if _is_parquet(file):
            parts, columns = _parquet_pieces(file, schema, prefix, workers, piece_bytes)
        else:
            parts, columns = _csv_pieces(file, schema, prefix, workers, piece_bytes,
                                         delimiter, header, encoding)
        if reference is None:
            reference = (os.path.basename(file), columns)
        pieces += parts
    if len(pieces) < 2:
        return None
    return pieces, reference


def _parquet_pieces(file, schema, prefix, workers, piece_bytes):
    import pyarrow.parquet as pq

    _, columns = _parquet_batches(file, schema)
    meta = pq.ParquetFile(file).metadata
    groups = meta.num_row_groups
    # About as many rows per piece as a CSV piece of piece_bytes holds.
    rows = max(1, piece_bytes // _CSV_ROW_BYTES)
    n = min(groups, workers * int(np.ceil(meta.num_rows / (workers * rows))))
    if n < 2 or meta.num_rows * _CSV_ROW_BYTES < MIN_SPLIT_BYTES:
        return [Piece(file, prefix)], columns
    bounds = np.linspace(0, groups, n + 1).round().astype(int)
    return [Piece(file, prefix, part=i, row_groups=tuple(range(a, b)))
            for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])) if b > a], columns


def _csv_pieces(file, schema, prefix, workers, piece_bytes, delimiter, header, encoding):
    layout = _csv_layout(file, schema, delimiter, header, encoding)
    whole = [Piece(file, prefix)]
    size = os.path.getsize(file)
    with open(file, "rb") as f:
        head = f.read(_SNIFF_CHARS * 4)
    if (layout.enc != "utf-8-sig" or layout.delimiter == WHITESPACE or head[:2] == b"\x1f\x8b"
            or b'"' in head or size < MIN_SPLIT_BYTES):
        return whole, layout.columns
    # Ranges start after the header's lines (Arrow skips header_line records
    # of the first range, each ending at or before the next \n).
    at = -1
    for _ in range(layout.header_line):
        at = head.find(b"\n", at + 1)
        if at < 0:
            return whole, layout.columns
    header_end = at + 1
    # At least PIECES_PER_WORKER pieces a worker (of one block or more): on a
    # busy machine one process may get less CPU than the other, and small
    # pieces let the faster one take more of them.
    n = workers * max(int(np.ceil(size / (workers * piece_bytes))),
                      min(PIECES_PER_WORKER, size // (workers * BLOCK_SIZE)))
    with open(file, "rb") as f:
        f.seek(size - 1)
        ends_with_break = f.read(1) in (b"\n", b"\r")
        stop = size if ends_with_break else _last_line_start(f, size)
        cuts = [0]
        for i in range(1, n):
            c = _line_start_after(f, max(i * size // n, header_end), stop)
            if c is None or c >= stop:
                break
            if c > cuts[-1] and c > header_end:
                cuts.append(c)
    if len(cuts) < 2:
        return whole, layout.columns
    cuts.append(stop)
    pieces = [Piece(file, prefix, part=i, start=a, end=b)
              for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]
    if stop < size:
        pieces.append(Piece(file, prefix, part=len(pieces), start=stop, end=None, tail=True))
    return pieces, layout.columns


def _line_start_after(f, pos, stop):
    """The offset just after the first ``\n`` at or after ``pos`` (before ``stop``), or None."""
    f.seek(pos)
    while pos < stop:
        block = f.read(1 << 16)
        if not block:
            return None
        i = block.find(b"\n")
        if i >= 0:
            return pos + i + 1
        pos += len(block)
    return None


def _last_line_start(f, size):
    """The offset just after the last ``\n`` of a file (0 if it has none)."""
    pos = size
    while pos > 0:
        step = min(1 << 16, pos)
        f.seek(pos - step)
        block = f.read(step)
        i = block.rfind(b"\n")
        if i >= 0:
            return pos - step + i + 1
        pos -= step
    return 0


@dataclasses.dataclass
class _Tally:
    """Counts that become notes once the whole input is read."""

    blank: int = 0
    empty: Counter = dataclasses.field(default_factory=Counter)
    zero_price: int = 0
    unknown_events: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)

    def merge(self, other: "_Tally") -> None:
        """Adds the counts of a later piece of the input (``prepare`` reads pieces apart)."""
        self.blank += other.blank
        self.empty.update(other.empty)
        self.zero_price += other.zero_price
        for name in other.unknown_events:
            self.unknown_events.setdefault(name, None)
        self.notes.extend(other.notes)

    def write_notes(self, report: RejectReport) -> None:
        if self.blank:
            report.note(f"{self.blank:,} blank lines skipped")
        for field in ("quantity", "price"):
            if self.empty[field]:
                report.note(f"{self.empty[field]:,} empty {field} cells kept as NaN")
        if self.zero_price:
            report.note(
                f"{self.zero_price:,} rows with price 0 kept (free items, gifts; negative "
                "prices are rejected)"
            )
        if self.unknown_events:
            names = list(self.unknown_events)
            shown = ", ".join(repr(u) for u in names[:10])
            report.note(f"unknown event types: {shown}" + (" ..." if len(names) > 10 else ""))
        for note in self.notes:
            report.note(note)


class _TailFile(io.RawIOBase):
    """A binary file (plain or gzip) that remembers its last bytes and read errors.

    Arrow reads through it, so the reader learns whether the file ended with a
    line break (and what its last line was) without a second pass, and a
    truncated gzip member is told apart from Arrow's own parse errors. For a
    plain file it can serve bytes ``[start, end)`` only (a ``Piece``), and
    notes whether ``watch`` (a byte string) occurs in them.
    """

    def __init__(self, path: str, start: int = 0, end: int | None = None,
                 watch: bytes | None = None):
        with open(path, "rb") as f:
            magic = f.read(2)
        self._f = gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")
        self._left = None
        if start or end is not None:
            self._f.seek(start)
            if end is not None:
                self._left = end - start
        self.tail = b""
        self.error = None
        self.watch = watch
        self.seen = False

    def readable(self):
        return True

    def read(self, n=-1):
        if self._left is not None:
            n = self._left if n is None or n < 0 else min(n, self._left)
        try:
            data = self._f.read(n)
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as e:
            self.error = e
            raise
        if data:
            # The last 64 KiB only (not a copy of every block).
            self.tail = (self.tail + data[-(1 << 16):])[-(1 << 16):]
            if self._left is not None:
                self._left -= len(data)
            if self.watch is not None and not self.seen and self.watch in data:
                self.seen = True
        return data

    def readinto(self, b):
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self):
        self._f.close()
        super().close()

    @property
    def ended_with_line_break(self) -> bool:
        return not self.tail or self.tail[-1:] in (b"\n", b"\r")

    def last_line(self, encoding: str) -> str:
        return self.tail.rsplit(b"\n", 1)[-1].decode(encoding, errors="replace")


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


def _sample_lines(path: str, encoding: str, keep_blank: bool = False) -> list[str]:
    """The first lines of a file (up to 64 KiB), for sniffing and the header."""
    with _open_text(path, encoding) as f:
        name = os.path.basename(path)
        try:
            sample = f.read(_SNIFF_CHARS)
        except UnicodeDecodeError as e:
            raise DataValidationError(
                f"{name}: cannot decode as {encoding.replace('-sig', '')} near the start of the "
                f"file: {e}; pass encoding=..."
            ) from e
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise _corrupt_stream(name, e) from e
    lines = sample.splitlines()
    if len(sample) == _SNIFF_CHARS and len(lines) > 1:
        lines = lines[:-1]  # Probably cut by the sample size.
    if keep_blank:
        return lines[:500]
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




@dataclasses.dataclass
class _CsvLayout:
    """What the first lines of a delimited text file say: delimiter, header, columns."""

    enc: str
    delimiter: str
    header_line: int
    n_fields: int
    positions: dict
    columns: object


def _csv_layout(file, schema, delimiter, header, encoding) -> _CsvLayout:
    name = os.path.basename(file)
    enc = _encoding(encoding)
    delimiter = _resolve_delimiter(file, enc, delimiter)
    sample = _sample_lines(file, enc, keep_blank=True)
    if delimiter == WHITESPACE:
        records = [(i + 1, ln.split()) for i, ln in enumerate(sample)]
    else:
        records = [(i + 1, r) for i, r in enumerate(csv.reader(sample, delimiter=delimiter))]
    head = [(ln, r) for ln, r in records if r and any(c.strip() for c in r)][:2]
    rows = [r for _, r in head]
    has_header = _decide_header(header, rows, schema)
    header_row = [h.strip() for h in rows[0]] if has_header and rows else None
    header_line = head[0][0] if has_header and head else 0
    data_head = rows[1:] if has_header else rows
    n_fields = len(header_row) if header_row is not None else _modal_width(
        file, enc, delimiter, data_head
    )
    positions = _resolve_columns(schema.columns(), header_row, n_fields, data_head, name)
    columns = header_row if header_row is not None else n_fields
    return _CsvLayout(enc, delimiter, header_line, n_fields, positions, columns)


def _csv_batches(file, schema, report, delimiter, header, encoding, prefix, tally, *,
                 piece=None, state=None):
    """``(batches, columns)`` for a delimited text file; see ``_arrow_csv_batches``."""
    layout = _csv_layout(file, schema, delimiter, header, encoding)
    if state is not None:
        state["header_line"] = layout.header_line
    args = (file, layout.positions, layout.n_fields, layout.header_line, layout.delimiter,
            encoding, layout.enc, report, prefix, tally)
    if layout.delimiter == WHITESPACE:
        batches = _whitespace_batches(*args)
    else:
        batches = _arrow_csv_batches(*args, piece=piece, state=state)
    return batches, layout.columns


def _report_invalid(report, rows, prefix, tally, offset=0):
    """Counts rows with the wrong number of fields (record numbers + ``offset``), and blank ones."""
    blank = 0
    for number, text in rows:
        number = number + offset if number > 0 else number
        text = text.rstrip("\r\n")
        if not text.strip():
            blank += 1
            continue
        report.read(1)
        report.reject("wrong number of fields", line=number, row=prefix + text)
        spanned = text.count("\n")
        if spanned:
            report.note(
                f"line {number}: one quoted field spans {spanned + 1} lines "
                "(an unmatched quote?); they were read as one rejected row"
            )
    tally.blank += blank


def _record_numbers(first: int, start: int, n: int, bad: list) -> np.ndarray:
    """Record numbers of kept rows ``start .. start+n-1`` given the skipped records.

    ``bad`` holds the (sorted) record numbers of rows the parser skipped.
    Kept row ``j`` is record ``first + j + #{skipped records before it}``.
    """
    j = np.arange(start, start + n, dtype=np.int64)
    if not bad:
        return first + j
    b = np.asarray(sorted(bad), np.int64)
    # The kept index a skipped record would have had, had it been kept.
    at = b - first - np.arange(len(b))
    return first + j + np.searchsorted(at, j, side="right")


def _arrow_csv_batches(file, positions, n_fields, header_line, delimiter, encoding, enc,
                       report, prefix, tally, *, piece=None, state=None):
    """Batches of the mapped columns as Arrow strings, with record numbers.

    pyarrow's streaming CSV reader parses ``BLOCK_SIZE`` bytes at a time,
    single-threaded so that the rows it skips (wrong number of fields) come
    with their record numbers; measured on 1M rows it is as fast as the
    threaded reader on our 2-core machine (docs/decisions.md). A ``piece``
    after the first reads its byte range only, without the header, and
    numbers its records from ``1 + piece.line_offset``; ``state`` receives
    ``records``, ``min_len`` and ``quoted`` (see ``iter_piece_chunks``).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    piece = piece if piece is not None else Piece(file)
    ranged = piece.start > 0 or piece.end is not None
    name = os.path.basename(file)
    names = [f"f{i}" for i in range(n_fields)]
    wanted = sorted(set(positions.values()))
    invalid = []

    def on_invalid(row):
        invalid.append((row.number, row.text))
        return "skip"

    last_col = next((f for f, p in positions.items() if p == n_fields - 1), None)
    src = _TailFile(file, piece.start, piece.end, watch=b'"' if ranged else None)
    reported = 0
    kept = 0
    skip = header_line if piece.start == 0 else 0
    offset = piece.line_offset
    first = skip + 1
    min_len = piece.min_len  # shortest non-empty value of the last column so far
    held = None
    try:
        reader = pacsv.open_csv(
            src,
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=BLOCK_SIZE, column_names=names,
                skip_rows=skip,
                encoding="utf8" if enc == "utf-8-sig" else encoding,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={names[i]: pa.string() for i in wanted},
                include_columns=[names[i] for i in wanted],
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )
        for batch, seen in _read_ahead(reader, invalid):
            if not batch.num_rows:
                continue
            cols = {f: batch.column(names[p]) for f, p in positions.items()}
            lines = _record_numbers(first, kept, batch.num_rows,
                                    [b for b, _ in invalid[:seen] if b])
            if offset:
                lines += offset
            kept += batch.num_rows
            if held is not None:
                if last_col is not None:
                    min_len = _min_len(held[0][last_col], min_len)
                yield held
            held = (cols, lines)
            _report_invalid(report, invalid[reported:seen], prefix, tally, offset)
            reported = seen
            if state is not None and src.seen:
                state["quoted"] = True  # the caller stops: this range may cut a record
    except (pa.ArrowInvalid, EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as e:
        src.close()
        if src.error is not None or not isinstance(e, (pa.ArrowInvalid, UnicodeDecodeError)):
            raise _corrupt_stream(name, src.error if src.error is not None else e) from e
        text = str(e)
        if isinstance(e, UnicodeDecodeError) or "UTF8" in text or "decode" in text.lower():
            raise DataValidationError(
                f"{name}: cannot decode as {encoding} ({text.splitlines()[0]}); pass encoding=..."
            ) from e
        raise DataValidationError(f"{name}: unreadable CSV ({text.splitlines()[0]})") from e
    src.close()
    _report_invalid(report, invalid[reported:], prefix, tally, offset)
    if state is not None:
        state["records"] = kept + len(invalid)
        state["quoted"] = src.seen
        state["min_len"] = min_len if held is None or last_col is None else _min_len(
            held[0][last_col], min_len)
    if held is not None and not src.ended_with_line_break:
        last_text = src.last_line(enc).rstrip("\r")
        last_invalid = bool(invalid) and invalid[-1][1].rstrip("\r\n") == last_text
        if not last_invalid:
            held = _check_unterminated_last_row(held, last_col, min_len, report, prefix + last_text)
    if held is not None:
        yield held


def _read_ahead(reader, invalid):
    """``(batch, rows skipped so far)`` of a CSV reader, the next batch parsed meanwhile.

    Arrow parses one block ahead in a thread (it releases the GIL) while the
    caller validates the current batch, so parsing and checking overlap on
    two cores. The reader itself stays single-threaded, which keeps the
    record numbers of skipped rows; the count of skipped rows is taken when
    each batch is done, so they are reported exactly as without the thread.
    At most one parsed batch waits.
    """
    import queue
    import threading

    slots = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def parse():
        while not stop.is_set():
            try:
                item = (reader.read_next_batch(), len(invalid))
            except StopIteration:
                item = end
            except BaseException as e:  # noqa: BLE001  (raised again in the caller's thread)
                item = e
            while not stop.is_set():
                try:
                    slots.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if item is end or isinstance(item, BaseException):
                return

    thread = threading.Thread(target=parse, name="ecomtf-csv-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _min_len(column, current):
    import pyarrow.compute as pc

    trimmed = _trimmed(column)
    bufs = _string_buffers(trimmed)
    if bufs is not None and (len(bufs[1]) == 0 or int(bufs[1].max()) < 0x80):
        # ASCII text (an export's prices): a value's bytes are its code
        # points, so the lengths come from the offsets.
        lengths = np.diff(bufs[0])
        lengths = lengths[lengths > 0]
        if not len(lengths):
            return current
        m = int(lengths.min())
    else:
        lengths = pc.utf8_length(trimmed)
        lengths = lengths.filter(pc.greater(lengths, 0))
        if not len(lengths):
            return current
        m = pc.min(lengths).as_py()
    return m if current is None else min(m, current)


def _check_unterminated_last_row(held, last_col, min_len, report, shown_row):
    """Rejects a last row whose final field was probably cut off.

    Without a final line break the last row may end mid-value and still have
    the right field count (``...,1511544070`` cut to ``...,15115``, a valid
    but wrong unix time). When the file's last column is a mapped field and
    the last row's value there is shorter than every earlier value of that
    column, the row is rejected as "truncated last line"; otherwise it is kept
    and the missing line break is noted.
    """
    cols, lines = held
    n = len(lines)
    if last_col is not None and (n > 1 or min_len is not None):
        column = cols[last_col]
        earlier = _min_len(column.slice(0, n - 1), min_len)
        last = len(str(column[n - 1].as_py()).strip())
        if earlier is not None and last < earlier:
            report.read(1)
            report.reject("truncated last line", line=int(lines[-1]), row=shown_row)
            return ({f: c.slice(0, n - 1) for f, c in cols.items()}, lines[:-1])
    report.note(
        f"line {int(lines[-1])}: the file ends without a line break; its last row "
        "was kept because it looks complete"
    )
    return held


def _whitespace_batches(file, positions, n_fields, header_line, delimiter, encoding, enc,
                        report, prefix, tally, rows_per_batch=200_000):
    """Batches for files split on runs of whitespace (no quoting; Arrow has no such mode)."""
    import pyarrow as pa

    name = os.path.basename(file)
    src = _TailFile(file)
    stream = io.TextIOWrapper(src, encoding=enc, newline="")
    fields = list(positions)
    blank = 0
    last_col = next((f for f, p in positions.items() if p == n_fields - 1), None)
    min_len = None
    held = None
    line = 0
    try:
        while True:
            cells = {f: [] for f in fields}
            lines = []
            for text in stream:
                line += 1
                if line <= header_line:
                    continue
                row = text.split()
                if len(row) == n_fields:
                    for f in fields:
                        cells[f].append(row[positions[f]])
                    lines.append(line)
                elif not row:
                    blank += 1
                else:
                    report.read(1)
                    report.reject("wrong number of fields", line=line,
                                  row=prefix + "  ".join(row))
                if len(lines) >= rows_per_batch:
                    break
            if not lines:
                break
            if held is not None:
                if last_col is not None:
                    min_len = _min_len(held[0][last_col], min_len)
                yield held
            held = ({f: pa.array(cells[f], pa.string()) for f in fields},
                    np.asarray(lines, np.int64))
    except UnicodeDecodeError as e:
        raise DataValidationError(
            f"{name}: cannot decode as {encoding} (line {line + 1}): {e}; pass encoding=..."
        ) from e
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise _corrupt_stream(name, e) from e
    finally:
        stream.close()
    if held is not None and not src.ended_with_line_break and held[1][-1] == line:
        held = _check_unterminated_last_row(
            held, last_col, min_len, report, prefix + src.last_line(enc).rstrip("\r")
        )
    tally.blank += blank
    if held is not None:
        yield held


def _parquet_batches(file, schema: EventSchema, row_groups=None, state=None):
    """``(batches, columns)`` for a Parquet file; ids of integer type become strings.

    ``row_groups``: read these only (a ``Piece``), rows numbered from 1;
    ``state["records"]`` receives the rows read.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    name = os.path.basename(file)
    try:
        pf = pq.ParquetFile(file)
    except (pa.ArrowException, OSError) as e:
        raise DataValidationError(f"{name}: not a readable Parquet file ({e})") from e
    arrow_schema = pf.schema_arrow
    present = arrow_schema.names
    fields = schema.columns()
    lower = {}
    for c in present:
        lower.setdefault(c.lower(), []).append(c)
    resolved = {}
    for field, col in fields.items():
        if col in present:
            resolved[field] = col
        elif len(lower.get(col.lower(), [])) == 1:
            resolved[field] = lower[col.lower()][0]
        elif col.isdigit() and int(col) < len(present):
            resolved[field] = present[int(col)]
        else:
            raise DataValidationError(
                f"{name}: column {col!r} (for {field}) not found; columns present: {present}"
            )
    for field, col in resolved.items():
        typ = arrow_schema.field(col).type
        if pa.types.is_dictionary(typ):
            typ = typ.value_type
        text = pa.types.is_string(typ) or pa.types.is_large_string(typ)
        if field == "timestamp":
            good = text or pa.types.is_integer(typ) or pa.types.is_floating(typ) or \
                pa.types.is_timestamp(typ) or pa.types.is_date(typ)
            want = "strings, integers (unix times), timestamps or dates"
        elif field in ("quantity", "price"):
            good = text or pa.types.is_integer(typ) or pa.types.is_floating(typ) or \
                pa.types.is_decimal(typ)
            want = "numbers or strings"
        else:
            good = text or pa.types.is_integer(typ)
            want = ("strings or integers (floats may have lost digits of long ids)"
                    if pa.types.is_floating(typ) else "strings or integers")
        if not good:
            raise DataValidationError(
                f"{name}: column {col!r} (for {field}) has type {arrow_schema.field(col).type}; "
                f"expected {want}"
            )
    columns = [(f.name, str(f.type)) for f in arrow_schema]

    def batches():
        row = 0
        wanted = list(dict.fromkeys(resolved.values()))
        try:
            for batch in pf.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=wanted,
                                         row_groups=row_groups):
                cols = {}
                for field, col in resolved.items():
                    a = batch.column(col)
                    if pa.types.is_dictionary(a.type):
                        a = a.dictionary_decode()
                    if field not in ("timestamp", "quantity", "price") and not (
                        pa.types.is_string(a.type) or pa.types.is_large_string(a.type)
                    ):
                        a = pc.cast(a, pa.string())  # integer ids: exact decimal text
                    cols[field] = a
                n = batch.num_rows
                yield cols, np.arange(row + 1, row + 1 + n, dtype=np.int64)
                row += n
            if state is not None:
                state["records"] = row
        except (pa.ArrowException, OSError) as e:
            raise DataValidationError(
                f"{name}: unreadable Parquet data after row {row:,} ({e})"
            ) from e

    return batches(), columns


# --- validation of one batch -------------------------------------------------


def _is_text(a) -> bool:
    import pyarrow as pa

    return pa.types.is_string(a.type) or pa.types.is_large_string(a.type)


def _to_str_numpy(a) -> np.ndarray:
    """An Arrow string array as a numpy str array, without a Python object per row.

    ASCII text (ids nearly always are) is padded to a fixed width by Arrow and
    widened by numpy; other text goes through the dictionary of distinct
    values.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(a) == 0:
        return np.zeros(0, "U1")
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    if pa.types.is_dictionary(a.type):
        a = a.dictionary_decode()
    a = a.fill_null("") if a.null_count else a
    if pa.types.is_large_string(a.type):
        a = a.cast(pa.string())
    n = len(a)
    _, offsets_buf, data_buf = a.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32, n + 1, a.offset * 4)
    lo, hi = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buf, np.uint8, hi - lo, lo) if data_buf is not None and hi > lo \
        else np.zeros(0, np.uint8)
    if data.size and data.max() >= 128:
        d = pc.dictionary_encode(a)
        values = d.dictionary.to_pylist()
        dictionary = np.array(values, dtype=str) if values else np.zeros(0, "U1")
        return dictionary[d.indices.to_numpy(zero_copy_only=False)]
    width = int(np.diff(offsets).max())
    if width == 0:
        return np.zeros(n, "U1")
    # Arrow pads every value to the same width with NULs, which numpy's
    # fixed-width bytes dtype drops again: one C pass, no per-row objects.
    padded = pc.utf8_rpad(a, width=width, padding="\x00")
    _, poff_buf, pdata = padded.buffers()
    start = int(np.frombuffer(poff_buf, np.int32, 1, padded.offset * 4)[0])
    return np.frombuffer(pdata, f"S{width}", n, start).astype(f"U{width}")


def _ranks(a) -> np.ndarray:
    """Each row's rank among the distinct strings of ``a`` (int64).

    Sorting by rank sorts as numpy sorts the strings (by code point, which is
    also UTF-8 byte order).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(a) == 0:
        return np.zeros(0, np.int64)
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    d = pc.dictionary_encode(a.fill_null("") if a.null_count else a)
    dictionary = _to_str_numpy(d.dictionary)
    order = np.argsort(dictionary, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank[d.indices.to_numpy(zero_copy_only=False)]


def _parse_numbers(a):
    """``(value, bad, empty)`` float64 arrays: empty cells are NaN and not bad."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(a)
    if not _is_text(a):
        value = pc.cast(a, pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        empty = a.is_null().to_numpy(zero_copy_only=False)
        bad = ~empty & ~np.isfinite(value)
        return np.where(bad, np.nan, value), bad, empty
    a = a.fill_null("")
    empty = _empty(a)
    value = np.full(n, np.nan)
    idx = np.flatnonzero(~empty)
    if len(idx):
        sub = a.filter(pa.array(~empty)) if len(idx) < n else a  # no copy when none is empty
        try:
            value[idx] = pc.cast(sub, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            # Some cell is not a number: numpy parses the distinct values, the
            # bad ones become inf and are flagged below.
            value[idx] = _parse_floats(np.array(sub.to_pylist(), dtype=str))[0]
            bad_text = np.isnan(value[idx])
            value[idx[bad_text]] = np.inf
    bad = ~empty & ~np.isfinite(value)
    return np.where(bad, np.nan, value), bad, empty


def _parse_floats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(value, bad, empty)`` for a numpy str array: empty cells are NaN and not bad."""
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


def _describe_cols(cols: dict, i: int) -> str:
    return ", ".join(f"{k}={_text(v[i].as_py())!r}" for k, v in cols.items())


def _text(v):
    return "" if v is None else (v if isinstance(v, str) else str(v))


def _string_buffers(a):
    """``(offsets, data)`` numpy views of a null-free Arrow string array, or None."""
    import pyarrow as pa

    if not pa.types.is_string(a.type) or a.null_count:
        return None
    n = len(a)
    _, offsets, data = a.buffers()
    offsets = np.frombuffer(offsets, np.int32, n + 1, a.offset * 4)
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return offsets, data


def _trimmed(a):
    """``utf8_trim_whitespace(a)``, skipped when it would change nothing.

    A value whose first and last bytes are printable ASCII (``!`` to ``~``)
    neither starts nor ends with a whitespace code point (ASCII whitespace
    is at most a space; other whitespace is not ASCII), so when every value
    is like that (an export's ids, names and numbers) the column is kept as
    it is, found by looking at two bytes a value instead of trimming them all.
    """
    import pyarrow.compute as pc

    bufs = _string_buffers(a)
    if bufs is None or len(a) == 0:
        return pc.utf8_trim_whitespace(a)
    offsets, data = bufs
    start, end = offsets[:-1], offsets[1:]
    full = end > start
    if not full.all():
        start, end = start[full], end[full]
    for edge in (data[start], data[end - 1]):
        if ((edge - np.uint8(0x21)) > np.uint8(0x7E - 0x21)).any():
            return pc.utf8_trim_whitespace(a)
    return a


def _empty(a) -> np.ndarray:
    """Which values of a text column are empty strings (numpy bool), from its offsets."""
    import pyarrow.compute as pc

    bufs = _string_buffers(a)
    if bufs is None:
        return pc.utf8_length(a).to_numpy(zero_copy_only=False) == 0
    return np.diff(bufs[0]) == 0


def _validate_batch(cols, lines, schema, report, tally, nulls, allowed, prefix, source,
                    text=True, numpy_events=True):
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = {f: (_trimmed(a) if _is_text(a) else a) for f, a in cols.items()}
    n = len(lines)
    alive = np.ones(n, bool)
    if text and n:
        # A blank line (or a whitespace-only one) parses as a row of empty cells.
        blank = np.ones(n, bool)
        for a in cols.values():
            blank &= _empty(a)
        if blank.any():
            tally.blank += int(blank.sum())
            alive &= ~blank
    report.read(int(alive.sum()))

    def reject(reason, bad):
        idx = np.flatnonzero(bad & alive)
        if len(idx):
            for i in idx[: report.max_examples]:
                report.reject(reason, line=int(lines[i]), row=prefix + _describe_cols(cols, i))
            if len(idx) > report.max_examples:
                report.reject(reason, n=len(idx) - report.max_examples)
            alive[idx] = False

    def missing(a):
        out = a.is_null().to_numpy(zero_copy_only=False)
        a = a.fill_null("")
        out |= _empty(a)
        extra = [v for v in nulls if v]
        if extra:
            out |= pc.is_in(a, value_set=pa.array(extra, pa.string())).to_numpy(
                zero_copy_only=False)
        return out

    reject("missing user id", missing(cols["user_id"]))
    reject("missing item id", missing(cols["item_id"]))

    if schema.event_type is None:
        raw_codes = None
    else:
        d = pc.dictionary_encode(cols["event_type"].fill_null(""))
        uniq = d.dictionary.to_pylist()
        mapped = []
        for u in uniq:
            m = u if schema.event_types is None else schema.event_types.get(u)
            if m and allowed is not None and m not in allowed:
                m = None
            mapped.append(m or "")
            if not m:
                tally.unknown_events.setdefault(u, None)
        raw_codes = d.indices.to_numpy(zero_copy_only=False)
        # Unknown names by code (one bool a distinct name), not by a str array of every row.
        unknown = np.array([not m for m in mapped], bool)
        reject("unknown event type", unknown[raw_codes] if n else np.zeros(0, bool))

    ts, ok = parse_timestamps_arrow(cols["timestamp"], schema.timestamp_format, schema.timezone)
    reject("bad timestamp", ~ok)

    numbers = {}
    for field in ("quantity", "price"):
        if field in cols:
            value, bad, empty = _parse_numbers(cols[field])
            reject(f"bad {field}", bad)
            if field == "price":
                reject("negative price", value < 0)
                tally.zero_price += int(((value == 0) & alive).sum())
            tally.empty[field] += int((empty & alive).sum())
            numbers[field] = value

    keep = np.flatnonzero(alive)
    take = pa.array(keep)

    def strings(field):
        # Every row kept (the usual case): no copy.
        return cols[field] if len(keep) == n else cols[field].take(take)

    if schema.event_type is None:
        events = np.full(len(keep), schema.default_event_type)
        raw_events = events
        arrow = {}
    else:
        codes = raw_codes if len(keep) == n else raw_codes[keep]
        if numpy_events:
            mapped_np = np.array(mapped, dtype=str) if mapped else np.zeros(0, "U1")
            raw_np = np.array(uniq, dtype=str) if uniq else np.zeros(0, "U1")
            events = mapped_np[codes] if len(keep) else np.zeros(0, "U1")
            raw_events = raw_np[codes] if len(keep) else np.zeros(0, "U1")
        else:
            events = raw_events = None
        if schema.event_types is None and pa.types.is_string(cols["event_type"].type):
            # No renaming: a kept row's name is its name in the file, and the
            # column itself (trimmed) is both; one object, so ``prepare``
            # writes it once (``_chunk_table``).
            names = strings("event_type")
            arrow = {"event_type": names, "event_raw": names}
        else:
            kept_codes = pa.array(codes)
            arrow = {"event_type": pa.array(mapped, pa.string()).take(kept_codes),
                     "event_raw": d.dictionary.take(kept_codes)}
    return EventChunk(
        user_id=strings("user_id"),
        item_id=strings("item_id"),
        event_type=events,
        event_raw=raw_events,
        timestamp=ts[keep],
        session_id=strings("session_id") if "session_id" in cols else None,
        quantity=numbers["quantity"][keep] if "quantity" in numbers else None,
        price=numbers["price"][keep] if "price" in numbers else None,
        extra={name: strings(name) for name in schema.extra},
        line=np.asarray(lines)[keep],
        source=source,
        arrow=arrow,
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


def _corrupt_stream(name: str, error: Exception) -> DataValidationError:
    return DataValidationError(
        f"{name}: the compressed stream is truncated or corrupt ({error}); "
        "rows before the damage cannot be told apart from a complete file"
    )
