"""The ``flock`` files beside a store: taking one with a bounded wait, and seeing whether another holds one.

``<store>.lock`` is held for one store operation, ``<store>.open`` while a process has the DuckDB file
open, ``<store>.want`` (shared) while a process waits for ``<store>.open`` and ``<store>.queue`` (shared)
while it waits for ``<store>.lock`` (see ``connection`` and ``kept_open``). The holder's name and PID are
written into the first two, for STORE_BUSY messages.

Taking ``<store>.lock`` is courteous: while another process is queued for it, a process lets it go first
(at most ``COURTESY_SECONDS``). The kernel wakes a queued waiter when the lock is let go but does not hand
it over, so a process running operation after operation (a preview loop) would otherwise win nearly every
race for the lock it has just let go, and the waiter (the agent booking a pushed contact) waits behind many
of its operations instead of one.
"""
from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from pathlib import Path

from workbench.errors import WorkbenchError

COURTESY_SECONDS = 0.05

def beside(path: Path, suffix: str) -> Path:
    """``<store><suffix>``: the store's lock files (``.lock``, ``.open``)."""
    return path.with_name(path.name + suffix)


def _open(lock_path: Path) -> int:
    try:
        return os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise WorkbenchError("STORE_UNREADABLE", f"{lock_path}: {exc.strerror}") from None


def take(lock_path: Path, store: Path, deadline: float, *, announce: Path | None = None,
         courteous: bool = False) -> int:
    """An exclusive flock on ``lock_path`` (created 0600), waiting until ``deadline``; returns its fd.
    ``announce``: a file held shared while waiting, so that the holder can see someone waits;
    ``courteous``: first let a process waiting on ``announce`` go (see the module's docstring)."""
    if courteous and announce is not None:
        _let_queued_go_first(announce, deadline)
    fd = _open(lock_path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        bell = _open(announce) if announce is not None else -1
        try:
            if bell >= 0:
                fcntl.flock(bell, fcntl.LOCK_SH)
            _wait_for_flock(fd, store, deadline)
        finally:
            if bell >= 0:
                os.close(bell)
    try:        # the holder's name is for STORE_BUSY messages only: a full disk must not stop a read
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{Path(sys.argv[0]).name or 'python'} (PID {os.getpid()})".encode(), 0)
    except OSError:
        pass
    return fd


def _let_queued_go_first(bell: Path, deadline: float) -> None:
    """Wait while another process holds ``bell`` (it waits for the lock), at most ``COURTESY_SECONDS``."""
    try:
        fd = os.open(bell, os.O_RDWR)
    except OSError:         # nobody ever waited (or it cannot be read: then take() reports the lock file)
        return
    try:
        end = min(deadline, time.monotonic() + COURTESY_SECONDS)
        while held_elsewhere(fd) and time.monotonic() < end:
            time.sleep(0.001)
    finally:
        os.close(fd)


def release(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def probe(lock_path: Path) -> int:
    """An fd of ``lock_path`` (created 0600) for ``held_elsewhere``."""
    return _open(lock_path)


def held_elsewhere(probe_fd: int) -> bool:
    """Whether another open file description holds a flock on the file of ``probe_fd`` (its own open)."""
    try:
        fcntl.flock(probe_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(probe_fd, fcntl.LOCK_UN)
    return False


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
