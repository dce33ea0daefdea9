"""Graph answers, identity-platform answers and httpx exceptions -> the failure catalogue.

Nothing here raises: each function returns a ``WorkbenchError`` whose detail names the mailbox (when
there is one) and Graph's own code and message, secrets scrubbed. Throttling answers carry the server's
``Retry-After`` as ``back_off``.
"""
from __future__ import annotations

import ssl
from typing import Any, Mapping

import httpx

from workbench.errors import WorkbenchError
from workbench.mailbox import CONFLICT, GONE
from workbench.secrets import redact

#: Graph error codes meaning "the stored delta state is gone": start a full snapshot
DELTA_RESET_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})
_NOT_FOUND_USER = frozenset({"errorinvaliduser", "resourcenotfound", "request_resourcenotfound",
                             "mailboxnotenabledforrestapi", "errornonexistentmailbox"})
_OUT_OF_SCOPE = "access to odata is disabled"


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds of a Retry-After header (delta-seconds form), else None."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(str(value).strip()))
            except ValueError:
                return None
    return None


def _graph_error(body: Any) -> tuple[str, str]:
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("code") or ""), str(err.get("message") or "")
    return "", ""


def from_answer(status: int, body: Any, headers: Mapping[str, str] | None, *, mailbox: str | None = None,
                item: bool = False) -> WorkbenchError:
    """The catalogue error for a Graph answer with an error status (a whole request or one $batch part).

    ``item``: the answer concerns one contact (a per-item error that says CONFLICT / GONE).
    """
    code, message = _graph_error(body)
    where = f"mailbox {mailbox}: " if mailbox else ""
    detail = redact(f"{where}HTTP {status} {code or 'error'}: {message}".strip())
    context: dict[str, Any] = {"graph_status": status, "graph_code": code}
    if mailbox:
        context["mailbox"] = mailbox
    wait = retry_after(headers)
    low = code.lower()
    if status == 429 or (status in (503, 504) and wait is not None):
        return WorkbenchError("GRAPH_THROTTLED", detail, back_off=wait, **context)
    if status == 410 or low in DELTA_RESET_CODES:
        return WorkbenchError("GRAPH_DELTA_RESET", detail, **context)
    if status == 412 or low in ("errorirresolvableconflict", "errorinvalidchangekey"):
        return WorkbenchError("GRAPH_CONFLICT", detail, item_problem=CONFLICT, **context)
    if status == 403:
        if _OUT_OF_SCOPE in message.lower():
            return WorkbenchError("GRAPH_SCOPE_DENIED", detail, **context)
        return WorkbenchError("GRAPH_CONSENT_MISSING", detail, **context)
    if status == 401:
        return WorkbenchError("GRAPH_AUTH_REJECTED", detail, **context)
    if status >= 500:
        return WorkbenchError("GRAPH_SERVER_ERROR", detail, **context)
    if status == 404 and low == "erroritemnotfound" and item:
        return WorkbenchError("GRAPH_ITEM_REJECTED", detail, item_problem=GONE, **context)
    if status == 404 and (low in _NOT_FOUND_USER or not item):
        return WorkbenchError("GRAPH_MAILBOX_NOT_FOUND", detail, **context)
    if item and 400 <= status < 500:
        return WorkbenchError("GRAPH_ITEM_REJECTED", detail, **context)
    return WorkbenchError("GRAPH_PROTOCOL", detail, **context)


def from_exception(exc: BaseException, *, where: str) -> WorkbenchError:
    """An httpx transport failure (or a TLS one) talking to ``where`` (an URL)."""
    text = redact(f"{where}: {type(exc).__name__}: {exc}")
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(cur):
            return WorkbenchError("GRAPH_TLS_UNTRUSTED", text)
        cur = cur.__cause__ or cur.__context__
    if isinstance(exc, (httpx.TransportError, OSError)):
        return WorkbenchError("GRAPH_UNREACHABLE", text)
    return WorkbenchError("GRAPH_PROTOCOL", text)


def from_token_error(result: Mapping[str, Any], *, authority: str) -> WorkbenchError:
    """What msal's ``acquire_token_for_client`` returned instead of a token."""
    codes = [int(c) for c in result.get("error_codes") or [] if str(c).isdigit()]
    description = str(result.get("error_description") or "")
    detail = redact(f"{authority}: {result.get('error', 'error')}: {description.splitlines()[0] if description else ''}")
    if 700027 in codes and "expired" in description.lower():
        return WorkbenchError("GRAPH_CERT_EXPIRED", detail, aad_codes=codes)
    if codes and codes[0] in (65001, 7000112, 500011):
        return WorkbenchError("GRAPH_CONSENT_MISSING", detail, aad_codes=codes)
    return WorkbenchError("GRAPH_AUTH_REJECTED", detail, aad_codes=codes)
