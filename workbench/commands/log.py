"""`workbench log`: the sync journal (every decision and outcome)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("log", help="the sync journal: decisions and outcomes per run")
    p.add_argument("--run", type=int, metavar="ID", help="this run (default: the latest)")
    p.add_argument("--all", action="store_true", help="every run")
    p.add_argument("--operator", metavar="ID")
    p.add_argument("--failed", action="store_true", help="only failed or cancelled outcomes")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=log_cmd)


def log_cmd(args) -> int:
    from workbench.commands.output import note, print_df, print_json, records
    from workbench.store import Store
    from workbench.store.sync_tables import log_df
    store = Store()
    run_id = args.run
    if run_id is None and not args.all:
        run_id = store.scalar("SELECT max(run_id) FROM sync_runs")
        if run_id is None:
            note("no sync run yet")
            if args.json:
                print_json([])
            return 0
    df = log_df(store, run_id=None if args.all else run_id, operator_id=args.operator, failed=args.failed,
                limit=args.limit)
    if args.json:
        print_json(records(df))
        return 0
    if run_id is not None:
        run = store.df("SELECT * FROM sync_runs WHERE run_id = ?", [run_id])
        if len(run):
            r = run.iloc[0]
            print(f"run {run_id}: {r['status']}{' (dry run)' if r['dry_run'] else ''}, trigger {r['trigger']}, "
                  f"started {r['started_at']}, planned {r['planned']}, done {r['done']}, failed {r['failed']}, "
                  f"retries {r['retries']}")
    if df.empty:
        print("no journal entries match")
        return 0
    print_df(df, ["log_id", "run_id", "logged_at", "operator_id", "action", "outcome", "code", "contact_id",
                  "item_id", "detail"])
    return 0
