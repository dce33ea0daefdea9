"""Settings → Keystore (ctrl+t): inspect, fetch the server certificate, import it (Pilot).

The sandbox test drives the panel the way a user does and checks the keystore file through
``workbench.exchange.keystore``; the others cover the errors a user meets (no keystore file, no
password, an unreachable server), each a toast `CODE: title — remedy`.
"""
from __future__ import annotations

from tests.conftest import free_port
from ui_fixtures import aio, settle, until

from workbench.ui.screens.keystore import KeystoreScreen
from workbench.ui.widgets.confirm import Confirm


def _messages(app) -> list[str]:
    return [n.message for n in app._notifications]


def _text(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def _open_panel(pilot) -> None:
    await settle(pilot)
    await pilot.press("2")
    await settle(pilot)
    await pilot.press("ctrl+t")
    await settle(pilot)
    assert isinstance(pilot.app.screen, KeystoreScreen)


@aio
async def test_inspect_fetch_and_import_against_the_sandbox(exchange_env):
    from workbench.exchange import keystore as ks
    from workbench.ui.app import WorkbenchApp
    env = exchange_env
    before = ks.load_keystore(env.keystore_path, env.keystore_password)
    stored = {e.alias: ks.cert_info(e.cert) for e in before.entries}
    assert list(stored) == ["exchange"]
    app = WorkbenchApp(env.store)
    async with app.run_test(size=(120, 40)) as pilot:
        await _open_panel(pilot)
        screen = app.screen
        # inspect: the existing entry, its expiry, days left
        table = screen.query_one("#ks-entries")
        assert table.row_count == 1
        row = [str(c) for c in table.get_row_at(0)]
        info = stored["exchange"]
        assert row[0] == "exchange" and row[1] == "trustedCert"
        assert row[4] == f"{info.not_after:%Y-%m-%d}"
        assert row[5].isdigit() and int(row[5]) >= 0
        detail = _text(app, "#ks-detail")
        assert info.sha256 in detail and f"{info.not_after:%Y-%m-%d %H:%M}" in detail
        assert str(env.keystore_path) in _text(app, "#ks-summary")
        assert screen.check_action("import_cert", ()) is None          # nothing fetched yet
        # fetch: the chain the sandbox presents; its leaf is what the keystore holds
        await pilot.press("f")
        await settle(pilot)
        assert screen.fetched is not None, _messages(app)
        leaf = screen.fetched.infos[0]
        assert leaf.sha256 == info.sha256
        shown = _text(app, "#ks-chain")
        assert leaf.sha256 in shown and leaf.subject in shown and env.info.url in shown
        assert screen.check_action("import_cert", ()) is True
        # import under a new alias, after the confirmation
        screen.query_one("#ks-alias").value = "Exchange-Renewed"
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, Confirm)
        assert leaf.sha256 in str(app.screen.query_one(".question").render())
        await pilot.press("y")
        await settle(pilot)
        assert app.screen is screen
        after = ks.load_keystore(env.keystore_path, env.keystore_password)
        assert after.aliases() == ["exchange", "exchange-renewed"]      # lower-cased, as keytool does
        renewed = next(e for e in after.entries if e.alias == "exchange-renewed")
        assert ks.cert_info(renewed.cert).sha256 == leaf.sha256
        assert screen.query_one("#ks-entries").row_count == 2           # the panel re-inspected
        assert any("added 'exchange-renewed'" in m for m in _messages(app))
        # an existing alias: a second confirmation, then --replace semantics
        screen.query_one("#ks-alias").value = "exchange"
        await pilot.press("i")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, Confirm)
        assert "already has an entry 'exchange'" in str(app.screen.query_one(".question").render())
        await pilot.press("y")
        await settle(pilot)
        assert any("replaced 'exchange'" in m for m in _messages(app))
        assert ks.load_keystore(env.keystore_path, env.keystore_password).aliases() == ["exchange", "exchange-renewed"]
        # declining the replacement writes nothing
        mtime = env.keystore_path.stat().st_mtime_ns
        await pilot.press("i")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert env.keystore_path.stat().st_mtime_ns == mtime
        assert not any(m.startswith(("KEYSTORE", "INTERNAL")) for m in _messages(app)), _messages(app)
        # the password is never on screen
        assert env.keystore_password not in app.export_screenshot()


@aio
async def test_missing_keystore_file_is_keystore_missing(make_app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                         # keystore_path=missing-keystore.jks (relative)
    monkeypatch.setenv("WORKBENCH_KEYSTORE_PASSWORD", "ui-test-keystore")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _open_panel(pilot)
        assert any(m.startswith("KEYSTORE_MISSING: Keystore file not found — Create it: ")
                   for m in _messages(app)), _messages(app)
        summary = _text(app, "#ks-summary")
        assert "✗ KEYSTORE_MISSING: Keystore file not found" in summary and "missing-keystore.jks" in summary
        assert app.screen.query_one("#ks-entries").row_count == 0
        await pilot.press("escape")                     # back to the form
        await settle(pilot)
        assert type(app.screen).__name__ == "SettingsScreen"


@aio
async def test_no_keystore_password_is_asked_in_the_modal_and_cancelling_is_secret_missing(make_app, fixed_keystore,
                                                                                           monkeypatch):
    from workbench.ui.widgets.password import PasswordScreen
    monkeypatch.delenv("WORKBENCH_KEYSTORE_PASSWORD")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("ctrl+t")
        await until(pilot, lambda: isinstance(app.screen, PasswordScreen))
        assert "Keystore password for" in app.screen.prompt
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, PasswordScreen)          # asked once; cancelled means cancelled
        assert any(m.startswith("SECRET_MISSING: Password not available — Set WORKBENCH_EWS_PASSWORD / "
                                "WORKBENCH_KEYSTORE_PASSWORD")
                   for m in _messages(app)), _messages(app)
        assert app.screen.query_one("#ks-entries").row_count == 0


@aio
async def test_palette_fetch_of_an_unreachable_server(make_app, fixed_keystore, store):
    from workbench.store.settings_table import update
    update(store, {"exchange_url": f"https://127.0.0.1:{free_port()}/EWS/Exchange.asmx"}, source="test")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app._run_on("settings", "fetch_cert")           # the palette's "Fetch and import server certificate"
        await settle(pilot)
        assert isinstance(app.screen, KeystoreScreen)
        assert app.screen.query_one("#ks-entries").row_count == 3
        assert any(m.startswith("EWS_UNREACHABLE: Exchange endpoint unreachable — ") for m in _messages(app))
        assert "✗ EWS_UNREACHABLE" in _text(app, "#ks-chain")
        assert app.screen.fetched is None and app.screen.check_action("import_cert", ()) is None
