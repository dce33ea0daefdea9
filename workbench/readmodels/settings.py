"""The Settings form: every setting with its stored value, default, rule and (closed rules) choices."""
from __future__ import annotations

from dataclasses import dataclass

from workbench.store import Store


@dataclass(frozen=True)
class SettingRow:
    key: str
    value: str
    default: str
    rule: str
    help: str
    required: bool
    choices: tuple[str, ...] = ()


def setting_choices() -> dict[str, tuple[str, ...]]:
    """Settings whose rule is a closed list (``Setting.choices``): the form offers a select for them."""
    from workbench.settings import SETTINGS
    return {k: s.choices for k, s in SETTINGS.items() if s.choices}


def settings_rows(store: Store) -> list[SettingRow]:
    from workbench.settings import SETTINGS
    from workbench.store.settings_table import stored_values
    values = stored_values(store)
    return [SettingRow(k, values[k], s.default, s.rule, s.help, s.required, s.choices) for k, s in SETTINGS.items()]


def field_problem(key: str, text: str) -> str | None:
    """The inline message for one field: None when the value is acceptable."""
    from workbench.settings import SETTINGS, RuleBroken
    try:
        SETTINGS[key].parse(text)
    except RuleBroken as exc:
        return f"must be {exc}"
    return None
