"""`workbench check` against the sandbox: the documented set-up passes; each fault fails with its code and remedy."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.exchange.tls_helpers import TlsServer, make_pki
from workbench.checks import last_check, run_check
from workbench.cli import main
from workbench.errors import CATALOGUE
from workbench.exchange import keystore as ks
from workbench.store import Store
from workbench.store import settings_table


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check_json(capsys, *extra: str) -> tuple[int, dict]:
    code, out, _ = run_cli(capsys, "check", "--json", *extra)
    return code, json.loads(out)


def step(report: dict, name: str) -> dict:
    return next(s for s in report["steps"] if s["step"] == name)


def assert_fails(capsys, step_name: str, code: str, *extra: str) -> dict:
    """`workbench check` exits with the code's exit code (2: the user's input, 1: the operation failed), the step
    fails with ``code``, and the text output shows code and remedy."""
    rc, report = check_json(capsys, *extra)
    assert rc == CATALOGUE[code].exit_code and report["ok"] is False
    s = step(report, step_name)
    assert (s["status"], s["code"]) == ("failed", code), s
    assert s["remedy"] == CATALOGUE[code].remedy
    rc, out, _ = run_cli(capsys, "check", *extra)
    assert rc == CATALOGUE[code].exit_code
    assert f"✗ {s['title']} — {code}: {CATALOGUE[code].title}" in out
    assert f"remedy: {CATALOGUE[code].remedy}" in out
    return report


# --- the documented steps ---------------------------------------------------------------------

def test_documented_steps_make_check_pass(sandbox, seed_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """fetch-cert, import, settings, passwords in the environment — through the CLI, as the README says."""
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "wb.duckdb"))
    monkeypatch.setenv("WORKBENCH_KEYSTORE_PASSWORD", "keystore-secret-1")
    monkeypatch.setenv("WORKBENCH_EWS_PASSWORD", sandbox.info.service_account.password)
    pem, jks_file = tmp_path / "exchange.pem", tmp_path / "exchange.jks"
    assert run_cli(capsys, "keystore", "fetch-cert", sandbox.info.url, "-o", str(pem))[0] == 0
    assert run_cli(capsys, "keystore", "import", str(pem), "--keystore", str(jks_file), "--alias", "exchange")[0] == 0
    assert run_cli(capsys, "settings", "set", f"exchange_url={sandbox.info.url}", "exchange_version=Exchange2016",
                   f"impersonation_account={sandbox.info.service_account.username}", f"keystore_path={jks_file}",
                   f"notification_url=http://127.0.0.1:{free_port()}/ews/notify",
                   "failure_recipients=ops@example.com")[0] == 0
    assert run_cli(capsys, "operators", "import", str(seed_dir / "operators.csv"))[0] == 0
    code, out, err = run_cli(capsys, "check")
    assert code == 0, out + err
    lines = [line for line in out.splitlines() if not line.startswith("    ")]
    assert [line.split(" ", 1)[0] for line in lines[:8]] == ["✓", "✓", "✓", "✓", "✓", "!", "!", "!"]
    assert "EWS_VERSION_OUT_OF_SUPPORT" in lines[5]  # the sandbox speaks Exchange 2016: out of support
    assert "EWS_EMAIL_MISMATCH" in lines[6]          # OP-001's e-mail is an alias of its mailbox
    assert "LISTENER_UNREACHABLE" in lines[7]        # nothing listens: a warning, the agent does not run
    assert out.rstrip().endswith("all checks passed")
    last = last_check(Store())
    assert last is not None and last.ok and last.operator_id == "OP-001"
    assert [s.step for s in last.steps] == ["settings", "endpoint", "keystore", "tls", "credentials", "version",
                                            "impersonation", "listener"]


def test_check_with_a_given_operator_and_json(exchange_env, capsys) -> None:
    rc, report = check_json(capsys, "--operator", "OP-004")
    assert rc == 0 and report["ok"]
    assert step(report, "impersonation")["status"] == "ok"
    assert report["operator_id"] == "OP-004"
    rc, _, err = run_cli(capsys, "check", "--operator", "OP-999")
    assert rc == 2 and "OPERATOR_NOT_FOUND" in err


def test_each_run_is_stored(exchange_env) -> None:
    first = run_check(exchange_env.store, operator_id="OP-004")
    second = run_check(exchange_env.store, operator_id="OP-002")
    assert first.ok and not second.ok
    last = last_check(exchange_env.store)
    assert last.run_id == second.run_id and not last.ok
    assert last.step("impersonation").code == "EWS_MAILBOX_NOT_FOUND"
    rows = exchange_env.store.rows("SELECT count(*), count(DISTINCT run_id) FROM check_steps")
    assert rows == [(16, 2)]


# --- one failure each ---------------------------------------------------------------------------

def test_wrong_password(exchange_env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WORKBENCH_EWS_PASSWORD", "not-the-password")
    report = assert_fails(capsys, "credentials", "EWS_AUTH_REJECTED")
    assert step(report, "impersonation")["status"] == "skipped"


def test_server_certificate_not_in_keystore(exchange_env, tmp_path: Path, monkeypatch, capsys) -> None:
    stranger = make_pki(tmp_path / "stranger", cn="Some Other CA")
    other = tmp_path / "other.jks"
    ks.import_certificate(stranger.ca_pem, other, "other", exchange_env.keystore_password)
    settings_table.update(exchange_env.store, {"keystore_path": str(other)})
    # the environment's CA bundle even holds the sandbox CA: it must not count
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(exchange_env.info.ca_cert))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(exchange_env.info.ca_cert))
    report = assert_fails(capsys, "tls", "TLS_UNTRUSTED")
    assert "workbench keystore fetch-cert" in step(report, "tls")["remedy"]
    assert "workbench keystore import" in step(report, "tls")["remedy"]


def test_keystore_password_wrong(exchange_env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WORKBENCH_KEYSTORE_PASSWORD", "wrong-keystore-pw")
    assert_fails(capsys, "keystore", "KEYSTORE_PASSWORD")


def test_impersonation_denied(exchange_env, capsys) -> None:
    assert_fails(capsys, "impersonation", "EWS_IMPERSONATION_DENIED", "--operator", "OP-003")
    # and switched on at run time for a mailbox that normally works
    mailbox = exchange_env.store.scalar("SELECT email FROM operators WHERE operator_id = 'OP-004'")
    exchange_env.sandbox.faults.set(deny_impersonation={mailbox})
    assert_fails(capsys, "impersonation", "EWS_IMPERSONATION_DENIED", "--operator", "OP-004")


def test_unknown_mailbox(exchange_env, capsys) -> None:
    report = assert_fails(capsys, "impersonation", "EWS_MAILBOX_NOT_FOUND", "--operator", "OP-002")
    assert "departed.user2@example.com" in step(report, "impersonation")["detail"]


@pytest.mark.parametrize("server, setting", [("Exchange2010", "Exchange2016"), ("Exchange2016", "Exchange2013")])
def test_server_version_differs_from_setting(make_sandbox, configure_exchange_store, seed_dir: Path, tmp_path: Path,
                                             monkeypatch, capsys, server: str, setting: str) -> None:
    sb = make_sandbox(version=server)
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "v.duckdb"))
    monkeypatch.setenv("WORKBENCH_KEYSTORE_PASSWORD", "keystore-pw-2")
    monkeypatch.setenv("WORKBENCH_EWS_PASSWORD", sb.info.service_account.password)
    store = Store()
    configure_exchange_store(store, sb, tmp_path, "keystore-pw-2", seed_dir=seed_dir)
    settings_table.update(store, {"exchange_version": setting})
    report = assert_fails(capsys, "version", "EWS_VERSION_MISMATCH", "--operator", "OP-004")
    assert f"server reports {server}" in step(report, "version")["detail"]
    settings_table.update(store, {"exchange_version": server})
    rc, report = check_json(capsys, "--operator", "OP-004")
    assert rc == 0, report


def test_endpoint_unreachable(exchange_env, capsys) -> None:
    settings_table.update(exchange_env.store,
                          {"exchange_url": f"https://127.0.0.1:{free_port()}/EWS/Exchange.asmx"})
    report = assert_fails(capsys, "endpoint", "EWS_UNREACHABLE")
    assert step(report, "tls")["status"] == "skipped"


def test_expired_server_certificate(exchange_env, tmp_path: Path, capsys) -> None:
    """A server (tiny TLS server on loopback) whose certificate expired; its CA is in the keystore."""
    expired = make_pki(tmp_path / "expired", leaf_days=(-90, -1))
    path = tmp_path / "expired-ca.jks"
    ks.import_certificate(expired.ca_pem, path, "ca", exchange_env.keystore_password)
    with TlsServer(expired) as url:
        settings_table.update(exchange_env.store, {"exchange_url": url, "keystore_path": str(path)})
        report = assert_fails(capsys, "tls", "TLS_EXPIRED")
    assert "expired" in step(report, "tls")["detail"]


def test_expired_certificate_in_keystore(exchange_env, tmp_path: Path, capsys) -> None:
    """The keystore holds only an expired copy of the server's certificate (the CA expired)."""
    old = make_pki(tmp_path / "old", ca_days=(-400, -1), leaf_days=(-30, 300))
    path = tmp_path / "old.jks"
    ks.import_certificate(old.ca_pem, path, "old-ca", exchange_env.keystore_password)
    with TlsServer(old) as url:
        settings_table.update(exchange_env.store, {"exchange_url": url, "keystore_path": str(path)})
        report = assert_fails(capsys, "tls", "TLS_EXPIRED")
    assert step(report, "keystore")["status"] == "warning"
    assert "EXPIRED" in step(report, "keystore")["detail"]


def test_missing_secret_without_terminal(exchange_env, monkeypatch, capsys) -> None:
    monkeypatch.delenv("WORKBENCH_EWS_PASSWORD")
    assert_fails(capsys, "credentials", "SECRET_MISSING")


def test_listener_fails_when_the_agent_claims_to_run(exchange_env, capsys) -> None:
    from workbench.store import now
    with exchange_env.store.write() as con:
        con.execute("INSERT INTO mailbox_state (operator_id, subscription_id, last_notification_at) "
                    "VALUES ('OP-004', 'sub-1', ?)", [now()])
    assert_fails(capsys, "listener", "LISTENER_UNREACHABLE", "--operator", "OP-004")


def test_settings_incomplete(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "empty.duckdb"))
    report = assert_fails(capsys, "settings", "SETTINGS_INCOMPLETE")
    assert {s["status"] for s in report["steps"][1:7]} == {"skipped"}


# --- secrets never leak --------------------------------------------------------------------------

def test_passwords_never_in_store_logs_or_output(exchange_env, tmp_path: Path, monkeypatch, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    ews_pw, ks_pw = exchange_env.password, exchange_env.keystore_password
    outputs: list[str] = []

    def cli(*argv: str) -> int:
        rc, out, err = run_cli(capsys, *argv)
        outputs.extend([out, err])
        return rc

    assert cli("check") == 0
    assert cli("check", "--json", "--operator", "OP-004") == 0
    assert cli("check", "--operator", "OP-003") == 1
    assert cli("keystore", "inspect") == 0
    assert cli("keystore", "inspect", "--json") == 0
    assert cli("keystore", "import", str(exchange_env.workdir / "exchange-server.pem"), "--alias", "again") == 0
    assert cli("settings", "show") == 0
    assert cli("settings", "history", "--json") == 0
    monkeypatch.setenv("WORKBENCH_KEYSTORE_PASSWORD", "wrong-" + ks_pw)
    assert cli("check") == 2                      # KEYSTORE_PASSWORD: the user's input
    monkeypatch.setenv("WORKBENCH_KEYSTORE_PASSWORD", ks_pw)
    monkeypatch.setenv("WORKBENCH_EWS_PASSWORD", ews_pw + "-wrong")
    assert cli("check") == 1
    text = "\n".join(outputs) + "\n" + caplog.text + "\n".join(str(r.args) for r in caplog.records)
    store_bytes = exchange_env.store.path.read_bytes()
    for secret in (ews_pw, ks_pw):
        assert secret not in text
        assert secret.encode() not in store_bytes
        assert secret.encode("utf-16-le") not in store_bytes
    assert len(caplog.records) > 0      # exchangelib did log its requests at DEBUG


@pytest.mark.parametrize("server, status, detail", [
    ("Exchange2019", "warning", "Exchange2019 (Exchange Server 2019), build 15.2.1748.10, API Exchange2016: "
                                "out of support since 2025-10-14"),
    ("ExchangeSE", "ok", "ExchangeSE (Exchange Server Subscription Edition), build 15.2.2562.17, API Exchange2016"),
])
def test_check_names_2019_and_se_and_their_support(make_sandbox, configure_exchange_store, seed_dir: Path,
                                                   tmp_path: Path, monkeypatch, capsys, server: str, status: str,
                                                   detail: str) -> None:
    sb = make_sandbox(version=server)
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "v.duckdb"))
    monkeypatch.setenv("WORKBENCH_KEYSTORE_PASSWORD", "keystore-pw-3")
    monkeypatch.setenv("WORKBENCH_EWS_PASSWORD", sb.info.service_account.password)
    store = Store()
    configure_exchange_store(store, sb, tmp_path, "keystore-pw-3", seed_dir=seed_dir)
    assert settings_table.load(store).exchange_version == server
    rc, report = check_json(capsys, "--operator", "OP-004")
    assert rc == 0 and report["ok"], report
    version = step(report, "version")
    assert (version["status"], version["detail"]) == (status, detail)
    if status == "warning":
        assert version["code"] == "EWS_VERSION_OUT_OF_SUPPORT"
        assert "Subscription Edition" in version["remedy"]
        rc, out, _ = run_cli(capsys, "check", "--operator", "OP-004")
        assert rc == 0 and "! server version as configured — EWS_VERSION_OUT_OF_SUPPORT" in out
    # a 2019 server is not an SE server, and the reverse: the build tells them apart
    settings_table.update(store, {"exchange_version": "ExchangeSE" if server == "Exchange2019" else "Exchange2019"})
    report = assert_fails(capsys, "version", "EWS_VERSION_MISMATCH", "--operator", "OP-004")
    assert f"server reports {server}" in step(report, "version")["detail"]
