"""Connection policy: open, one transaction, close; retry lock conflicts.

DuckDB lets one process hold a database file open for writing. The dashboard,
a notebook kernel, the CLI and the agent share one file, so nobody keeps it
open between operations, and a lock conflict is retried with back-off for a
bounded time before it becomes a STORE_BUSY error naming the holder.
"""
from __future__ import annotations

import os
import random
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from workbench.errors import WorkbenchError

DEFAULT_LOCK_TIMEOUT = 30.0
_HOLDER_RE = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


def lock_timeout() -> float:
    return float(os.environ.get("WORKBENCH_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT))


def _is_lock_conflict(exc: Exception) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def open_connection(path: Path, *, read_only: bool = False,
                    timeout: float | None = None) -> duckdb.DuckDBPyConnection:
    """Open ``path``, retrying while another process holds the lock."""
    deadline = time.monotonic() + (lock_timeout() if timeout is None else timeout)
    delay = 0.005
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_conflict(exc):
                raise WorkbenchError("STORE_UNREADABLE", f"{path}: {exc}") from None
            if time.monotonic() >= deadline:
                match = _HOLDER_RE.search(str(exc))
                holder = f"{match.group(1)} (PID {match.group(2)})" if match else "another process"
                raise WorkbenchError("STORE_BUSY", f"{path} is held by {holder}") from None
        except duckdb.Error as exc:
            raise WorkbenchError("STORE_UNREADABLE", f"{path}: {exc}") from None
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.25)


@contextmanager
def transaction(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """One connection, one transaction: commit on success, roll back on error, always close."""
    con = open_connection(path, read_only=read_only)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.close()
