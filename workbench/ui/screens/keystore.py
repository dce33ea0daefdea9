"""Settings → Keystore (ctrl+t): inspect the keystore; fetch and import the server certificate.

The panel shows what `workbench keystore inspect` prints for the ``keystore_path`` setting
(every entry's type, subject, issuer, validity, days left, SHA-256, and the same warnings:
expired, expiring within 30 days, host of ``exchange_url`` not covered), and does what
`workbench keystore fetch-cert` + `import` do: fetch the chain the server at ``exchange_url``
presents, show each certificate for the user to compare, then import it under an alias after a
confirmation (a second one before an existing alias is replaced).

All of it runs through ``workbench.keystore_service`` (the same service calls as the CLI) in
thread workers; the keystore password comes from the environment or keyring, never a widget.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Checkbox, DataTable, Input, Label, Static

from workbench.errors import WorkbenchError
from workbench import keystore_service
from workbench.ui.data import error_headline
from workbench.ui.screens.base import WorkbenchScreen
from workbench.ui.widgets.confirm import Confirm

EXPIRY_WARNING_DAYS = 30


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _days_text(days: int) -> Text:
    if days < 0:
        return Text("expired", style="bold red")
    return Text(str(days), style="bold yellow" if days < EXPIRY_WARNING_DAYS else "")


def cert_lines(text: Text, info: Any, at, *, indent: str = "  ") -> None:
    """Subject, issuer, validity, SHA-256 and names of one certificate (as the CLI prints them)."""
    days = keystore_service.days_left(info.not_after, at)
    text.append(f"{indent}subject:  {info.subject}\n")
    text.append(f"{indent}issuer:   {info.issuer}\n")
    text.append(f"{indent}valid:    {info.not_before:%Y-%m-%d %H:%M} .. {info.not_after:%Y-%m-%d %H:%M} UTC  ")
    if days < 0:
        text.append("EXPIRED\n", style="bold red")
    else:
        text.append(f"({days} days left)\n", style="bold yellow" if days < EXPIRY_WARNING_DAYS else "dim")
    text.append(f"{indent}SHA-256:  {info.sha256}\n")
    if info.names:
        text.append(f"{indent}names:    {', '.join(info.names)}\n", style="dim")


class KeystoreScreen(WorkbenchScreen):
    SUB_TITLE = "Settings · Keystore"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f", "fetch_cert", "Fetch cert"),
        Binding("i", "import_cert", "Import…"),
    ]

    @dataclass
    class Inspected(Message):
        view: Any                      # keystore_service.KeystoreView

    @dataclass
    class InspectFailed(Message):
        error: BaseException

    @dataclass
    class Fetched(Message):
        chain: Any                     # keystore_service.FetchedChain

    @dataclass
    class FetchFailed(Message):
        error: BaseException

    @dataclass
    class AliasExists(Message):
        alias: str
        chain: bool

    @dataclass
    class Imported(Message):
        result: Any                    # workbench.exchange.keystore.ImportResult

    def __init__(self, *, fetch_on_open: bool = False) -> None:
        super().__init__()
        self.fetch_on_open = fetch_on_open
        self.view: Any = None
        self.fetched: Any = None
        self.busy = False

    def compose_body(self) -> ComposeResult:
        yield Static("", id="ks-summary", classes="box")
        yield DataTable(id="ks-entries", cursor_type="row", zebra_stripes=True)
        yield Static("", id="ks-detail")
        with Vertical(id="ks-fetch"):
            with Horizontal(id="ks-import-row"):
                yield Label("Import as alias", classes="ks-label")
                yield Input("exchange", id="ks-alias", classes="field-input")
                yield Checkbox("whole chain (alias, alias-2, …)", id="ks-whole-chain")
            yield Static("", id="ks-chain")

    def on_mount(self) -> None:
        table = self.query_one("#ks-entries", DataTable)
        for key, label, width in (("alias", "Alias", 12), ("type", "Type", 11), ("subject", "Subject", 24),
                                  ("issuer", "Issuer", 20), ("until", "Expires", 10),
                                  ("days", "Days left", 9), ("sha256", "SHA-256", 14)):
            table.add_column(label, key=key, width=width)
        self.query_one("#ks-summary").border_title = "Keystore"
        table.border_title = "Entries"
        self.query_one("#ks-detail").border_title = "Entry"
        self.query_one("#ks-fetch").border_title = "Server certificate (exchange_url)"
        self._chain_text(Text("f fetches the certificates the server at exchange_url presents; compare the "
                              "SHA-256 with your Exchange admin, then i imports it under the alias above.",
                              style="dim"))
        table.focus()
        if self.fetch_on_open:
            self.action_fetch_cert()

    # --- inspect -----------------------------------------------------------------
    def refresh_data(self) -> None:
        self.inspect()

    @work(thread=True, exclusive=True, exit_on_error=False, group="ks-inspect")
    def inspect(self) -> None:
        try:
            view = keystore_service.inspect(self.store, at=self.clock())
        except Exception as exc:
            self.post_message(self.InspectFailed(exc))
            raise                      # the worker's error becomes the toast `CODE: title — remedy`
        self.post_message(self.Inspected(view))

    @on(Inspected)
    def show_keystore(self, event: Inspected) -> None:
        self.view = view = event.view
        report = view.report
        n = len(report.entries)
        text = Text()
        text.append(f"{view.path}", style="bold")
        text.append(f"  {report.store_type.upper()}, {n} entr{'y' if n == 1 else 'ies'}")
        text.append(f"  (as of {view.at:%Y-%m-%d %H:%M} UTC)", style="dim")
        warnings = report.all_warnings()
        for warning in warnings:
            text.append(f"\n! {warning}", style="yellow")
        if not warnings:
            text.append("\n✓ no warnings: every certificate valid for 30+ days and covering the exchange_url host",
                        style="green")
        self.query_one("#ks-summary", Static).update(text)
        table = self.query_one("#ks-entries", DataTable)
        table.clear()
        for entry in report.entries:
            info = entry.certs[0]
            days = keystore_service.days_left(info.not_after, view.at)
            alias = Text(entry.alias, style="bold yellow" if entry.warnings else "")
            table.add_row(alias, entry.kind, _short(info.subject, 24), _short(info.issuer, 20),
                          f"{info.not_after:%Y-%m-%d}", _days_text(days), _short(info.sha256, 14),
                          key=entry.alias)
        self._show_entry(report.entries[0] if report.entries else None)

    @on(InspectFailed)
    def inspect_failed(self, event: InspectFailed) -> None:
        self.view = None
        self.query_one("#ks-entries", DataTable).clear()
        text = Text(f"✗ {error_headline(event.error)}\n", style="bold red")
        detail = getattr(event.error, "detail", "")
        if detail:
            text.append(detail, style="red")
        self.query_one("#ks-summary", Static).update(text)
        self._show_entry(None)

    @on(DataTable.RowHighlighted, "#ks-entries")
    def entry_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.view is None or event.row_key is None:
            return
        for entry in self.view.report.entries:
            if entry.alias == event.row_key.value:
                self._show_entry(entry)

    def _show_entry(self, entry: Any) -> None:
        detail = self.query_one("#ks-detail", Static)
        if entry is None:
            detail.update("")
            return
        text = Text()
        text.append(f"{entry.alias}", style="bold")
        text.append(f"  ({entry.kind})\n")
        for info in entry.certs:
            cert_lines(text, info, self.view.at)
        for warning in entry.warnings:
            text.append(f"  ! {warning}\n", style="yellow")
        detail.update(text)

    # --- fetch ---------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "import_cert":
            return None if self.fetched is None or self.busy else True
        if action == "fetch_cert":
            return None if self.busy else True
        return True

    def _busy(self, busy: bool) -> None:
        self.busy = busy
        self.refresh_bindings()

    def _chain_text(self, text: Text) -> None:
        self.query_one("#ks-chain", Static).update(text)

    def action_fetch_cert(self) -> None:
        if self.busy:
            return
        self._busy(True)
        self._chain_text(Text("fetching the certificates exchange_url presents …", style="dim"))
        self.fetch()

    @work(thread=True, exclusive=True, exit_on_error=False, group="ks-fetch")
    def fetch(self) -> None:
        try:
            chain = keystore_service.fetch_configured(self.store)
        except Exception as exc:
            self.post_message(self.FetchFailed(exc))
            raise
        self.post_message(self.Fetched(chain))

    @on(Fetched)
    def show_fetched(self, event: Fetched) -> None:
        self.fetched = chain = event.chain
        self._busy(False)
        at = keystore_service.aware(self.clock())
        n = len(chain.infos)
        text = Text()
        text.append(f"{chain.url} presents {n} certificate{'s' * (n != 1)} (not yet trusted):\n", style="bold")
        for number, info in enumerate(chain.infos, start=1):
            text.append(f"[{number}]\n", style="bold")
            cert_lines(text, info, at)
        text.append("Check the SHA-256 fingerprint with your Exchange admin; i imports ", style="dim")
        text.append("the first certificate" if not self._whole_chain() else "every certificate", style="dim")
        text.append(" under the alias above.", style="dim")
        self._chain_text(text)

    @on(FetchFailed)
    def fetch_failed(self, event: FetchFailed) -> None:
        self.fetched = None
        self._busy(False)
        self._chain_text(Text(f"✗ {error_headline(event.error)}", style="bold red"))

    # --- import --------------------------------------------------------------------
    def _whole_chain(self) -> bool:
        return self.query_one("#ks-whole-chain", Checkbox).value

    @on(Checkbox.Changed, "#ks-whole-chain")
    def chain_toggled(self, _event: Checkbox.Changed) -> None:
        if self.fetched is not None:
            self.post_message(self.Fetched(self.fetched))

    @on(Input.Submitted, "#ks-alias")
    def alias_submitted(self, _event: Input.Submitted) -> None:
        if self.check_action("import_cert", ()):
            self.action_import_cert()

    def action_import_cert(self) -> None:
        if self.fetched is None or self.busy:
            return
        alias = self.query_one("#ks-alias", Input).value.strip().lower()
        if not alias:
            self.notify("USAGE: an alias is needed — type one (e.g. exchange) and import again.",
                        severity="error", markup=False)
            self.query_one("#ks-alias", Input).focus()
            return
        chain = self._whole_chain()
        infos = self.fetched.infos if chain else self.fetched.infos[:1]
        target = self.view.path if self.view is not None else "keystore_path"
        question = Text()
        question.append(f"Import {len(infos)} certificate{'s' * (len(infos) != 1)} presented by "
                        f"{self.fetched.url} into {target} as a trusted entry ", style="bold")
        names = [alias] + [f"{alias}-{n}" for n in range(2, len(infos) + 1)]
        question.append(", ".join(repr(a) for a in names), style="bold")
        question.append("?\n\n")
        for name, info in zip(names, infos):
            question.append(f"{name}: {info.subject}\n  SHA-256 {info.sha256}\n")
        question.append("\nOnly import it if the fingerprint matches what your Exchange admin gave you.", style="dim")

        def answered(yes: bool | None) -> None:
            if yes:
                self._busy(True)
                self.import_fetched(alias, False, chain)
        self.app.push_screen(Confirm(question, yes="Import"), answered)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ks-import")
    def import_fetched(self, alias: str, replace: bool, chain: bool) -> None:
        try:
            result = keystore_service.import_certs(self.store, self.fetched.certs, alias, replace=replace, chain=chain)
        except WorkbenchError as exc:
            if exc.code == "KEYSTORE_ALIAS_EXISTS" and not replace:
                self.post_message(self.AliasExists(alias, chain))
                return
            self.call_from_thread(self._busy, False)
            raise
        except Exception:
            self.call_from_thread(self._busy, False)
            raise
        self.post_message(self.Imported(result))

    @on(AliasExists)
    def alias_exists(self, event: AliasExists) -> None:
        self._busy(False)
        question = Text()
        question.append(f"The keystore already has an entry {event.alias!r}", style="bold")
        question.append(" (or one of the chain's aliases). Replace it with the fetched certificate?\n\n")
        question.append("The old certificate is no longer trusted afterwards (import --replace).", style="dim")

        def answered(yes: bool | None) -> None:
            if yes:
                self._busy(True)
                self.import_fetched(event.alias, True, event.chain)
            else:
                self.notify("Nothing imported: choose another alias, or replace.", title="Keystore")
        self.app.push_screen(Confirm(question, yes="Replace"), answered)

    @on(Imported)
    def imported(self, event: Imported) -> None:
        self._busy(False)
        result = event.result
        lines = [f"{'replaced' if alias in result.replaced else 'added'} {alias!r}: {info.subject}"
                 for alias, info in result.imported]
        lines += [f"warning: {w}" for w in result.warnings()]
        head = f"{'Created' if result.created else 'Updated'} {result.path.name} (JKS)"
        self.notify(head + "\n" + "\n".join(lines), title="Keystore", markup=False,
                    severity="warning" if result.warnings() else "information")
        self.inspect()

    # --- navigation ----------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()
