"""`workbench dashboard`: the Textual dashboard on the configured store."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="the interactive dashboard (Textual) on the store")
    p.add_argument("--screen", choices=("overview", "settings", "operators", "preview", "sync", "log"),
                   default="overview", help="screen to open first")
    p.set_defaults(handler=dashboard_cmd)


def dashboard_cmd(args) -> int:
    import sys

    from workbench.errors import WorkbenchError
    from workbench.store import Store
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise WorkbenchError("USAGE", "the dashboard needs a terminal; use the other commands in scripts")
    from workbench.ui.app import WorkbenchApp
    store = Store()
    WorkbenchApp(store, start_mode=args.screen).run()
    return 0
