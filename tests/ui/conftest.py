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


async def settle(pilot, rounds: int = 20) -> None:
    """Wait until workers are done and the messages they posted are handled (no sleeping).

    Handlers may start new workers (a dismissed dialog's callback, a page reload), so
    the app counts as settled after three consecutive idle rounds.
    """
    app = pilot.app
    idle = 0
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
        idle = idle + 1 if not any(w.is_running or w.state.name == "PENDING" for w in app.workers) else 0
        if idle >= 3:
            return


def aio(fn):
    """Run an async test with asyncio.run (no async pytest plugin is installed)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return wrapper
