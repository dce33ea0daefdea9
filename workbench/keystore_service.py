"""The keystore steps, once, for `workbench keystore inspect|fetch-cert|import` and the dashboard's panel.

- ``resolve_path(store, given)``: the keystore file given, else the ``keystore_path`` setting;
- ``inspect(store, path, at)``: ``keystore.load_keystore`` + ``keystore.inspect_keystore``, warnings
  against the host of ``exchange_url``;
- ``fetch(url)`` / ``fetch_configured(store)``: the chain the server presents (unverified, like the
  browser export the seed describes);
- ``import_file(cert, path, alias, ...)`` / ``import_certs(store, certs, alias, ...)``: keytool
  -importcert semantics (``replace``, ``chain``); a new keystore's password is asked twice.

Passwords come from ``workbench.secrets``: environment, the demo's file, keyring, or asking the user
where they are (terminal, notebook, the dashboard's modal). No textual here.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench import secrets
from workbench.errors import WorkbenchError
from workbench.store import Store


def _settings(store: Store) -> dict[str, str]:
    from workbench.store.settings_table import stored_values
    return stored_values(store)


def resolve_path(store: Store, given: str | None = None) -> str:
    """``given``, else the keystore_path setting; USAGE when neither is there."""
    path = given or _settings(store).get("keystore_path", "")
    if not path:
        raise WorkbenchError("USAGE", "give the keystore file, or set keystore_path first "
                                      "(`workbench settings set keystore_path=FILE` or the Settings screen)")
    return path


def aware(at: datetime) -> datetime:
    """The app clock is naive UTC; certificate dates are aware UTC."""
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def days_left(not_after: datetime, at: datetime) -> int:
    return (not_after - aware(at)).days


@dataclass(frozen=True)
class KeystoreView:
    path: str                 # the keystore file inspected
    exchange_url: str
    report: Any               # workbench.exchange.keystore.KeystoreReport
    at: datetime              # aware UTC: the time the warnings were computed for


def inspect(store: Store, path: str | None = None, at: datetime | None = None) -> KeystoreView:
    """Every entry of the keystore (``path`` or keystore_path) with its warnings at ``at`` (default now)."""
    from workbench.exchange import keystore as ks
    path = resolve_path(store, path)
    keystore = ks.load_keystore(path, secrets.keystore_password(path))
    url = _settings(store).get("exchange_url", "")
    when = aware(at or datetime.now(timezone.utc))
    return KeystoreView(path, url, ks.inspect_keystore(keystore, exchange_url=url, at=when), when)


@dataclass(frozen=True)
class FetchedChain:
    url: str
    certs: list[Any]          # cryptography x509.Certificate, leaf first
    infos: list[Any]          # workbench.exchange.keystore.CertInfo, same order


def fetch(url: str, *, timeout: float = 10.0) -> FetchedChain:
    """The certificates the server at ``url`` presents."""
    from workbench.exchange import keystore as ks
    certs = ks.fetch_chain(url, timeout=timeout)
    return FetchedChain(url, certs, [ks.cert_info(c) for c in certs])


def fetch_configured(store: Store, *, timeout: float = 10.0) -> FetchedChain:
    url = _settings(store).get("exchange_url", "")
    if not url:
        raise WorkbenchError("USAGE", "set exchange_url first (Settings)")
    return fetch(url, timeout=timeout)


def import_file(cert: str | Path, path: str, alias: str, *, replace: bool = False, chain: bool = False) -> Any:
    """Import the certificate file ``cert`` into the keystore ``path``; returns the ImportResult.

    Without ``replace`` an existing alias is refused (KEYSTORE_ALIAS_EXISTS).
    """
    from workbench.exchange import keystore as ks
    new = not ks.keystore_file(path).exists()      # a path that cannot be a keystore fails before the prompt
    password = secrets.keystore_password(path, confirm=new)
    return ks.import_certificate(cert, path, alias, password, replace=replace, chain=chain)


def import_certs(store: Store, certs: list[Any], alias: str, *, replace: bool = False, chain: bool = False) -> Any:
    """Import fetched ``certs`` into the keystore_path keystore (the dashboard's import)."""
    from workbench.exchange import keystore as ks
    path = resolve_path(store)
    with tempfile.TemporaryDirectory(prefix="workbench-cert-") as tmp:
        pem = ks.save_pem(list(certs), Path(tmp) / "server.pem")
        return import_file(pem, path, alias, replace=replace, chain=chain)


def is_configured(store: Store, path: Path) -> bool:
    """True when keystore_path names ``path`` already."""
    current = _settings(store).get("keystore_path", "")
    return bool(current) and Path(current).expanduser().resolve() == path.resolve()
