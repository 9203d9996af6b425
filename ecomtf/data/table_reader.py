"""Reader for one-row-per-example tables (e.g. session aggregates with a label), on Apache Arrow."""

from __future__ import annotations

import csv
import gzip

import numpy as np

from ecomtf.data.reject_report import DataValidationError
from ecomtf.data.reject_report import RejectReport

_TRUE = {"1", "1.0", "true", "yes", "y", "t"}
_FALSE = {"0", "0.0", "false", "no", "n", "f"}


def parse_label(text: str) -> float | None:
    """0/1, true/false, yes/no (any case) -> 1.0/0.0; anything else -> None."""
    t = text.strip().lower()
    if t in _TRUE:
        return 1.0
    if t in _FALSE:
        return 0.0
    return None


def _header_line(path, encoding) -> str:
    with open(path, "rb") as f:
        magic = f.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        first = f.readline()
    text = first.decode(encoding)
    return text.lstrip("\ufeff").rstrip("\r\n")


class CsvColumns:
    """Named columns of a CSV/TSV with a header (gzip ok), streamed as Arrow strings.

    What the table and text readers share: pyarrow's streaming CSV reader
    with quoted newlines allowed, only the wanted columns converted (as
    strings, empty cells kept as ``""``), rows with the wrong number of
    fields kept aside (with their record numbers) for the reject report,
    and a truncated gzip member or unreadable file turned into one
    ``DataValidationError`` naming the file.

    Args:
        path: the file.
        delimiter: field separator; sniffed from the header when None.
        encoding: text encoding.

    Example:
        >>> stream = CsvColumns("sessions.csv")
        >>> for cols, records in stream.batches(["Revenue"]):
        ...     print(len(records))
    """

    def __init__(self, path, *, delimiter: str | None = None, encoding: str = "utf-8"):
        self.path = path
        self.encoding = encoding
        try:
            head = _header_line(path, encoding)
        except UnicodeDecodeError as e:
            raise DataValidationError(f"{path}: cannot decode the header as {encoding}: {e}") from e
        if delimiter is None:
            delimiter = max(",;\t|", key=head.count)
        self.delimiter = delimiter
        self.header = [h.strip() for h in next(csv.reader([head], delimiter=delimiter), [])]
        self.invalid: list[tuple[int | None, str]] = []

    def batches(self, wanted):
        """Yields ``({column: pa.StringArray}, record numbers)`` per batch.

        Record numbers count records (a quoted field may span lines), the
        header being record 1, as the event reader's reports do.
        """
        import pyarrow as pa
        import pyarrow.csv as pacsv

        from ecomtf.data.event_reader import _TailFile
        from ecomtf.data.event_reader import _record_numbers

        names = [f"f{i}" for i in range(len(self.header))]
        pos = {c: self.header.index(c) for c in wanted}

        def on_invalid(row):
            self.invalid.append((row.number, row.text))
            return "skip"

        encoding = "utf8" if self.encoding.lower().replace("-", "") == "utf8" else self.encoding
        src = _TailFile(str(self.path))
        try:
            reader = pacsv.open_csv(
                src,
                read_options=pacsv.ReadOptions(use_threads=False, column_names=names, skip_rows=1,
                                               encoding=encoding),
                parse_options=pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True,
                                                 invalid_row_handler=on_invalid),
                convert_options=pacsv.ConvertOptions(
                    column_types={names[i]: pa.string() for i in set(pos.values())},
                    include_columns=[names[i] for i in sorted(set(pos.values()))],
                    strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
            row0 = 0
            for batch in reader:
                n = batch.num_rows
                lines = _record_numbers(2, row0, n, [b for b, _ in self.invalid if b])
                row0 += n
                yield {c: batch.column(names[p]) for c, p in pos.items()}, lines
        except (pa.ArrowInvalid, EOFError, OSError) as e:
            if src.error is not None:
                raise DataValidationError(
                    f"{self.path}: the compressed stream is truncated or corrupt ({src.error})"
                ) from e
            raise DataValidationError(
                f"{self.path}: unreadable CSV ({str(e).splitlines()[0]})") from e
        finally:
            src.close()

    def report_invalid_rows(self, report: RejectReport) -> None:
        """Counts the rows with the wrong number of fields as read and rejected."""
        for number, text in self.invalid:
            if text.strip():
                report.read()
                report.reject("wrong number of fields", number, text.rstrip("\r\n"))


def read_table(
    path,
    *,
    label: str | None,
    numeric=(),
    categorical=(),
    delimiter: str | None = None,
    encoding: str = "utf-8",
    strict: bool = False,
) -> tuple[dict[str, np.ndarray], np.ndarray | None, RejectReport]:
    """Reads named columns of a CSV with a header into numpy arrays.

    The file is parsed by pyarrow's streaming CSV reader (only the named
    columns are converted, as strings, then validated per batch). Numeric
    cells that are empty become NaN (the models impute them in the graph)
    and are counted in a report note; cells that are not numbers, and rows
    whose label is not 0/1/true/false/yes/no, are rejected with the reason,
    as are rows with the wrong number of fields. Blank lines are skipped.

    Args:
        path: CSV/TSV file, optionally gzip-compressed.
        label: the 0/1 label column, or None.
        numeric: numeric feature columns.
        categorical: categorical feature columns (kept as strings).
        delimiter: field separator; sniffed from the header when None.
        encoding: text encoding.
        strict: raise on any rejected row.

    Returns:
        ``(features, labels, report)``.

    Example:
        >>> feats, y, report = read_table("sessions.csv", label="Revenue",
        ...     numeric=["PageValues"], categorical=["Month"])
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from ecomtf.data.event_reader import _parse_numbers
    from ecomtf.data.event_reader import _to_str_numpy

    stream = CsvColumns(path, delimiter=delimiter, encoding=encoding)
    header, delimiter = stream.header, stream.delimiter
    wanted = list(numeric) + list(categorical) + ([label] if label else [])
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataValidationError(
            f"{path}: columns {missing} not found; the file has {header}"
        )
    report = RejectReport(source=str(path))
    cols = {c: [] for c in list(numeric) + list(categorical)}
    labels = []
    empty = 0
    for raw, lines in stream.batches(wanted):
        n = len(lines)
        alive = np.ones(n, bool)
        col = {c: pc.utf8_trim_whitespace(a) for c, a in raw.items()}

        def reject(reason, bad):
            for i in np.flatnonzero(bad & alive):
                report.reject(reason, int(lines[i]), delimiter.join(
                    f"{c}={col[c][int(i)].as_py()}" for c in wanted))
            alive[bad] = False

        y = None
        if label:
            t = pc.utf8_lower(col[label])
            is_true = pc.is_in(t, value_set=pa.array(sorted(_TRUE))).to_numpy(
                zero_copy_only=False)
            is_false = pc.is_in(t, value_set=pa.array(sorted(_FALSE))).to_numpy(
                zero_copy_only=False)
            reject("bad label", ~(is_true | is_false))
            y = is_true.astype(np.float32)
        values = {}
        for c in numeric:
            v, bad, emp = _parse_numbers(col[c])
            reject("non-numeric value in a numeric column", bad)
            values[c] = (v, emp)
        keep = np.flatnonzero(alive)
        report.read(n)
        for c in numeric:
            v, emp = values[c]
            empty += int(emp[keep].sum())
            cols[c].append(v[keep])
        for c in categorical:
            cols[c].append(_to_str_numpy(col[c].take(pa.array(keep))))
        if label:
            labels.append(y[keep])
    stream.report_invalid_rows(report)
    if empty:
        report.note(f"{empty} empty numeric cells kept as NaN (imputed in the model)")
    if strict:
        report.raise_if_rejects()

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    feats = {c: cat(cols[c], np.float32) for c in numeric}
    feats.update({c: cat(cols[c], str) for c in categorical})
    return feats, (cat(labels, np.float32) if label else None), report
