"""`workbench log`: the sync journal (every decision and outcome)."""
from __future__ import annotations

import argparse

from workbench.commands.args import count


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("log", help="the sync journal: decisions and outcomes per run")
    p.add_argument("--run", type=count(), metavar="ID", help="this run (default: the latest)")
    p.add_argument("--all", action="store_true", help="every run")
    p.add_argument("--operator", metavar="ID")
    p.add_argument("--failed", action="store_true", help="only failures (a person's cancel is not one), with each code's cause and remedy")
    p.add_argument("--limit", type=count(), default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=log_cmd)


def log_cmd(args) -> int:
    from workbench.commands.output import note, print_df, print_json, records
    from workbench.store import Store
    from workbench.errors import WorkbenchError
    from workbench.store.sync_tables import log_df, run_row
    store = Store()
    run = None
    if not args.all:
        run = run_row(store, args.run)
        if run is None and args.run is not None:
            raise WorkbenchError("USAGE", f"--run {args.run}: no such sync run (`workbench log --all` lists every entry)")
        if run is None:
            note("no sync run yet")
            if args.json:
                print_json([])
            return 0
    run_id = None if run is None else int(run["run_id"])
    df = log_df(store, run_id=None if args.all else run_id, operator_id=args.operator, failed=args.failed,
                limit=args.limit)
    if args.failed:
        from workbench.readmodels.catalogue import with_catalogue
        df = with_catalogue(df, "code", cause=True)
    if args.json:
        print_json(records(df))
        return 0
    if run is not None:
        print(f"run {run_id}: {run['status']}{' (dry run)' if run['dry_run'] else ''}, trigger {run['trigger']}, "
              f"started {run['started_at']}, planned {run['planned']}, done {run['done']}, failed {run['failed']}, "
              f"retries {run['retries']}")
    if df.empty:
        print("no journal entries match")
        return 0
    print_df(df, ["log_id", "run_id", "logged_at", "operator_id", "action", "outcome", "code", "contact_id",
                  "item_id", "detail"])
    if args.failed:
        _explain_codes(df)
    return 0


def _explain_codes(df) -> None:
    """Each failure code once, with the catalogue's title, cause and remedy (wrapped, never cut)."""
    import textwrap
    codes = df.dropna(subset=["code"]).groupby("code", sort=False).size()
    for code, n in codes.items():
        row = df[df["code"] == code].iloc[0]
        print(f"\n{code} ×{n}: {row['title'] or ''}")
        for label in ("cause", "remedy"):
            if row[label]:
                print(textwrap.fill(row[label], width=100, initial_indent=f"  {label}: ",
                                    subsequent_indent=" " * (len(label) + 4), break_on_hyphens=False,
                                    break_long_words=False))
