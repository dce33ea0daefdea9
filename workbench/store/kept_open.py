"""The store file as this process holds it, and keeping it open for a run (a store session).

Opening the DuckDB file costs ~20 ms (DuckDB loads its catalogue; 0.1-0.2 s on a loaded machine), and a
sync run makes dozens of store operations. Within ``session(path)`` the process keeps one connection
(the anchor) open and each operation works in a cursor of it. Each operation still holds the gate
(``<store>.lock``) for its whole life, as without a session.

No other process can open the file while it is open here, so whoever has it open holds
``<store>.open``: an operation takes it after ``<store>.lock`` and, without a session, lets it go after
its close; while it waits for ``<store>.open`` it holds ``<store>.want`` shared. Between operations a
kept file holds no gate, and a watcher thread looks every ``POLL_SECONDS`` whether anyone holds
``<store>.want``; if so it closes the anchor and lets ``<store>.open`` go, and the next operation here
opens the file again. So another process waits for a file kept open here at most one poll and one
close longer than it waits for the operation in progress, and never across this process's network I/O.
"""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import duckdb

from workbench.errors import WorkbenchError
from workbench.store.file_locks import beside, held_elsewhere, probe, release, take

POLL_SECONDS = 0.005


@dataclass(eq=False)
class OpenFile:
    """One store file in this process. ``mutex`` guards the fields against the watcher; ``depth`` > 0 while
    an operation holds the gate (the watcher then leaves the file alone)."""
    path: Path
    mutex: threading.Lock = field(default_factory=threading.Lock)
    depth: int = 0
    lock_fd: int = -1                       # <store>.lock, during an operation
    open_fd: int = -1                       # <store>.open, while the file is open here
    anchor: duckdb.DuckDBPyConnection | None = None
    sessions: int = 0
    probe_fd: int = -1                      # the watcher's own open of <store>.want

    def begin(self, lock_fd: int, deadline: float, *, keep: bool) -> None:
        """The outer level of an operation, ``<store>.lock`` taken: make sure ``<store>.open`` is held too.
        ``keep=False``: close a kept anchor first (for work that opens the file on its own)."""
        with self.mutex:
            self.depth, self.lock_fd = 1, lock_fd
            if not keep:
                self.close()
            if self.open_fd >= 0:
                return
        try:
            self.open_fd = take(beside(self.path, ".open"), self.path, deadline,
                                announce=beside(self.path, ".want"))
        except BaseException:
            self.end()
            raise

    def nest(self) -> None:
        with self.mutex:
            self.depth += 1

    def end(self) -> bool:
        """Leave one level; at the outer one the file is closed unless a session keeps it, and the gate is
        let go. Returns whether that was the outer level."""
        with self.mutex:
            self.depth -= 1
            if self.depth:
                return False
            if not (self.sessions and self.anchor is not None):
                self.close()
            fd, self.lock_fd = self.lock_fd, -1
            release(fd)
            return True

    def connection(self, connect: Callable[[], duckdb.DuckDBPyConnection]) -> duckdb.DuckDBPyConnection:
        """The operation's own connection (the caller closes it): in a session a cursor of the anchor,
        which is opened now if need be."""
        if not self.sessions:
            return connect()
        if self.anchor is None:
            self.anchor = connect()
        return self.anchor.cursor()

    def drop_kept(self) -> None:
        """After a failed operation: close the anchor unless an outer operation of this thread still uses it."""
        if self.depth == 1:
            self.close()

    def close(self) -> None:
        """Close the anchor, if any, and let ``<store>.open`` go (mutex held, or inside the operation)."""
        if self.anchor is not None:
            anchor, self.anchor = self.anchor, None
            try:
                anchor.close()
            except duckdb.Error:     # its commits are in the WAL already; the next open replays it
                pass
        if self.open_fd >= 0:
            fd, self.open_fd = self.open_fd, -1
            release(fd)

    def yield_if_wanted(self) -> None:
        """Watcher: between operations, close a kept file when another process waits to open it."""
        with self.mutex:
            if self.depth or self.anchor is None:
                return
            try:
                if self.probe_fd < 0:
                    self.probe_fd = probe(beside(self.path, ".want"))
                wanted = held_elsewhere(self.probe_fd)
            except (OSError, WorkbenchError):    # nobody could ring: do not keep the file
                wanted = True
            if wanted:
                self.close()

    def leave_session(self) -> None:
        with self.mutex:
            self.sessions -= 1
            if self.sessions:
                return
            if self.depth == 0:
                self.close()
            if self.probe_fd >= 0:
                os.close(self.probe_fd)
                self.probe_fd = -1


class _Files:
    """Every store file of this process (by absolute path), and the watcher thread while any is in a session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[Path, OpenFile] = {}
        self._watching = False

    def get(self, path: Path) -> OpenFile:
        key = Path(os.path.abspath(path))
        with self._lock:
            return self._files.setdefault(key, OpenFile(key))

    @contextmanager
    def session(self, path: Path) -> Iterator[None]:
        f = self.get(path)
        with f.mutex:
            f.sessions += 1
        with self._lock:
            if not self._watching:
                self._watching = True
                threading.Thread(target=self._watch, name="store-keep-open", daemon=True).start()
        try:
            yield
        finally:
            f.leave_session()

    def _watch(self) -> None:
        while True:
            with self._lock:
                kept = [f for f in self._files.values() if f.sessions]
                if not kept:
                    self._watching = False
                    return
            for f in kept:
                f.yield_if_wanted()
            time.sleep(POLL_SECONDS)


FILES = _Files()
