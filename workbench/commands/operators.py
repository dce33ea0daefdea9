"""`workbench operators list|import|export|enable|disable|backend|move|verify`."""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

LIST_COLUMNS = ["operator_id", "name", "email", "contact_sync", "effective_backend", "verify_status", "verified_at"]
SHOW_ERRORS = 50
_DELIMS = {",": "comma", ";": "semicolon", "\t": "tab"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("operators", help="operators: list, import, export, enable, disable, verify")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    lst = s.add_parser("list", help="operators with contact sync flag and last verification")
    lst.add_argument("--enabled", action="store_true", help="only operators with contact sync on")
    lst.add_argument("--unverified", action="store_true",
                     help="only operators not verified ok (never, failed, or changed since)")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=list_operators)

    imp = s.add_parser("import", help="bulk add/update operators from CSV (validated, all or nothing)",
                       description="Columns operator_id, name, email, contact_sync. Every row is validated "
                                   "first; nothing is written if a row fails unless --skip-invalid.")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="validate and review only; write nothing")
    imp.add_argument("--mode", choices=("add", "add-or-update"), default="add-or-update",
                     help="add: only new operators (an existing one fails the row); "
                          "add-or-update (default): add new, update existing")
    imp.add_argument("--match", choices=("operator_id", "email"), default="operator_id",
                     help="key that finds the stored operator (default operator_id; email is case-insensitive)")
    imp.add_argument("--skip-invalid", action="store_true", help="write the valid rows, skip failed ones")
    imp.add_argument("--errors", metavar="OUT.csv", help="write failed rows (line, column, value, reason) here")
    imp.add_argument("--json", action="store_true", help="print the review as JSON")
    imp.set_defaults(handler=import_file)

    exp = s.add_parser("export", help="write operators to CSV (re-importable, formula-safe)")
    exp.add_argument("file")
    exp.add_argument("--bom", action="store_true", help="start with a UTF-8 BOM (for Excel)")
    exp.set_defaults(handler=export_file)

    for name, on in (("enable", True), ("disable", False)):
        sw = s.add_parser(name, help=f"turn contact sync {'on' if on else 'off'} for operators")
        sw.add_argument("ids", nargs="+", metavar="ID")
        sw.set_defaults(handler=switch, enabled=on)

    be = s.add_parser("backend", help="which backend serves operators' mailboxes (hybrid: ews or graph)",
                      description="Set before an operator's first sync; default = the `backend` setting.")
    be.add_argument("ids", nargs="+", metavar="ID")
    be.add_argument("--to", required=True, choices=("ews", "graph", "default"))
    be.set_defaults(handler=choose_backend)

    mv = s.add_parser("move", help="move operators' mailboxes between EWS and Graph (item ids translated)",
                      description="Translates the stored item ids with Graph's translateExchangeIds, keeps links "
                                  "and journal; the next sync on the new backend creates no duplicate. Give ids "
                                  "and --to, or --csv FILE (columns operator_id, backend: ews, graph or empty for "
                                  "the organisation's setting; validated first, nothing moved if a row fails). "
                                  "Each operator is all or nothing; exit 1 if any failed.")
    mv.add_argument("ids", nargs="*", metavar="ID")
    mv.add_argument("--to", choices=("ews", "graph"), help="where the operators given by id go")
    mv.add_argument("--csv", metavar="FILE", help="move each row's operator to the row's backend")
    mv.add_argument("--dry-run", action="store_true", help="translate and report; write nothing")
    mv.add_argument("--json", action="store_true")
    mv.set_defaults(handler=move)

    ver = s.add_parser("verify", help="check operators' mailboxes in Exchange (flag, address, impersonation)")
    ver.add_argument("ids", nargs="*", metavar="ID", help="operators to check (default: all with contact sync on)")
    ver.add_argument("--json", action="store_true")
    ver.set_defaults(handler=verify)


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


def print_review(review, *, show: int = SHOW_ERRORS) -> None:
    print(f"{review.path}: {review.processed} rows processed "
          f"({_DELIMS.get(review.delimiter, repr(review.delimiter))}-delimited, "
          f"mode {review.mode}, match {review.match}{', dry run' if review.dry_run else ''})")
    for label in ("added", "updated", "unchanged", "failed"):
        print(f"  {label:<10}{getattr(review, label):>8}")
    if review.unknown_columns:
        print(f"unknown columns ignored: {', '.join(review.unknown_columns)}")
    if review.errors:
        print("failed rows:")
        for e in review.errors[:show]:
            print(f"  {e.message()}")
        if len(review.errors) > show:
            print(f"  ... and {len(review.errors) - show} more problems (--errors FILE writes them all)")
    print(review.outcome())


def import_file(args) -> int:
    from workbench.commands.output import note, print_json
    from workbench.csvio import CsvFileError, check_writable, write_csv
    from workbench.errors import WorkbenchError
    from workbench.operators.csv_import import ERROR_COLUMNS, import_operators
    from workbench.store import Store
    if args.errors:
        check_writable(args.errors)          # before the store is written: nothing half-done
    try:
        review = import_operators(Store(), args.file, mode=args.mode, match=args.match,
                                  dry_run=args.dry_run, skip_invalid=args.skip_invalid)
    except CsvFileError as exc:
        if args.errors:
            write_csv(args.errors, ERROR_COLUMNS, exc.errors)
            note(f"problems written to {args.errors}")
        raise
    if args.errors and review.errors:
        review.write_errors(args.errors)
        note(f"{len(review.errors)} problems written to {args.errors}")
    if args.json:
        print_json(review.to_dict())
    else:
        print_review(review)
    if review.failed and not (args.skip_invalid and not args.dry_run):
        err = WorkbenchError("CSV_INVALID", f"{review.failed} of {review.processed} rows failed "
                                            f"(lines {_ranges(review.failed_lines)})")
        print(err.headline(), file=sys.stderr)
        print(f"  {err.detail}", file=sys.stderr)
        return err.exit_code
    return 0


def _ranges(lines: list[int], limit: int = 20) -> str:
    text = ", ".join(str(n) for n in lines[:limit])
    return text + (f", ... ({len(lines) - limit} more)" if len(lines) > limit else "")


def export_file(args) -> int:
    from workbench.csvio import check_writable
    from workbench.operators.export import export_operators
    from workbench.store import Store
    check_writable(args.file)
    n = export_operators(Store(), args.file, bom=args.bom)
    print(f"exported {n} operators to {args.file}")
    return 0


def choose_backend(args) -> int:
    from workbench.operators.backend_choice import set_backend
    from workbench.store import Store
    result = set_backend(Store(), args.ids, args.to)
    if result.changed:
        print(f"backend {args.to}: {', '.join(result.changed)}")
    if result.unchanged:
        print(f"already backend {args.to}: {', '.join(result.unchanged)}")
    return 0


def move(args) -> int:
    from workbench.commands.output import print_json
    from workbench.errors import WorkbenchError
    from workbench.operators.move import move_operators, summary
    from workbench.operators.move_csv import move_from_csv
    from workbench.store import Store
    if args.ids and args.csv:
        raise WorkbenchError("USAGE", f"--csv={args.csv}: give operator ids or --csv FILE, not both")
    if not (args.ids or args.csv):
        raise WorkbenchError("USAGE", "operators move: give operator ids (with --to) or --csv FILE")
    if args.ids and not args.to:
        raise WorkbenchError("USAGE", "--to: required with operator ids (ews or graph)")
    if args.csv and args.to:
        raise WorkbenchError("USAGE", f"--to={args.to}: not used with --csv (each row's backend column says "
                                      "where its operator goes)")
    with _progress("moving mailboxes", lambda r: f"{r.operator_id}: {r.outcome(dry_run=args.dry_run)}") as progress:
        if args.csv:
            plan = move_from_csv(Store(), args.csv, dry_run=args.dry_run, progress=progress)
            if plan.errors:
                return _refused(plan)
            results = plan.results
        else:
            results = move_operators(Store(), args.ids, args.to, dry_run=args.dry_run, progress=progress)
    failed = [r for r in results if r.code]
    if args.json:
        print_json([r.to_dict(dry_run=args.dry_run) for r in results])
    else:
        for r in results:
            print(r.describe(dry_run=args.dry_run))
        print(summary(results, dry_run=args.dry_run))
    for code in dict.fromkeys(r.code for r in failed):
        print(WorkbenchError(code).headline(), file=sys.stderr)
    return 1 if failed else 0


def _refused(plan) -> int:
    """The CSV's bad rows on stderr (at most SHOW_ERRORS), exit 2: nothing was moved."""
    from workbench.errors import WorkbenchError
    rows = f"{len({e.line for e in plan.errors})} of {plan.rows} rows failed" if plan.rows else "file refused"
    err = WorkbenchError("MOVE_CSV_INVALID", f"{plan.path.name}: {rows}; nothing was moved")
    print(err.headline(), file=sys.stderr)
    print(f"  {err.detail}", file=sys.stderr)
    for e in plan.errors[:SHOW_ERRORS]:
        print(f"  {e.message()}", file=sys.stderr)
    if len(plan.errors) > SHOW_ERRORS:
        print(f"  ... and {len(plan.errors) - SHOW_ERRORS} more problems", file=sys.stderr)
    return err.exit_code


def switch(args) -> int:
    from workbench.operators.switches import set_contact_sync
    from workbench.store import Store
    result = set_contact_sync(Store(), args.ids, args.enabled)
    word = "enabled" if args.enabled else "disabled"
    if result.changed:
        print(f"contact sync {word}: {', '.join(result.changed)}")
    if result.unchanged:
        print(f"already {word}: {', '.join(result.unchanged)}")
    return 0


VERIFY_COLUMNS = ["operator_id", "email", "status", "code", "mailbox_address"]


def verify(args) -> int:
    from workbench.commands.output import print_json, print_table
    from workbench.operators.verify import verify_operators
    from workbench.store import Store
    with _progress("verifying mailboxes", lambda c: f"{c.operator_id}: {c.status}") as progress:
        checks = verify_operators(Store(), args.ids or None, progress=progress)
    if args.json:
        print_json([c.to_dict() for c in checks])
        return 0 if all(c.ok for c in checks) else 1
    from workbench.errors import CATALOGUE
    print_table([(c.operator_id, c.email, c.status, c.code or "", c.mailbox_address or "") for c in checks],
                VERIFY_COLUMNS)
    bad = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(bad)} ok, {len(bad)} with problems")
    for c in bad:
        f = CATALOGUE[c.code] if c.code in CATALOGUE else None
        print(f"  {c.operator_id}: {c.detail}")
        if f is not None:
            print(f"    {f.code}: {f.title} — {f.remedy}")
    return 0 if not bad else 1


@contextmanager
def _progress(label: str, describe: Callable[[Any], str]) -> Iterator[Callable[[int, int, Any], None]]:
    """A rich progress bar on stderr (a terminal only: stdout is the result) fed by ``progress(done, total, item)``
    calls of a service; ``describe(item)`` is the text after the bar."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    console = Console(stderr=True)
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True,
                  disable=not console.is_terminal) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, item: Any) -> None:
            bar.update(task, completed=done, total=total, description=describe(item) if item else "")
        yield progress
