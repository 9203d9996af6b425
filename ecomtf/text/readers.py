"""Readers for a user's own labelled text: CSV/TSV (on Arrow) and JSON Lines (gzip ok)."""

from __future__ import annotations

import gzip
import io
import json
import pathlib
from typing import Sequence

import numpy as np

from ecomtf.data.reject_report import DataValidationError
from ecomtf.data.reject_report import RejectReport
from ecomtf.data.table_reader import CsvColumns
from ecomtf.text.text_examples import TextExamples


def open_text(path) -> io.TextIOBase:
    """Opens a UTF-8 text file, gunzipping ``.gz``; keeps newlines inside CSV fields."""
    path = pathlib.Path(path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _format(path: pathlib.Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".tsv", ".tab")):
        return "tsv"
    return "csv"


def read_text_table(
    path,
    text: str = "text",
    label: str | None = "label",
    columns: Sequence[str] = (),
    *,
    format: str | None = None,
    delimiter: str | None = None,
    strict: bool = False,
    strip: bool = True,
) -> TextExamples:
    """Reads texts (and labels) from a CSV/TSV or JSON Lines file.

    Rows are validated: a row with an empty text or (when ``label`` is given)
    an empty label, or an unparsable JSON line, is rejected and counted in
    the report, never dropped silently. A missing column is an error.

    Args:
        path: the file (``.csv``, ``.tsv``, ``.jsonl``; ``.gz`` ok).
        text: the text column (e.g. ``instruction``, ``question``).
        label: the label column (intent, answer id), or None for none.
        columns: other columns to keep (e.g. ``response``).
        format: ``"csv"``, ``"tsv"`` or ``"jsonl"`` (default: from the name).
        delimiter: CSV delimiter (default: ``,`` or tab for ``.tsv``).
        strict: raise ``DataValidationError`` on the first rejected row.
        strip: strip surrounding whitespace from texts and labels.

    Returns:
        ``TextExamples`` with ``report`` set.

    Example:
        >>> ex = read_text_table("queries.csv", text="instruction", label="intent",
        ...                      columns=["response"])
        >>> print(ex.report)
    """
    path = pathlib.Path(path)
    fmt = _format(path, format)
    report = RejectReport(path.name)
    wanted = [text] + ([label] if label else []) + list(columns)
    texts, labels, extra = [], [], {c: [] for c in columns}

    def keep(line, row: dict):
        t = row.get(text)
        t = "" if t is None else str(t)
        y = row.get(label) if label else None
        y = "" if y is None else str(y)
        if strip:
            t, y = t.strip(), y.strip()
        if not t:
            reason = "empty text"
        elif label and not y:
            reason = "empty label"
        else:
            reason = None
        if reason:
            report.reject(reason, line=line, row=row)
            if strict:
                report.raise_if_rejects()
            return
        texts.append(t)
        labels.append(y)
        for c in columns:
            v = row.get(c)
            extra[c].append("" if v is None else str(v))

    if fmt == "jsonl":
        with open_text(path) as f:
            seen_keys: set = set()
            for i, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                report.read()
                try:
                    row = json.loads(raw)
                    if not isinstance(row, dict):
                        raise ValueError("not an object")
                except ValueError:
                    report.reject("not a JSON object", line=i, row=raw.strip())
                    if strict:
                        report.raise_if_rejects()
                    continue
                seen_keys.update(row)
                keep(i, row)
            missing = [c for c in wanted if c not in seen_keys]
            if report.rows_read and missing:
                raise DataValidationError(f"{path.name}: no row has the field(s) {missing}")
    else:
        _read_csv(path, delimiter or ("\t" if fmt == "tsv" else ","), wanted, text, label, columns,
                  strip, strict, report, texts, labels, extra)
    if not texts:
        raise DataValidationError(f"{path.name}: no usable rows\n{report}")
    return TextExamples(
        np.array(texts, dtype=str),
        np.array(labels, dtype=str) if label else None,
        {c: np.array(v, dtype=str) for c, v in extra.items()},
        report,
    )


def _read_csv(path, sep, wanted, text, label, columns, strip, strict, report, texts, labels, extra):
    """The CSV/TSV branch of ``read_text_table``: pyarrow's streaming reader, checks per batch."""
    import pyarrow.compute as pc

    stream = CsvColumns(path, delimiter=sep)
    missing = [c for c in wanted if c not in stream.header]
    if missing:
        raise DataValidationError(
            f"{path.name}: missing column(s) {missing}; the header has {stream.header}"
        )
    for raw, records in stream.batches(wanted):
        report.read(len(records))
        t = pc.utf8_trim_whitespace(raw[text]) if strip else raw[text]
        no_text = pc.equal(pc.utf8_length(t), 0).to_numpy(zero_copy_only=False)
        no_label = np.zeros_like(no_text)
        if label:
            y = pc.utf8_trim_whitespace(raw[label]) if strip else raw[label]
            no_label = pc.equal(pc.utf8_length(y), 0).to_numpy(zero_copy_only=False) & ~no_text
        for i in np.flatnonzero(no_text | no_label):
            report.reject("empty text" if no_text[i] else "empty label", line=int(records[i]),
                          row={c: raw[c][int(i)].as_py() for c in wanted})
            if strict:
                report.raise_if_rejects()
        keep = np.flatnonzero(~(no_text | no_label))
        texts.extend(t.take(keep).to_pylist())
        labels.extend(y.take(keep).to_pylist() if label else [""] * len(keep))
        for c in columns:
            extra[c].extend(raw[c].take(keep).to_pylist())
    stream.report_invalid_rows(report)
    if strict:
        report.raise_if_rejects()
