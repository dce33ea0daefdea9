"""to_workbench_error maps exchangelib / HTTP / TLS / socket exceptions onto the catalogue; `workbench explain`."""
from __future__ import annotations

import json
import socket
import ssl

import pytest
import requests
from exchangelib import errors as ee

from workbench.cli import main
from workbench.errors import CATALOGUE, WorkbenchError
from workbench.exchange.errors_map import to_workbench_error
from workbench.secrets import remember, redact


def _wrapped(inner: BaseException, outer: BaseException) -> BaseException:
    """outer raised while handling inner (as exchangelib re-raises TLS and connection errors)."""
    try:
        try:
            raise inner
        except BaseException:
            raise outer
    except BaseException as exc:
        return exc


def _verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    err = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}")
    err.verify_code, err.verify_message = code, message
    return err


@pytest.mark.parametrize("exc, code", [
    (ee.UnauthorizedError("Invalid credentials for https://x/EWS/Exchange.asmx"), "EWS_AUTH_REJECTED"),
    (ee.ErrorImpersonateUserDenied("denied"), "EWS_IMPERSONATION_DENIED"),
    (ee.ErrorNonExistentMailbox("no mailbox"), "EWS_MAILBOX_NOT_FOUND"),
    (ee.ErrorNameResolutionNoResults("none"), "EWS_MAILBOX_NOT_FOUND"),
    (ee.ErrorServerBusy("busy", back_off=1.5), "EWS_THROTTLED"),
    (ee.RateLimitError("Max timeout reached", wait=60), "EWS_THROTTLED"),
    (ee.ErrorInvalidServerVersion("bad version"), "EWS_VERSION_UNSUPPORTED"),
    (ee.ErrorInvalidChangeKey("stale"), "EWS_CONFLICT"),
    (ee.ErrorIrresolvableConflict("stale"), "EWS_CONFLICT"),
    (ee.ErrorItemSave("rejected"), "EWS_ITEM_REJECTED"),
    (ee.ErrorQuotaExceeded("mailbox full"), "EWS_MAILBOX_FULL"),       # its own remedy, not "fix the data"
    (ee.ErrorInternalServerError("boom"), "EWS_SERVER_ERROR"),
    (ee.ErrorSubscriptionNotFound("gone"), "SUBSCRIPTION_LAPSED"),
    (ee.MalformedResponseError("junk"), "EWS_PROTOCOL"),
    (ee.TransportError("Unknown ResponseCode in response: ErrorWhatever"), "EWS_PROTOCOL"),
    (_wrapped(_verify_error(20, "unable to get local issuer certificate"),
              ee.TransportError("HTTPSConnectionPool ... CERTIFICATE_VERIFY_FAILED")), "TLS_UNTRUSTED"),
    (_wrapped(_verify_error(10, "certificate has expired"),
              ee.TransportError("HTTPSConnectionPool ... certificate has expired")), "TLS_EXPIRED"),
    (_wrapped(_verify_error(64, "IP address mismatch"), ee.TransportError("mismatch")), "TLS_HOSTNAME"),
    (requests.exceptions.SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number"), "TLS_FAILED"),
    (_wrapped(ssl.SSLEOFError(8, "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol"),
              ee.TransportError("HTTPSConnectionPool ... (Caused by SSLError(SSLEOFError(8, ...)))")), "TLS_HANDSHAKE_CUT"),
    (_wrapped(ConnectionResetError(104, "Connection reset by peer"), requests.exceptions.SSLError("handshake")),
     "TLS_HANDSHAKE_CUT"),
    (_wrapped(ConnectionRefusedError(111, "Connection refused"),
              ee.ErrorTimeoutExpired("Reraised from ConnectionError(...)")), "EWS_UNREACHABLE"),
    (_wrapped(socket.gaierror(-2, "Name or service not known"), ee.ErrorTimeoutExpired("Reraised")),
     "EWS_UNREACHABLE"),
    (_wrapped(requests.exceptions.ReadTimeout("read timed out"), ee.ErrorTimeoutExpired("Reraised")), "EWS_TIMEOUT"),
    (ConnectionResetError(104, "Connection reset by peer"), "EWS_TIMEOUT"),
    (ValueError("something odd"), "EWS_PROTOCOL"),
])
def test_mapping(exc: BaseException, code: str) -> None:
    err = to_workbench_error(exc, mailbox="alice@example.com")
    assert isinstance(err, WorkbenchError) and err.code == code
    assert err.context["mailbox"] == "alice@example.com" and "alice@example.com" in err.detail


def test_throttle_keeps_back_off_and_workbench_errors_pass_through() -> None:
    assert to_workbench_error(ee.ErrorServerBusy("busy", back_off=1.5)).context["back_off"] == 1.5
    original = WorkbenchError("KEYSTORE_PASSWORD", "x")
    assert to_workbench_error(original, mailbox="m@example.com") is original


def test_known_secrets_are_scrubbed_from_details() -> None:
    remember("S3cret-Passw0rd")
    err = to_workbench_error(ee.UnauthorizedError("login S3cret-Passw0rd failed"))
    assert "S3cret-Passw0rd" not in err.detail and "********" in err.detail
    assert redact("a S3cret-Passw0rd b") == "a ******** b"


def test_explain_one_and_all(capsys) -> None:
    assert main(["explain", "tls_untrusted"]) == 0
    out = capsys.readouterr().out
    f = CATALOGUE["TLS_UNTRUSTED"]
    assert out.splitlines()[0] == f"TLS_UNTRUSTED: {f.title}" and f.cause in out and f.remedy in out
    assert main(["explain", "--all"]) == 0
    out = capsys.readouterr().out
    assert all(code in out for code in CATALOGUE)
    assert main(["explain", "--all", "--json"]) == 0
    assert {e["code"] for e in json.loads(capsys.readouterr().out)} == set(CATALOGUE)
    assert main(["explain", "NO_SUCH_CODE"]) == 2
    assert "USAGE" in capsys.readouterr().err


def test_retry_loop_rewraps_are_not_reported_as_throttling():
    from exchangelib.errors import ErrorServerBusy

    from workbench.exchange.errors_map import to_workbench_error
    assert to_workbench_error(ErrorServerBusy("Reraised from ErrorTimeoutExpired(read timed out)")).code == "EWS_TIMEOUT"
    assert to_workbench_error(ErrorServerBusy("Caused by closed connection")).code == "EWS_SERVER_ERROR"
    assert to_workbench_error(ErrorServerBusy("Caused by HTTP 401 response")).code == "EWS_AUTH_REJECTED"
    assert to_workbench_error(ErrorServerBusy("The server cannot service this request right now.",
                                              back_off=1.5)).code == "EWS_THROTTLED"


def test_a_password_inside_an_error_never_reaches_the_terminal(capsys):
    """Passwords a connection was given are remembered and masked in every error the CLI prints."""
    from workbench import cli, secrets
    from workbench.errors import WorkbenchError
    secret = "pw-that-must-not-leak-42"
    secrets.remember(secret)
    assert cli.report_error(WorkbenchError("EWS_PROTOCOL", f"server echoed {secret} back")) == 1
    err = capsys.readouterr().err
    assert secret not in err and "server echoed ******** back" in err
