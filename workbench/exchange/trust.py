"""TLS trust for exchangelib: exactly the keystore's certificates, per endpoint.

exchangelib builds every ``requests`` session through ``BaseProtocol.HTTP_ADAPTER_CLS``,
a process-global class attribute, and has no ``verify=`` knob. ``requests`` merges
``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` from the environment into each request, so
trust set on a session is silently replaced by the system store (ews-notes §1.2).

``KeystoreTrustAdapter`` therefore decides trust where the environment cannot reach:
for an endpoint registered here (``register(url, ssl_context)``, keyed by
``scheme://host:port``) it hands urllib3 the keystore's ``SSLContext`` as the pool's
``ssl_context`` and clears ``ca_certs``/``ca_cert_dir`` (so neither certifi nor the
environment's bundle is loaded into it), with verification always on, whatever
``verify`` says. Endpoints not registered behave exactly like requests' own adapter.
Two connections with different keystores (different endpoints) work in one process.
"""
from __future__ import annotations

import ssl
import threading
from urllib.parse import urlsplit

import requests.adapters

_LOCK = threading.Lock()
_REGISTRY: dict[str, tuple[ssl.SSLContext, int]] = {}   # origin -> (context, reference count)


def origin(url: str) -> str:
    """``https://host:port`` of a URL (default port filled in, host lower-cased)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def register(url: str, context: ssl.SSLContext) -> None:
    """Trust ``context`` (and nothing else) for the endpoint of ``url``; last registration wins."""
    key = origin(url)
    with _LOCK:
        _, count = _REGISTRY.get(key, (None, 0))
        _REGISTRY[key] = (context, count + 1)


def unregister(url: str) -> None:
    key = origin(url)
    with _LOCK:
        entry = _REGISTRY.get(key)
        if entry is None:
            return
        context, count = entry
        if count <= 1:
            del _REGISTRY[key]
        else:
            _REGISTRY[key] = (context, count - 1)


def context_for(url: str) -> ssl.SSLContext | None:
    with _LOCK:
        entry = _REGISTRY.get(origin(url))
    return entry[0] if entry else None


def registered() -> list[str]:
    with _LOCK:
        return sorted(_REGISTRY)


class KeystoreTrustMixin:
    """Adapter behaviour: registered endpoints are verified against their keystore only."""

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        context = context_for(request.url)
        if context is not None:
            pool_kwargs.pop("ca_certs", None)
            pool_kwargs.pop("ca_cert_dir", None)
            pool_kwargs["cert_reqs"] = "CERT_REQUIRED"
            pool_kwargs["ssl_context"] = context
        return host_params, pool_kwargs

    def cert_verify(self, conn, url, verify, cert):
        if context_for(url) is None:
            return super().cert_verify(conn, url, verify, cert)
        super().cert_verify(conn, url, False, cert)   # client certificate handling only
        conn.cert_reqs = "CERT_REQUIRED"                # never disabled, whatever verify says
        conn.ca_certs = None                            # no bundle joins the keystore's context
        conn.ca_cert_dir = None


class KeystoreTrustAdapter(KeystoreTrustMixin, requests.adapters.HTTPAdapter):
    """requests' HTTPAdapter with keystore trust for registered endpoints."""


def install() -> type:
    """Make exchangelib build its sessions with keystore trust (idempotent); returns the adapter class.

    If another adapter class is installed (a proxy adapter, a test's CA adapter), keystore trust is
    layered on top of it: registered endpoints use the keystore, others keep that adapter's behaviour.
    """
    from exchangelib.protocol import BaseProtocol
    current = BaseProtocol.HTTP_ADAPTER_CLS
    if isinstance(current, type) and issubclass(current, KeystoreTrustMixin):
        return current
    if current is requests.adapters.HTTPAdapter:
        cls: type = KeystoreTrustAdapter
    else:
        cls = type(f"KeystoreTrust{current.__name__}", (KeystoreTrustMixin, current), {})
    BaseProtocol.HTTP_ADAPTER_CLS = cls
    return cls
