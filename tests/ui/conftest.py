from __future__ import annotations

import pytest

from ui_fixtures import FROZEN, journal_store


@pytest.fixture(autouse=True)
def _quiet_terminal(monkeypatch):
    # fixed environment for every dashboard test: no blinking cursor, no user config
    from textual.widgets import Input
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setattr(Input, "cursor_blink", False)
    monkeypatch.delenv("WORKBENCH_STORE", raising=False)


@pytest.fixture
def store(tmp_path):
    return journal_store(tmp_path / "workbench.duckdb")


@pytest.fixture
def make_app(store):
    from workbench.ui.app import WorkbenchApp

    def make(**kw):
        kw.setdefault("clock", lambda: FROZEN)
        return WorkbenchApp(kw.pop("store", store), **kw)
    return make
