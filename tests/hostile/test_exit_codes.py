"""The failure catalogue is complete, and the CLI exits 2 for the user's input and 1 for a failed operation.

Exit 2: a value, path, id, file or option the user gave is refused (fix the input and run again).
Exit 1: the operation was attempted and failed (Exchange down, TLS, another process holds the store).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import free_port
from workbench.cli import main
from workbench.errors import CATALOGUE

#: refusals of what the user gave: a value, a path, an id, a file, an option
INPUT_CODES = {"USAGE", "SETTING_INVALID", "SETTINGS_INCOMPLETE", "STORE_UNREADABLE", "FILE_NOT_FOUND",
               "CSV_INVALID", "SECRET_MISSING", "OPERATOR_NOT_FOUND", "KEYSTORE_MISSING", "KEYSTORE_PASSWORD",
               "KEYSTORE_CORRUPT", "KEYSTORE_ALIAS_EXISTS", "KEYSTORE_EMPTY", "KEYSTORE_READ_ONLY",
               "KEYSTORE_PASSWORD_SHORT", "CERT_FILE_INVALID", "SYNC_DISABLED"}
#: the operation was tried and failed: the server, the network, another process
OPERATION_CODES = {"STORE_BUSY", "TLS_UNTRUSTED", "TLS_EXPIRED", "TLS_HOSTNAME", "TLS_FAILED", "EWS_UNREACHABLE",
                   "EWS_TIMEOUT", "EWS_SERVER_ERROR", "EWS_THROTTLED", "EWS_AUTH_REJECTED", "EWS_PROTOCOL",
                   "EWS_IMPERSONATION_DENIED", "EWS_MAILBOX_NOT_FOUND", "LISTENER_UNREACHABLE", "SYNC_DEADLINE"}


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_catalogue_entry_is_complete(code):
    f = CATALOGUE[code]
    assert f.code == code and re.fullmatch(r"[A-Z][A-Z0-9_]+", code)
    for text in (f.title, f.cause, f.remedy):
        assert isinstance(text, str) and text.strip() == text and len(text) >= 10, (code, text)
    assert not f.title.endswith("."), f.title
    assert f.cause.endswith((".", ")")) and f.remedy.endswith((".", ")")), code
    assert f.exit_code in (1, 2)
    assert not (f.transient and f.exit_code == 2), "a transient failure is never the user's input"


@pytest.mark.parametrize("code", sorted(INPUT_CODES | OPERATION_CODES))
def test_input_refusals_exit_2_and_failed_operations_exit_1(code):
    assert CATALOGUE[code].exit_code == (2 if code in INPUT_CODES else 1)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "wb.duckdb"))
    monkeypatch.delenv("WORKBENCH_DEBUG", raising=False)
    (tmp_path / "notes.txt").write_text("not a store, not a directory\n")
    (tmp_path / "folder").mkdir()
    return tmp_path


# (id, argv with {d} = the work directory, exit code, catalogue code on stderr)
CASES = [
    ("store-is-a-directory", ["--store", "{d}/folder", "settings", "show"], 2, "STORE_UNREADABLE"),
    ("store-is-a-text-file", ["--store", "{d}/notes.txt", "settings", "show"], 1, "STORE_CORRUPT"),   # a damaged store
    ("store-parent-missing", ["--store", "{d}/nodir/wb.duckdb", "settings", "show"], 2, "STORE_UNREADABLE"),
    ("check-incomplete-settings", ["check"], 2, "SETTINGS_INCOMPLETE"),
    ("check-negative-timeout", ["check", "--timeout", "-1"], 2, "USAGE"),
    ("check-nan-timeout", ["check", "--timeout", "nan"], 2, "USAGE"),
    ("fetch-cert-broken-ipv6", ["keystore", "fetch-cert", "https://[::1/EWS/Exchange.asmx", "-o", "{d}/x.pem"],
     2, "USAGE"),
    ("fetch-cert-credentials", ["keystore", "fetch-cert", "https://a:hunter2@127.0.0.1/EWS/Exchange.asmx",
                                "-o", "{d}/x.pem"], 2, "USAGE"),
    ("fetch-cert-zero-timeout", ["keystore", "fetch-cert", "https://127.0.0.1/EWS/Exchange.asmx", "-o",
                                 "{d}/x.pem", "--timeout", "0"], 2, "USAGE"),
    ("log-limit-arabic-indic", ["log", "--limit", "٣"], 2, "USAGE"),
    ("log-run-negative", ["log", "--run", "-5"], 2, "USAGE"),
    ("preview-limit-fullwidth", ["sync", "preview", "--limit", "４"], 2, "USAGE"),
    ("preview-bad-format", ["sync", "preview", "--format", "xml"], 2, "USAGE"),
    ("option-100kb", ["sync", "preview", "--format", "x" * 100_000], 2, "USAGE"),
    ("limit-100kb", ["log", "--limit", "9" * 100_000], 2, "USAGE"),
    ("unknown-command", ["frobnicate"], 2, "USAGE"),
    ("unknown-option-with-escape", ["settings", "show", "\x1b[31mx"], 2, "USAGE"),
    ("demo-dir-is-a-file", ["demo", "--dir", "{d}/notes.txt", "--no-tui"], 2, "USAGE"),
    ("demo-dir-under-a-file", ["demo", "--dir", "{d}/notes.txt/demo", "--no-tui"], 2, "USAGE"),
    ("explain-unknown-code", ["explain", "NO_SUCH_CODE"], 2, "USAGE"),
    ("enable-unknown-operator", ["operators", "enable", "nobody"], 2, "OPERATOR_NOT_FOUND"),
    ("import-missing-file", ["contacts", "import", "{d}/missing.csv"], 2, "FILE_NOT_FOUND"),
    ("import-a-directory", ["operators", "import", "{d}/folder"], 2, "FILE_NOT_FOUND"),
    ("sync-switched-off", ["sync", "run"], 2, "SYNC_DISABLED"),
    ("fetch-cert-nobody-listens", ["keystore", "fetch-cert", "https://127.0.0.1:{port}/EWS/Exchange.asmx",
                                   "-o", "{d}/x.pem", "--timeout", "5"], 1, "EWS_UNREACHABLE"),
]


@pytest.mark.parametrize("argv,rc,code", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cli_exit_code(workdir, capsys, argv, rc, code):
    args = [a.format(d=workdir, port=free_port()) for a in argv]
    assert _exit_code(args) == rc
    out, err = capsys.readouterr()
    assert "INTERNAL" not in err and "Traceback" not in err and "\x1b" not in err
    assert "hunter2" not in out + err
    assert len(err) < 2_000, "an error quotes an excerpt, never a whole long value"
    assert f"{code}: {CATALOGUE[code].title}" in out + err, err


def _exit_code(args: list[str]) -> int:
    """What the process would exit with: argparse's usage errors leave by SystemExit, the rest return."""
    try:
        return main(args)
    except SystemExit as stop:
        return int(stop.code)


def test_check_exits_1_when_only_the_server_fails(workdir, monkeypatch, capsys):
    """Complete, valid settings and keystore against a port nobody listens on: the operation failed, exit 1."""
    from tests.exchange.tls_helpers import make_pki
    monkeypatch.setenv("WORKBENCH_KEYSTORE_PASSWORD", "keystore-pw-1")
    keystore = workdir / "trust.jks"
    pki = make_pki(workdir / "pki")
    assert main(["keystore", "import", str(pki.leaf_pem), "--keystore", str(keystore), "--alias", "exchange"]) == 0
    assert main(["settings", "set", f"exchange_url=https://127.0.0.1:{free_port()}/EWS/Exchange.asmx",
                 "impersonation_account=svc@example.com", f"keystore_path={keystore}",
                 f"notification_url=http://127.0.0.1:{free_port()}/ews/notify",
                 "failure_recipients=ops@example.com"]) == 0
    capsys.readouterr()
    assert main(["check", "--timeout", "2"]) == 1
    out = capsys.readouterr().out
    assert "EWS_UNREACHABLE" in out and "1 check failed: endpoint" in out
