"""`workbench store check|backup|restore|reindex`: the store file's integrity, a consistent copy, putting one back,
the contact search terms sorted again."""
from __future__ import annotations

import argparse

_MARK = {"ok": "✓", "warning": "!", "failed": "✗"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("store", help="the DuckDB store file: check its integrity, back it up, restore a backup")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = s.add_parser("check", help="open read-only, read every table, checkpoint a copy (exit 1 if damaged)")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=check_cmd)
    backup = s.add_parser("backup", help="a consistent, checked copy of the store (0600), taken under the store lock")
    backup.add_argument("file", metavar="FILE", help="the backup file to create (never overwritten)")
    backup.set_defaults(handler=backup_cmd)
    restore = s.add_parser("restore", help="check a backup, keep the current store aside, put the backup in place")
    restore.add_argument("file", metavar="FILE", help="a file written by `workbench store backup`")
    restore.set_defaults(handler=restore_cmd)
    reindex = s.add_parser("reindex", help="sort every contact's search terms again (folds in the recent ones)")
    reindex.set_defaults(handler=reindex_cmd)


def _print_steps(report) -> None:
    for step in report.steps:
        print(f"  {_MARK[step.status]} {step.name}: {step.detail}")


def check_cmd(args) -> int:
    from workbench.commands.output import print_json
    from workbench.store import default_path
    from workbench.store.maintenance import check_store
    report = check_store(default_path())
    if args.json:
        print_json(report.as_dict())
    else:
        print(f"store check: {report.path}")
        _print_steps(report)
    if not report.ok:
        raise report.error()
    if not args.json:
        print("✓ store ok")
    return 0


def backup_cmd(args) -> int:
    from pathlib import Path

    from workbench.files import human_size
    from workbench.store import default_path
    from workbench.store.maintenance import backup_store
    result = backup_store(default_path(), Path(args.file))
    print(f"backup of {default_path()} written to {result.path}")
    print(f"  {human_size(result.size)}, {result.report.tables} tables, {result.report.rows} rows, mode 0600")
    print(f"  SHA-256 {result.sha256}")
    return 0


def restore_cmd(args) -> int:
    from pathlib import Path

    from workbench.store import default_path
    from workbench.store.maintenance import restore_store
    result = restore_store(default_path(), Path(args.file))
    print(f"restored {result.path} from {result.backup} "
          f"({result.report.tables} tables, {result.report.rows} rows)")
    if result.kept is not None:
        print(f"  the previous store is kept as {result.kept} (never deleted by the workbench)")
    return 0


def reindex_cmd(args) -> int:
    import time

    from workbench.store import Store, contact_search
    store, start = Store(), time.monotonic()
    with store.write() as con:
        terms, recent, stale = contact_search.reindex(con)
    print(f"search index of {store.path} rebuilt in {time.monotonic() - start:.1f} s: {terms} terms sorted "
          f"({recent} recent terms and {stale} stale contacts folded in)")
    return 0
