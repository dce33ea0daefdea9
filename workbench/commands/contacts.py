"""`workbench contacts import|export|summary|find|show`."""
from __future__ import annotations

import argparse

from workbench.commands.args import count


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("contacts", help="CRM contacts")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = s.add_parser("import", help="load CRM contacts with their team from CSV")
    imp.add_argument("file")
    imp.set_defaults(handler=import_file)
    exp = s.add_parser("export", help="contacts as the CSV `contacts import` reads (formula-safe), e.g. for the "
                                      "CRM's data import")
    exp.add_argument("file")
    which = exp.add_mutually_exclusive_group()
    which.add_argument("--changed-since", type=count(1), metavar="RUN",
                       help="only contacts a sync wrote from Exchange in run RUN or later")
    which.add_argument("--source", choices=("all", "exchange"), default="all",
                       help="exchange: only contacts a sync ever wrote from Exchange")
    exp.set_defaults(handler=export_file)
    lst = s.add_parser("summary", help="counts of contacts and team rows")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=summary)
    find = s.add_parser("find", help="contacts by name, e-mail, company, phone, CRM id or Exchange item id "
                                     "(case and accents ignored)")
    find.add_argument("text")
    find.add_argument("--limit", type=count(1), default=50)
    find.add_argument("--offset", type=count(0), default=0)
    find.add_argument("--json", action="store_true")
    find.set_defaults(handler=find_cmd)
    show = s.add_parser("show", help="one contact's story: CRM row, team, Exchange values per mailbox, journal, "
                                     "next planned action")
    show.add_argument("contact_id", metavar="ID")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_cmd)


def import_file(args) -> int:
    from workbench.contacts_import import import_contacts
    from workbench.store import Store
    result = import_contacts(Store(), args.file)
    print(f"imported {result.contacts} contacts, {result.team_rows} team memberships")
    return 0


def export_file(args) -> int:
    from workbench.contacts_export import export_contacts
    from workbench.store import Store
    n = export_contacts(Store(), args.file, changed_since=args.changed_since, source=args.source)
    print(f"exported {n} contacts to {args.file}")
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


def find_cmd(args) -> int:
    from workbench.commands.output import note, print_df, print_json, records
    from workbench.contact_history import find_contacts
    from workbench.store import Store
    df = find_contacts(Store(), args.text, limit=args.limit, offset=args.offset)
    if args.json:
        print_json(records(df))
    elif df.empty:
        note(f"no contact matches {args.text!r}")
    else:
        print_df(df)
    return 0


def show_cmd(args) -> int:
    from workbench.commands.output import print_df, print_json
    from workbench.contact_history import contact_history
    from workbench.store import Store
    h = contact_history(Store(), args.contact_id)
    if args.json:
        print_json(h.to_json())
        return 0
    crm = h.crm
    print(f"{h.contact_id}: {crm.get('given_name') or ''} {crm.get('surname') or ''} <{crm.get('email') or '-'}>"
          f"{' (deleted in the CRM ' + str(crm['deleted_at']) + ')' if crm.get('deleted_at') else ''}")
    print("team: " + (", ".join(h.team["operator_id"]) if len(h.team) else "(nobody)"))
    for m in h.mailboxes:
        state = "linked" if m["linked"] else "not linked"
        print(f"\n{m['operator_id']} {m['mailbox']} item {m['item_id']} ({state}, seen {m['seen_at']}): "
              + (f"differs in {', '.join(m['differs'])}" if m["differs"] else "same as the CRM"))
        print_df(m["fields"])
    print("\njournal:" if len(h.journal) else "\njournal: (empty)")
    if len(h.journal):
        print_df(h.journal, ["logged_at", "run_id", "trigger", "operator_id", "action", "outcome", "side", "rule",
                             "values", "code"])
    if len(h.deletes):
        print("\ndeletes:")
        print_df(h.deletes, ["run_id", "operator_id", "action", "went_to", "item_id", "restored_how",
                             "restore_run_id"])
    print("\nnext sync:" + ("" if len(h.next_actions) else " nothing planned"))
    if len(h.next_actions):
        print_df(h.next_actions)
    return 0
