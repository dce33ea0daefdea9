"""Settings: every setting in one form, inline validation, all-or-nothing save.

The form only collects text; ``workbench.store.settings_table.update`` (the
same call as `workbench settings set`) validates every field and writes all
of them in one transaction or none. Field messages come from the rule text
in ``workbench.settings``.

Editing is explicit: the fields are read-only (disabled) until ``e``; ``esc`` always leaves the field
(and editing), so a screen key never reaches a field. A changed field is marked with its stored value
until it is saved or reverted; navigation neither saves nor loses it. ``ctrl+s`` shows old → new of
every changed key and saves only after a yes.
"""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from workbench.errors import ValidationError
from workbench.readmodels.settings import SettingRow, field_problem, setting_choices, settings_rows
from workbench.ui.screens.base import WorkbenchScreen


def _key_of(problem: str) -> str:
    """'batch_size=... refused: ...' / 'exchange_url: empty' -> the setting key."""
    head = problem.split(":", 1)[0]
    return head.split("=", 1)[0].strip()


class SettingsScreen(WorkbenchScreen):
    SUB_TITLE = "Settings"
    BINDINGS = [
        Binding("e", "edit", "Edit"),
        Binding("escape", "leave_field", "Leave field", show=False),
        Binding("ctrl+s", "save", "Save all…"),
        Binding("ctrl+z", "revert", "Revert"),
        Binding("ctrl+k", "check", "Check set", show=False),   # the footer is full at 120 columns
        Binding("ctrl+t", "keystore", "Keystore"),
    ]

    @dataclass
    class Loaded(Message):
        rows: list[SettingRow]
        problems: list[str]

    @dataclass
    class Saved(Message):
        changed: dict[str, tuple[str, str]]

    @dataclass
    class Refused(Message):
        problems: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, SettingRow] = {}
        self.dirty = False
        self.editing = False
        self.last_field: str | None = None
        self.problems: list[str] = []

    def compose_body(self) -> ComposeResult:
        from workbench.settings import SETTINGS
        with VerticalScroll(id="settings-form"):
            for key, setting in SETTINGS.items():
                with Horizontal(classes="field", id=f"field-{key}"):
                    yield Label(key + (" *" if setting.required else ""), classes="field-label")
                    yield from self._editor(key)
                    yield Static(setting.rule, classes="field-rule", id=f"rule-{key}", markup=False)
        with Horizontal(id="settings-side"):
            yield Static(id="settings-status", classes="box")

    def _editor(self, key: str) -> ComposeResult:
        choices = setting_choices().get(key)
        if choices:
            yield Select([(c, c) for c in choices], id=f"in-{key}", allow_blank=False, classes="field-input",
                         disabled=True)
        else:
            yield Input(id=f"in-{key}", classes="field-input", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#settings-status").border_title = "Check"
        self.query_one("#settings-form").focus()

    # --- explicit editing ---------------------------------------------------------------
    def _set_editing(self, on: bool, focus: str | None = None) -> None:
        self.editing = on
        for widget in self.query(".field-input"):
            widget.disabled = not on
        if on:
            self.query_one(f"#in-{focus or next(iter(self.rows), 'contact_integration')}").focus()
        else:
            self.query_one("#settings-form").focus()
        self._show_check(self.problems)

    def action_edit(self) -> None:
        if not self.editing:
            self._set_editing(True, self.last_field)

    def action_leave_field(self) -> None:
        if self.editing:
            focused = self.app.focused
            if focused is not None and (focused.id or "").startswith("in-"):
                self.last_field = self._key_from(focused.id)
            self._set_editing(False)

    def refresh_data(self) -> None:
        """Back on this screen (or ctrl+r): read-only again; unsaved changes stay, else the stored set reloads."""
        if self.editing:
            self._set_editing(False)
        if not self.dirty:
            self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="settings-load")
    def load(self) -> None:
        from workbench.settings import check_set
        rows = settings_rows(self.store)
        self.post_message(self.Loaded(rows, check_set({r.key: r.value for r in rows})))

    @on(Loaded)
    def show(self, event: Loaded) -> None:
        self.rows = {r.key: r for r in event.rows}
        with self.prevent(Input.Changed, Select.Changed):
            for row in event.rows:
                widget = self.query_one(f"#in-{row.key}")
                widget.value = row.value
                self._mark(row.key, None)
        self.dirty = False
        self.problems = event.problems
        self._show_check(event.problems)

    def _show_check(self, problems: list[str]) -> None:
        text = Text()
        if problems:
            text.append(f"✗ {len(problems)} problem(s) in the stored set\n", style="bold red")
            for p in problems:
                text.append(f"· {p}\n", style="red")
        else:
            text.append("✓ stored settings valid", style="bold green")
        changed = self.changes() if self.rows else {}
        if changed:
            text.append(f"\n● {len(changed)} unsaved change(s): {', '.join(changed)}", style="bold yellow")
        text.append("\nEDITING — esc leaves the field; " if self.editing else "\nread-only — e edits; ",
                    style="bold" if self.editing else "dim")
        text.append("ctrl+s shows old → new and asks before saving (all or nothing); ctrl+z reverts; "
                    "ctrl+t opens the keystore (entries, expiry; fetch + import the server certificate).",
                    style="dim")
        self.query_one("#settings-status", Static).update(text)

    def _mark(self, key: str, problem: str | None) -> None:
        rule = self.query_one(f"#rule-{key}", Static)
        field = self.query_one(f"#field-{key}")
        stored = self.rows[key].value if key in self.rows else None
        changed = stored is not None and self._value_of(key) != stored
        field.set_class(changed, "changed")
        if problem:
            rule.update(Text(f"✗ {problem}", style="bold red"))
            field.add_class("invalid")
        elif changed:
            rule.update(Text(f"● unsaved; stored: {stored or '(empty)'}", style="bold yellow"))
            field.remove_class("invalid")
        else:
            rule.update(self._rule_text(key))
            field.remove_class("invalid")

    def _rule_text(self, key: str) -> str:
        from workbench.settings import SETTINGS
        return SETTINGS[key].rule

    def _key_from(self, widget_id: str | None) -> str:
        return (widget_id or "")[3:]

    @on(Input.Changed)
    def field_changed(self, event: Input.Changed) -> None:
        key = self._key_from(event.input.id)
        self.dirty = True
        self._mark(key, field_problem(key, event.value))
        self._show_check(self.problems)

    @on(Select.Changed)
    def choice_changed(self, event: Select.Changed) -> None:
        self.dirty = True
        self._mark(self._key_from(event.select.id), None)
        self._show_check(self.problems)

    def _value_of(self, key: str) -> str:
        widget = self.query_one(f"#in-{key}")
        return "" if widget.value is Select.BLANK else str(widget.value)

    def form_values(self) -> dict[str, str]:
        return {key: self._value_of(key) for key in self.rows}

    def changes(self) -> dict[str, str]:
        return {k: v for k, v in self.form_values().items() if v != self.rows[k].value}

    def action_save(self) -> None:
        changed = self.changes()
        if not changed:
            self.notify("No change to save.")
            return
        if any(field_problem(k, v) for k, v in changed.items()):
            self.save(changed)        # refused as a whole with every field's reason; nothing is written
            return
        from workbench.ui.widgets.confirm import Confirm
        lines = "\n".join(f"  {k}: {self.rows[k].value or '(empty)'} → {v or '(empty)'}" for k, v in changed.items())
        question = f"Save {len(changed)} setting(s)?\n\n{lines}\n\nEvery field is validated; all or nothing is saved."

        def decided(yes: bool | None) -> None:
            if yes:
                self.save(changed)
            else:
                self.notify("Nothing saved; the changes stay marked ●.", title="Settings")
        self.app.push_screen(Confirm(question, yes="Save"), decided)

    @work(thread=True, exclusive=True, exit_on_error=False, group="settings-save")
    def save(self, pairs: dict[str, str]) -> None:
        from workbench.store.settings_table import update
        try:
            changed = update(self.store, pairs, source="dashboard")
        except ValidationError as exc:
            self.post_message(self.Refused(exc.problems))
            return
        self.post_message(self.Saved(changed))

    @on(Refused)
    def refused(self, event: Refused) -> None:
        for problem in event.problems:
            key = _key_of(problem)
            if key in self.rows:
                self._mark(key, problem.split(": ", 1)[-1] if "refused: " in problem else problem)
        self.notify(f"SETTING_INVALID: nothing saved — {len(event.problems)} field(s) refused; "
                    "fix the fields marked ✗", severity="error", timeout=10)
        first = _key_of(event.problems[0])
        if first in self.rows:
            self._set_editing(True, first)

    @on(Saved)
    def saved(self, event: Saved) -> None:
        self.dirty = False
        self._set_editing(False)
        names = ", ".join(event.changed) or "nothing"
        self.notify(f"Saved {len(event.changed)} setting(s): {names}", title="Settings")
        self.load()

    def action_revert(self) -> None:
        self.dirty = False
        self._set_editing(False)
        self.load()

    def action_keystore(self) -> None:
        from workbench.ui.screens.keystore import KeystoreScreen
        self.app.push_screen(KeystoreScreen())

    def action_fetch_cert(self) -> None:
        """The palette's "Fetch and import server certificate": the keystore panel, fetching."""
        from workbench.ui.screens.keystore import KeystoreScreen
        self.app.push_screen(KeystoreScreen(fetch_on_open=True))

    def action_check(self) -> None:
        self.load() if not self.dirty else self.notify("Save or revert first: the check reads the stored set.")
