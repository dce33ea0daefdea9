"""The subscription watchdog: which mailboxes need a push subscription created, re-created or ended.

Pure: it compares the wanted set (enabled, verified operators) and the settings with what
``mailbox_state`` holds, at a given ``now``. ``workbench.agent.watchdog`` carries the decisions out through
the mailbox backend.

Rules:
- an enabled, verified operator without a subscription gets one (``new``);
- a silent subscription (``workbench.store.subscription_silence``: nothing heard for more than twice
  notification_frequency_minutes, counted from its creation) is re-created (``silent``);
- a subscription made for another notification_url or frequency is re-created (``settings``);
- a subscription of an operator who is no longer enabled or verified is ended (``disabled``): it is
  cleared from mailbox_state and its next notification is answered Unsubscribe.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable, Mapping

from workbench.store.subscription_silence import is_silent, last_heard


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
        return last_heard(self.subscribed_at, self.last_notification_at)

    def heard_at(self, at: datetime | None) -> "SubscriptionRecord":
        """The record with a notification heard at ``at`` that the store does not hold yet."""
        if at is None or (self.last_notification_at is not None and at <= self.last_notification_at):
            return self
        return replace(self, last_notification_at=at)


@dataclass(frozen=True)
class SubscriptionAction:
    operator_id: str
    action: str            # subscribe, resubscribe, drop
    reason: str            # new, silent, settings, disabled
    old_subscription_id: str | None = None


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
        elif is_silent(rec.last_heard(), now, frequency_minutes):
            actions.append(SubscriptionAction(op, "resubscribe", "silent", sid))
    return actions
