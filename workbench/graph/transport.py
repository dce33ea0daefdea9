"""An httpx client (trust, timeouts, pooling), the bearer token, one request or one $batch.

A request is sent once: the retry policy above the backend decides what to resend. The one exception is
``$batch``: parts answered 429/503 with Retry-After are sent again, alone, after the longest hint of the
round (Graph throttles each part separately), for a few rounds and never waiting past ``max_wait``; a
part still throttled comes back as its GRAPH_THROTTLED error with the hint.
"""
from __future__ import annotations

import importlib.util
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import httpx

from workbench.errors import WorkbenchError
from workbench.graph.errors_map import from_answer, from_exception, retry_after

MAX_BATCH = 20                    # Graph's limit of requests per $batch
IMMUTABLE_IDS = 'IdType="ImmutableId"'
BATCH_ROUNDS = 8                  # sends of a throttled part inside one $batch call (bounded by max_wait too)


def trust(ca_bundle: str) -> ssl.SSLContext:
    """The system CA store, or only the pinned bundle when one is set. Verification is never switched off."""
    if not ca_bundle:
        return ssl.create_default_context()
    path = Path(ca_bundle).expanduser()
    try:
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise WorkbenchError("CERT_FILE_INVALID", f"graph_ca_bundle={str(path)!r}: {exc}") from None


def http_client(verify: ssl.SSLContext, timeout: float, max_connections: int) -> httpx.Client:
    """httpx with our trust only (``verify``, from ``trust``; trust_env off: no proxy or CA bundle from the
    environment); HTTP/2 when h2 is installed."""
    return httpx.Client(verify=verify, timeout=timeout, trust_env=False,
                        http2=importlib.util.find_spec("h2") is not None,
                        limits=httpx.Limits(max_connections=max_connections,
                                            max_keepalive_connections=max_connections))


@dataclass
class Part:
    """One request of a $batch: a URL relative to the endpoint (``/users/x/contacts``)."""
    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Transport:
    """Requests to one Graph endpoint with one token source; counts requests for the run's statistics."""

    def __init__(self, endpoint: str, http: httpx.Client, bearer: Callable[[], str], *,
                 pool: Callable[[], httpx.Client], max_wait: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.http, self._bearer, self.max_wait, self._sleep = http, bearer, max_wait, sleep
        self._pool = pool               # makes an httpx client like ``http`` (``of_its_own``)
        self._count_lock = threading.Lock()
        self.requests = 0

    def of_its_own(self) -> "Transport":
        """The same endpoint, token, waits and pool size over an HTTP pool of its own, with the same trust; the
        caller closes its ``http``."""
        return Transport(self.endpoint, self._pool(), self._bearer, pool=self._pool, max_wait=self.max_wait,
                         sleep=self._sleep)

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": self._bearer(), "Prefer": IMMUTABLE_IDS, "Accept": "application/json"}
        headers.update(extra or {})
        return headers

    def url(self, path: str) -> str:
        return path if path.startswith("https://") or path.startswith("http://") else self.endpoint + path

    def send(self, method: str, path: str, *, body: Any = None, params: Mapping[str, str] | None = None,
             headers: Mapping[str, str] | None = None) -> Answer:
        """One request; transport failures raise, HTTP statuses are returned."""
        url = self.url(path)
        all_headers = self._headers(headers)
        with self._count_lock:
            self.requests += 1
        try:
            response = self.http.request(method, url, json=body, params=params, headers=all_headers)
        except httpx.HTTPError as exc:
            raise from_exception(exc, where=f"{method} {url.split('?')[0]}") from None
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
            if response.is_success:
                raise WorkbenchError("GRAPH_PROTOCOL", f"{method} {url.split('?')[0]}: HTTP {response.status_code} "
                                                       "with a body that is not JSON") from None
        return Answer(response.status_code, data, dict(response.headers))

    def call(self, method: str, path: str, *, mailbox: str | None = None, **kwargs: Any) -> Any:
        """One request whose error status raises its catalogue error; the JSON body (None for 204)."""
        answer = self.send(method, path, **kwargs)
        if not answer.ok:
            raise from_answer(answer.status, answer.body, answer.headers, mailbox=mailbox)
        return answer.body

    def batch(self, parts: Sequence[Part]) -> list[Answer]:
        """Up to 20 requests in one $batch, answers in input order; throttled parts resent (see module doc)."""
        if len(parts) > MAX_BATCH:
            raise ValueError(f"a $batch holds at most {MAX_BATCH} requests")
        answers: dict[int, Answer] = {}
        pending = list(range(len(parts)))
        waited = 0.0
        for round_no in range(BATCH_ROUNDS):
            got = self._batch_once({i: parts[i] for i in pending})
            answers.update(got)
            throttled = [i for i in pending if got[i].status in (429, 503) and retry_after(got[i].headers) is not None]
            if not throttled or round_no == BATCH_ROUNDS - 1:
                break
            wait = max(retry_after(got[i].headers) or 0.0 for i in throttled)
            if waited + wait > self.max_wait:
                break
            self._sleep(wait)
            waited += wait
            pending = throttled
        return [answers[i] for i in range(len(parts))]

    def _batch_once(self, parts: Mapping[int, Part]) -> dict[int, Answer]:
        requests = []
        for i, part in parts.items():
            entry: dict[str, Any] = {"id": str(i), "method": part.method, "url": part.url,
                                     "headers": {"Prefer": IMMUTABLE_IDS, **part.headers}}
            if part.body is not None:
                entry["body"] = part.body
                entry["headers"]["Content-Type"] = "application/json"
            requests.append(entry)
        data = self.call("POST", "/$batch", body={"requests": requests})
        out: dict[int, Answer] = {}
        for resp in (data or {}).get("responses", []):
            try:
                out[int(resp["id"])] = Answer(int(resp["status"]), resp.get("body"), dict(resp.get("headers") or {}))
            except (KeyError, TypeError, ValueError):
                continue
        missing = [i for i in parts if i not in out]
        if missing:
            raise WorkbenchError("GRAPH_PROTOCOL", f"$batch answer lacks responses for {len(missing)} of "
                                                   f"{len(parts)} requests")
        return out
