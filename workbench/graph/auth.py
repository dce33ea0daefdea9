"""App-only tokens for Graph: msal's client-credentials flow with a certificate (preferred) or a secret.

The certificate is one PEM file holding the private key and the certificate (msal signs the client
assertion with it, x5t#S256); the secret comes from ``workbench.secrets`` (environment, keyring, prompt)
and is never stored. msal keeps the token in memory and renews it before it expires. Its HTTP goes
through the same httpx client (and so the same trust) as Graph requests.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import msal

from workbench.errors import WorkbenchError
from workbench.graph.errors_map import from_exception, from_token_error
from workbench.secrets import get_secret

GRAPH_SECRET_ENV = "WORKBENCH_GRAPH_CLIENT_SECRET"


def graph_secret(client_id: str, **kw: Any) -> str:
    """The app's client secret (env, the demo's secrets file for the demo store, keyring ``graph:<client id>``,
    prompt)."""
    return get_secret(GRAPH_SECRET_ENV, f"graph:{client_id}", f"Client secret of app {client_id}: ",
                      demo=("graph", client_id), **kw)


def resource_scope(graph_endpoint: str) -> str:
    """The ``.default`` scope of the Graph cloud behind ``graph_endpoint`` (https://graph.microsoft.us/v1.0 ->
    https://graph.microsoft.us/.default). The sandbox stands for the public cloud's audience."""
    host = httpx.URL(graph_endpoint).host
    if host in ("127.0.0.1", "::1", "localhost"):
        return "https://graph.microsoft.com/.default"
    return f"https://{host}/.default"


def credential(certificate_path: str, client_id: str, secret: str | None = None) -> Any:
    """msal's client_credential: the certificate PEM (key + certificate), else the secret."""
    if certificate_path:
        path = Path(certificate_path).expanduser()
        try:
            pem = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise WorkbenchError("FILE_NOT_FOUND", f"graph_certificate_path={str(path)!r}: {exc}") from None
        if "PRIVATE KEY" not in pem or "CERTIFICATE" not in pem:
            raise WorkbenchError("CERT_FILE_INVALID", f"graph_certificate_path={str(path)!r}: must be one PEM "
                                                      "file holding the private key and the certificate")
        return {"private_key": pem, "public_certificate": pem}
    return secret if secret is not None else graph_secret(client_id)


class MsalHttp:
    """msal's ``http_client`` interface over our httpx client. msal hands the signed client assertion as bytes,
    which httpx would send as "b'...'": form values are decoded first. A timeout msal does not set stays ours."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    @staticmethod
    def _options(kwargs: dict[str, Any]) -> dict[str, Any]:
        return {"timeout": kwargs["timeout"]} if kwargs.get("timeout") is not None else {}

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any) -> httpx.Response:
        if isinstance(data, dict):
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return self._http.post(url, params=params, data=data, headers=headers, **self._options(kwargs))

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> httpx.Response:
        return self._http.get(url, params=params, headers=headers, **self._options(kwargs))

    def close(self) -> None:
        """The httpx client belongs to the backend, which closes it."""


#: a token is used until this long before it expires (msal refreshes its cached tokens 5 minutes early too)
TOKEN_EARLY_SECONDS = 300


class TokenSource:
    """One confidential client per backend; ``token()`` is safe to call from several threads."""

    def __init__(self, authority: str, client_id: str, client_credential: Any, scope: str,
                 http: httpx.Client) -> None:
        self.authority, self.scope = authority, scope
        self._lock = threading.Lock()
        self._kept: tuple[dict[str, Any], float] | None = None       # (msal's last result, valid until)
        self._app: msal.ConfidentialClientApplication | None = None
        self._args = dict(client_id=client_id, authority=authority, client_credential=client_credential,
                          http_client=MsalHttp(http), instance_discovery=False)

    def _client(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            try:
                self._app = msal.ConfidentialClientApplication(**self._args)
            except ValueError as exc:          # msal: a malformed authority or an unreadable key
                raise WorkbenchError("GRAPH_AUTH_REJECTED", f"{self.authority}: {exc}") from None
            except httpx.HTTPError as exc:      # authority metadata fetched at construction
                raise from_exception(exc, where=self.authority) from None
        return self._app

    def token(self) -> dict[str, Any]:
        """msal's result for the app (``access_token``), from its cache while valid. The last result is kept
        here until ``TOKEN_EARLY_SECONDS`` before it expires (msal's own margin), so the requests of a run's
        lanes do not queue on the lock for msal's cache search (10% of the lanes' time at 16 lanes)."""
        kept = self._kept
        if kept is not None and time.monotonic() < kept[1]:
            return kept[0]
        with self._lock:
            try:
                result = self._client().acquire_token_for_client([self.scope])
            except httpx.HTTPError as exc:
                raise from_exception(exc, where=self.authority) from None
            if not isinstance(result, dict) or "access_token" not in result:
                raise from_token_error(result or {}, authority=self.authority)
            life = float(result.get("expires_in") or 0) - TOKEN_EARLY_SECONDS
            self._kept = (result, time.monotonic() + life) if life > 0 else None
        return result

    def bearer(self) -> str:
        return f"Bearer {self.token()['access_token']}"
