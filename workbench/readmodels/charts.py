"""How the health notebook draws runs and failures: conventional colours, a bucket from the data's span.

Colours follow the convention people read without a legend: ok green, failed red, partial orange,
cancelled grey (a person's cancel is not a failure), died dark red, running blue.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from workbench.store import Store
from workbench.store.vocabulary import RunStatus

STATUS_COLOURS: dict[str, str] = {
    RunStatus.OK: "tab:green", RunStatus.PARTIAL: "tab:orange", RunStatus.FAILED: "tab:red",
    RunStatus.CANCELLED: "tab:gray", RunStatus.DIED: "darkred", RunStatus.RUNNING: "tab:blue",
}
#: candidate bucket sizes, smallest first, as ``runs_over_time(every=...)`` takes them
_BUCKETS = ((timedelta(minutes=5), "5 minutes"), (timedelta(minutes=15), "15 minutes"),
            (timedelta(hours=1), "1 hour"), (timedelta(hours=6), "6 hours"), (timedelta(days=1), "1 day"),
            (timedelta(weeks=1), "1 week"))


def colours(columns: list[str]) -> list[str]:
    """The colour of each status column, in order (for ``DataFrame.plot(color=...)``)."""
    return [STATUS_COLOURS.get(c, "tab:purple") for c in columns]


def bucket_for_span(span: timedelta, *, at_least: int = 6) -> str:
    """The largest bucket that still cuts ``span`` into ``at_least`` buckets (a short history is never
    one bar); the smallest bucket for a span shorter than that."""
    chosen = _BUCKETS[0][1]
    for size, label in _BUCKETS:
        if span / size >= at_least:
            chosen = label
    return chosen


def bucket_for(store: Store, *, include_dry_runs: bool = False) -> str:
    """``bucket_for_span`` over the runs in the store (their first to last start)."""
    where = "" if include_dry_runs else "WHERE NOT dry_run"
    first, last = store.rows(f"SELECT min(started_at), max(started_at) FROM sync_runs {where}")[0]
    span: Any = (last - first) if first is not None and last is not None else timedelta(0)
    return bucket_for_span(span)


def integer_ticks(ax: Any, axis: str = "y") -> Any:
    """Counts on ``axis`` ('x' for a horizontal bar chart) as whole numbers only (no 0.5 runs); returns ``ax``."""
    from matplotlib.ticker import MaxNLocator
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
    low, high = ax.get_xlim() if axis == "x" else ax.get_ylim()
    if high - low < 1:          # all zero (no retries yet): 0..1, not ticks around 0
        (ax.set_xlim if axis == "x" else ax.set_ylim)(0, 1)
    return ax
