"""A password the environment does not hold is asked in the dashboard's modal, for every Exchange action.

Against the sandbox: the store has no password variable, so check (overview `c`), verify all (operators
`V`), preview (`p`) and sync (`r`) each open the hidden-input modal, first for the keystore and then for
the service account; typed in, the action completes. getpass is never called (no thread reads the
terminal) and nothing is written to the terminal outside the app.
"""
from __future__ import annotations

import getpass

import pytest
from textual import events
from textual.widgets import Input
from ui_fixtures import aio, settle, until

from workbench.ui.widgets.confirm import Confirm
from workbench.ui.widgets.password import PasswordScreen

ACTIONS = {
    "check": ("1", "c", "SELECT count(*) FROM check_runs WHERE ok"),
    "verify": ("3", "V", "SELECT count(*) FROM operator_checks"),
    "preview": ("4", "p", "SELECT count(*) FROM exchange_contacts"),
    "sync": ("5", "r", "SELECT count(*) FROM sync_runs WHERE trigger = 'dashboard' AND status IN ('ok', 'partial')"),
}


async def _answer(pilot, expected_prompt: str, password: str) -> None:
    def typing_into_the_modal() -> bool:       # the modal is up and its hidden input has the focus
        focused = pilot.app.focused
        return isinstance(pilot.app.screen, PasswordScreen) and isinstance(focused, Input) \
            and focused.id == "password"
    await until(pilot, typing_into_the_modal)
    screen = pilot.app.screen
    assert expected_prompt in screen.prompt
    assert screen.query_one("#password", Input).password is True
    pilot.app.post_message(events.Paste(password))       # pasted, as from a password manager (a terminal's
    await until(pilot, lambda: screen.query_one("#password", Input).value == password)   # bracketed paste)
    assert password not in pilot.app.export_screenshot()      # hidden once in
    await pilot.press("enter")
    await until(pilot, lambda: pilot.app.screen is not screen)


@pytest.mark.parametrize("action", list(ACTIONS))
@aio
async def test_a_missing_password_is_asked_in_a_modal(action, exchange_env, monkeypatch, capfd):
    from workbench.ui.app import WorkbenchApp
    env = exchange_env
    monkeypatch.delenv("WORKBENCH_KEYSTORE_PASSWORD")
    monkeypatch.delenv("WORKBENCH_EWS_PASSWORD")
    terminal_reads: list[str] = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": terminal_reads.append(prompt) or "")
    mode, key, done_sql = ACTIONS[action]
    before = env.store.scalar(done_sql)
    app = WorkbenchApp(env.store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(mode)
        await pilot.pause()
        await pilot.press(key)
        await _answer(pilot, "Keystore password for", env.keystore_password)
        await _answer(pilot, f"Password for {env.info.service_account.username}", env.password)
        if action == "sync":             # `r` plans first, then asks before it writes (issue 16)
            await until(pilot, lambda: isinstance(app.screen, Confirm))
            await pilot.press("y")
        await until(pilot, lambda: env.store.scalar(done_sql) > before)
        await settle(pilot)
        assert not any(n.severity == "error" for n in app._notifications), [n.message for n in app._notifications]
    assert terminal_reads == []
    out, err = capfd.readouterr()
    assert "assword" not in out + err


@aio
async def test_cancelling_the_modal_is_secret_missing(exchange_env, monkeypatch):
    from workbench.ui.app import WorkbenchApp
    monkeypatch.delenv("WORKBENCH_KEYSTORE_PASSWORD")
    app = WorkbenchApp(exchange_env.store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PasswordScreen))
        await pilot.press("escape")
        await until(pilot, lambda: any(n.message.startswith("SECRET_MISSING") for n in app._notifications))
