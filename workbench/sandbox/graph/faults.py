"""Faults of the Graph sandbox switchable at run time (admin endpoint or Python): throttling, HTTP
errors, latency, dropped connections, invalidated delta sync states, per-item failures."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..faults import FaultSwitches, injected_failure
from ..items import Item
from .wire import GraphError


@dataclass
class GraphFaultConfig:
    throttle_share: float = 0.0          # share of Graph requests answered 429 (TooManyRequests)
    throttle_every: int = 0              # every Nth Graph request (batch parts included) answered 429; 0 = off
    retry_after_s: int = 1               # Retry-After of injected 429s and 503s
    http_error_status: int = 503
    http_error_share: float = 0.0
    latency_ms: int = 0                  # added to every Graph request while it counts as in flight
    drop_share: float = 0.0              # share of requests whose connection is closed without an answer
    #: display name or extended property value -> Graph error code a create or update of that contact gets (400)
    item_failures: dict[str, str] = field(default_factory=dict)
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["item_failures"] = dict(self.item_failures)
        return d


@dataclass(frozen=True)
class GraphDecision:
    latency_s: float = 0.0
    drop: bool = False
    http_error: int | None = None
    throttle: bool = False


class GraphFaults(FaultSwitches[GraphFaultConfig]):
    config_type = GraphFaultConfig
    label = "Graph fault"

    def __init__(self) -> None:
        self._count = 0
        super().__init__()

    def _validate(self, config: GraphFaultConfig) -> None:
        config.item_failures = {str(k): str(v) for k, v in dict(config.item_failures).items()}
        super()._validate(config)
        for name in ("throttle_every", "retry_after_s", "latency_ms"):
            if int(getattr(config, name)) < 0:
                raise ValueError(f"{name} must not be negative")

    def _reset(self) -> None:
        self._count = 0

    def decide(self) -> GraphDecision:
        """Draw the faults for one Graph request (or one part of a batch)."""
        with self._lock:
            c, r = self._config, self._random
            self._count += 1
            drop = c.drop_share > 0 and r.random() < c.drop_share
            error = c.http_error_status if c.http_error_share > 0 and r.random() < c.http_error_share else None
            throttle = (c.throttle_share > 0 and r.random() < c.throttle_share) or (
                c.throttle_every > 0 and self._count % c.throttle_every == 0)
            return GraphDecision(c.latency_ms / 1000.0, drop, error, throttle)

    def check_item(self, item: Item) -> None:
        """Refuse a contact about to be saved when ``item_failures`` names it (400, the configured code)."""
        with self._lock:
            failures = self._config.item_failures
        found = injected_failure(item, failures)
        if found is not None:
            raise GraphError(400, found[1], f"The contact could not be saved (injected failure for {found[0]!r}).")
