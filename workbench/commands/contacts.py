"""`workbench contacts import|summary`."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("contacts", help="CRM contacts")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = s.add_parser("import", help="load CRM contacts with their team from CSV")
    imp.add_argument("file")
    imp.set_defaults(handler=import_file)
    lst = s.add_parser("summary", help="counts of contacts and team rows")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=summary)


def import_file(args) -> int:
    from workbench.contacts_import import import_contacts
    from workbench.store import Store
    result = import_contacts(Store(), args.file)
    print(f"imported {result.contacts} contacts, {result.team_rows} team memberships")
    return 0


def summary(args) -> int:
    from workbench.commands.output import print_json, print_table
    from workbench.store import Store
    from workbench.store.summary import store_summary
    data = store_summary(Store())
    if args.json:
        print_json(data)
    else:
        print_table(data.items(), ["table", "rows"])
    return 0
