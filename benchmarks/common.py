"""Helpers shared by the benchmarks: where the public data is, how figures print."""

from __future__ import annotations

import os
import pathlib
import platform

REPO = pathlib.Path(__file__).resolve().parents[1]


def shared_data(*parts) -> pathlib.Path:
    """A path under ../shared/data (or $ECOMTF_SHARED_DATA); exits if absent."""
    env = os.environ.get("ECOMTF_SHARED_DATA")
    base = pathlib.Path(env) if env else REPO.parent / "shared" / "data"
    path = base.joinpath(*parts)
    if not path.exists():
        raise SystemExit(f"benchmark data not found: {path} (set ECOMTF_SHARED_DATA)")
    return path


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def print_table(title: str, rows: list[dict]) -> None:
    """Prints rows (dicts) as an aligned table; a key a row lacks is a blank cell."""
    print(f"\n{title}")
    if not rows:
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[_fmt(r[k]) if k in r else "" for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)))


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)
