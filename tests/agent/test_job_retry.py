"""The agent's job retry uses the one back-off rule (workbench.retry.RetryPolicy.delay): the server's hint
when the error has one, else 30 s doubling, capped at the notification frequency; permanent errors wait."""
from __future__ import annotations

from datetime import datetime, timedelta

from workbench.agent.retries import JobRetries
from workbench.errors import WorkbenchError

T = datetime(2026, 3, 2, 10, 0, 0)


def waits(retries: JobRetries, err: WorkbenchError, n: int, frequency: int = 5) -> list[float | None]:
    out = []
    for _ in range(n):
        due = retries.schedule("OP-1", "incremental", err, T, frequency)
        out.append(None if due is None else (due - T).total_seconds())
    return out


def test_transient_failures_wait_30_s_doubling_up_to_the_notification_frequency():
    assert waits(JobRetries(), WorkbenchError("EWS_SERVER_ERROR", "503"), 6) == [30, 60, 120, 240, 300, 300]


def test_the_server_back_off_hint_is_the_wait():
    assert waits(JobRetries(), WorkbenchError("EWS_THROTTLED", "busy", back_off=7.5), 2) == [7.5, 7.5]


def test_a_permanent_failure_is_not_retried():
    retries = JobRetries()
    assert waits(retries, WorkbenchError("EWS_AUTH_REJECTED", "no"), 1) == [None]
    assert retries.take_due(T + timedelta(days=1)) == []


def test_a_due_retry_is_taken_once_and_a_success_starts_the_count_again():
    retries = JobRetries()
    err = WorkbenchError("EWS_SERVER_ERROR", "503")
    retries.schedule("OP-1", "full", err, T, 30)
    assert retries.take_due(T + timedelta(seconds=29)) == []
    assert retries.take_due(T + timedelta(seconds=30)) == [("OP-1", "full")]
    assert retries.take_due(T + timedelta(hours=1)) == []          # not again until that attempt reports
    retries.succeeded("OP-1")
    assert waits(retries, err, 1, 30) == [30]
