"""The keystore that holds the Exchange server certificate (the seed's JKS file).

- ``load_keystore(path, password)`` reads JKS/JCEKS (pyjks) and PKCS12 (what
  Java 17's keytool writes by default), detected from the magic bytes.
- ``import_certificate(...)`` creates a JKS file or adds a trusted-certificate
  entry to one (the seed's ``keytool -importcert``); keytool lists the result.
  The file is written 0600 and atomically (temp file beside it, ``os.replace``);
  a keystore path that is a symbolic link stays one: the link's target is written
  (``keystore_file``). The result warns on an expired or not-yet-valid certificate.
- ``fetch_chain(url)`` connects over TLS and returns the certificates the
  server presents (the seed's browser export), without trusting them.
- ``inspect_keystore(...)`` describes every entry and warns on expiry or a
  certificate that does not cover the Exchange host.
- ``trust_context(keystore)`` is the ``ssl.SSLContext`` that trusts exactly the
  keystore's certificates (each one a trust anchor, also a bare leaf).

Errors are ``WorkbenchError`` with catalogue codes (KEYSTORE_*, CERT_FILE_INVALID,
EWS_UNREACHABLE, TLS_FAILED, TLS_HANDSHAKE_CUT). Passwords are arguments here, never logged.
"""
from __future__ import annotations

import datetime as dt
import errno
import hashlib
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import jks
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtensionOID, NameOID

from workbench.errors import WorkbenchError
from workbench.exchange.errors_map import handshake_failure_code
from workbench.files import write_private

JKS_MAGIC = b"\xfe\xed\xfe\xed"
JCEKS_MAGIC = b"\xce\xce\xce\xce"
EXPIRY_WARNING_DAYS = 30
MIN_PASSWORD_LENGTH = 6
_PKCS7_DATA_OID = bytes.fromhex("06092a864886f70d010701")   # 1.2.840.113549.1.7.1


# --- certificates -------------------------------------------------------------------------------

def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class CertInfo:
    """What a person checks about a certificate (keytool -list -v, the browser's details tab)."""
    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime      # aware UTC
    not_after: dt.datetime       # aware UTC
    sha256: str                  # AA:BB:... as keytool prints it
    is_ca: bool
    self_signed: bool
    names: tuple[str, ...]       # subjectAltName DNS/IP entries (CN when there are none)

    def expired(self, at: dt.datetime | None = None) -> bool:
        return (at or utcnow()) > self.not_after

    def not_yet_valid(self, at: dt.datetime | None = None) -> bool:
        return (at or utcnow()) < self.not_before

    def expires_within(self, days: int, at: dt.datetime | None = None) -> bool:
        return (at or utcnow()) + dt.timedelta(days=days) > self.not_after

    def covers(self, host: str) -> bool:
        return host_matches(host, self.names)

    def as_dict(self) -> dict:
        return {"subject": self.subject, "issuer": self.issuer, "serial": self.serial,
                "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat(),
                "sha256": self.sha256, "is_ca": self.is_ca, "self_signed": self.self_signed,
                "names": list(self.names)}


def fingerprint(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def cert_info(cert: x509.Certificate) -> CertInfo:
    der = cert.public_bytes(serialization.Encoding.DER)
    try:
        is_ca = bool(cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca)
    except x509.ExtensionNotFound:
        is_ca = False
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        names += [str(n) for n in san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names += [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return CertInfo(subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
                    serial=f"{cert.serial_number:x}", not_before=cert.not_valid_before_utc,
                    not_after=cert.not_valid_after_utc, sha256=fingerprint(der), is_ca=is_ca,
                    self_signed=cert.subject == cert.issuer, names=tuple(names))


def host_matches(host: str, names: tuple[str, ...] | list[str]) -> bool:
    """RFC 6125 matching: exact IP, exact DNS name, or a left-most ``*`` label."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for name in names:
        name = name.rstrip(".").lower()
        if ip is not None:
            try:
                if ipaddress.ip_address(name) == ip:
                    return True
            except ValueError:
                continue
            continue
        if name == host:
            return True
        if name.startswith("*.") and "." in host:
            if host.split(".", 1)[1] == name[2:]:
                return True
    return False


def read_certificates(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """Every certificate in a PEM file (in order) or the one in a DER file."""
    path = Path(path)
    if not path.is_file():
        raise WorkbenchError("FILE_NOT_FOUND", f"{path}: no such certificate file")
    data = path.read_bytes()
    return parse_certificates(data, str(path))


def parse_certificates(data: bytes, name: str = "certificate") -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise WorkbenchError("CERT_FILE_INVALID", f"{name}: {exc}") from None
        if certs:
            return certs
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise WorkbenchError("CERT_FILE_INVALID",
                             f"{name}: neither a PEM (Base-64) nor a DER X.509 certificate") from None


def to_pem(certs: list[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)


# --- reading keystores --------------------------------------------------------------------------

@dataclass(frozen=True)
class KeystoreEntry:
    alias: str
    kind: str                            # "trustedCert" or "privateKey"
    certs: tuple[x509.Certificate, ...]  # the certificate, or the key's chain (leaf first)

    @property
    def cert(self) -> x509.Certificate:
        return self.certs[0]


@dataclass
class Keystore:
    path: Path
    store_type: str                      # "jks", "jceks" or "pkcs12"
    entries: list[KeystoreEntry] = field(default_factory=list)

    def trusted_certs(self) -> list[x509.Certificate]:
        """The certificates the server is verified against: every trusted-certificate entry."""
        return [e.cert for e in self.entries if e.kind == "trustedCert"]

    def aliases(self) -> list[str]:
        return [e.alias for e in self.entries]


def detect_format(data: bytes) -> str:
    """'jks', 'jceks', 'pkcs12' or 'unknown', from the magic bytes / DER header."""
    if data[:4] == JKS_MAGIC:
        return "jks"
    if data[:4] == JCEKS_MAGIC:
        return "jceks"
    if _looks_like_pfx(data):
        return "pkcs12"
    return "unknown"


def _der_length(data: bytes, pos: int) -> tuple[int, int] | None:
    """(length, position after the length octets) of the DER element whose length starts at pos."""
    if pos >= len(data):
        return None
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0 or count > 4 or pos + 1 + count > len(data):
        return None
    return int.from_bytes(data[pos + 1:pos + 1 + count], "big"), pos + 1 + count


def _looks_like_pfx(data: bytes) -> bool:
    """PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo (data or signedData), ... }."""
    if len(data) < 16 or data[0] != 0x30:
        return False
    head = _der_length(data, 1)
    if head is None:
        return False
    _length, pos = head
    return data[pos:pos + 3] == b"\x02\x01\x03"


def _pfx_complete(data: bytes) -> bool:
    head = _der_length(data, 1)
    return head is not None and head[0] + head[1] == len(data)


def load_keystore(path: str | os.PathLike[str], password: str) -> Keystore:
    """Open a JKS, JCEKS or PKCS12 keystore; errors name the file and what is wrong."""
    path = Path(path).expanduser()
    real = keystore_file(path)
    if not real.exists():
        raise WorkbenchError("KEYSTORE_MISSING", f"{path}: no such file")
    try:
        data = real.read_bytes()
    except OSError as exc:
        raise WorkbenchError("KEYSTORE_PATH_INVALID", f"{path}: cannot be read ({exc.strerror})") from None
    return load_keystore_bytes(data, password, path)


def keystore_file(path: str | os.PathLike[str]) -> Path:
    """The real file behind a keystore path (symbolic links followed; it need not exist yet).

    KEYSTORE_PATH_INVALID, naming the path, for a directory, a path running through a file, or a loop
    of symbolic links.
    """
    given = Path(path).expanduser()
    try:
        real = Path(os.path.realpath(given, strict=True))
    except FileNotFoundError:                      # not there yet (or a link to a file not there yet)
        real = Path(os.path.realpath(given))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise WorkbenchError("KEYSTORE_PATH_INVALID", f"{given}: a loop of symbolic links") from None
        if exc.errno != errno.ENOTDIR:
            raise WorkbenchError("KEYSTORE_PATH_INVALID", f"{given}: {exc.strerror}") from None
        real = Path(os.path.realpath(given))
    if real.is_dir():
        raise WorkbenchError("KEYSTORE_PATH_INVALID", f"{given}: is a directory, not a keystore file")
    blocker = next((p for p in real.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise WorkbenchError("KEYSTORE_PATH_INVALID", f"{given}: {blocker} is a file, not a directory")
    return real


def load_keystore_bytes(data: bytes, password: str, path: Path) -> Keystore:
    kind = detect_format(data)
    if kind in ("jks", "jceks"):
        return _load_jks(data, password, path)
    if kind == "pkcs12":
        return _load_pkcs12(data, password, path)
    what = "an empty file" if not data else "neither a JKS, JCEKS nor a PKCS12 keystore"
    if b"-----BEGIN" in data[:200]:
        what = "a PEM file, not a keystore (import it with `workbench keystore import`)"
    raise WorkbenchError("KEYSTORE_CORRUPT", f"{path}: {what}")


def _load_jks(data: bytes, password: str, path: Path) -> Keystore:
    try:
        ks = jks.KeyStore.loads(data, password, try_decrypt_keys=True)
    except jks.KeystoreSignatureException:
        raise WorkbenchError("KEYSTORE_PASSWORD",
                             f"{path}: the password does not open this keystore "
                             "(or the file was altered after it was written)") from None
    except (jks.util.KeystoreException, ValueError, IndexError, UnicodeError, EOFError) as exc:
        raise WorkbenchError("KEYSTORE_CORRUPT", f"{path}: damaged JKS file ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # struct.error and friends on truncated files
        raise WorkbenchError("KEYSTORE_CORRUPT", f"{path}: damaged JKS file ({type(exc).__name__}: {exc})") from None
    entries: list[KeystoreEntry] = []
    for alias, tc in ks.certs.items():
        entries.append(KeystoreEntry(alias, "trustedCert", (_der_cert(tc.cert, path, alias),)))
    for alias, pk in ks.private_keys.items():
        chain = tuple(_der_cert(der, path, alias) for _t, der in pk.cert_chain)
        entries.append(KeystoreEntry(alias, "privateKey", chain))
    entries.sort(key=lambda e: e.alias)
    return Keystore(path, ks.store_type, entries)


def _der_cert(der: bytes, path: Path, alias: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise WorkbenchError("KEYSTORE_CORRUPT", f"{path}: entry {alias!r} holds no valid certificate ({exc})") from None


def _load_pkcs12(data: bytes, password: str, path: Path) -> Keystore:
    if not _pfx_complete(data):
        raise WorkbenchError("KEYSTORE_CORRUPT", f"{path}: truncated or damaged PKCS12 file")
    try:
        p12 = pkcs12.load_pkcs12(data, password.encode("utf-8"))
    except ValueError:
        raise WorkbenchError("KEYSTORE_PASSWORD",
                             f"{path}: the password does not open this PKCS12 keystore") from None
    except Exception as exc:
        raise WorkbenchError("KEYSTORE_CORRUPT", f"{path}: damaged PKCS12 file ({type(exc).__name__}: {exc})") from None
    entries: list[KeystoreEntry] = []
    if p12.key is not None and p12.cert is not None:
        alias = _friendly(p12.cert.friendly_name, "key")
        chain = (p12.cert.certificate,) + tuple(c.certificate for c in p12.additional_certs)
        entries.append(KeystoreEntry(alias, "privateKey", chain))
    else:
        for number, c in enumerate(p12.additional_certs, start=1):
            entries.append(KeystoreEntry(_friendly(c.friendly_name, f"cert-{number}"), "trustedCert",
                                         (c.certificate,)))
        if p12.cert is not None:
            entries.append(KeystoreEntry(_friendly(p12.cert.friendly_name, "cert"), "trustedCert",
                                         (p12.cert.certificate,)))
    entries.sort(key=lambda e: e.alias)
    return Keystore(path, "pkcs12", entries)


def _friendly(name: bytes | None, default: str) -> str:
    return name.decode("utf-8", "replace") if name else default


# --- writing: import a certificate --------------------------------------------------------------

@dataclass(frozen=True)
class ImportResult:
    path: Path
    created: bool
    imported: list[tuple[str, CertInfo]]   # (alias, certificate)
    replaced: list[str]

    def warnings(self, at: dt.datetime | None = None) -> list[str]:
        """An imported certificate that is expired or not yet valid (it is imported all the same)."""
        out = []
        for alias, info in self.imported:
            if info.expired(at) or info.not_yet_valid(at):
                out.append(f"{alias}: {validity_warning(info, at or utcnow())}; valid "
                           f"{info.not_before:%Y-%m-%d %H:%M} .. {info.not_after:%Y-%m-%d %H:%M} UTC")
        return out


def import_certificate(cert_path: str | os.PathLike[str], keystore_path: str | os.PathLike[str], alias: str,
                       password: str, *, replace: bool = False, chain: bool = False) -> ImportResult:
    """Add the certificate of ``cert_path`` as a trusted-certificate entry (keytool -importcert).

    The first certificate of the file is imported under ``alias`` (the leaf, as the seed's browser
    export holds it); with ``chain=True`` the others follow as ``alias-2``, ``alias-3`` ...
    A new keystore is a JKS file. Aliases are lower-cased as keytool does.
    """
    certs = read_certificates(cert_path)
    if not chain:
        certs = certs[:1]
    alias = alias.strip().lower()
    if not alias:
        raise WorkbenchError("USAGE", "--alias must not be empty")
    aliases = [alias] + [f"{alias}-{n}" for n in range(2, len(certs) + 1)]
    keystore_path = Path(keystore_path).expanduser()
    real = keystore_file(keystore_path)
    created = not real.exists()
    if created:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise WorkbenchError("KEYSTORE_PASSWORD_SHORT", f"{len(password)} characters given")
        ks = jks.KeyStore.new("jks", [])
    else:
        ks = _open_jks_for_update(real, keystore_path, password)
    existing = {a.lower() for a in ks.entries}
    clash = [a for a in aliases if a in existing]
    if clash and not replace:
        raise WorkbenchError("KEYSTORE_ALIAS_EXISTS", f"{keystore_path}: alias {clash[0]!r} is already there")
    for a, cert in zip(aliases, certs):
        ks.entries[a] = jks.TrustedCertEntry.new(a, cert.public_bytes(serialization.Encoding.DER))
    _atomic_write(real, ks.saves(password))
    return ImportResult(keystore_path, created, [(a, cert_info(c)) for a, c in zip(aliases, certs)], clash)


def _open_jks_for_update(real: Path, path: Path, password: str) -> "jks.KeyStore":
    try:
        data = real.read_bytes()
    except OSError as exc:
        raise WorkbenchError("KEYSTORE_PATH_INVALID", f"{path}: cannot be read ({exc.strerror})") from None
    kind = detect_format(data)
    if kind != "jks":
        load_keystore_bytes(data, password, path)      # wrong password / corrupt first, clearer
        raise WorkbenchError("KEYSTORE_READ_ONLY", f"{path}: a {kind.upper()} keystore")
    _load_jks(data, password, path)                    # the clear errors
    ks = jks.KeyStore.loads(data, password, try_decrypt_keys=True)
    for alias, pk in ks.private_keys.items():
        if not pk.is_decrypted():
            raise WorkbenchError("KEYSTORE_READ_ONLY", f"{path}: private key {alias!r} has its own password")
    return ks


def _atomic_write(path: Path, data: bytes) -> None:
    """0600, all or nothing: a temp file in the same directory replaces ``path`` (a real file, not a link)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, data)


def write_jks(path: str | os.PathLike[str], password: str, certs: dict[str, x509.Certificate]) -> Path:
    """A new JKS truststore holding ``certs`` ({alias: certificate}); replaces ``path``."""
    entries = [jks.TrustedCertEntry.new(a, c.public_bytes(serialization.Encoding.DER)) for a, c in certs.items()]
    path = Path(path)
    _atomic_write(path, jks.KeyStore.new("jks", entries).saves(password))
    return path


# --- inspecting ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class EntryReport:
    alias: str
    kind: str
    certs: tuple[CertInfo, ...]
    warnings: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"alias": self.alias, "type": self.kind, "certificates": [c.as_dict() for c in self.certs],
                "warnings": list(self.warnings)}


@dataclass(frozen=True)
class KeystoreReport:
    path: Path
    store_type: str
    entries: tuple[EntryReport, ...]
    warnings: tuple[str, ...]              # keystore-level warnings

    def all_warnings(self) -> list[str]:
        return list(self.warnings) + [f"{e.alias}: {w}" for e in self.entries for w in e.warnings]

    def as_dict(self) -> dict:
        return {"path": str(self.path), "type": self.store_type, "entries": [e.as_dict() for e in self.entries],
                "warnings": self.all_warnings()}


def validity_warning(info: CertInfo, at: dt.datetime, warn_days: int = EXPIRY_WARNING_DAYS) -> str | None:
    """What `keystore inspect` (and `keystore import`) says about a certificate's validity, if anything."""
    if info.expired(at):
        return f"EXPIRED on {info.not_after:%Y-%m-%d} (TLS_EXPIRED)"
    if info.not_yet_valid(at):
        return f"not valid before {info.not_before:%Y-%m-%d}"
    if info.expires_within(warn_days, at):
        return f"expires in {(info.not_after - at).days} days, on {info.not_after:%Y-%m-%d}"
    return None


def inspect_keystore(keystore: Keystore, *, exchange_url: str = "", at: dt.datetime | None = None,
                     warn_days: int = EXPIRY_WARNING_DAYS) -> KeystoreReport:
    at = at or utcnow()
    host = urlsplit(exchange_url).hostname if exchange_url else None
    reports: list[EntryReport] = []
    for entry in keystore.entries:
        infos = tuple(cert_info(c) for c in entry.certs)
        warnings: list[str] = []
        for info in infos:
            label = "" if len(infos) == 1 else f"{info.subject}: "
            warning = validity_warning(info, at, warn_days)
            if warning:
                warnings.append(label + warning)
        leaf = infos[0]
        if host and not leaf.is_ca and not leaf.covers(host):
            warnings.append(f"does not cover host {host!r} of exchange_url (it names: "
                            f"{', '.join(leaf.names) or 'nothing'})")
        reports.append(EntryReport(entry.alias, entry.kind, infos, tuple(warnings)))
    top: list[str] = []
    if not keystore.trusted_certs():
        top.append("no trusted-certificate entry: the Exchange server cannot be verified (KEYSTORE_EMPTY)")
    return KeystoreReport(keystore.path, keystore.store_type, tuple(reports), tuple(top))


# --- trust --------------------------------------------------------------------------------------

def trust_context(keystore: Keystore) -> ssl.SSLContext:
    """TLS client context that trusts exactly the keystore's trusted certificates.

    Every certificate is a trust anchor (VERIFY_X509_PARTIAL_CHAIN), so a keystore holding only
    the server's own certificate works as it does in Java. No system or certifi CA is loaded;
    hostname checking and expiry checks stay on.
    """
    certs = keystore.trusted_certs()
    if not certs:
        raise WorkbenchError("KEYSTORE_EMPTY", f"{keystore.path}: {len(keystore.entries)} entries, none trusted")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    ctx.load_verify_locations(cadata=to_pem(certs))
    return ctx


# --- fetching the server's chain ----------------------------------------------------------------

def endpoint(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WorkbenchError("USAGE", f"{url!r}: expected an https:// URL")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def fetch_chain(url: str, *, timeout: float = 10.0) -> list[x509.Certificate]:
    """The certificates the server presents, leaf first, unverified (like the browser's export)."""
    host, port = endpoint(url)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise WorkbenchError("EWS_UNREACHABLE", f"{host}:{port}: {exc.strerror or exc}") from None
    try:
        with ctx.wrap_socket(raw, server_hostname=None if _is_ip(host) else host) as tls:
            ders: list[bytes] = []
            sslobj = getattr(tls, "_sslobj", None)
            getter = getattr(tls, "get_unverified_chain", None) or getattr(sslobj, "get_unverified_chain", None)
            if getter is not None:
                try:
                    ders = [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
                            for c in (getter() or [])]
                except Exception:
                    ders = []
            if not ders:
                leaf = tls.getpeercert(binary_form=True)
                ders = [leaf] if leaf else []
    except ssl.SSLError as exc:
        raise WorkbenchError(handshake_failure_code(exc), f"{host}:{port}: {exc.reason or exc}") from None
    except OSError as exc:
        raise WorkbenchError("EWS_UNREACHABLE", f"{host}:{port}: {exc.strerror or exc}") from None
    finally:
        raw.close()
    if not ders:
        raise WorkbenchError("TLS_FAILED", f"{host}:{port}: the server presented no certificate")
    return [x509.load_der_x509_certificate(d) for d in ders]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def save_pem(certs: list[x509.Certificate], path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_pem(certs), encoding="ascii")
    return path


# --- a TLS probe against exactly the keystore ---------------------------------------------------

@dataclass(frozen=True)
class TlsProbe:
    ok: bool
    code: str | None               # catalogue code when not ok
    detail: str
    presented: tuple[CertInfo, ...]


def probe_tls(url: str, keystore: Keystore, *, timeout: float = 10.0) -> TlsProbe:
    """Handshake with the keystore's trust only; tells expired, untrusted and wrong-host apart."""
    host, port = endpoint(url)
    presented: tuple[CertInfo, ...] = ()
    try:
        presented = tuple(cert_info(c) for c in fetch_chain(url, timeout=timeout))
    except WorkbenchError as exc:
        return TlsProbe(False, exc.code, exc.detail, ())
    ctx = trust_context(keystore)
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return TlsProbe(False, "EWS_UNREACHABLE", f"{host}:{port}: {exc.strerror or exc}", presented)
    try:
        with ctx.wrap_socket(raw, server_hostname=host):
            pass
    except ssl.SSLCertVerificationError as exc:
        code = {10: "TLS_EXPIRED", 62: "TLS_HOSTNAME", 64: "TLS_HOSTNAME"}.get(exc.verify_code, "TLS_UNTRUSTED")
        if code == "TLS_UNTRUSTED" and any(c.expired() for c in presented):
            code = "TLS_EXPIRED"
        return TlsProbe(False, code, f"{host}:{port}: {exc.verify_message}", presented)
    except ssl.SSLError as exc:
        return TlsProbe(False, handshake_failure_code(exc), f"{host}:{port}: {exc.reason or exc}", presented)
    except OSError as exc:
        return TlsProbe(False, "EWS_UNREACHABLE", f"{host}:{port}: {exc.strerror or exc}", presented)
    finally:
        raw.close()
    return TlsProbe(True, None, f"{host}:{port}: trusted by {keystore.path.name}", presented)
