"""Command-line flags shared by recipes: how a shop's event log maps onto ecomtf."""

from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` to a flag's help unless the help already
    names its default (``(default 20)``) or there is nothing to say (no
    default, or a false switch), so no default is printed twice."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or "%(default)" in text:
            return text
        if action.default is None or action.default is argparse.SUPPRESS or action.default is False:
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text + " (default: %(default)s)"
        return text


def add_event_log_arguments(parser: argparse.ArgumentParser) -> None:
    """Column- and event-mapping flags for ``--events`` files."""
    g = parser.add_argument_group(
        "event log mapping (--events)",
        "Map your file's columns by name, or by 0-based position with --no-header.",
    )
    g.add_argument("--user-col", default="user_id")
    g.add_argument("--item-col", default="item_id")
    g.add_argument("--event-col", default="event_type",
                   help="event type column; '' if every row is a view")
    g.add_argument("--time-col", default="timestamp")
    g.add_argument("--session-col", default=None, help="session id column (else sessions by inactivity gap)")
    g.add_argument("--quantity-col", default=None)
    g.add_argument("--price-col", default=None)
    g.add_argument("--extra-cols", default="", help="comma-separated columns to keep")
    g.add_argument("--event-map", default="",
                   help="raw=canonical event names, e.g. pv=view,cart=cart,buy=purchase "
                        "(names not listed are rejected and counted)")
    g.add_argument("--delimiter", default=None, help="field separator (default: sniffed)")
    g.add_argument("--no-header", action="store_true", help="the file has no header row")
    g.add_argument("--timestamp-format", default="auto",
                   help="auto | iso | unix_s | unix_ms | date | a strptime pattern")
    g.add_argument("--timezone", default="UTC", help="zone of timestamps without an offset")
    g.add_argument("--encoding", default="utf-8")
    g.add_argument("--strict", action="store_true", help="fail on any rejected row instead of reporting it")


def schema_from_args(args):
    from ecomtf.data import EventSchema
    from ecomtf.data import parse_mapping

    return EventSchema(
        user=args.user_col,
        item=args.item_col,
        event_type=args.event_col or None,
        timestamp=args.time_col,
        session=args.session_col,
        quantity=args.quantity_col,
        price=args.price_col,
        extra=tuple(c for c in args.extra_cols.split(",") if c),
        event_types=parse_mapping(args.event_map) or None,
        timestamp_format=args.timestamp_format,
        timezone=args.timezone,
    )


def test_from_ms_from_args(args) -> int | None:
    """``--test-from`` (a time, read in ``--timezone``) as epoch ms, or ``None``."""
    if not args.test_from:
        return None
    from ecomtf.data import parse_timestamps

    ts, ok = parse_timestamps([args.test_from], timezone=args.timezone)
    if not ok[0]:
        raise SystemExit(f"--test-from: cannot parse {args.test_from!r}")
    return int(ts[0])


def read_event_log_from_args(args):
    """``(EventLog, RejectReport)`` for ``--events`` and the mapping flags."""
    from ecomtf.data import DataValidationError
    from ecomtf.data import read_events

    log, report = read_events(
        args.events,
        schema_from_args(args),
        delimiter=args.delimiter,
        header=False if args.no_header else "auto",
        encoding=args.encoding,
        strict=args.strict,
    )
    if report.rows_kept == 0:
        # Nothing to train on; say so here instead of failing deep in a recipe.
        raise DataValidationError(
            f"{args.events}: no row was kept (check --event-map and the column flags)\n{report}"
        )
    return log, report
