"""Connection policy: one transaction per operation under a gate; wait for other users of the file.

The dashboard, a notebook kernel, the CLI and the agent share one DuckDB file, so
nobody keeps it open for longer than it works in it. DuckDB's own file lock is not enough on
its own (measured with DuckDB 2.0: processes cycling open/commit/close lost about
one write in a thousand, and inside one process a read-only connection beside a
read-write one is refused, while threads opening and closing connections at once
race). So every operation holds a gate for the whole life of its connection:

- across processes, an exclusive ``flock`` on ``<store>.lock`` (the holder's PID is
  written into it, for the STORE_BUSY message; a process queued for it goes first, see
  ``file_locks``), and on ``<store>.open`` while the file is open;
- within a process, one store operation at a time (re-entrant for nested use).

An operation opens the file and closes it, unless a ``session`` (a sync run) keeps it open
between its operations; another process that wants the gate then gets the file within a few
milliseconds (``kept_open``).

Waiting is bounded (``WORKBENCH_LOCK_TIMEOUT`` seconds, default 30) and then becomes
STORE_BUSY naming the holder; a DuckDB lock held by a foreign program (the duckdb
CLI, say) is retried the same way.

Files: while the gate is held the process umask is 077, so whatever DuckDB creates for the
store (the file, its ``.wal``, its spill directory) is born 0600/0700, as are ``<store>.lock``
and ``<store>.open``; there is no chmod afterwards and so no moment the file is readable by others.
DuckDB has no mode option of its own, and an empty 0600 file made beforehand is refused by it as
"not a valid DuckDB database".

Faults are mapped here, once, for every command (see ``faults``): a damaged file is
STORE_CORRUPT, a full disk is DISK_FULL with the transaction rolled back and the file as it was.
"""
from __future__ import annotations

import os
import random
import re
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from workbench.errors import WorkbenchError
from workbench.store import file_locks
from workbench.store.faults import FileMark, store_fault
from workbench.store.kept_open import FILES, OpenFile

DEFAULT_LOCK_TIMEOUT = 30.0
# While this process holds the store the interpreter offers the GIL to a waiting thread every 0.1 ms, not 5.
# Every DuckDB call and file operation releases the GIL (and DuckDB's Python client takes it back between a
# statement's execution tasks), and beside CPU-bound threads (exchangelib building XML) the holder waited for
# it each time, while every other user of the store waited for the holder. Measured: four statements beside
# three busy threads, 187 ms at 5 ms -> 50 ms at 0.5 ms; one 500-item booking (6 statements, 62 ms alone)
# beside four busy threads 603 ms at 5 ms, 168 ms at 0.5 ms, 115 ms at 0.1 ms.
HOLDER_SWITCH_SECONDS = 0.0001
_HOLDER_RE = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


def lock_timeout() -> float:
    return float(os.environ.get("WORKBENCH_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT))


def _backoff(delay: float) -> float:
    time.sleep(delay * (0.5 + random.random()))
    return min(delay * 2, 0.1)


class _Gate:
    """One store operation at a time in this process; ``<store>.lock`` and ``<store>.open`` across processes
    (see ``kept_open``)."""

    def __init__(self) -> None:
        self._thread_lock = threading.RLock()
        self.held_seconds = 0.0                        # total time this process held a store (benches read it)

    @contextmanager
    def hold(self, path: Path, deadline: float, *, keep: bool = True) -> Iterator[OpenFile]:
        if not self._thread_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise WorkbenchError("STORE_BUSY", f"{path}: another thread of this process kept the store")
        umask = os.umask(0o077)
        try:
            f = FILES.get(path)
            if f.depth:
                f.nest()
            else:
                f.begin(file_locks.take(file_locks.beside(path, ".lock"), path, deadline,
                                        announce=file_locks.beside(path, ".queue"), courteous=True),
                        deadline, keep=keep)
            since, switch = time.perf_counter(), sys.getswitchinterval()
            sys.setswitchinterval(min(switch, HOLDER_SWITCH_SECONDS))
            try:
                yield f
            finally:
                if f.end():
                    self.held_seconds += time.perf_counter() - since
                sys.setswitchinterval(switch)
        finally:
            os.umask(umask)
            self._thread_lock.release()


_GATE = _Gate()


def held_seconds() -> float:
    """Seconds this process has held a store so far (every operation, from its lock to its close)."""
    return _GATE.held_seconds


def _connect(path: Path, deadline: float, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    delay = 0.005
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "Could not set lock" not in text and "Conflicting lock" not in text:
                raise _open_error(exc, path) from None
            if time.monotonic() >= deadline:
                match = _HOLDER_RE.search(text)
                holder = f"{match.group(1)} (PID {match.group(2)})" if match else "another program"
                raise WorkbenchError("STORE_BUSY", f"{path} is held by {holder}") from None
        except duckdb.Error as exc:
            raise _open_error(exc, path) from None
        delay = _backoff(delay)


def _open_error(exc: duckdb.Error, path: Path) -> WorkbenchError:
    return store_fault(exc, path) or WorkbenchError("STORE_UNREADABLE", f"{path}: {exc}")


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:        # DuckDB may have ended it already (a fatal error): keep the first error
        pass


@contextmanager
def transaction(path: Path, *, timeout: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """One connection, one transaction: commit on success, roll back on error, always close.

    A damaged file or a full disk becomes STORE_CORRUPT / DISK_FULL; after a full disk the file is
    put back as it was (see ``faults.FileMark``).
    """
    path = Path(path)
    deadline = time.monotonic() + (lock_timeout() if timeout is None else timeout)
    with _GATE.hold(path, deadline) as held:
        mark = FileMark.of(path)
        committed = False
        try:
            con = held.connection(lambda: _connect(path, deadline))
            try:
                con.execute("BEGIN TRANSACTION")
                try:
                    yield con
                except BaseException:
                    _rollback(con)
                    raise
                con.execute("COMMIT")
                committed = True
            finally:
                con.close()
        except (duckdb.Error, OSError, WorkbenchError) as exc:
            held.drop_kept()        # a kept file is opened afresh after a failure
            fault = exc if isinstance(exc, WorkbenchError) else store_fault(exc, path)
            if fault is not None and fault.code == "DISK_FULL" and not committed:
                mark.undo_growth()
            if fault is None or fault is exc:
                raise
            raise fault from None


@contextmanager
def exclusive(path: Path, *, timeout: float | None = None) -> Iterator[None]:
    """The store gate alone, for maintenance that opens its own connections (``open_connection``)
    or handles the file itself (backup, restore) while no other workbench process can use it."""
    deadline = time.monotonic() + (lock_timeout() if timeout is None else timeout)
    with _GATE.hold(Path(path), deadline, keep=False):
        yield


@contextmanager
def session(path: Path) -> Iterator[None]:
    """Keep the store open in this process for several operations (a run); see ``kept_open``."""
    with FILES.session(Path(path)):
        yield


def open_connection(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A bare connection (no transaction) with the errors mapped as for ``transaction``; the caller
    holds ``exclusive(path)`` (or the file is nobody's store, such as a backup) and closes it."""
    return _connect(Path(path), time.monotonic() + lock_timeout(), read_only=read_only)
