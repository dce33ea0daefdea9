from __future__ import annotations

import pytest

from tests.conftest import copy_store
from ui_fixtures import FROZEN, journal_store


@pytest.fixture(autouse=True)
def _quiet_terminal(monkeypatch):
    # fixed environment for every dashboard test: no blinking cursor, no user config
    from textual.widgets import Input
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setattr(Input, "cursor_blink", False)
    monkeypatch.delenv("WORKBENCH_STORE", raising=False)


@pytest.fixture(scope="session")
def journal_store_file(tmp_path_factory):
    """``journal_store`` built once per test process (~1 s of CPU each time: imports through the services)."""
    path = tmp_path_factory.mktemp("journal-store") / "workbench.duckdb"
    journal_store(path)
    return path


@pytest.fixture
def store(tmp_path, journal_store_file):
    """A fresh copy of the journal store for each test."""
    return copy_store(journal_store_file, tmp_path / "workbench.duckdb")


@pytest.fixture
def make_app(store, monkeypatch):
    from workbench.ui.app import WorkbenchApp

    def make(**kw):
        kw.setdefault("clock", lambda: FROZEN)
        chosen = kw.pop("store", store)
        monkeypatch.chdir(chosen.path.parent)     # the header shows the store relative to here: fixed text
        return WorkbenchApp(chosen, **kw)
    return make


KEYSTORE_PASSWORD = "ui-test-keystore"     # a test value; never shown (the panel has no password widget)
CERTS = __import__("pathlib").Path(__file__).parent / "data"


@pytest.fixture
def fixed_keystore(store, tmp_path, monkeypatch):
    """exchange.jks in the working directory, from the committed certificates (fixed dates and fingerprints):
    exchange (expires 2026-03-20, 18 days after FROZEN), test-ca (valid to 2035), old-mail (expired 2025-12-31,
    names mail.example.org). keystore_path=exchange.jks (relative: the same text in every snapshot)."""
    from workbench.exchange import keystore as ks
    from workbench.store.settings_table import update
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_KEYSTORE_PASSWORD", KEYSTORE_PASSWORD)
    certs = {alias: ks.read_certificates(CERTS / f"{name}.pem")[0]
             for alias, name in (("exchange", "exchange"), ("test-ca", "test-ca"), ("old-mail", "old-mail"))}
    path = ks.write_jks(tmp_path / "exchange.jks", KEYSTORE_PASSWORD, certs)
    update(store, {"keystore_path": "exchange.jks"}, source="test")
    from ui_fixtures import freeze_timestamps
    freeze_timestamps(store)
    return path
