"""The subscription watchdog: which mailboxes need a push subscription created, re-created or ended.

Pure: it compares the wanted set (enabled, verified operators) and the settings with what
``mailbox_state`` holds, at a given ``now``. The runner carries the decisions out through
``workbench.exchange.subscriptions``.

Rules:
- an enabled, verified operator without a subscription gets one (``new``);
- a subscription silent for more than twice notification_frequency_minutes (no notification nor status
  ping since then, counted from its creation when nothing arrived) is re-created (``silent``);
- a subscription made for another notification_url or frequency is re-created (``settings``);
- a subscription of an operator who is no longer enabled or verified is ended (``disabled``): it is
  cleared from mailbox_state and its next notification is answered Unsubscribe.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Mapping


@dataclass(frozen=True)
class SubscriptionRecord:
    """A mailbox_state row, as far as the watchdog cares."""
    operator_id: str
    subscription_id: str | None = None
    subscribed_at: datetime | None = None
    last_notification_at: datetime | None = None
    subscription_url: str | None = None
    subscription_frequency: int | None = None

    def last_heard(self) -> datetime | None:
        stamps = [s for s in (self.subscribed_at, self.last_notification_at) if s is not None]
        return max(stamps) if stamps else None


@dataclass(frozen=True)
class SubscriptionAction:
    operator_id: str
    action: str            # subscribe, resubscribe, drop
    reason: str            # new, silent, settings, disabled
    old_subscription_id: str | None = None


def silence_limit(frequency_minutes: int) -> timedelta:
    return timedelta(minutes=2 * frequency_minutes)


def is_silent(record: SubscriptionRecord, now: datetime, frequency_minutes: int) -> bool:
    heard = record.last_heard()
    return heard is None or now - heard > silence_limit(frequency_minutes)


def plan_subscriptions(wanted: Iterable[str], records: Mapping[str, SubscriptionRecord], now: datetime, *,
                       url: str, frequency_minutes: int) -> list[SubscriptionAction]:
    """The actions that bring subscriptions in line with ``wanted`` operator ids, in operator order."""
    wanted_set = set(wanted)
    actions: list[SubscriptionAction] = []
    for op in sorted(wanted_set | set(records)):
        rec = records.get(op)
        sid = rec.subscription_id if rec else None
        if op not in wanted_set:
            if sid:
                actions.append(SubscriptionAction(op, "drop", "disabled", sid))
            continue
        if not sid:
            actions.append(SubscriptionAction(op, "subscribe", "new"))
        elif (rec.subscription_url or "") != url or (rec.subscription_frequency or 0) != frequency_minutes:
            actions.append(SubscriptionAction(op, "resubscribe", "settings", sid))
        elif is_silent(rec, now, frequency_minutes):
            actions.append(SubscriptionAction(op, "resubscribe", "silent", sid))
    return actions
