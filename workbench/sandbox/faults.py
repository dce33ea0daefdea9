"""Faults switchable at run time: throttling, HTTP errors, latency, dropped connections, denied
impersonation, per-item failures."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar

from .items import Item
from .soap import EwsError

HTTP_ERROR_STATUSES = (500, 502, 503, 504)
C = TypeVar("C")


@dataclass
class FaultConfig:
    throttle_share: float = 0.0          # share of EWS requests answered with an ErrorServerBusy fault
    backoff_ms: int = 1000               # BackOffMilliseconds in that fault
    http_error_status: int = 503         # status of injected HTTP errors
    http_error_share: float = 0.0        # share of requests answered with that status
    latency_ms: int = 0                  # added to every EWS request
    drop_share: float = 0.0              # share of requests whose connection is closed without an answer
    deny_impersonation: set[str] = field(default_factory=set)       # mailbox addresses (any alias)
    item_failures: dict[str, str] = field(default_factory=dict)     # display name or ext. property value -> code
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["deny_impersonation"] = sorted(self.deny_impersonation)
        d["item_failures"] = dict(self.item_failures)
        return d


@dataclass(frozen=True)
class Decision:
    latency_s: float = 0.0
    drop: bool = False
    http_error: int | None = None
    throttle_ms: int | None = None


class FaultSwitches(Generic[C]):
    """Settings switchable at run time under one lock, and the random draws they drive (seedable).

    Subclasses name their ``config_type``, add their own checks in ``_validate`` and reset their own
    counters in ``_reset``."""
    config_type: type[C]
    label = "fault"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config: C = self.config_type()
        self._random = random.Random()

    def set(self, **changes: Any) -> C:
        """Change some settings; the others keep their values. Unknown names or bad values raise ValueError."""
        known = {f.name for f in fields(self.config_type)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown {self.label} settings: {sorted(unknown)}")
        with self._lock:
            config = self.config_type(**{**self._config.__dict__, **changes})
            self._validate(config)
            self._config = config
            self._reset()
            if "seed" in changes:
                self._random = random.Random(config.seed)
            return config

    def _validate(self, config: C) -> None:
        """Check (and coerce) the settings both sandboxes have: the shares and the HTTP error status."""
        for name in ("throttle_share", "http_error_share", "drop_share"):
            value = float(getattr(config, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
            setattr(config, name, value)
        if int(getattr(config, "http_error_status")) not in HTTP_ERROR_STATUSES:
            raise ValueError(f"http_error_status must be one of {HTTP_ERROR_STATUSES}")

    def _reset(self) -> None:
        """Called under the lock whenever the settings change or are cleared."""

    def clear(self) -> None:
        with self._lock:
            self._config = self.config_type()
            self._random = random.Random()
            self._reset()

    @property
    def config(self) -> C:
        with self._lock:
            return self._config


class Faults(FaultSwitches[FaultConfig]):
    config_type = FaultConfig

    def _validate(self, config: FaultConfig) -> None:
        config.deny_impersonation = {a.lower() for a in config.deny_impersonation}
        config.item_failures = {str(k): str(v) for k, v in dict(config.item_failures).items()}
        super()._validate(config)
        if int(config.backoff_ms) < 0 or int(config.latency_ms) < 0:
            raise ValueError("backoff_ms and latency_ms must not be negative")
        if any(not code.startswith("Error") for code in config.item_failures.values()):
            raise ValueError("item failure codes are EWS response codes such as ErrorItemSave")

    def decide(self) -> Decision:
        """Draw the transport-level faults for one EWS request."""
        with self._lock:
            c, r = self._config, self._random
            drop = c.drop_share > 0 and r.random() < c.drop_share
            http_error = c.http_error_status if c.http_error_share > 0 and r.random() < c.http_error_share else None
            throttle = c.backoff_ms if c.throttle_share > 0 and r.random() < c.throttle_share else None
            return Decision(c.latency_ms / 1000.0, drop, http_error, throttle)

    def impersonation_denied(self, addresses: tuple[str, ...]) -> bool:
        with self._lock:
            return any(a.lower() in self._config.deny_impersonation for a in addresses)

    def check_item(self, item: Item) -> None:
        """Raise the configured per-item error when the item's display name or an extended property matches."""
        with self._lock:
            failures = self._config.item_failures
        found = injected_failure(item, failures)
        if found is not None:
            raise EwsError(found[1], f"The item could not be saved (injected failure for {found[0]!r}).")


def injected_failure(item: Item, failures: dict[str, str]) -> tuple[str, str] | None:
    """(key, code) of the per-item failure configured for the item's display name, subject or an extended
    property value (both sandboxes' ``item_failures``), or None."""
    if not failures:
        return None
    for key in (item.text.get("DisplayName"), item.text.get("Subject"), *item.ext_values()):
        if key is not None and key in failures:
            return key, failures[key]
    return None
