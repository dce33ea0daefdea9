"""`workbench explain CODE | --all` — the failure catalogue."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="what a failure code means and what to do (--all lists them)")
    p.add_argument("code", nargs="?", metavar="CODE")
    p.add_argument("--all", action="store_true", help="list every catalogue entry")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=explain)


def _as_dict(f) -> dict:
    return {"code": f.code, "title": f.title, "cause": f.cause, "remedy": f.remedy,
            "transient": f.transient, "exit_code": f.exit_code}


def explain(args) -> int:
    from workbench.commands.output import print_json, print_table
    from workbench.errors import CATALOGUE, WorkbenchError, explain as lookup
    if args.all:
        if args.json:
            print_json([_as_dict(f) for f in CATALOGUE.values()])
        else:
            print_table([(f.code, f.title, "transient" if f.transient else "") for f in CATALOGUE.values()],
                        ["code", "title", "kind"])
        return 0
    if not args.code:
        raise WorkbenchError("USAGE", "give a CODE or --all")
    f = lookup(args.code)
    if args.json:
        print_json(_as_dict(f))
        return 0
    print(f"{f.code}: {f.title}")
    print(f"  cause:  {f.cause}")
    print(f"  remedy: {f.remedy}")
    if f.transient:
        print("  transient: retried until the mailbox's deadline (notification_frequency_minutes)")
    return 0
