"""Initial sync of N mailboxes x M contacts against the sandbox: the workbench vs a per-item exchangelib loop.

Prints EWS requests and wall time of each, their ratios (targets: >= 20x fewer requests, >= 10x less time),
and a no-change re-run of the workbench. Usage: python bench/sync_initial.py [--small] [--mailboxes N --contacts M]
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(store, sb, workdir: Path, mailboxes: int, contacts: int, prefix: str) -> None:
    from workbench.store import now
    rows_ops, rows_contacts, rows_team = [], [], []
    stamp = now()
    for m in range(mailboxes):
        address = f"{prefix}{m:03d}@example.com"
        sb.add_mailbox(address)
        op = f"{prefix.upper()}-{m:03d}"
        rows_ops.append((op, op, address, True, stamp, "bench"))
        for c in range(contacts):
            cid = f"{prefix.upper()}{m:03d}-{c:05d}"
            rows_contacts.append((cid, f"Given{c}", f"Sur{m}", f"{cid.lower()}@client.test", f"+1 555 {c:05d}", None,
                                  None, f"Company {c % 50}", "Buyer", f"{c} Main St", "Springfield", "IL", "62701",
                                  "US", False, stamp, None))
            rows_team.append((cid, op, stamp))
    with store.write() as con:
        con.executemany("INSERT INTO operators VALUES (?, ?, ?, ?, ?, ?)", rows_ops)
        con.executemany("INSERT INTO contacts VALUES (" + ", ".join("?" * 17) + ")", rows_contacts)
        con.executemany("INSERT INTO contact_team VALUES (?, ?, ?)", rows_team)


def configure(store, sb, workdir: Path, batch_size: int) -> None:
    from workbench.exchange import keystore as ks
    from workbench.store import settings_table
    pem = ks.save_pem(ks.fetch_chain(sb.info.url), workdir / "server.pem")
    ks.import_certificate(pem, workdir / "exchange.jks", "exchange", os.environ["WORKBENCH_KEYSTORE_PASSWORD"])
    settings_table.update(store, {
        "contact_integration": "true", "exchange_url": sb.info.url, "exchange_version": sb.info.version,
        "impersonation_account": sb.info.service_account.username, "keystore_path": str(workdir / "exchange.jks"),
        "notification_url": "http://127.0.0.1:9/ews/notify", "failure_recipients": "ops@example.com",
        "batch_size": str(batch_size), "max_concurrent_mailboxes": "4"}, source="bench")


def per_item_loop(store, sb, mailboxes: int, prefix: str) -> None:
    """The baseline: one save() (one CreateItem) per contact, mailbox after mailbox."""
    from workbench.exchange import mailbox_ops as ops
    from workbench.exchange.client import connect
    from workbench.exchange.mapping import new_contact
    from workbench.fields import CONTACT_FIELDS
    frame = store.df("SELECT t.operator_id, o.email AS mailbox, c.* FROM contacts c JOIN contact_team t "
                     "USING (contact_id) JOIN operators o USING (operator_id) WHERE o.operator_id LIKE ? "
                     "ORDER BY 1, contact_id", [prefix.upper() + "-%"])
    with connect(store) as conn:
        for mailbox, group in frame.groupby("mailbox", sort=True):
            acc = ops.open_mailbox(conn, mailbox)
            for row in group.to_dict("records"):
                fields = {f: (None if row[f] != row[f] else row[f]) for f in CONTACT_FIELDS}
                new_contact(acc, fields, crm_id=row["contact_id"], categories=["PegaSASync"]).save()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="5 mailboxes x 100 contacts")
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument("--contacts", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()
    if args.small:
        args.mailboxes, args.contacts = 5, 100
    from workbench.sandbox import Sandbox
    from workbench.store import Store
    from workbench.sync.engine import run_sync
    import logging
    logging.getLogger("workbench.exchange").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        os.environ["WORKBENCH_KEYSTORE_PASSWORD"] = "ks-" + secrets.token_urlsafe(8)
        with Sandbox(state_dir=workdir / "sandbox", autosave_seconds=3600) as sb:
            os.environ["WORKBENCH_EWS_PASSWORD"] = sb.info.service_account.password
            store = Store(workdir / "bench.duckdb")
            configure(store, sb, workdir, args.batch_size)
            build(store, sb, workdir, args.mailboxes, args.contacts, "wb")
            build(store, sb, workdir, args.mailboxes, args.contacts, "loop")
            with store.write() as con:       # the loop's operators are only for the baseline
                con.execute("UPDATE operators SET contact_sync = false WHERE operator_id LIKE 'LOOP-%'")
            n = args.mailboxes * args.contacts
            print(f"initial sync: {args.mailboxes} mailboxes x {args.contacts} contacts = {n} contacts, "
                  f"batch_size {args.batch_size}")

            mark = len(sb.requests)
            t0 = time.perf_counter()
            result = run_sync(store, trigger="bench")
            wb_time = time.perf_counter() - t0
            wb_req = len(sb.requests) - mark
            assert result.status == "ok" and result.done == n, result.to_json()

            mark = len(sb.requests)
            t0 = time.perf_counter()
            rerun = run_sync(store, trigger="bench")
            re_time = time.perf_counter() - t0
            re_req = len(sb.requests) - mark
            re_writes = sum(1 for r in sb.requests[mark:] if r.operation in ("CreateItem", "UpdateItem", "DeleteItem"))
            assert rerun.plan.is_empty

            mark = len(sb.requests)
            t0 = time.perf_counter()
            per_item_loop(store, sb, args.mailboxes, "loop")
            loop_time = time.perf_counter() - t0
            loop_req = len(sb.requests) - mark

    print(f"{'':28}{'EWS requests':>14}{'wall time s':>14}")
    print(f"{'workbench run_sync':28}{wb_req:>14}{wb_time:>14.2f}")
    print(f"{'per-item save() loop':28}{loop_req:>14}{loop_time:>14.2f}")
    print(f"{'workbench no-change re-run':28}{re_req:>14}{re_time:>14.2f}   (write requests: {re_writes})")
    print(f"ratio: {loop_req / max(1, wb_req):.1f}x fewer requests (target >= 20x), "
          f"{loop_time / wb_time:.1f}x less time (target >= 10x)")


if __name__ == "__main__":
    main()
