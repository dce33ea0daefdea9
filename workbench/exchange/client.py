"""The connection to Exchange, as the seed prescribes it.

- NTLM with ``impersonation_account`` and its password;
- every mailbox through ExchangeImpersonation (``account(mailbox)``, cached);
- the EWS version pinned from ``exchange_version`` (no probing); the version the
  server reports is compared with it (``server_version()``; a warning is logged
  when it differs);
- TLS trust = exactly the certificates of the configured keystore, set where
  REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE cannot override it (see ``trust``);
- a bounded retry policy: ``retry_max_wait=None`` (default) fails fast; a number
  of seconds retries transient faults (throttling, 5xx, dropped connections)
  up to that budget per request. A 401 is never retried.

``connect(settings)`` fetches the passwords through ``workbench.secrets``; the Exchange layer is given
settings, it never reads the store.
Every exception leaving this module is a ``WorkbenchError`` from the catalogue.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from exchangelib import IMPERSONATION, NTLM, Account, Configuration, Credentials, FailFast, FaultTolerance, Version
from exchangelib.errors import ErrorNameResolutionMultipleResults, UnauthorizedError
from exchangelib.ewsdatetime import UTC
from exchangelib.protocol import Protocol
from exchangelib.version import Build

from workbench import secrets
from workbench.errors import WorkbenchError
from workbench.exchange import keystore as ks
from workbench.exchange import trust
from workbench.exchange.errors_map import NotEwsAnswer, not_ews_answer, to_workbench_error
from workbench.exchange.pool import PoolSafeProtocol
from workbench.exchange.versions import GENERATIONS, generation_of
from workbench.settings import ExchangeSettings

log = logging.getLogger("workbench.exchange")

PINNED_BUILDS: dict[str, Build] = {name: g.pinned for name, g in GENERATIONS.items()}
DEFAULT_TIMEOUT = 60          # seconds per HTTP request


def product_name(build: Build | None) -> str:
    """The exchange_version name of a server build (15.2 below build 2562 is 2019, from 2562 on SE)."""
    if build is None:
        return "unknown"
    generation = generation_of(build)
    return generation.setting if generation else f"Exchange build {build}"


class _EwsAnswersOnly:
    """Refuses an answer that cannot come from EWS (an HTML page, no XML) before exchangelib reads it:
    it would take a web server's 5xx with ``Connection: close`` for a busy Exchange and retry it."""

    def raise_response_errors(self, response):
        reason = not_ews_answer(response)
        if reason:
            raise NotEwsAnswer(f"{response.url}: {reason}")
        return super().raise_response_errors(response)


class StrictFailFast(_EwsAnswersOnly, FailFast):
    """exchangelib's FailFast that also refuses non-EWS answers."""


class BoundedRetry(_EwsAnswersOnly, FaultTolerance):
    """exchangelib's FaultTolerance with a budget, where a 401 is final (never an hour of retries)."""

    def raise_response_errors(self, response):
        if response.status_code == 401:
            raise UnauthorizedError(f"Invalid credentials for {response.url}")
        return super().raise_response_errors(response)


def retry_policy(retry_max_wait: float | None):
    if not retry_max_wait:
        return StrictFailFast()
    return BoundedRetry(max_wait=float(retry_max_wait))


@dataclass(frozen=True)
class ServerVersion:
    configured: str
    reported: str                # product name from the server's ServerVersionInfo
    build: str                   # e.g. "15.1.2507.6"
    api_version: str             # the API version exchangelib will speak from now on

    @property
    def matches(self) -> bool:
        return self.reported == self.configured


class ExchangeConnection:
    """One endpoint, one service account, one keystore; accounts per mailbox.

    ``retry_max_wait``: None (default) = FailFast, every error at once (what ``workbench check``
    uses, and the engine and agent, which retry themselves); seconds = exchangelib retries
    transient faults up to that budget. ``timeout``: seconds per HTTP request.
    """

    def __init__(self, settings: ExchangeSettings, password: str, keystore_password: str, *,
                 retry_max_wait: float | None = None, max_connections: int | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        if not settings.exchange_url:
            raise WorkbenchError("SETTINGS_INCOMPLETE", "exchange_url is empty")
        if not settings.impersonation_account:
            raise WorkbenchError("SETTINGS_INCOMPLETE", "impersonation_account is empty")
        if not settings.keystore_path:
            raise WorkbenchError("SETTINGS_INCOMPLETE", "keystore_path is empty")
        if not settings.exchange_url.lower().startswith("https://"):
            raise WorkbenchError("SETTINGS_INCOMPLETE", "exchange_url must be https")
        secrets.remember(password)
        secrets.remember(keystore_password)
        self.settings = settings
        self.url = settings.exchange_url
        self.keystore = ks.load_keystore(settings.keystore_path, keystore_password)
        self._ssl_context = ks.trust_context(self.keystore)
        trust.install()
        trust.register(self.url, self._ssl_context)
        self._registered = True
        self.retry_max_wait = retry_max_wait
        generation = GENERATIONS[settings.exchange_version]
        self.pinned = Version(build=generation.pinned, api_version=generation.request_version)
        self.config = Configuration(
            credentials=Credentials(settings.impersonation_account, password),
            service_endpoint=self.url,
            auth_type=NTLM,
            version=Version(build=self.pinned.build, api_version=self.pinned.api_version),
            retry_policy=retry_policy(retry_max_wait),
            max_connections=max_connections or max(1, settings.max_concurrent_mailboxes),
        )
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {}
        self._version_warned = False
        # A fresh protocol for this connection: exchangelib caches protocols per (endpoint, credentials),
        # and a cached one would carry another connection's version and retry policy.
        self._evict()
        try:
            self.protocol = PoolSafeProtocol(config=self.config)
        except Exception as exc:
            self.close()
            raise to_workbench_error(exc) from None
        self.protocol.TIMEOUT = timeout
        self.request_timeout = timeout

    def __repr__(self) -> str:
        return f"ExchangeConnection({self.url!r}, account={self.settings.impersonation_account!r})"

    def __enter__(self) -> "ExchangeConnection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- mailboxes

    def account(self, mailbox: str) -> Account:
        """The impersonated mailbox (pinned version, keystore trust); cached per address. Sends nothing."""
        key = mailbox.strip().lower()
        with self._lock:
            acc = self._accounts.get(key)
            if acc is not None:
                return acc
            try:
                acc = Account(primary_smtp_address=mailbox.strip(), config=self.config, access_type=IMPERSONATION,
                              autodiscover=False, default_timezone=UTC)
            except ValueError as exc:
                raise WorkbenchError("EWS_MAILBOX_NOT_FOUND", f"{mailbox!r}: {exc}", mailbox=mailbox) from None
            except Exception as exc:
                raise to_workbench_error(exc, mailbox=mailbox) from None
            acc.protocol = self.protocol
            self._accounts[key] = acc
            return acc

    def verify_mailbox(self, mailbox: str) -> str:
        """Open the mailbox's root folder through impersonation; returns the API version spoken.

        Raises EWS_IMPERSONATION_DENIED, EWS_MAILBOX_NOT_FOUND, EWS_AUTH_REJECTED, TLS_* ...
        """
        acc = self.account(mailbox)
        try:
            acc.root.refresh() if "root" in acc.__dict__ else acc.root
        except Exception as exc:
            # a failed first GetFolder must not stay cached on the account
            acc.__dict__.pop("root", None)
            raise to_workbench_error(exc, mailbox=mailbox) from None
        self._note_version(acc.version)
        return acc.version.api_version

    def resolve_primary(self, email: str) -> str:
        """Primary SMTP address of the mailbox that has ``email`` (primary or alias), via ResolveNames."""
        wanted = email.strip()
        try:
            results = self.protocol.resolve_names([f"smtp:{wanted}"], search_scope="ActiveDirectory")
        except ErrorNameResolutionMultipleResults:
            results = []
        except Exception as exc:
            raise to_workbench_error(exc, mailbox=wanted) from None
        self._note_version(self.config.version)
        mailboxes = [r for r in results if not isinstance(r, BaseException)]
        errors = [r for r in results if isinstance(r, BaseException)]
        mailboxes = [mb for mb in mailboxes if getattr(mb, "email_address", None)
                     and (getattr(mb, "mailbox_type", None) in (None, "Mailbox"))]
        if not mailboxes:
            if errors and not isinstance(errors[0], ErrorNameResolutionMultipleResults):
                err = to_workbench_error(errors[0], mailbox=wanted)
                if err.code != "EWS_MAILBOX_NOT_FOUND":
                    raise err
            raise WorkbenchError("EWS_MAILBOX_NOT_FOUND", f"{wanted}: no mailbox has this address", mailbox=wanted)
        exact = [mb for mb in mailboxes if mb.email_address.lower() == wanted.lower()]
        if exact:
            return exact[0].email_address
        if len(mailboxes) == 1:
            return mailboxes[0].email_address
        raise WorkbenchError("EWS_MAILBOX_NOT_FOUND",
                             f"{wanted}: ambiguous, {len(mailboxes)} mailboxes match "
                             f"({', '.join(mb.email_address for mb in mailboxes[:5])})", mailbox=wanted)

    # --- server

    def ping(self) -> None:
        """One authenticated request that needs no mailbox (ResolveNames of the service account).

        Proves TLS trust and credentials; the answer's ServerVersionInfo feeds ``server_version``.
        """
        try:
            self.protocol.resolve_names([self.settings.impersonation_account.split("\\")[-1]])
        except ErrorNameResolutionMultipleResults:
            pass
        except Exception as exc:
            err = to_workbench_error(exc)
            if err.code != "EWS_MAILBOX_NOT_FOUND":   # "no result" still proves the login
                raise err from None
        self._note_version(self.config.version)

    def server_version(self) -> ServerVersion:
        """What the server reported in its last answer (``ping`` first if nothing was asked yet)."""
        version = self.config.version
        if version is None or version.build == self.pinned.build:
            self.ping()
            version = self.config.version
        return ServerVersion(configured=self.settings.exchange_version, reported=product_name(version.build),
                             build=str(version.build), api_version=version.api_version)

    def _note_version(self, version: Version | None) -> None:
        if version is None or self._version_warned:
            return
        reported = product_name(version.build)
        if version.build != self.pinned.build and reported != self.settings.exchange_version:
            self._version_warned = True
            log.warning("Exchange at %s reports %s (build %s); exchange_version is %s",
                        self.url, reported, version.build, self.settings.exchange_version)

    # --- lifecycle

    def _evict(self) -> None:
        try:
            cached, _ = Protocol[self.config]
        except KeyError:
            return
        try:
            del Protocol[self.config]
        except KeyError:
            pass
        if not isinstance(cached, Exception):
            try:
                cached.close()
            except Exception:
                pass

    def close(self) -> None:
        """Close the sessions, forget the accounts and the endpoint's trust registration."""
        with self._lock:
            self._accounts.clear()
        protocol = getattr(self, "protocol", None)
        if protocol is not None:
            try:
                if Protocol[self.config][0] is protocol:
                    del Protocol[self.config]
            except KeyError:
                pass
            try:
                protocol.close()
            except Exception:
                pass
        if getattr(self, "_registered", False):
            trust.unregister(self.url)
            self._registered = False


def connect(settings: ExchangeSettings, *, password: str | None = None, keystore_password: str | None = None,
            **kwargs: Any) -> ExchangeConnection:
    """An ExchangeConnection for ``settings``.

    Missing passwords come from ``workbench.secrets`` (environment, keyring, prompt on a TTY).
    Extra keyword arguments (``retry_max_wait``, ``timeout`` ...) go to ``ExchangeConnection``.
    """
    if keystore_password is None:
        keystore_password = secrets.keystore_password(settings.keystore_path)
    if password is None:
        password = secrets.ews_password(settings.impersonation_account)
    return ExchangeConnection(settings, password, keystore_password, **kwargs)
