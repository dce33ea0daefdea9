"""The agent's event log: one line per event, text or JSON lines, and the field formats its events share."""
from __future__ import annotations

import json
import sys
import threading
from typing import Any, Callable, TextIO

from workbench.store import now as utc_now


class EventLog:
    """One line per event: ``2026-03-02T10:15:00Z event key=value ...`` or JSON lines (``json=True``)."""

    def __init__(self, stream: TextIO | None = None, *, json_lines: bool = False,
                 sink: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.json = json_lines
        self.sink = sink
        self._lock = threading.Lock()

    def __call__(self, event: str, **fields: Any) -> None:
        stamp = utc_now().isoformat(timespec="seconds") + "Z"
        record = {"time": stamp, "event": event, **{k: v for k, v in fields.items() if v is not None}}
        if self.json:
            line = json.dumps(record, default=str)
        else:
            parts = [stamp, event] + [f"{k}={_fmt(v)}" for k, v in record.items() if k not in ("time", "event")]
            line = " ".join(parts)
        with self._lock:
            if self.sink is not None:
                self.sink(record)
            if self.stream is not None:
                print(line, file=self.stream, flush=True)


Log = Callable[..., None]


def _fmt(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text


def short(sid: str | None) -> str | None:
    """A subscription id as the log shows it (its first 12 characters)."""
    return None if sid is None else (sid if len(sid) <= 12 else sid[:12] + "…")


def result_fields(result: Any) -> dict[str, Any]:
    """The run id and counts of an engine RunResult, for ``sync-done``."""
    if result is None:
        return {}
    out: dict[str, Any] = {}
    for name in ("run_id", "status", "planned", "done", "failed"):
        value = getattr(result, name, None)
        if value is None and isinstance(result, dict):
            value = result.get(name)
        if value is not None and not callable(value):
            out[name] = value
    return out
