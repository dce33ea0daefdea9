"""App registrations of the sandbox tenant: client id, secret, certificate, app roles, RBAC scope."""
from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

DEFAULT_ROLES = ("Contacts.ReadWrite", "Mail.Send", "User.ReadBasic.All")


@dataclass
class App:
    client_id: str
    name: str
    secret: str | None = None
    cert_pem: str | None = None          # the registered certificate (public part)
    key_pem: str | None = None           # its private key (kept so the sandbox can hand it to the client)
    roles: list[str] = field(default_factory=lambda: list(DEFAULT_ROLES))
    scope: list[str] | None = None       # RBAC management scope: mailbox addresses; None = the whole organisation
    odata_disabled: bool = False         # every mailbox refuses it, as with no management role assignment
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def certificate(self) -> x509.Certificate | None:
        return x509.load_pem_x509_certificate(self.cert_pem.encode()) if self.cert_pem else None

    @property
    def thumbprint(self) -> str | None:
        """SHA-1 thumbprint in upper-case hex, as the Entra portal shows it."""
        cert = self.certificate
        return cert.fingerprint(hashes.SHA1()).hex().upper() if cert else None  # noqa: S303 - x5t is SHA-1

    def in_scope(self, primary: str) -> bool:
        return self.scope is None or primary.lower() in self.scope

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "App":
        return cls(**d)


def new_certificate(name: str, days: int = 730, expired: bool = False) -> tuple[str, str]:
    """A self-signed RSA certificate and key (PEM) for an app registration."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    start, end = (now - dt.timedelta(days=30), now - dt.timedelta(days=1)) if expired else (
        now - dt.timedelta(minutes=5), now + dt.timedelta(days=days))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


class Registry:
    """The tenant's apps; callers hold the Graph sandbox lock for changes."""

    def __init__(self, tenant_id: str | None = None):
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.apps: dict[str, App] = {}

    def add(self, name: str, roles: tuple[str, ...] | list[str] = DEFAULT_ROLES, scope: list[str] | None = None,
            secret: bool = True, certificate: bool = True, expired_certificate: bool = False,
            odata_disabled: bool = False) -> App:
        cert_pem = key_pem = None
        if certificate:
            cert_pem, key_pem = new_certificate(name, expired=expired_certificate)
        app = App(str(uuid.uuid4()), name, secrets.token_urlsafe(30) if secret else None, cert_pem, key_pem,
                  list(roles), [a.lower() for a in scope] if scope is not None else None, odata_disabled)
        self.apps[app.client_id] = app
        return app

    def get(self, client_id: str) -> App | None:
        return self.apps.get(client_id.lower())

    def to_json(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "apps": [a.to_json() for a in self.apps.values()]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Registry":
        reg = cls(d["tenant_id"])
        for raw in d.get("apps", []):
            app = App.from_json(raw)
            reg.apps[app.client_id] = app
        return reg
