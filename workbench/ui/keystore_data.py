"""The keystore panel's data: the same service calls as `workbench keystore inspect|fetch-cert|import`.

Headless (no textual; a test checks it). The Settings screen's keystore panel calls these
from worker threads:

- ``inspect(store, at)``: ``keystore.load_keystore`` + ``keystore.inspect_keystore`` on the
  ``keystore_path`` setting, warnings against the host of ``exchange_url`` (what ``inspect`` prints);
- ``fetch(store)``: ``keystore.fetch_chain`` on ``exchange_url`` (unverified, like the browser export);
- ``import_chain(store, certs, alias, ...)``: the fetched chain saved as PEM, then
  ``keystore.import_certificate`` (``--replace`` / ``--chain`` semantics).

The keystore password comes from ``workbench.secrets``: environment, keyring, or the dashboard's
modal password screen.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.store import Store


def _settings(store: Store) -> dict[str, str]:
    from workbench.store.settings_table import stored_values
    return stored_values(store)


def keystore_path(store: Store) -> str:
    path = _settings(store).get("keystore_path", "")
    if not path:
        raise WorkbenchError("USAGE", "set keystore_path first (Settings), then fetch and import the certificate")
    return path


def password(path: str) -> str:
    """The keystore password (``workbench.secrets``; missing, it is asked in the dashboard's modal)."""
    from workbench import secrets
    return secrets.keystore_password(path)


def aware(at: datetime) -> datetime:
    """The app clock is naive UTC; certificate dates are aware UTC."""
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def days_left(not_after: datetime, at: datetime) -> int:
    return (not_after - aware(at)).days


@dataclass(frozen=True)
class KeystoreView:
    path: str                 # as configured (keystore_path)
    exchange_url: str
    report: Any               # workbench.exchange.keystore.KeystoreReport
    at: datetime              # aware UTC: the time the warnings were computed for


def inspect(store: Store, at: datetime) -> KeystoreView:
    """What `workbench keystore inspect` shows for the configured keystore, at the app's time."""
    from workbench.exchange import keystore as ks
    values = _settings(store)
    path = keystore_path(store)
    keystore = ks.load_keystore(path, password(path))
    url = values.get("exchange_url", "")
    report = ks.inspect_keystore(keystore, exchange_url=url, at=aware(at))
    return KeystoreView(path, url, report, aware(at))


@dataclass(frozen=True)
class FetchedChain:
    url: str
    certs: list[Any]          # cryptography x509.Certificate, leaf first
    infos: list[Any]          # workbench.exchange.keystore.CertInfo, same order


def fetch(store: Store, *, timeout: float = 10.0) -> FetchedChain:
    """The certificates the server at exchange_url presents (`workbench keystore fetch-cert`)."""
    from workbench.exchange import keystore as ks
    url = _settings(store).get("exchange_url", "")
    if not url:
        raise WorkbenchError("USAGE", "set exchange_url first (Settings)")
    certs = ks.fetch_chain(url, timeout=timeout)
    return FetchedChain(url, certs, [ks.cert_info(c) for c in certs])


def import_chain(store: Store, certs: list[Any], alias: str, *, replace: bool = False,
                 chain: bool = False) -> Any:
    """`workbench keystore import` of the fetched chain into keystore_path; returns the ImportResult.

    Without ``replace`` an existing alias is refused (KEYSTORE_ALIAS_EXISTS), as the CLI does.
    """
    from workbench.exchange import keystore as ks
    path = keystore_path(store)
    secret = password(path)
    with tempfile.TemporaryDirectory(prefix="workbench-cert-") as tmp:
        pem = ks.save_pem(list(certs), Path(tmp) / "server.pem")
        return ks.import_certificate(pem, path, alias, secret, replace=replace, chain=chain)
