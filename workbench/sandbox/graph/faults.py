"""Faults of the Graph sandbox switchable at run time (admin endpoint or Python): throttling, HTTP
errors, latency, dropped connections, invalidated delta sync states."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, fields
from typing import Any

HTTP_ERROR_STATUSES = (500, 502, 503, 504)


@dataclass
class GraphFaultConfig:
    throttle_share: float = 0.0          # share of Graph requests answered 429 (TooManyRequests)
    throttle_every: int = 0              # every Nth Graph request (batch parts included) answered 429; 0 = off
    retry_after_s: int = 1               # Retry-After of injected 429s and 503s
    http_error_status: int = 503
    http_error_share: float = 0.0
    latency_ms: int = 0                  # added to every Graph request while it counts as in flight
    drop_share: float = 0.0              # share of requests whose connection is closed without an answer
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class GraphDecision:
    latency_s: float = 0.0
    drop: bool = False
    http_error: int | None = None
    throttle: bool = False


class GraphFaults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config = GraphFaultConfig()
        self._random = random.Random()
        self._count = 0

    def set(self, **changes: Any) -> GraphFaultConfig:
        """Change some settings; the others keep their values. Unknown names or bad values raise ValueError."""
        known = {f.name for f in fields(GraphFaultConfig)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown Graph fault settings: {sorted(unknown)}")
        with self._lock:
            config = GraphFaultConfig(**{**self._config.__dict__, **changes})
            for name in ("throttle_share", "http_error_share", "drop_share"):
                value = float(getattr(config, name))
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{name} must be between 0 and 1, not {value}")
                setattr(config, name, value)
            if int(config.http_error_status) not in HTTP_ERROR_STATUSES:
                raise ValueError(f"http_error_status must be one of {HTTP_ERROR_STATUSES}")
            for name in ("throttle_every", "retry_after_s", "latency_ms"):
                if int(getattr(config, name)) < 0:
                    raise ValueError(f"{name} must not be negative")
            self._config = config
            self._count = 0
            if "seed" in changes:
                self._random = random.Random(config.seed)
            return config

    def clear(self) -> None:
        with self._lock:
            self._config, self._random, self._count = GraphFaultConfig(), random.Random(), 0

    @property
    def config(self) -> GraphFaultConfig:
        with self._lock:
            return self._config

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
