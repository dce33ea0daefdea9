"""The Exchange settings: every field with its default and its rule.

Values are stored as text; ``Setting.parse`` turns text into a typed value or raises
``RuleBroken`` (``normalise`` collects them into one ``ValidationError`` naming the field, an
excerpt of the value and the rule). Every setting first passes the one shared rule, printable
text a person meant of bounded length (``unmeant_character``); then its own. ``check_set`` is the
whole-set check behind ``workbench settings check``.
"""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from workbench.errors import ValidationError

# Exchange2019 and ExchangeSE send RequestServerVersion Exchange2016 (the schema's newest); they are told
# apart by the build the server reports (see workbench/exchange/versions.py and docs/exchange.md).
EXCHANGE_VERSIONS = ("Exchange2010", "Exchange2013", "Exchange2016", "Exchange2019", "ExchangeSE")
# where a CRM delete puts the Exchange item: DeleteItem MoveToDeletedItems / SoftDelete / HardDelete
DELETE_TARGETS = ("deleted-items", "recoverable-items", "hard")
DIRECTIONS = ("crm-to-exchange", "exchange-to-crm", "two-way")
CONFLICT_POLICIES = ("crm-wins", "exchange-wins", "manual")
#: how mailboxes are reached: EWS (on-premises, NTLM impersonation) or Microsoft Graph (Exchange Online)
BACKENDS = ("ews", "graph")
_GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}
_DOMAIN = (r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
           r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@" + _DOMAIN + r"\Z")
#: the service account: letters, digits, '.', '_', '-' only (no quotes or other punctuation)
_UPN_RE = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*@" + _DOMAIN)
_DOMAIN_USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}\\[A-Za-z0-9._$-]{1,104}")
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_NETLOC_RE = re.compile(r"(?:\[(?P<v6>[^\]]*)\]|(?P<name>[^:\[\]]*))(?::(?P<port>.*))?")
_BIDI = {*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)), "\u200e", "\u200f", "\u061c"}
_LINE_BREAKS = {"\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029"}

MAX_CHARS = 255            # the longest value of a setting whose rule sets no other bound
URL_MAX_CHARS = 2048
PATH_MAX_CHARS = 4096
EXCERPT_CHARS = 60         # an error quotes at most this much of a value


class RuleBroken(ValueError):
    """Raised by a parser; the message is the rule."""


def unmeant_character(text: str) -> tuple[int, str] | None:
    """(1-based position, what it is) of the first character of ``text`` nobody means to type, or None.

    "Printable text a person meant" excludes every Unicode control, format, surrogate, private-use
    and unassigned character (categories C*) and the line/paragraph separators (Zl, Zp): line breaks,
    tabs, ANSI escapes (ESC), bidi overrides and isolates, zero-width characters, undecodable bytes.
    """
    for pos, ch in enumerate(text, start=1):
        cat = unicodedata.category(ch)
        if cat[0] != "C" and cat not in ("Zl", "Zp"):
            continue
        if ch in _LINE_BREAKS or cat in ("Zl", "Zp"):
            what = "a line break"
        elif ch == "\x1b":
            what = "an escape character (ANSI escape)"
        elif ch in _BIDI:
            what = "a bidirectional-text control"
        elif cat == "Cc":
            what = "a control character"
        elif cat == "Cs":
            what = "a byte that is not UTF-8"
        else:
            what = "an invisible or unassigned character"
        return pos, f"{what} U+{ord(ch):04X}"
    return None


def _person_text(text: str, limit: int) -> None:
    """The rule every setting shares: printable text a person meant, of bounded length."""
    found = unmeant_character(text)
    if found:
        pos, what = found
        raise RuleBroken("printable text without control characters, line breaks, ANSI escapes or "
                         f"bidi/invisible characters ({what} at character {pos})")
    if len(text) > limit:
        raise RuleBroken(f"at most {limit} characters (this value has {len(text)})")


def excerpt(text: str) -> str:
    """``text`` as an error quotes it: escaped (repr), a URL's password masked, at most EXCERPT_CHARS."""
    text = re.sub(r"(://[^/?#@:]*:)[^@]*@", r"\1********@", text)    # up to the last '@': over-masks, never leaks
    if len(text) <= EXCERPT_CHARS:
        return repr(text)
    return f"{text[:EXCERPT_CHARS]!r}… ({len(text)} characters)"


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise RuleBroken("true or false")


_bool.options = ("true", "false")   # type: ignore[attr-defined]   # a closed list: Setting.choices


def whole_number(text: str) -> int | None:
    """``text`` (outer spaces allowed) as a whole number written in ASCII digits, else None.

    Python's int() also reads '５１２', '٣٢', '1_0' and '+5'; a setting or an option never does.
    """
    digits = text.strip()
    return int(digits) if re.fullmatch(r"[0-9]{1,9}", digits) else None


def _int_range(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = whole_number(text)
        if value is None:
            raise RuleBroken(f"a whole number {lo}..{hi} in ASCII digits 0-9 (no sign, '_' or other scripts)")
        if not lo <= value <= hi:
            raise RuleBroken(f"a whole number {lo}..{hi}")
        return value
    return parse


def _choice(*options: str | int) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        for option in options:
            if text.strip() == str(option):
                return option
        raise RuleBroken("one of " + ", ".join(str(o) for o in options))
    parse.options = tuple(str(o) for o in options)   # type: ignore[attr-defined]   # Setting.choices
    return parse


def _host_name(name: str) -> bool:
    name = name[:-1] if name.endswith(".") else name
    try:
        ascii_name = name if name.isascii() else name.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return 0 < len(ascii_name) <= 253 and all(_LABEL_RE.fullmatch(label) for label in ascii_name.split("."))


def _netloc(netloc: str) -> None:
    """Host (a DNS name, IPv4, or an IPv6 literal in brackets) and optional port 1..65535; nothing else."""
    if "@" in netloc:
        raise RuleBroken("a URL without user name or password: credentials never belong in a URL "
                         "(the password comes from WORKBENCH_EWS_PASSWORD or the keyring)")
    m = _NETLOC_RE.fullmatch(netloc)
    if m is None:
        raise RuleBroken("an http(s) URL with a valid host")
    if m["v6"] is not None:
        try:
            if "%" in m["v6"]:
                raise ValueError
            ipaddress.IPv6Address(m["v6"])
        except ValueError:
            raise RuleBroken("an http(s) URL whose IPv6 host is a valid address in brackets, like [::1]") from None
    elif not _host_name(m["name"]):
        raise RuleBroken("an http(s) URL with a valid host name (letters, digits, '-' and '.')")
    port = m["port"]
    if port is not None and not (re.fullmatch(r"[0-9]{1,5}", port) and 1 <= int(port) <= 65535):
        raise RuleBroken("an http(s) URL with a valid port (1..65535)")


def _url(*, ews: bool) -> Callable[[str], str]:
    def parse(text: str) -> str:
        text = text.strip()
        if not text:
            return ""
        if any(ch.isspace() for ch in text):
            raise RuleBroken("a URL without spaces (write a space in the path as %20)")
        try:
            parts = urlsplit(text)
        except ValueError:      # e.g. an unclosed IPv6 bracket
            raise RuleBroken("an http(s) URL with a valid host (an IPv6 address in brackets, like [::1])") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RuleBroken("an http(s) URL with a host")
        _netloc(parts.netloc)
        if ews and not parts.path.lower().endswith("/ews/exchange.asmx"):
            raise RuleBroken("the EWS endpoint URL, ending in /EWS/Exchange.asmx")
        return text
    return parse


def parse_url(text: str) -> str:
    """An http(s) URL given outside the settings (a command-line argument), by the URL settings' rules."""
    _person_text(text, URL_MAX_CHARS)
    return _url(ews=False)(text)


def _recipients(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    parts = text.split(";")
    for part in parts:
        if not EMAIL_RE.match(part.strip()):
            raise RuleBroken("e-mail addresses separated by semicolons, each valid "
                             f"({excerpt(part.strip())} is not an e-mail address)")
    return ";".join(p.strip() for p in parts)


def _category(text: str) -> str:
    if not text.strip():
        raise RuleBroken("a non-empty Outlook category name")
    if text != text.strip():
        raise RuleBroken("a category name without leading or trailing spaces")
    if any(ch in text for ch in ";,"):
        raise RuleBroken("a single category name: no ';' or ','")
    return text


def _account(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    if _UPN_RE.fullmatch(text) or _DOMAIN_USER_RE.fullmatch(text):
        return text
    raise RuleBroken("a user name as e-mail/UPN (svc@example.com) or DOMAIN\\user, "
                     "of letters, digits, '.', '_' and '-'")


def _path(text: str) -> str:
    return text.strip()


def _guid(text: str) -> str:
    text = text.strip()
    if text and not _GUID_RE.fullmatch(text):
        raise RuleBroken("a GUID like 1b2c3d4e-0000-4000-8000-00000000abcd (the app registration's id)")
    return text.lower()


def _tenant(text: str) -> str:
    text = text.strip()
    if not text or _GUID_RE.fullmatch(text):
        return text.lower()
    if _host_name(text) and "." in text:
        return text.lower()
    raise RuleBroken("the directory (tenant) id as a GUID, or its domain name like contoso.onmicrosoft.com")


def _https_url(text: str) -> str:
    url = _url(ews=False)(text)
    if url and urlsplit(url).scheme != "https":
        raise RuleBroken("an https URL (tokens never travel in clear)")
    return url.rstrip("/")


def _mailbox_address(text: str) -> str:
    text = text.strip()
    if text and not EMAIL_RE.match(text):
        raise RuleBroken("an e-mail address (the mailbox's primary SMTP address)")
    return text


@dataclass(frozen=True)
class Setting:
    key: str
    default: str
    reader: Callable[[str], Any]     # the setting's own rule: text -> typed value, or RuleBroken
    rule: str
    help: str
    required: bool = False   # must be non-empty for `settings check`
    max_chars: int = MAX_CHARS
    backend: str | None = None   # required only when this backend serves some mailbox (None: always)

    @property
    def choices(self) -> tuple[str, ...]:
        """The closed list of values this setting's rule accepts (empty for an open rule)."""
        return tuple(getattr(self.reader, "options", ()))

    def parse(self, text: str) -> Any:
        """The typed value of ``text``: printable text a person meant first, then the setting's own rule."""
        _person_text(text, self.max_chars)
        return self.reader(text)


SETTINGS: dict[str, Setting] = {s.key: s for s in [
    Setting("contact_integration", "false", _bool, "true or false",
            "Master switch for contact sync."),
    Setting("sync_direction", "two-way", _choice(*DIRECTIONS), "one of " + ", ".join(DIRECTIONS),
            "Which way contacts flow."),
    Setting("slot_size_minutes", "15", _choice(15, 30), "15 or 30",
            "Period of the full reconciliation slot."),
    Setting("exchange_url", "", _url(ews=True), "https URL of the EWS endpoint (…/EWS/Exchange.asmx)",
            "EWS endpoint.", required=True, max_chars=URL_MAX_CHARS, backend="ews"),
    Setting("exchange_version", "Exchange2016", _choice(*EXCHANGE_VERSIONS),
            "one of " + ", ".join(EXCHANGE_VERSIONS), "Exchange version spoken."),
    Setting("batch_size", "512", _int_range(1, 512), "a whole number 1..512",
            "Items per EWS request (EWS's ceiling is 512)."),
    Setting("notification_url", "", _url(ews=False), "an http(s) URL with a host",
            "URL of our push listener that Exchange calls.", required=True, max_chars=URL_MAX_CHARS),
    Setting("notification_frequency_minutes", "30", _int_range(1, 1440), "a whole number 1..1440",
            "EWS StatusFrequency; also the retry deadline of a mailbox's sync."),
    Setting("failure_recipients", "", _recipients, "e-mail addresses separated by semicolons, each valid",
            "Who gets failure e-mails.", required=True, max_chars=URL_MAX_CHARS),
    Setting("sync_category", "PegaSASync", _category,
            "a single non-empty category name without ';' or ','",
            "Outlook category that marks synced contacts."),
    Setting("impersonation_account", "", _account,
            "a user name as e-mail/UPN (svc@example.com) or DOMAIN\\user",
            "Service account with ApplicationImpersonation (NTLM).", required=True, backend="ews"),
    Setting("keystore_path", "", _path, "path of the JKS/PKCS12 keystore file (must exist)",
            "Keystore holding the Exchange server certificate.", required=True,
            max_chars=PATH_MAX_CHARS, backend="ews"),
    Setting("include_private", "false", _bool, "true or false",
            "Sync private Exchange contacts too."),
    Setting("conflict_policy", "crm-wins", _choice(*CONFLICT_POLICIES),
            "one of " + ", ".join(CONFLICT_POLICIES), "Who wins when both sides changed."),
    Setting("max_concurrent_mailboxes", "4", _int_range(1, 16), "a whole number 1..16",
            "Mailboxes synced at once (respect Exchange throttling)."),
    Setting("mass_delete_percent", "20", _int_range(0, 100), "a whole number 0..100",
            "Share of a mailbox's links a plan may delete or unlink before it stops and asks."),
    Setting("delete_to", "deleted-items", _choice(*DELETE_TARGETS), "one of " + ", ".join(DELETE_TARGETS),
            "Where a CRM delete puts the Exchange contact: Deleted Items, Recoverable Items, or gone."),
    # --- Microsoft Graph (issue 14); the client secret comes from WORKBENCH_GRAPH_CLIENT_SECRET / keyring / prompt
    Setting("backend", "ews", _choice(*BACKENDS), "one of " + ", ".join(BACKENDS),
            "How mailboxes are reached: ews (on-premises) or graph (Exchange Online); operators may override it."),
    Setting("graph_tenant_id", "", _tenant, "the directory (tenant) id as a GUID or its domain name",
            "Entra ID tenant of the app.", required=True, backend="graph"),
    Setting("graph_client_id", "", _guid, "a GUID (the app registration's application id)",
            "Application (client) id of the app registration.", required=True, backend="graph"),
    Setting("graph_certificate_path", "", _path, "path of one PEM file with private key and certificate "
            "(must exist; empty: client secret)", "App certificate (recommended over a secret).",
            max_chars=PATH_MAX_CHARS),
    Setting("graph_authority_host", "https://login.microsoftonline.com", _https_url, "an https URL",
            "Identity platform host (national clouds: login.microsoftonline.us, login.partner.microsoftonline.cn).",
            max_chars=URL_MAX_CHARS),
    Setting("graph_endpoint", "https://graph.microsoft.com/v1.0", _https_url, "an https URL ending in /v1.0",
            "Graph endpoint (national clouds: graph.microsoft.us, microsoftgraph.chinacloudapi.cn).",
            max_chars=URL_MAX_CHARS),
    Setting("graph_ca_bundle", "", _path, "path of a PEM CA bundle (must exist; empty: the system CA store)",
            "Pinned CA for Graph and the identity platform (a TLS-inspecting proxy, the sandbox).",
            max_chars=PATH_MAX_CHARS),
    Setting("graph_service_mailbox", "", _mailbox_address, "an e-mail address",
            "Mailbox the failure e-mail is sent from over Graph (sendMail).", required=True, backend="graph"),
]}


def normalise(pairs: dict[str, str]) -> dict[str, str]:
    """Validate every pair; return canonical text values. All or nothing."""
    problems: list[str] = []
    out: dict[str, str] = {}
    for key, text in pairs.items():
        setting = SETTINGS.get(key)
        if setting is None:
            problems.append(f"{excerpt(key)}: unknown setting (known: {', '.join(SETTINGS)})")
            continue
        try:
            value = setting.parse(text)
        except RuleBroken as exc:
            problems.append(f"{key}={excerpt(text)} refused: must be {exc}")
            continue
        out[key] = _to_text(value)
    if problems:
        raise ValidationError("SETTING_INVALID", problems)
    return out


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class ExchangeSettings:
    """The typed, complete set, as services use it."""
    contact_integration: bool
    sync_direction: str
    slot_size_minutes: int
    exchange_url: str
    exchange_version: str
    batch_size: int
    notification_url: str
    notification_frequency_minutes: int
    failure_recipients: str
    sync_category: str
    impersonation_account: str
    keystore_path: str
    include_private: bool
    conflict_policy: str
    max_concurrent_mailboxes: int
    mass_delete_percent: int
    delete_to: str
    backend: str
    graph_tenant_id: str
    graph_client_id: str
    graph_certificate_path: str
    graph_authority_host: str
    graph_endpoint: str
    graph_ca_bundle: str
    graph_service_mailbox: str
    #: per-operator overrides of ``backend`` (lower-case mailbox address, kind), loaded from the operators table
    operator_backends: tuple[tuple[str, str], ...] = ()

    def backend_for(self, address: str) -> str:
        """The backend serving ``address``: the operator's override, else the organisation's."""
        return dict(self.operator_backends).get(address.lower(), self.backend)

    @property
    def backends_in_use(self) -> set[str]:
        return {self.backend, *(kind for _address, kind in self.operator_backends)}

    @property
    def recipients(self) -> list[str]:
        return [r for r in self.failure_recipients.split(";") if r]

    @classmethod
    def from_text(cls, stored: dict[str, str]) -> "ExchangeSettings":
        values = {key: s.parse(stored.get(key, s.default)) for key, s in SETTINGS.items()}
        return cls(**values)


def check_set(stored: dict[str, str], backends_in_use: set[str] | None = None) -> list[str]:
    """Every violation of the stored set as a whole (empty list = valid).

    ``backends_in_use``: the backends serving some mailbox (the organisation's ``backend`` and the operators'
    overrides); a backend's own settings are required only when it is in use.
    """
    problems: list[str] = []
    broken: set[str] = set()
    in_use = set(backends_in_use or ()) | {stored.get("backend", SETTINGS["backend"].default).strip()}
    for key, setting in SETTINGS.items():
        text = stored.get(key, setting.default)
        try:
            setting.parse(text)
        except RuleBroken as exc:
            problems.append(f"{key}={excerpt(text)}: must be {exc}")
            broken.add(key)
            continue
        if setting.required and not text.strip() and (setting.backend is None or setting.backend in in_use):
            why = f"required for backend {setting.backend}" if setting.backend else "required"
            problems.append(f"{key}: empty; {why} ({setting.rule})")
    url = stored.get("exchange_url", "")
    if url and "exchange_url" not in broken and urlsplit(url.strip()).scheme != "https":
        problems.append(f"exchange_url={excerpt(url)}: must be https (EWS credentials never travel in clear)")
    ks = stored.get("keystore_path", "")
    if ks and "keystore_path" not in broken and not _is_file(ks.strip()):
        problems.append(f"keystore_path={excerpt(ks)}: no such file (create it with `workbench keystore import`)")
    if "graph" in in_use:
        problems += _check_graph(stored, broken)
    return problems


def _check_graph(stored: dict[str, str], broken: set[str]) -> list[str]:
    """The Graph settings as a whole: files exist, a certificate or a secret source, an endpoint in /v1.0."""
    problems = []
    for key, what in (("graph_certificate_path", "the app's PEM (private key + certificate)"),
                      ("graph_ca_bundle", "the PEM CA bundle")):
        text = stored.get(key, "").strip()
        if text and key not in broken and not _is_file(text):
            problems.append(f"{key}={excerpt(text)}: no such file ({what})")
    endpoint = stored.get("graph_endpoint", SETTINGS["graph_endpoint"].default)
    if "graph_endpoint" not in broken and not endpoint.rstrip("/").endswith("/v1.0"):
        problems.append(f"graph_endpoint={excerpt(endpoint)}: must end in /v1.0 (the Graph API version used)")
    return problems


def _is_file(text: str) -> bool:
    try:
        return Path(text).expanduser().is_file()
    except (RuntimeError, OSError):      # ~unknown-user, a name too long for the file system
        return False
