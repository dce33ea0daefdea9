"""`workbench sync preview|run|undo`: what a sync would do, doing it, and bringing back what a run deleted."""
from __future__ import annotations

import argparse

from workbench.commands.args import count


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sync", help="preview and run the contact sync")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    pre = s.add_parser("preview", help="what a sync would do (fresh snapshot, nothing written to Exchange or CRM)")
    pre.add_argument("--operator", action="append", metavar="ID", help="only this operator (repeatable)")
    pre.add_argument("--format", choices=("table", "csv", "json"), default="table")
    pre.add_argument("--stored", action="store_true", help="plan from the stored snapshot (no Exchange request)")
    pre.add_argument("--limit", type=count(), default=40, help="detail rows shown in table format (default 40)")
    pre.set_defaults(handler=preview_cmd)
    run = s.add_parser("run", help="snapshot, plan and execute the sync")
    run.add_argument("--operator", action="append", metavar="ID", help="only this operator (repeatable)")
    run.add_argument("--dry-run", action="store_true", help="plan and journal, write nothing")
    run.add_argument("--allow-mass-delete", action="store_true",
                     help="execute even when a mailbox would lose more than mass_delete_percent of its links")
    run.add_argument("--json", action="store_true")
    run.add_argument("--no-progress", action="store_true")
    run.set_defaults(handler=run_cmd)
    undo = s.add_parser("undo", help="restore the contacts a run deleted (from Deleted Items / Recoverable Items, "
                                     "else recreated); a rerun restores nothing twice")
    undo.add_argument("run_id", type=count(1), metavar="RUN")
    undo.add_argument("--operator", metavar="ID", help="only this operator's mailbox")
    undo.add_argument("--dry-run", action="store_true", help="say what would be restored and how; change nothing")
    undo.add_argument("--json", action="store_true")
    undo.set_defaults(handler=undo_cmd)


def preview_cmd(args) -> int:
    import sys

    from workbench.commands.output import note, print_df, print_json, records
    from workbench.store import Store
    from workbench.sync.preview import preview
    pv = preview(Store(), args.operator, snapshot=not args.stored)
    if args.format == "json":
        print_json({"summary": records(pv.summary), "detail": records(pv.detail),
                    "conflicts": records(pv.conflicts), "overwrites": records(pv.overwrites),
                    "guards": records(pv.guards), "errors": pv.errors})
        return 0
    if args.format == "csv":
        from workbench.csvio import write_rows
        write_rows(sys.stdout, list(pv.detail.columns), pv.detail.itertuples(index=False))   # formula-safe
        for op, err in pv.errors.items():
            note(f"{op}: not planned: {err}")
        return 0
    if pv.is_empty:
        print("nothing to do: the plan has no write actions" + (" (skips below)" if len(pv.summary) else ""))
    if len(pv.summary):
        print_df(pv.summary)
    for row in pv.guards.itertuples():
        print(f"\nMASS_DELETE guard: {row.operator_id} would delete/unlink {row.deletes} of {row.links} links; "
              f"`workbench sync run --allow-mass-delete` to execute")
    if len(pv.overwrites):
        print(f"\nExchange edits the CRM-wins rule will overwrite ({len(pv.overwrites)}):")
        print_df(pv.overwrites.head(args.limit))
    if len(pv.detail):
        print(f"\nDetail (first {min(args.limit, len(pv.detail))} of {len(pv.detail)} rows; --format csv for all):")
        print_df(pv.detail.head(args.limit))
    for op, err in pv.errors.items():
        note(f"{op}: not planned: {err}")
    return 0


def run_cmd(args) -> int:
    import sys
    import threading

    from workbench.commands.output import note, print_json, print_table
    from workbench.store import Store
    from workbench.sync.engine import CancelToken, run_sync
    from workbench.sync.results import Phase

    cancel = CancelToken()
    box: dict = {}
    bar = None
    progress_cb = None
    if not args.json and not args.no_progress:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[batch]}"),
                       TimeElapsedColumn(), transient=False,
                       console=Console(stderr=True))      # stdout is the result, for a pipe or a file
        task = bar.add_task("sync", total=None, rate="", batch="")

        def progress_cb(ev) -> None:
            writing = ev.phase == Phase.EXECUTE       # else planning: mailboxes done, no items or batches yet
            bar.update(task, total=ev.items_total, completed=ev.items_done, description=ev.message[:40],
                       rate=f"{ev.items_per_second:.1f} items/s" if writing else "",
                       batch=f"batch {ev.batch_no}/{ev.batches_total} {ev.operator_id}" if writing else "")

    def work() -> None:
        try:
            box["result"] = run_sync(Store(), args.operator, dry_run=args.dry_run,
                                     allow_mass_delete=args.allow_mass_delete, progress=progress_cb, cancel=cancel,
                                     trigger="cli")
        except BaseException as exc:  # handed to the main thread
            box["error"] = exc
        finally:
            done.set()

    # the main thread waits on an Event, not Thread.join: in Python 3.11 a Ctrl-C inside join() can mark the
    # still-running thread stopped (the bpo-45274 handling), and the command then ended with no result at all
    done = threading.Event()
    thread = threading.Thread(target=work, name="sync-run", daemon=True)
    if bar is not None:
        bar.start()
    thread.start()
    interrupted = False
    try:
        while not done.is_set():
            try:
                done.wait(0.2)
            except KeyboardInterrupt:
                # the engine stops within its cancel grace (requests in flight get a few seconds), ends the
                # run `cancelled` and journals it; a second Ctrl-C only repeats this note
                note("cancelling: waiting for the requests in flight, then the run ends `cancelled` ..."
                     if not interrupted else "still cancelling ...")
                interrupted = True
                cancel.cancel()
    finally:
        if bar is not None:
            bar.stop()
    if "error" in box:
        raise box["error"]
    result = box["result"]
    if args.json:
        print_json(result.to_json())
    else:
        rows = [(m.operator_id, m.mailbox, m.backend, m.status, m.planned, m.done, m.failed, m.left, m.skipped,
                 m.code or "", "yes" if m.notified else "") for m in result.mailboxes]
        print_table(rows, ["operator", "mailbox", "backend", "status", "planned", "done", "failed", "left", "skipped",
                           "code", "e-mailed"])
        extra = "".join(f", {n} {what}" for n, what in ((result.stale, "changed since the plan"),
                                                         (result.cancelled, "cancelled")) if n)
        print(f"\nrun {result.run_id}: {result.status}{' (dry run)' if result.dry_run else ''}; "
              f"{result.planned} planned: {result.done} done, {result.failed} failed{extra}; {result.retries} retries, "
              f"{result.requests} requests, {result.seconds:.1f}s")
        for m in result.mailboxes:
            if m.code and m.status != "dry-run":
                note(f"{m.operator_id}: {m.code}: {m.detail}")
        print(f"journal: workbench log --run {result.run_id}", file=sys.stderr)
    if interrupted:
        return 130
    return 0 if result.status == "ok" else 1


def undo_cmd(args) -> int:
    from workbench.commands.output import print_json, print_table
    from workbench.errors import WorkbenchError
    from workbench.store import Store
    from workbench.sync.undo import undo_run, undo_summary
    result = undo_run(Store(), args.run_id, operator=args.operator, dry_run=args.dry_run)
    if args.json:
        print_json(result.to_json())
    else:
        print(undo_summary(result))
        if result.restores:
            print_table([(r.operator_id, r.contact_id, r.how, "failed: " + r.code if r.code else
                          ("would restore" if result.dry_run else "ok"), r.item_id or "")
                         for r in result.restores], ["operator_id", "contact_id", "how", "outcome", "item_id"])
    if result.failed:
        raise WorkbenchError("UNDO_FAILED", "; ".join(f"{r.operator_id}/{r.contact_id}: {r.code}: {r.detail}"
                                                      for r in result.failed[:20]))
    return 0
