"""Hostile keystore paths and certificates, and the password-holding process, through the CLI in a subprocess.

Every refusal: exit 2, KEYSTORE_PATH_INVALID naming the path, no INTERNAL or traceback, the store file and the
directory as they were."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .store_files import assert_refused, digest, make_cert, mode, run_cli

PASSWORD = "hostile-ks-password"
ENV = {"WORKBENCH_KEYSTORE_PASSWORD": PASSWORD}


@pytest.fixture
def store(tmp_path) -> Path:
    path = tmp_path / "wb.duckdb"
    assert run_cli("settings", "set", "batch_size=100", store=path).code == 0
    return path


def _import(store: Path, cert: Path, keystore: Path, alias: str):
    return run_cli("keystore", "import", str(cert), "--keystore", str(keystore), "--alias", alias,
                   store=store, env=ENV)


def test_import_through_a_symlink_keeps_the_link_and_writes_its_target_0600(store, tmp_path):
    vault = tmp_path / "vault"
    vault.mkdir()
    real = vault / "exchange.jks"
    link = tmp_path / "exchange.jks"
    link.symlink_to(real)                                 # dangling until the first import creates the target
    first, second = make_cert(tmp_path, "a.example.com", days=(-1, 90)), make_cert(tmp_path, "b.example.com",
                                                                                   days=(-1, 90))
    for cert, alias in ((first, "a"), (second, "b")):
        result = _import(store, cert, link, alias)
        assert result.code == 0, result.err
        assert link.is_symlink() and os.readlink(link) == str(real)
        assert real.is_file() and mode(real) == 0o600
    assert sorted(p.name for p in vault.iterdir()) == ["exchange.jks"]       # no temp file left
    shown = run_cli("keystore", "inspect", str(link), store=store, env=ENV)
    assert shown.code == 0 and "- a  (trustedCert)" in shown.out and "- b  (trustedCert)" in shown.out


def _loop(tmp_path: Path) -> Path:
    (tmp_path / "loop-a.jks").symlink_to(tmp_path / "loop-b.jks")
    (tmp_path / "loop-b.jks").symlink_to(tmp_path / "loop-a.jks")
    return tmp_path / "loop-a.jks"


def _directory(tmp_path: Path) -> Path:
    (tmp_path / "keystores").mkdir()
    return tmp_path / "keystores"


def _through_a_file(tmp_path: Path) -> Path:
    (tmp_path / "notes.txt").write_text("not a directory\n")
    return tmp_path / "notes.txt" / "exchange.jks"


BAD_PATHS = {
    "a loop of symbolic links": (_loop, "a loop of symbolic links"),
    "a directory": (_directory, "is a directory"),
    "a path through a file": (_through_a_file, "notes.txt is a file, not a directory"),
}


@pytest.mark.parametrize("make, says", BAD_PATHS.values(), ids=BAD_PATHS.keys())
def test_import_into_a_path_that_cannot_be_a_keystore_is_refused(store, tmp_path, make, says):
    cert = make_cert(tmp_path, "mail.example.com", days=(-1, 90))
    path = make(tmp_path)
    before, listing = digest(store), sorted(p.name for p in tmp_path.iterdir())
    result = _import(store, cert, path, "exchange")
    assert_refused(result, "KEYSTORE_PATH_INVALID", 2, str(path), says)
    assert digest(store) == before and sorted(p.name for p in tmp_path.iterdir()) == listing


@pytest.mark.parametrize("make, says", BAD_PATHS.values(), ids=BAD_PATHS.keys())
def test_keystore_path_setting_that_cannot_be_a_keystore_is_refused_when_connecting(store, tmp_path, make, says):
    path = make(tmp_path)
    assert run_cli("settings", "set", f"keystore_path={path}", "impersonation_account=svc@example.com",
                   "exchange_url=https://127.0.0.1:9/EWS/Exchange.asmx", store=store).code == 0
    before = digest(store)
    inspect = run_cli("keystore", "inspect", store=store, env=ENV)
    assert_refused(inspect, "KEYSTORE_PATH_INVALID", 2, str(path), says)
    code = textwrap.dedent(f"""
        from workbench.errors import WorkbenchError
        from workbench.exchange.client import connect
        from workbench.store import Store
        from workbench.store.settings_table import load
        try:
            connect(load(Store({str(store)!r})), password="x")
        except WorkbenchError as exc:
            print(exc.code, exc.detail)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **ENV})
    assert proc.stdout.startswith("KEYSTORE_PATH_INVALID ") and str(path) in proc.stdout, proc.stdout + proc.stderr
    assert digest(store) == before


VALIDITY = {
    "expired": ((-400, -10), "EXPIRED on"),
    "not yet valid": ((10, 400), "not valid before"),
}


@pytest.mark.parametrize("days, says", VALIDITY.values(), ids=VALIDITY.keys())
def test_import_of_a_certificate_outside_its_validity_succeeds_with_a_warning_naming_the_dates(
        store, tmp_path, days, says):
    from cryptography import x509
    cert = make_cert(tmp_path, "mail.example.com", days=days)
    info = x509.load_pem_x509_certificate(cert.read_bytes())
    keystore = tmp_path / "exchange.jks"
    result = _import(store, cert, keystore, "exchange")
    assert result.code == 0, result.err
    assert mode(keystore) == 0o600
    warning = [line for line in result.err.splitlines() if line.startswith("warning: exchange: ")]
    assert len(warning) == 1 and says in warning[0], result.err
    for date in (info.not_valid_before_utc, info.not_valid_after_utc):
        assert f"{date:%Y-%m-%d}" in warning[0]
    fresh = make_cert(tmp_path, "ok.example.com", days=(-1, 90))
    assert "warning" not in _import(store, fresh, keystore, "fresh").err   # a valid one: no warning
    shown = run_cli("keystore", "inspect", str(keystore), store=store, env=ENV)
    assert says in shown.out


def test_a_process_that_holds_a_password_cannot_dump_core(store, tmp_path):
    keystore = tmp_path / "exchange.jks"
    assert _import(store, make_cert(tmp_path, "mail.example.com", days=(-1, 90)), keystore, "exchange").code == 0
    code = textwrap.dedent(f"""
        import ctypes, resource
        libc = ctypes.CDLL(None)
        def state():
            return list(resource.getrlimit(resource.RLIMIT_CORE)), libc.prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
        print(state())
        from workbench.cli import main
        assert main(["--store", {str(store)!r}, "keystore", "inspect", {str(keystore)!r}]) == 0
        print(state())
    """)

    def core_dumps_on() -> None:       # as far as allowed: the soft limit up to the inherited hard one
        import resource
        hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))

    import resource
    inherited = resource.getrlimit(resource.RLIMIT_CORE)[1]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **ENV}, preexec_fn=core_dumps_on)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # before the password: dumpable (exec resets it), core size as inherited — 0 only when this test process
    # itself already holds a password (an earlier in-process test under xdist), the same protection
    assert lines[0] == f"([{inherited}, {inherited}], 1)"
    assert lines[-1] == "([0, 0], 0)"                    # after: RLIMIT_CORE 0/0 and not dumpable
