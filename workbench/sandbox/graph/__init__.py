"""A local Microsoft Graph (contacts subset) over the EWS sandbox's mailboxes: identity platform,
contacts, delta, $batch, throttling, change notifications, RBAC for Applications, translateExchangeIds."""
from .sandbox import GraphSandbox
from .subscriptions import Timing

__all__ = ["GraphSandbox", "Timing"]
