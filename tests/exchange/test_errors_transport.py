"""Transport faults from real loopback servers: a TLS handshake cut is transient; a URL that is not EWS fails fast."""
from __future__ import annotations

import http.server
import socket
import ssl
import struct
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest

from tests.exchange.test_check import assert_fails, step
from tests.exchange.tls_helpers import Pki, make_pki
from workbench.errors import CATALOGUE, WorkbenchError
from workbench.exchange import keystore as ks
from workbench.exchange.client import ExchangeConnection
from workbench.sandbox.soap import fault, serialize
from workbench.settings import ExchangeSettings
from workbench.store import settings_table
from workbench.sync.engine import run_sync

KS_PASSWORD = "transport-ks-1"
HTML = b"<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head><body>Oops</body></html>"


@contextmanager
def handshake_cutter(mode: str) -> Iterator[str]:
    """A TCP server on 127.0.0.1 that reads the ClientHello, then closes ("eof") or resets ("rst") the connection."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.recv(8192)
                if mode == "rst":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{srv.getsockname()[1]}/EWS/Exchange.asmx"
    finally:
        srv.close()
        thread.join(5)


@contextmanager
def answering(pki: Pki, status: int, content_type: str, body: bytes, *, close: bool = False) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 answering every request with ``status`` and ``body`` (``close``: with
    ``Connection: close``, as web servers send their error pages)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.chain_pem), str(pki.key_pem))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/EWS/Exchange.asmx"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def settings(pki: Pki, tmp_path: Path) -> ExchangeSettings:
    keystore = ks.import_certificate(pki.ca_pem, tmp_path / "ca.jks", "ca", KS_PASSWORD).path
    return ExchangeSettings.from_text({"exchange_url": "https://127.0.0.1/EWS/Exchange.asmx",
                                       "exchange_version": "Exchange2016", "keystore_path": str(keystore),
                                       "impersonation_account": "svc-sync@example.com"})


def ping_error(settings: ExchangeSettings, url: str) -> WorkbenchError:
    with ExchangeConnection(replace(settings, exchange_url=url), "svc-password-1", KS_PASSWORD, timeout=5) as conn:
        with pytest.raises(WorkbenchError) as err:
            conn.ping()
    return err.value


def exchange_fault(code: str) -> bytes:
    return serialize(fault(code, "The server cannot service this request right now."))


# --- (a) a connection cut during the TLS handshake is transient --------------------------------------------

def test_handshake_closed_after_client_hello_is_transient(settings: ExchangeSettings) -> None:
    with handshake_cutter("eof") as url:
        err = ping_error(settings, url)
    assert err.code == "TLS_HANDSHAKE_CUT" and err.failure.transient is True
    assert "EOF" in err.detail


def test_handshake_reset_is_transient(settings: ExchangeSettings) -> None:
    with handshake_cutter("rst") as url:
        err = ping_error(settings, url)
    assert err.code in ("TLS_HANDSHAKE_CUT", "EWS_TIMEOUT") and err.failure.transient is True
    assert "reset" in err.detail.lower()


def test_certificate_failures_stay_permanent(settings: ExchangeSettings, tmp_path: Path) -> None:
    stranger = make_pki(tmp_path / "stranger", cn="Stranger CA")
    with answering(stranger, 200, "text/xml; charset=utf-8", b"<x/>") as url:
        err = ping_error(settings, url)
    assert err.code == "TLS_UNTRUSTED" and err.failure.transient is False


def test_check_reports_a_handshake_cut(exchange_env, capsys) -> None:
    with handshake_cutter("eof") as url:
        settings_table.update(exchange_env.store, {"exchange_url": url})
        assert_fails(capsys, "tls", "TLS_HANDSHAKE_CUT")
    assert CATALOGUE["TLS_HANDSHAKE_CUT"].transient


def test_sync_retries_a_handshake_cut_until_the_deadline(exchange_env) -> None:
    with handshake_cutter("eof") as url:
        settings_table.update(exchange_env.store, {"exchange_url": url})
        result = run_sync(exchange_env.store, ["OP-004"], deadline_seconds=1.5)
    box = result.mailbox("OP-004")
    assert (box.status, box.code) == ("failed", "SYNC_DEADLINE") and "TLS_HANDSHAKE_CUT" in box.detail
    retries = exchange_env.store.rows("SELECT code FROM sync_log WHERE run_id = ? AND action = 'retry'",
                                      [result.run_id])
    assert retries and {code for (code,) in retries} == {"TLS_HANDSHAKE_CUT"}


# --- (b) a server that is not EWS fails fast ----------------------------------------------------------------

@pytest.mark.parametrize("status, content_type, body, close", [
    (500, "text/html", HTML, True),                       # a web server's error page (retried 30 min before)
    (500, "text/html; charset=utf-8", HTML, False),
    (200, "text/html; charset=utf-8", b"<html><body>Sign in to the portal</body></html>", False),
    (404, "text/html", b"<html><body>Not Found</body></html>", True),
    (500, "text/plain", b"upstream failed", True),        # no XML at all
])
def test_a_server_that_is_not_ews_is_permanent(settings: ExchangeSettings, pki: Pki, status: int,
                                               content_type: str, body: bytes, close: bool) -> None:
    with answering(pki, status, content_type, body, close=close) as url:
        err = ping_error(settings, url)
    assert err.code == "EWS_NOT_EXCHANGE" and err.failure.transient is False, err
    assert f"HTTP {status}" in err.detail and url in err.detail


@pytest.mark.parametrize("status, content_type, body, code", [
    (500, "text/xml; charset=utf-8", exchange_fault("ErrorInternalServerError"), "EWS_SERVER_ERROR"),
    (500, "text/xml; charset=utf-8", exchange_fault("ErrorServerBusy"), "EWS_THROTTLED"),
    (503, "text/html", b"<html><body>Service Unavailable</body></html>", "EWS_SERVER_ERROR"),
    (500, "text/html", b"<html><h1>Server Error in '/EWS' Application.</h1></html>", "EWS_SERVER_ERROR"),
])
def test_exchange_own_errors_stay_transient(settings: ExchangeSettings, pki: Pki, status: int, content_type: str,
                                            body: bytes, code: str) -> None:
    with answering(pki, status, content_type, body, close=True) as url:
        err = ping_error(settings, url)
    assert err.code == code and err.failure.transient is True, err


@pytest.fixture
def html_site(exchange_env, pki: Pki, tmp_path: Path) -> Iterator[str]:
    """exchange_env's store pointed at a web server answering 500 with an HTML page (its CA in the keystore)."""
    keystore = ks.import_certificate(pki.ca_pem, tmp_path / "site.jks", "ca", exchange_env.keystore_password).path
    with answering(pki, 500, "text/html", HTML, close=True) as url:
        settings_table.update(exchange_env.store, {"exchange_url": url, "keystore_path": str(keystore)})
        yield url


def test_check_reports_not_exchange(exchange_env, html_site: str, capsys) -> None:
    report = assert_fails(capsys, "credentials", "EWS_NOT_EXCHANGE")
    assert "HTTP 500" in step(report, "credentials")["detail"]
    assert "/EWS/Exchange.asmx" in CATALOGUE["EWS_NOT_EXCHANGE"].remedy


def test_sync_fails_the_mailbox_at_once_against_a_web_server(exchange_env, html_site: str) -> None:
    result = run_sync(exchange_env.store, ["OP-004"], deadline_seconds=600)
    box = result.mailbox("OP-004")
    assert (box.status, box.code) == ("failed", "EWS_NOT_EXCHANGE"), box
    assert result.retries == 0
    assert exchange_env.store.rows("SELECT count(*) FROM sync_log WHERE run_id = ? AND action = 'retry'",
                                   [result.run_id]) == [(0,)]
