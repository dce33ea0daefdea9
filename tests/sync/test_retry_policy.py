"""The one retry policy: back-off from the error, the deadline, cancel, permanent errors."""
from __future__ import annotations

import pytest

from workbench.errors import WorkbenchError
from workbench.retry import CancelToken, RetryPolicy, RetryStopped


class FakeTime:
    """A clock and a cancel token whose waits advance the clock instead of sleeping."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def token(self) -> CancelToken:
        fake = self

        class Token(CancelToken):
            def wait(self, seconds: float) -> bool:
                fake.waits.append(seconds)
                fake.now += seconds
                return self.cancelled
        return Token()


def failing(codes: list[WorkbenchError], result: str = "done"):
    calls: list[int] = []

    def attempt(n: int) -> str:
        calls.append(n)
        if codes:
            raise codes.pop(0)
        return result
    return attempt, calls


def test_server_hint_is_honoured_then_exponential_back_off():
    t = FakeTime()
    policy = RetryPolicy(deadline=t.now + 60, clock=t.clock, cancel=t.token())
    attempt, calls = failing([WorkbenchError("EWS_THROTTLED", "busy", back_off=2.5),
                              WorkbenchError("EWS_UNREACHABLE", "down"), WorkbenchError("EWS_UNREACHABLE", "down")])
    seen = []
    assert policy.call(attempt, on_retry=seen.append) == "done"
    assert calls == [0, 1, 2, 3]
    assert t.waits == [2.5, 0.2 * 2, 0.2 * 4]
    assert [r.hinted for r in seen] == [True, False, False]


def test_a_permanent_error_is_raised_at_once():
    t = FakeTime()
    policy = RetryPolicy(deadline=t.now + 60, clock=t.clock, cancel=t.token())
    attempt, calls = failing([WorkbenchError("EWS_AUTH_REJECTED", "no")])
    with pytest.raises(WorkbenchError) as err:
        policy.call(attempt)
    assert err.value.code == "EWS_AUTH_REJECTED" and calls == [0] and t.waits == []


def test_the_last_wait_is_cut_to_the_deadline_and_nothing_waits_past_it():
    t = FakeTime()
    policy = RetryPolicy(deadline=t.now + 3, clock=t.clock, cancel=t.token())
    attempt, calls = failing([WorkbenchError("EWS_THROTTLED", "busy", back_off=10)] * 5)
    with pytest.raises(RetryStopped) as stop:
        policy.call(attempt)
    assert stop.value.reason == "deadline" and stop.value.last.code == "EWS_THROTTLED"
    assert t.waits == [3.0] and calls == [0, 1]
    assert t.now == 103.0


def test_a_cancel_ends_the_wait_and_no_try_starts_after_it():
    t = FakeTime()
    token = t.token()
    policy = RetryPolicy(deadline=None, clock=t.clock, cancel=token)

    def attempt(n: int) -> None:
        token.cancel()
        raise WorkbenchError("EWS_THROTTLED", "busy")
    with pytest.raises(RetryStopped) as stop:
        policy.call(attempt)
    assert stop.value.reason == "cancelled" and len(t.waits) == 1
    with pytest.raises(RetryStopped):
        policy.call(lambda n: pytest.fail("a try started after the cancel"))

