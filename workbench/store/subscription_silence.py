"""Subscription silence: the one rule for "this push subscription has gone quiet".

A subscription is last heard from at its creation or its latest notification / status ping, whichever is
later. It is silent when nothing was heard for more than twice notification_frequency_minutes (Exchange
pings every frequency minutes, so one lost ping is not yet silence). The watchdog re-creates a silent
subscription, the dashboard counts them as lapsed, and ``check`` counts the agent as running while one
subscription is not silent. ``is_silent`` (Python) and ``SILENT_SQL`` (on mailbox_state rows) are the
same rule; tests/agent/test_subscription_silence.py holds them together.
"""
from __future__ import annotations

from datetime import datetime, timedelta

#: when a mailbox_state row's subscription was last heard from (NULL: never subscribed)
LAST_HEARD_SQL = "greatest(subscribed_at, last_notification_at)"
#: a mailbox_state row's subscription is silent; the one parameter is ``silent_before(now, frequency)``
SILENT_SQL = f"({LAST_HEARD_SQL} IS NULL OR {LAST_HEARD_SQL} < ?)"


def silence_limit(frequency_minutes: int) -> timedelta:
    return timedelta(minutes=2 * frequency_minutes)


def silent_before(now: datetime, frequency_minutes: int) -> datetime:
    """A subscription last heard from before this time is silent at ``now``."""
    return now - silence_limit(frequency_minutes)


def last_heard(subscribed_at: datetime | None, last_notification_at: datetime | None) -> datetime | None:
    stamps = [s for s in (subscribed_at, last_notification_at) if s is not None]
    return max(stamps) if stamps else None


def is_silent(heard: datetime | None, now: datetime, frequency_minutes: int) -> bool:
    return heard is None or heard < silent_before(now, frequency_minutes)
