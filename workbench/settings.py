"""The Exchange settings: every field with its default and its rule.

Values are stored as text; ``parse`` turns text into a typed value or raises
``ValidationError`` naming the field, the value and the rule. ``validate_set``
is the whole-set check behind ``workbench settings check``.
"""
from __future__ import annotations

import re
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
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_DOMAIN_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}\\[A-Za-z0-9._$-]{1,104}$")


class RuleBroken(ValueError):
    """Raised by a parser; the message is the rule."""


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise RuleBroken("true or false")


def _int_range(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise RuleBroken(f"a whole number {lo}..{hi}") from None
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
    return parse


def _url(*, ews: bool) -> Callable[[str], str]:
    def parse(text: str) -> str:
        text = text.strip()
        if not text:
            return ""
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RuleBroken("an http(s) URL with a host")
        try:
            parts.port
        except ValueError:
            raise RuleBroken("an http(s) URL with a valid port") from None
        if ews and not parts.path.lower().endswith("/ews/exchange.asmx"):
            raise RuleBroken("the EWS endpoint URL, ending in /EWS/Exchange.asmx")
        return text
    return parse


def _recipients(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    parts = text.split(";")
    for part in parts:
        if not EMAIL_RE.match(part.strip()):
            raise RuleBroken("e-mail addresses separated by semicolons, each valid "
                             f"({part.strip()!r} is not an e-mail address)")
    return ";".join(p.strip() for p in parts)


def _category(text: str) -> str:
    if not text.strip():
        raise RuleBroken("a non-empty Outlook category name")
    if text != text.strip():
        raise RuleBroken("a category name without leading or trailing spaces")
    if any(ch in text for ch in ";,"):
        raise RuleBroken("a single category name: no ';' or ','")
    if len(text) > 255:
        raise RuleBroken("a category name of at most 255 characters")
    return text


def _account(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    if EMAIL_RE.match(text) or _DOMAIN_USER_RE.match(text):
        return text
    raise RuleBroken("a user name as e-mail/UPN (svc@example.com) or DOMAIN\\user")


def _path(text: str) -> str:
    return text.strip()


@dataclass(frozen=True)
class Setting:
    key: str
    default: str
    parse: Callable[[str], Any]
    rule: str
    help: str
    required: bool = False   # must be non-empty for `settings check`


SETTINGS: dict[str, Setting] = {s.key: s for s in [
    Setting("contact_integration", "false", _bool, "true or false",
            "Master switch for contact sync."),
    Setting("sync_direction", "two-way", _choice(*DIRECTIONS), "one of " + ", ".join(DIRECTIONS),
            "Which way contacts flow."),
    Setting("slot_size_minutes", "15", _choice(15, 30), "15 or 30",
            "Period of the full reconciliation slot."),
    Setting("exchange_url", "", _url(ews=True), "https URL of the EWS endpoint (…/EWS/Exchange.asmx)",
            "EWS endpoint.", required=True),
    Setting("exchange_version", "Exchange2016", _choice(*EXCHANGE_VERSIONS),
            "one of " + ", ".join(EXCHANGE_VERSIONS), "Exchange version spoken."),
    Setting("batch_size", "512", _int_range(1, 512), "a whole number 1..512",
            "Items per EWS request (EWS's ceiling is 512)."),
    Setting("notification_url", "", _url(ews=False), "an http(s) URL with a host",
            "URL of our push listener that Exchange calls.", required=True),
    Setting("notification_frequency_minutes", "30", _int_range(1, 1440), "a whole number 1..1440",
            "EWS StatusFrequency; also the retry deadline of a mailbox's sync."),
    Setting("failure_recipients", "", _recipients, "e-mail addresses separated by semicolons, each valid",
            "Who gets failure e-mails.", required=True),
    Setting("sync_category", "PegaSASync", _category,
            "a single non-empty category name without ';' or ','",
            "Outlook category that marks synced contacts."),
    Setting("impersonation_account", "", _account,
            "a user name as e-mail/UPN (svc@example.com) or DOMAIN\\user",
            "Service account with ApplicationImpersonation (NTLM).", required=True),
    Setting("keystore_path", "", _path, "path of the JKS/PKCS12 keystore file (must exist)",
            "Keystore holding the Exchange server certificate.", required=True),
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
]}


def normalise(pairs: dict[str, str]) -> dict[str, str]:
    """Validate every pair; return canonical text values. All or nothing."""
    problems: list[str] = []
    out: dict[str, str] = {}
    for key, text in pairs.items():
        setting = SETTINGS.get(key)
        if setting is None:
            problems.append(f"{key}: unknown setting (known: {', '.join(SETTINGS)})")
            continue
        try:
            value = setting.parse(text)
        except RuleBroken as exc:
            problems.append(f"{key}={text!r} refused: must be {exc}")
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

    @property
    def recipients(self) -> list[str]:
        return [r for r in self.failure_recipients.split(";") if r]

    @classmethod
    def from_text(cls, stored: dict[str, str]) -> "ExchangeSettings":
        values = {key: s.parse(stored.get(key, s.default)) for key, s in SETTINGS.items()}
        return cls(**values)


def check_set(stored: dict[str, str]) -> list[str]:
    """Every violation of the stored set as a whole (empty list = valid)."""
    problems: list[str] = []
    for key, setting in SETTINGS.items():
        text = stored.get(key, setting.default)
        try:
            setting.parse(text)
        except RuleBroken as exc:
            problems.append(f"{key}={text!r}: must be {exc}")
            continue
        if setting.required and not text.strip():
            problems.append(f"{key}: empty; required ({setting.rule})")
    url = stored.get("exchange_url", "")
    if url and urlsplit(url).scheme != "https":
        problems.append(f"exchange_url={url!r}: must be https (EWS credentials never travel in clear)")
    ks = stored.get("keystore_path", "")
    if ks:
        if not Path(ks).expanduser().is_file():
            problems.append(f"keystore_path={ks!r}: no such file (create it with `workbench keystore import`)")
    return problems
