"""Fixtures for the agent: a sandbox with short "minutes" (status pings) and request capture, a configured
and verified store, and a running Agent driven by a ManualClock."""
from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any, Callable, Iterator

import pytest

MINUTE = 0.5          # sandbox seconds per StatusFrequency minute
T0 = datetime(2026, 3, 2, 10, 1, 0)


@pytest.fixture
def sandbox(make_sandbox):
    """Overrides the shared fixture: short minutes, bodies captured (to read the request log in detail)."""
    return make_sandbox(status_minute_seconds=MINUTE, capture=True)


def started_for(event: dict, reason: str) -> bool:
    """A ``sync-start`` whose reasons include ``reason``: a job submitted while another ran is coalesced into
    its follow-up, whose ``why`` joins every reason with commas ("notification,lifecycle:missed")."""
    return reason in event.get("why", "").split(",")


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy (returns it) or ``timeout`` seconds pass (returns the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class RunningAgent:
    def __init__(self, store, clock, **option_overrides: Any) -> None:
        from workbench.agent.runner import Agent, AgentOptions, EventLog
        self.events: list[dict] = []
        self.lock = threading.Lock()
        options = AgentOptions(poll_seconds=0.05, **option_overrides)
        self.agent = Agent(store, clock=clock, log=EventLog(stream=None, sink=self._sink), options=options)
        self.thread: threading.Thread | None = None

    def _sink(self, record: dict) -> None:
        with self.lock:
            self.events.append(record)

    def named(self, event: str) -> list[dict]:
        with self.lock:
            return [e for e in self.events if e["event"] == event]

    def start(self) -> "RunningAgent":
        self.agent.start()
        self.thread = threading.Thread(target=self.agent.run, name="test-agent", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.agent.request_stop()
        if self.thread is not None:
            self.thread.join(timeout=30)
        self.agent.close()


@pytest.fixture
def verified_env(exchange_env):
    """exchange_env with every enabled operator verified (OP-004 and OP-005 verify ok in the demo seed)."""
    from workbench.operators.verify import verify_operators
    checks = verify_operators(exchange_env.store)
    assert {c.operator_id for c in checks if c.ok} >= {"OP-004", "OP-005"}
    # loading the seed (operators and contacts imports) queued sync requests; these tests start from an empty
    # queue so that every request they see is one they made (tests/operators checks the queuing itself)
    with exchange_env.store.write() as con:
        con.execute("DELETE FROM sync_requests")
    return exchange_env


@pytest.fixture
def run_agent(verified_env) -> Iterator[Callable[..., RunningAgent]]:
    from workbench.agent.scheduler import ManualClock
    started: list[RunningAgent] = []

    def start(clock=None, **options: Any) -> RunningAgent:
        ra = RunningAgent(verified_env.store, clock or ManualClock(T0), **options).start()
        started.append(ra)
        return ra

    yield start
    for ra in started:
        ra.stop()
