"""Helpers shared by the benchmarks: where the public data is, how figures print."""

from __future__ import annotations

import os
import pathlib
import platform

import numpy as np

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


def paired_over_seeds(ours, baseline) -> dict:
    """Ours against a baseline, one figure per seed each (paired by seed).

    Returns the means, the mean difference, the seeds where ours is higher,
    and the two-sided p-values of a paired t-test and of Wilcoxon's
    signed-rank test (exact for few seeds) on the differences.
    """
    from scipy.stats import ttest_rel
    from scipy.stats import wilcoxon

    a, b = np.asarray(ours, np.float64), np.asarray(baseline, np.float64)
    diff = a - b
    out = {"seeds": len(a), "ours mean": float(a.mean()), "baseline mean": float(b.mean()),
           "mean diff": float(diff.mean()), "ours higher": f"{int((diff > 0).sum())}/{len(a)}"}
    if len(a) > 1 and np.any(diff != 0):
        out["t-test p"] = round(float(ttest_rel(a, b).pvalue), 4)
        out["wilcoxon p"] = round(float(wilcoxon(a, b).pvalue), 4)
    return out


def paired_bootstrap(ours, baseline, reps: int = 2000, seed: int = 0) -> dict:
    """Ours against a baseline on the same examples (per-example figures, paired).

    Returns the mean difference, its 95% bootstrap interval (examples
    resampled with ``numpy.random.default_rng(seed)``) and the two-sided
    bootstrap p-value of "no difference".
    """
    a, b = np.asarray(ours, np.float64), np.asarray(baseline, np.float64)
    diff = a - b
    rng = np.random.default_rng(seed)
    means = np.array([diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(reps)])
    p = 2 * min((means <= 0).mean(), (means >= 0).mean())
    return {"mean diff": float(diff.mean()), "95% CI": f"[{np.quantile(means, 0.025):+.4f}, "
            f"{np.quantile(means, 0.975):+.4f}]", "bootstrap p": round(float(min(p, 1.0)), 4)}
