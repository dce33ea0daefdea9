"""`workbench operators list|...`."""
from __future__ import annotations

import argparse

LIST_COLUMNS = ["operator_id", "name", "email", "contact_sync", "verify_status", "verified_at"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("operators", help="operators: list, import, enable, verify")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = s.add_parser("list", help="operators with contact sync flag and last verification")
    lst.add_argument("--enabled", action="store_true", help="only operators with contact sync on")
    lst.add_argument("--unverified", action="store_true", help="only operators not verified ok")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=list_operators)


def list_operators(args) -> int:
    from workbench.commands.output import print_df, print_json, records
    from workbench.store import Store
    from workbench.store.operators_table import operators_df
    df = operators_df(Store(), enabled=True if args.enabled else None, unverified=args.unverified)
    if args.json:
        print_json(records(df))
    else:
        print_df(df, LIST_COLUMNS)
    return 0
