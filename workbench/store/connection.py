"""Connection policy: open, one transaction, close; wait for other users of the file.

The dashboard, a notebook kernel, the CLI and the agent share one DuckDB file, so
nobody keeps it open between operations. DuckDB's own file lock is not enough on
its own (measured with DuckDB 2.0: processes cycling open/commit/close lost about
one write in a thousand, and inside one process a read-only connection beside a
read-write one is refused, while threads opening and closing connections at once
race). So every operation holds a gate for the whole life of its connection:

- across processes, an exclusive ``flock`` on ``<store>.lock`` (the holder's PID is
  written into it, for the STORE_BUSY message);
- within a process, one store operation at a time (re-entrant for nested use).

Waiting is bounded (``WORKBENCH_LOCK_TIMEOUT`` seconds, default 30) and then becomes
STORE_BUSY naming the holder; a DuckDB lock held by a foreign program (the duckdb
CLI, say) is retried the same way.

Files: while the gate is held the process umask is 077, so whatever DuckDB creates for the
store (the file, its ``.wal``, its spill directory) is born 0600/0700, as is ``<store>.lock``;
there is no chmod afterwards and so no moment the file is readable by others. DuckDB has no
mode option of its own, and an empty 0600 file made beforehand is refused by it as "not a
valid DuckDB database".

Faults are mapped here, once, for every command (see ``faults``): a damaged file is
STORE_CORRUPT, a full disk is DISK_FULL with the transaction rolled back and the file as it was.
"""
from __future__ import annotations

import fcntl
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
from workbench.store.faults import FileMark, store_fault

DEFAULT_LOCK_TIMEOUT = 30.0
_HOLDER_RE = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


def lock_timeout() -> float:
    return float(os.environ.get("WORKBENCH_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT))


def _backoff(delay: float) -> float:
    time.sleep(delay * (0.5 + random.random()))
    return min(delay * 2, 0.1)


class _Gate:
    """One store operation at a time in this process; an flock per store file across processes."""

    def __init__(self) -> None:
        self._thread_lock = threading.RLock()
        self._held: dict[Path, tuple[int, int]] = {}   # path -> (lock fd, nesting depth)
        self.held_seconds = 0.0                        # total time this process held a store (benches read it)

    @contextmanager
    def hold(self, path: Path, deadline: float) -> Iterator[None]:
        if not self._thread_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise WorkbenchError("STORE_BUSY", f"{path}: another thread of this process kept the store")
        umask = os.umask(0o077)
        try:
            fd, depth = self._held.get(path, (-1, 0))
            if depth == 0:
                fd = self._lock_file(path, deadline)
                since = time.perf_counter()
            self._held[path] = (fd, depth + 1)
            try:
                yield
            finally:
                fd, depth = self._held.pop(path)
                if depth > 1:
                    self._held[path] = (fd, depth - 1)
                else:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                    self.held_seconds += time.perf_counter() - since
        finally:
            os.umask(umask)
            self._thread_lock.release()

    @staticmethod
    def _lock_file(path: Path, deadline: float) -> int:
        lock_path = path.with_name(path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise WorkbenchError("STORE_UNREADABLE", f"{lock_path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _wait_for_flock(fd, path, deadline)
        try:        # the holder's name is for STORE_BUSY messages only: a full disk must not stop a read
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{Path(sys.argv[0]).name or 'python'} (PID {os.getpid()})".encode(), 0)
        except OSError:
            pass
        return fd


def _wait_for_flock(fd: int, path: Path, deadline: float) -> None:
    """Block in the kernel's queue for the lock (polling would starve behind a busy writer), bounded.

    A blocking flock cannot time out, so a helper thread waits; if the deadline passes first the
    helper is abandoned and releases the lock as soon as it gets it.
    """
    got = threading.Event()
    decided = threading.Lock()
    abandoned = False

    def wait() -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with decided:
            if abandoned:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            else:
                got.set()

    threading.Thread(target=wait, name="store-lock-wait", daemon=True).start()
    got.wait(max(0.0, deadline - time.monotonic()))
    with decided:
        if got.is_set():
            return
        abandoned = True
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
    raise WorkbenchError("STORE_BUSY", f"{path} is held by {holder}")


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
    with _GATE.hold(path, deadline):
        mark = FileMark.of(path)
        committed = False
        try:
            con = _connect(path, deadline)
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
    with _GATE.hold(Path(path), deadline):
        yield


def open_connection(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A bare connection (no transaction) with the errors mapped as for ``transaction``; the caller
    holds ``exclusive(path)`` (or the file is nobody's store, such as a backup) and closes it."""
    return _connect(Path(path), time.monotonic() + lock_timeout(), read_only=read_only)
