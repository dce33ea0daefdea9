"""exchangelib, HTTP, TLS and socket exceptions -> the failure catalogue.

``to_workbench_error(exc, mailbox=...)`` never raises; the detail names the
mailbox and the underlying message (with any known password scrubbed).
Unknown exceptions become EWS_PROTOCOL, so no traceback reaches a user.
"""
from __future__ import annotations

import socket
import ssl

import requests.exceptions
from exchangelib import errors as ee
from exchangelib.util import is_xml

from workbench.errors import WorkbenchError
from workbench.secrets import redact


class NotEwsAnswer(ee.TransportError):
    """The EWS URL answered, but not as EWS (see ``not_ews_answer``)."""


# exchangelib class -> catalogue code (checked in order; first isinstance match wins)
_EWS_CODES: list[tuple[tuple[type[BaseException], ...], str]] = [
    ((NotEwsAnswer,), "EWS_NOT_EXCHANGE"),
    ((ee.UnauthorizedError, ee.ErrorAccountDisabled, ee.ErrorPasswordExpired,
      getattr(ee, "ErrorPasswordChangeRequired", ee.ErrorAccountDisabled)), "EWS_AUTH_REJECTED"),
    ((ee.ErrorImpersonateUserDenied, ee.ErrorImpersonationDenied, ee.ErrorImpersonationFailed,
      ee.ErrorAccessDenied), "EWS_IMPERSONATION_DENIED"),
    ((ee.ErrorNonExistentMailbox, ee.ErrorNameResolutionNoResults, ee.ErrorInvalidSmtpAddress,
      ee.ErrorMailRecipientNotFound, ee.ErrorNoPublicFolderReplicaAvailable), "EWS_MAILBOX_NOT_FOUND"),
    ((ee.ErrorServerBusy, ee.RateLimitError, ee.ErrorTooManyObjectsOpened), "EWS_THROTTLED"),
    ((ee.ErrorInvalidServerVersion, ee.ErrorInvalidSchemaVersionForMailboxVersion, ee.ErrorIncorrectSchemaVersion),
     "EWS_VERSION_UNSUPPORTED"),
    ((ee.ErrorInvalidChangeKey, ee.ErrorIrresolvableConflict, ee.ErrorChangeKeyRequiredForWriteOperations),
     "EWS_CONFLICT"),
    ((ee.ErrorQuotaExceeded,), "EWS_MAILBOX_FULL"),
    ((ee.ErrorItemNotFound, ee.ErrorItemSave, ee.ErrorCannotDeleteObject,
      ee.ErrorInvalidPropertySet, ee.ErrorInvalidIdMalformed, ee.ErrorMessageSizeExceeded, ee.ErrorCorruptData,
      ee.ErrorItemCorrupt, ee.ErrorInvalidPropertyRequest, ee.ErrorObjectTypeChanged), "EWS_ITEM_REJECTED"),
    ((ee.ErrorTimeoutExpired,), "EWS_TIMEOUT"),
    ((ee.ErrorInternalServerError, ee.ErrorInternalServerTransientError, ee.ErrorMailboxStoreUnavailable,
      ee.ErrorMailboxMoveInProgress, ee.ErrorADUnavailable, ee.ErrorConnectionFailed), "EWS_SERVER_ERROR"),
    ((ee.ErrorSubscriptionNotFound, ee.ErrorSubscriptionUnsubsribed), "SUBSCRIPTION_LAPSED"),
]

_NETWORK_UNREACHABLE = (ConnectionRefusedError, socket.gaierror, requests.exceptions.ConnectTimeout)
_NETWORK_DROPPED = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, socket.timeout, TimeoutError,
                    requests.exceptions.ReadTimeout, requests.exceptions.ChunkedEncodingError)


def _chain(exc: BaseException, limit: int = 24) -> list[BaseException]:
    """exc and every exception it wraps (cause, context, args, urllib3's .reason), breadth first."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < limit:
        cur = todo.pop(0)
        if cur is None or any(cur is s for s in seen):
            continue
        seen.append(cur)
        for nxt in (cur.__cause__, cur.__context__, getattr(cur, "reason", None)):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
        for arg in getattr(cur, "args", ()):
            if isinstance(arg, BaseException):
                todo.append(arg)
    return seen


def _tls_code(chain: list[BaseException], text: str) -> str | None:
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return {10: "TLS_EXPIRED", 62: "TLS_HOSTNAME", 64: "TLS_HOSTNAME"}.get(e.verify_code, "TLS_UNTRUSTED")
    if "CERTIFICATE_VERIFY_FAILED" in text:
        if "has expired" in text:
            return "TLS_EXPIRED"
        if "mismatch" in text or "doesn't match" in text:
            return "TLS_HOSTNAME"
        return "TLS_UNTRUSTED"
    if any(isinstance(e, (ssl.SSLError, requests.exceptions.SSLError)) for e in chain) or "SSLError" in text:
        return "TLS_HANDSHAKE_CUT" if _handshake_cut(chain, text) else "TLS_FAILED"
    return None


# The peer (or a device on the path) closed or reset the TCP connection mid-handshake: transient,
# unlike a protocol or certificate mismatch, which every retry meets again.
_CUT_CLASSES = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, ConnectionAbortedError,
                BrokenPipeError)
_CUT_TEXTS = ("unexpected_eof_while_reading", "eof occurred in violation of protocol", "connection reset",
              "connection aborted", "broken pipe")


def _handshake_cut(chain: list[BaseException], text: str) -> bool:
    low = text.lower()
    return any(isinstance(e, _CUT_CLASSES) for e in chain) or any(t in low for t in _CUT_TEXTS)


def handshake_failure_code(exc: ssl.SSLError) -> str:
    """TLS_HANDSHAKE_CUT (transient) or TLS_FAILED for an SSLError that is not a certificate verdict."""
    chain = _chain(exc)
    return "TLS_HANDSHAKE_CUT" if _handshake_cut(chain, " | ".join(_describe(e) for e in chain)) else "TLS_FAILED"


# Statuses left to exchangelib whatever the body: redirects, the NTLM login, and gateway / unavailable
# answers, which a proxy in front of a busy or restarting Exchange sends (transient).
_LEFT_TO_EXCHANGELIB = (301, 302, 401, 502, 503, 504)
_EWS_ERROR_PAGE = b"Server Error in '/EWS' Application"   # IIS's page for EWS under load: transient


def not_ews_answer(response: requests.Response) -> str | None:
    """Why an HTTP answer at the EWS URL cannot come from EWS (an HTML page, a body that is not XML), or None.

    A 200 is judged by its Content-Type only (its body may be a stream); Exchange's own error answers
    (SOAP faults, X-CasErrorCode, the /EWS error page) are never refused here.
    """
    status = response.status_code
    ctype = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if status in _LEFT_TO_EXCHANGELIB or response.headers.get("X-CasErrorCode"):
        return None
    if status == 200:
        return "HTTP 200 with an HTML page (Content-Type text/html)" if ctype == "text/html" else None
    body = response.content or b""
    if _EWS_ERROR_PAGE in body or (ctype != "text/html" and is_xml(body)):
        return None
    kind = "an HTML page" if ctype == "text/html" or body.lstrip()[:1] == b"<" else "a body that is not XML"
    return f"HTTP {status} with {kind} (Content-Type {ctype or 'none'}, {len(body)} bytes), not a SOAP message"


def _network_code(chain: list[BaseException], text: str) -> str | None:
    if any(isinstance(e, _NETWORK_UNREACHABLE) for e in chain):
        return "EWS_UNREACHABLE"
    low = text.lower()
    if ("connection refused" in low or "name or service not known" in low or "failed to resolve" in low
            or "no route to host" in low or "network is unreachable" in low
            or "failed to establish a new connection" in low or "nodename nor servname" in low):
        return "EWS_UNREACHABLE"
    if any(isinstance(e, _NETWORK_DROPPED) for e in chain) or "timed out" in low or "connection reset" in low \
            or "remotedisconnected" in low or "connection aborted" in low:
        return "EWS_TIMEOUT"
    if any(isinstance(e, requests.exceptions.ConnectionError) for e in chain):
        return "EWS_UNREACHABLE"
    return None


# exchangelib's retry loop re-raises timeouts, transient server errors, dropped connections and (under
# FaultTolerance) a 401 as ErrorServerBusy with one of these prefixes: they are not throttling.
_REWRAPPED = ("Reraised from", "Caused by")


def _rewrapped_code(exc: BaseException, chain: list[BaseException], text: str) -> str:
    message = str(exc)
    if "HTTP 401" in message:
        return "EWS_AUTH_REJECTED"
    if "ErrorTimeoutExpired" in message:
        return _network_code(chain, text) or "EWS_TIMEOUT"
    return _network_code(chain, text) or "EWS_SERVER_ERROR"


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def to_workbench_error(exc: BaseException, *, mailbox: str | None = None) -> WorkbenchError:
    """The catalogue entry for ``exc``; a WorkbenchError passes through (with the mailbox added)."""
    if isinstance(exc, WorkbenchError):
        if mailbox and "mailbox" not in exc.context:
            exc.context["mailbox"] = mailbox
        return exc
    chain = _chain(exc)
    text = " | ".join(_describe(e) for e in chain)
    code: str | None = None
    # TLS and network first: exchangelib wraps them in TransportError / ErrorTimeoutExpired
    code = _tls_code(chain, text)
    if code is None:
        for classes, candidate in _EWS_CODES:
            if isinstance(exc, classes):
                code = candidate
                break
    if code == "EWS_THROTTLED" and str(exc).startswith(_REWRAPPED):
        code = _rewrapped_code(exc, chain, text)
    if code is None or code in ("EWS_TIMEOUT", "EWS_SERVER_ERROR"):
        code = _network_code(chain, text) or code
    if code is None:
        if isinstance(exc, ee.CASError):
            code = "EWS_SERVER_ERROR"
        elif isinstance(exc, (ee.RedirectError, ee.MalformedResponseError, ee.SOAPError)):
            code = "EWS_PROTOCOL"
        elif isinstance(exc, ee.ResponseMessageError):
            code = "EWS_ITEM_REJECTED"
        elif isinstance(exc, ee.TransportError) and "Unknown ResponseCode" in text:
            code = "EWS_PROTOCOL"
        elif isinstance(exc, requests.exceptions.HTTPError):
            status = getattr(getattr(exc, "response", None), "status_code", 0) or 0
            code = "EWS_AUTH_REJECTED" if status == 401 else "EWS_SERVER_ERROR" if status >= 500 else "EWS_PROTOCOL"
        else:
            code = "EWS_PROTOCOL"
    detail = _describe(exc)
    if code.startswith("TLS_") or code in ("EWS_UNREACHABLE", "EWS_TIMEOUT"):
        root = next((e for e in reversed(chain) if isinstance(e, (OSError, ssl.SSLError))), None)
        if root is not None and root is not exc:
            detail += f" (caused by {_describe(root)})"
    detail = redact(detail)
    if mailbox:
        detail = f"mailbox {mailbox}: {detail}"
    context: dict[str, object] = {"exception": type(exc).__name__}
    if mailbox:
        context["mailbox"] = mailbox
    back_off = getattr(exc, "back_off", None) or getattr(exc, "wait", None)
    if code == "EWS_THROTTLED" and back_off:
        context["back_off"] = float(back_off)
    err = WorkbenchError(code, detail, **context)
    err.__cause__ = exc
    return err
