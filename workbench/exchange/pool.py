"""A session pool that never waits for a session while holding its own lock.

exchangelib 5.6 answers ErrorServerBusy (and ErrorExceededConnectionCount) by shrinking the
session pool: ``BaseProtocol.decrease_poolsize`` takes the non-reentrant ``_session_pool_lock``
and then calls ``get_session``. When every session is checked out by another mailbox thread,
``get_session`` calls ``increase_poolsize``, which takes the same lock again: the thread deadlocks
on itself, and every other thread that is throttled blocks behind it (upstream issue
ecederstrand/exchangelib#1373, open). With ``max_concurrent_mailboxes`` > 1 a throttled sync then
hangs for ever.

The fix lives here, at the EWS backend's boundary, in a subclass used only by our own connections
(exchangelib is not patched globally): shrinking takes an *idle* session if there is one and
closes it; when all sessions are busy it does not shrink this time (the next ErrorServerBusy
will). The pool still backs off under throttling, and nothing waits under the lock.
"""
from __future__ import annotations

import logging
from queue import Empty

from exchangelib.errors import SessionPoolMinSizeReached
from exchangelib.protocol import Protocol

log = logging.getLogger("workbench.exchange")


class PoolSafeProtocol(Protocol):
    """exchangelib's Protocol whose pool shrink never blocks (see the module docstring)."""

    def decrease_poolsize(self) -> None:
        if self._session_pool_size <= 1:
            raise SessionPoolMinSizeReached("Session pool size cannot be decreased further")
        with self._session_pool_lock:
            if self._session_pool_size <= 1:
                return
            try:
                session = self._session_pool.get(block=False)
            except Empty:
                log.debug("Server %s: every session is busy; pool not shrunk this time", self.server)
                return
            self.close_session(session)
            self._session_pool_size -= 1
            log.info("Server %s: session pool decreased to %s", self.server, self._session_pool_size)
