"""`workbench settings show|set|check|history`."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("settings", help="show, set and check the Exchange settings")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = s.add_parser("show", help="every setting with its value and rule")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_settings)
    set_ = s.add_parser("set", help="set KEY=VALUE ... (all validated first; all or nothing)")
    set_.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    set_.set_defaults(handler=set_settings)
    check = s.add_parser("check", help="validate the stored set as a whole")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=check_settings)
    hist = s.add_parser("history", help="every change: when, old value, new value")
    hist.add_argument("--json", action="store_true")
    hist.set_defaults(handler=show_history)


def show_settings(args) -> int:
    from workbench.commands.output import print_json, print_table
    from workbench.settings import SETTINGS
    from workbench.store import Store
    from workbench.store.settings_table import stored_values
    values = stored_values(Store())
    if args.json:
        print_json({k: {"value": v, "default": SETTINGS[k].default, "rule": SETTINGS[k].rule}
                    for k, v in values.items()})
        return 0
    print_table([(k, v, SETTINGS[k].rule) for k, v in values.items()], ["setting", "value", "rule"])
    return 0


def _split_pairs(pairs: list[str]) -> dict[str, str]:
    """KEY=VALUE arguments as a dict; a malformed pair or a key given twice is a USAGE error."""
    from workbench.errors import WorkbenchError
    from workbench.settings import excerpt
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise WorkbenchError("USAGE", f"{excerpt(pair)}: expected KEY=VALUE")
        if key.strip() in out:
            raise WorkbenchError("USAGE", f"{excerpt(key.strip())} given twice: give each setting once "
                                          "per `settings set`; nothing was written")
        out[key.strip()] = value
    return out


def set_settings(args) -> int:
    from workbench.paths import absolute_path_settings
    from workbench.store import Store
    from workbench.store.settings_table import update
    changed = update(Store(), absolute_path_settings(_split_pairs(args.pairs)), source="cli")
    for key, (old, new) in changed.items():
        print(f"{key}: {old!r} -> {new!r}")
    if not changed:
        print("no change")
    return 0


def check_settings(args) -> int:
    from workbench.commands.output import print_json
    from workbench.settings import check_set
    from workbench.store import Store
    from workbench.store.settings_table import operator_backends, stored_values
    store = Store()
    problems = check_set(stored_values(store), {kind for _address, kind in operator_backends(store)})
    if args.json:
        print_json({"ok": not problems, "problems": problems})
    else:
        for problem in problems:
            print(f"✗ {problem}")
        if not problems:
            print("✓ settings valid")
    return 2 if problems else 0


def show_history(args) -> int:
    from workbench.commands.output import print_df, print_json, records
    from workbench.store import Store
    from workbench.store.settings_table import history
    df = history(Store())
    if args.json:
        print_json(records(df))
    else:
        print_df(df)
    return 0
