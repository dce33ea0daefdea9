"""How the dashboard writes values: times, ages, cells, an error's headline.

Headless on purpose (no textual import; a test checks it). What the screens show comes from
``workbench.readmodels``, the read models the notebooks use too.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from workbench.errors import WorkbenchError

Clock = Callable[[], datetime]


# --- formatting shared by screens -------------------------------------------------

def fmt_time(value: Any) -> str:
    if value is None or value != value:  # None or NaT/NaN
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def fmt_ago(value: Any, clock_now: datetime) -> str:
    """'3m ago' relative to the injected clock (so frozen time gives fixed text)."""
    if value is None or value != value or not isinstance(value, datetime):
        return "never"
    seconds = int((clock_now - value).total_seconds())
    if seconds < 0:
        return "in " + _span(-seconds)
    return _span(seconds) + " ago"


def _span(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d"


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:
            return ""
        return f"{value:.2f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return fmt_time(value)
    return str(value)


def fit(text: str, width: int | None) -> str:
    """``text`` cut to a column of ``width`` with an ellipsis, so a cut value never reads as a whole one."""
    if width is None or len(text) <= width:
        return text
    return text[:max(0, width - 1)] + "…"


def error_headline(exc: BaseException) -> str:
    """`CODE: title — remedy` for a WorkbenchError; a short line for anything else."""
    if isinstance(exc, WorkbenchError):
        return exc.headline()
    from workbench.secrets import redact
    return f"INTERNAL: unexpected {type(exc).__name__} — {redact(str(exc))}"


def store_label(path: Path) -> str:
    """Which store is open, for the header: 'demo · ' for a demo store, the path relative to the working
    directory when it is inside it, else absolute."""
    from workbench.demo import is_demo_store
    path = Path(path).absolute()
    try:
        shown = str(path.relative_to(Path.cwd()))
    except ValueError:
        shown = str(path)
    return ("demo · " if is_demo_store(path) else "") + f"store {shown}"
