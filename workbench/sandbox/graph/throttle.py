"""Exchange Online's limits for Graph mail/contacts calls, per app per mailbox: at most 4 requests in
flight (MailboxConcurrency) and 10,000 requests per 10 minutes, answered 429 with Retry-After."""
from __future__ import annotations

import collections
import contextlib
import math
import threading
import time
from typing import Iterator

from .wire import GraphError

CONCURRENCY = 4
WINDOW_REQUESTS = 10_000
WINDOW_SECONDS = 600.0


class Throttle:
    def __init__(self, concurrency: int = CONCURRENCY, window_requests: int = WINDOW_REQUESTS,
                 window_seconds: float = WINDOW_SECONDS):
        self.concurrency, self.window_requests, self.window_seconds = concurrency, window_requests, window_seconds
        self._lock = threading.Lock()
        self._in_flight: collections.Counter[tuple[str, str]] = collections.Counter()
        self._recent: dict[tuple[str, str], collections.deque[float]] = {}

    def configure(self, concurrency: int | None = None, window_requests: int | None = None,
                  window_seconds: float | None = None) -> None:
        with self._lock:
            if concurrency is not None:
                self.concurrency = int(concurrency)
            if window_requests is not None:
                self.window_requests = int(window_requests)
            if window_seconds is not None:
                self.window_seconds = float(window_seconds)

    @contextlib.contextmanager
    def admit(self, client_id: str, mailbox: str) -> Iterator[None]:
        """Hold one in-flight slot for the request, or raise 429 the way Exchange Online does."""
        key = (client_id, mailbox)
        now = time.monotonic()
        with self._lock:
            recent = self._recent.setdefault(key, collections.deque())
            while recent and recent[0] <= now - self.window_seconds:
                recent.popleft()
            if len(recent) >= self.window_requests:
                wait = max(1, math.ceil(recent[0] + self.window_seconds - now))
                raise GraphError(429, "ApplicationThrottled", "Application is over its MailboxRequests limit "
                                 f"({self.window_requests} requests per {self.window_seconds:g} seconds).",
                                 {"Retry-After": str(wait)})
            if self._in_flight[key] >= self.concurrency:
                raise GraphError(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.",
                                 {"Retry-After": "1"})
            recent.append(now)
            self._in_flight[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[key] -= 1
