"""``prepare`` as an Apache Beam pipeline: the same shards as ``prepare_purchase``.

A shop with a year of events runs the per-partition work of ``prepare`` on a
Beam runner (Dataflow, Flink, Spark; the DirectRunner locally)::

    pip install "ecomtf[beam]"     # in its own environment: see docs/decisions.md
    from ecomtf.data.prepare_beam import prepare_purchase_beam
    prepare_purchase_beam("gs://shop/2019/", schema, "prepared/2019", shards=400,
                          pipeline_options=PipelineOptions(runner="DataflowRunner", ...))

The pipeline reads each input file in its own worker (``iter_event_chunks``,
every reject counted), keys every record batch's rows by the user's CRC-32
partition (``shard_of``, in ``split_by_partition``), groups by partition, and builds each
partition's examples with ``build_partition``, the function the local path runs. Values
are ordered by (file, batch) before a partition is built, so ties sort as in
the local path and the shards are the same. The time split, vocabularies and
manifest (``write_splits``) then run once, as in the local path.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import numpy as np

from ecomtf.data.prepare import MANIFEST
from ecomtf.data.prepare import _chunk_table
from ecomtf.data.prepare import build_partition
from ecomtf.data.prepare import split_by_partition
from ecomtf.data.prepare import write_splits
from ecomtf.data.reject_report import RejectReport
from ecomtf.data.schema import EventSchema


def _to_ipc(table) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_ipc(data: bytes):
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def _report_dict(report: RejectReport) -> dict:
    d = report.to_dict()
    d["examples"] = {k: [[e["line"], e["row"]] for e in v] for k, v in d["examples"].items()}
    return d


def _report_from(d: dict) -> RejectReport:
    from collections import Counter

    return RejectReport(source=d["source"], rows_read=d["rows_read"],
                        rejected=Counter(d["rejected"]),
                        examples={k: [tuple(e) for e in v] for k, v in d["examples"].items()},
                        notes=list(d["notes"]))


def prepare_purchase_beam(
    events,
    schema: EventSchema,
    out_dir,
    *,
    shards: int,
    max_length: int = 20,
    gap_minutes: float = 30.0,
    test_fraction: float = 0.3,
    test_from_ms: int | None = None,
    purchase_event: str = "purchase",
    dedupe: bool = True,
    strict: bool = False,
    pipeline_options=None,
    **read_options,
) -> dict:
    """``prepare_purchase`` with its per-file and per-partition work on Beam.

    Args:
        events: a file or a directory of part files.
        schema, shards, max_length, gap_minutes, test_fraction, test_from_ms,
            purchase_event, dedupe, strict, **read_options: as in
            ``prepare_purchase`` (``shards`` is required here).
        out_dir: output directory, on storage the workers can write.
        pipeline_options: ``apache_beam.options.pipeline_options.PipelineOptions``
            (default: the DirectRunner).

    Returns:
        The manifest, as ``prepare_purchase`` returns it.
    """
    import apache_beam as beam

    from ecomtf.data.event_reader import iter_event_chunks
    from ecomtf.data.event_reader import list_input_files

    out = pathlib.Path(out_dir)
    if out.exists():
        for old in list(out.glob("*.parquet")) + [out / MANIFEST]:
            old.unlink(missing_ok=True)
        shutil.rmtree(out / "_partitions", ignore_errors=True)
    parts = out / "_partitions"
    parts.mkdir(parents=True, exist_ok=True)
    files = list_input_files(events)
    source = os.path.basename(os.fspath(events).rstrip("/"))

    def read_file(item):
        index, path = item
        # Each file is read alone (in parallel on a runner).
        report = RejectReport(source=source)
        batch = 0
        for chunk in iter_event_chunks(path, schema, report, arrow_events=True,
                                       **read_options):
            for s, rows in split_by_partition(_chunk_table(chunk), chunk.user_id, shards):
                yield int(s), ((index, batch), _to_ipc(rows))
            batch += 1
        (parts / f"report-file-{index:05d}.json").write_text(json.dumps(_report_dict(report)))

    def build(item):
        import pyarrow as pa

        s, values = item
        values = sorted(values, key=lambda v: v[0])  # file order, then batch order
        table = pa.concat_tables([_from_ipc(v) for _, v in values])
        # The local path's per-partition step, on this worker.
        report, ex_report, times = build_partition(
            table, parts, s, dedupe=dedupe, gap_minutes=gap_minutes, max_length=max_length,
            purchase_event=purchase_event)
        np.save(parts / f"times-{s:05d}.npy", times)
        (parts / f"report-shard-{s:05d}.json").write_text(json.dumps(
            {"rows": _report_dict(report), "examples": _report_dict(ex_report)}))
        return s

    with beam.Pipeline(options=pipeline_options) as p:
        _ = (
            p
            | "files" >> beam.Create(list(enumerate(files)))
            | "read and partition" >> beam.FlatMap(read_file)
            | "group by partition" >> beam.GroupByKey()
            | "examples per partition" >> beam.Map(build)
        )

    # Reports merged in the local path's order: files in order, then
    # duplicates partition by partition.
    report = RejectReport(source=source)
    for i in range(len(files)):
        file_report = _report_from(json.loads((parts / f"report-file-{i:05d}.json").read_text()))
        report.merge(file_report)
    example_report = RejectReport(source="session_purchase_examples")
    times = []
    for s in range(shards):
        path = parts / f"report-shard-{s:05d}.json"
        if not path.exists():
            continue
        d = json.loads(path.read_text())
        dup = _report_from(d["rows"])
        dup.rows_read = 0  # rows were counted when read
        report.merge(dup)
        example_report.merge(_report_from(d["examples"]))
        times.append(np.load(parts / f"times-{s:05d}.npy"))
    return write_splits(out, shards, times, report, example_report, source=os.fspath(events),
                        max_length=max_length, gap_minutes=gap_minutes,
                        test_fraction=test_fraction, test_from_ms=test_from_ms, strict=strict)
