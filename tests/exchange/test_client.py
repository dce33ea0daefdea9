"""ExchangeConnection against the sandbox: impersonation, resolve_primary, pinned version, trust, retry policy."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from exchangelib import FailFast

from tests.exchange.tls_helpers import make_pki
from workbench.errors import WorkbenchError
from workbench.exchange import keystore as ks
from workbench.exchange import trust
from workbench.exchange.client import BoundedRetry, ExchangeConnection, connect, product_name
from workbench.store import settings_table
from workbench.store.settings_table import load


def test_account_impersonates_and_is_cached(exchange_env) -> None:
    mailbox = exchange_env.store.scalar("SELECT email FROM operators WHERE operator_id = 'OP-004'")
    with exchange_env.connect() as conn:
        acc = conn.account(mailbox)
        assert conn.account(mailbox.upper()) is acc
        assert acc.access_type == "impersonation"
        assert acc.version.api_version == "Exchange2016"
        seeded = len(exchange_env.sandbox.mailbox(mailbox).contacts)
        assert acc.contacts.all().count() == seeded > 0
        finds = [r for r in exchange_env.sandbox.requests if r.operation == "FindItem"]
        assert finds and {(r.user.lower(), (r.mailbox or "").lower()) for r in finds} == \
            {(exchange_env.info.service_account.username.lower(), mailbox.lower())}
    assert trust.origin(exchange_env.info.url) not in trust.registered()   # close() forgets the endpoint's trust


def test_resolve_primary(exchange_env) -> None:
    alias = exchange_env.store.scalar("SELECT email FROM operators WHERE operator_id = 'OP-001'")
    with exchange_env.connect() as conn:
        primary = conn.resolve_primary(alias)
        assert primary != alias and primary in exchange_env.info.mailboxes
        assert conn.resolve_primary(primary.upper()) == primary
        with pytest.raises(WorkbenchError) as err:
            conn.resolve_primary("departed.user2@example.com")
        assert err.value.code == "EWS_MAILBOX_NOT_FOUND"


def test_verify_mailbox_errors(exchange_env) -> None:
    denied = exchange_env.store.scalar("SELECT email FROM operators WHERE operator_id = 'OP-003'")
    with exchange_env.connect() as conn:
        with pytest.raises(WorkbenchError) as err:
            conn.verify_mailbox(denied)
        assert err.value.code == "EWS_IMPERSONATION_DENIED" and err.value.context["mailbox"] == denied
        with pytest.raises(WorkbenchError) as err:
            conn.verify_mailbox("nobody.here@example.com")
        assert err.value.code == "EWS_MAILBOX_NOT_FOUND"


def test_connect_takes_secrets_from_environment(exchange_env, monkeypatch) -> None:
    monkeypatch.delenv("WORKBENCH_EWS_PASSWORD")
    with pytest.raises(WorkbenchError) as err:
        connect(load(exchange_env.store))
    assert err.value.code == "SECRET_MISSING"
    with connect(load(exchange_env.store), password=exchange_env.password) as conn:
        conn.ping()


def test_trust_ignores_environment_bundle(exchange_env, tmp_path: Path, monkeypatch) -> None:
    """REQUESTS_CA_BUNDLE pointing at the sandbox CA does not make an unrelated keystore trust the server."""
    stranger = make_pki(tmp_path / "stranger", cn="Stranger")
    other = ks.import_certificate(stranger.ca_pem, tmp_path / "other.jks", "x", exchange_env.keystore_password).path
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(exchange_env.info.ca_cert))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(exchange_env.info.ca_cert))
    settings = exchange_env.settings()
    from dataclasses import replace
    with ExchangeConnection(replace(settings, keystore_path=str(other)), exchange_env.password,
                            exchange_env.keystore_password) as conn:
        with pytest.raises(WorkbenchError) as err:
            conn.ping()
        assert err.value.code == "TLS_UNTRUSTED"
    # the real keystore works with the environment pointing at the system store
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    with ExchangeConnection(settings, exchange_env.password, exchange_env.keystore_password) as conn:
        conn.ping()


def test_two_connections_two_keystores_one_process(exchange_env, make_sandbox, configure_exchange_store,
                                                   tmp_path: Path) -> None:
    from workbench.store import Store
    second = make_sandbox(seed=None)
    store2 = Store(tmp_path / "second.duckdb")
    configure_exchange_store(store2, second, tmp_path, "second-ks-pw")
    a = exchange_env.connect()
    b = connect(load(store2), password=second.info.service_account.password, keystore_password="second-ks-pw")
    try:
        assert {trust.origin(exchange_env.info.url), trust.origin(second.info.url)} <= set(trust.registered())
        a.ping()
        b.ping()
        assert b.resolve_primary(second.info.service_account.username) == second.info.service_account.username
        a.ping()
    finally:
        a.close()
        b.close()


def test_version_pinned_and_warning_when_server_differs(make_sandbox, configure_exchange_store, tmp_path: Path,
                                                        caplog) -> None:
    from workbench.store import Store
    sb = make_sandbox(version="Exchange2013")
    store = Store(tmp_path / "v.duckdb")
    configure_exchange_store(store, sb, tmp_path, "version-ks-pw")
    settings_table.update(store, {"exchange_version": "Exchange2016"})
    with caplog.at_level(logging.WARNING, logger="workbench.exchange"):
        with connect(load(store), password=sb.info.service_account.password, keystore_password="version-ks-pw") as conn:
            assert conn.config.version.api_version == "Exchange2016"     # pinned: no probing before the first call
            version = conn.server_version()
    assert (version.configured, version.reported, version.matches) == ("Exchange2016", "Exchange2013", False)
    assert any("reports Exchange2013" in r.getMessage() for r in caplog.records)


def test_retry_policy_knob(exchange_env, monkeypatch) -> None:
    with exchange_env.connect() as conn:
        assert isinstance(conn.config.retry_policy, FailFast) and conn.retry_max_wait is None
    with exchange_env.connect(retry_max_wait=5) as conn:
        assert isinstance(conn.config.retry_policy, BoundedRetry)
        assert conn.config.retry_policy.max_wait == 5
    # a 401 is final even with a retry budget (exchangelib's FaultTolerance would retry it for max_wait)
    monkeypatch.setenv("WORKBENCH_EWS_PASSWORD", "wrong-password")
    with exchange_env.connect(retry_max_wait=3600) as conn:
        with pytest.raises(WorkbenchError) as err:
            conn.ping()
        assert err.value.code == "EWS_AUTH_REJECTED"


def test_throttling_fails_fast_with_back_off_hint(exchange_env) -> None:
    exchange_env.sandbox.faults.set(throttle_share=1.0, backoff_ms=2500)
    try:
        with exchange_env.connect() as conn:
            with pytest.raises(WorkbenchError) as err:
                conn.ping()
    finally:
        exchange_env.sandbox.faults.clear()
    assert err.value.code == "EWS_THROTTLED"
    assert err.value.context["back_off"] == pytest.approx(2.5)
    assert err.value.failure.transient


def test_product_names() -> None:
    from exchangelib.version import EXCHANGE_2010_SP2, EXCHANGE_2013_SP1, EXCHANGE_2016, EXCHANGE_2019, Build
    assert product_name(EXCHANGE_2010_SP2) == "Exchange2010"
    assert product_name(EXCHANGE_2013_SP1) == "Exchange2013"
    assert product_name(EXCHANGE_2016) == "Exchange2016"
    assert product_name(EXCHANGE_2019) == product_name(Build(15, 2, 1748, 10)) == "Exchange2019"
    assert product_name(Build(15, 2, 2561, 99)) == "Exchange2019"
    assert product_name(Build(15, 2, 2562, 17)) == product_name(Build(15, 2, 2562, 46)) == "ExchangeSE"
    assert product_name(Build(15, 20, 13, 11)).startswith("Exchange build")      # Exchange Online
    assert product_name(Build(8, 3)).startswith("Exchange build")


@pytest.mark.parametrize("server", ["Exchange2019", "ExchangeSE"])
def test_2019_and_se_speak_exchange2016_and_report_their_build(make_sandbox, configure_exchange_store,
                                                               tmp_path: Path, server: str) -> None:
    from workbench.store import Store
    sb = make_sandbox(version=server, capture=True)
    store = Store(tmp_path / "v.duckdb")
    configure_exchange_store(store, sb, tmp_path, "version-ks-pw")
    with connect(load(store), password=sb.info.service_account.password, keystore_password="version-ks-pw") as conn:
        version = conn.server_version()
    expected = {"Exchange2019": "15.2.1748.10", "ExchangeSE": "15.2.2562.17"}[server]
    assert (version.configured, version.reported, version.build, version.api_version, version.matches) == \
        (server, server, expected, "Exchange2016", True)
    requests_sent = [body for direction, body in sb.captured if direction == "request"]
    assert requests_sent and all(b'RequestServerVersion Version="Exchange2016"' in b for b in requests_sent)
