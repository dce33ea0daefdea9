"""Initial sync of N mailboxes x M contacts against the sandbox: the workbench vs a per-item exchangelib loop,
and vs the limit: exchangelib's own ``bulk_create`` of the same contacts at the same concurrency.

Prints EWS requests and wall time of each and their ratios (targets: >= 20x fewer requests and >= 10x less
time than the loop; run_sync at most 1.3x the limit; store time under 10% of run_sync), and a no-change
re-run. Store time = the time this process held the store (``workbench.store.connection.held_seconds``:
planning, snapshot, bookkeeping, journal, each connection's open and close); the sync_tables write
functions' share is printed beside it.

The sandbox runs as a server in a process of its own (``_sandbox_proc.py``), as Exchange is another machine:
in-process its HTTP server, NTLM and XML parsing competed with run_sync and with the baselines for this
interpreter's GIL (a store statement of 3-5 ms took ~26 ms beside them). run_sync, the limit and the loop run
one after another against that one sandbox process, in this one bench process; requests are counted by the
sandbox (its admin ``GET /requests``).

``--loop-mailboxes K`` (``--quick``: 1) times the per-item loop over the first K of the N mailboxes only and
counts it N/K times: the loop goes mailbox after mailbox, each mailbox the same size, so its time and requests
are K mailboxes' times N/K (the printed loop row says so); this keeps ``--quick`` cheap for ``make test``.

Usage: python bench/sync_initial.py [--small | --quick] [--mailboxes N --contacts M] [--no-loop | --loop-mailboxes K]
       [--backend graph]
(``--backend graph``: the same over the Graph sandbox, ``bench/sync_initial_graph.py``)
"""
from __future__ import annotations

import argparse
import functools
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _result import Target, exit_code, report  # noqa: E402

FEWER_REQUESTS = Target("fewer_requests_than_loop", 20.0, what="per-item loop requests / run_sync requests")
LESS_TIME = Target("less_time_than_loop", 10.0, what="per-item loop time / run_sync time")
TO_LIMIT = Target("run_sync_over_bulk_create", 1.3, at_least=False,
                  what="run_sync time / exchangelib bulk_create of the same contacts, same concurrency")
STORE_SHARE = Target("store_share", 0.10, at_least=False, what="time holding the store / run_sync time")
CONCURRENCY = 4
PREFIXES = ("wb", "lim", "loop")          # run_sync's mailboxes, the limit's, the loop's
BOOKKEEPING = ("upsert_crm_contacts", "add_team", "remove_team", "drop_links", "upsert_links",
               "apply_snapshot_changes", "replace_snapshot", "journal", "mark_mailbox", "start_run", "finish_run")


def addresses(mailboxes: int, prefix: str) -> list[str]:
    return [f"{prefix}{m:03d}@example.com" for m in range(mailboxes)]


def build(store, mailboxes: int, contacts: int, prefix: str) -> None:
    """Operators ``prefix``-NNN with ``contacts`` CRM contacts each, for the mailboxes ``addresses`` names."""
    from workbench.store import now
    rows_ops, rows_contacts, rows_team = [], [], []
    stamp = now()
    for m, address in enumerate(addresses(mailboxes, prefix)):
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
        "batch_size": str(batch_size), "max_concurrent_mailboxes": str(CONCURRENCY)}, source="bench")


def _contacts_by_mailbox(store, prefix: str):
    frame = store.df("SELECT t.operator_id, o.email AS mailbox, c.* FROM contacts c JOIN contact_team t "
                     "USING (contact_id) JOIN operators o USING (operator_id) WHERE o.operator_id LIKE ? "
                     "ORDER BY 1, contact_id", [prefix.upper() + "-%"])
    return frame.groupby("mailbox", sort=True)


def per_item_loop(store, prefix: str, mailboxes: int) -> None:
    """The baseline: one save() (one CreateItem) per contact, mailbox after mailbox, over the first ``mailboxes``."""
    from workbench.exchange import mailbox_ops as ops
    from workbench.exchange.client import connect
    from workbench.store.settings_table import load
    from workbench.exchange.mapping import new_contact
    from workbench.fields import CONTACT_FIELDS
    with connect(load(store)) as conn:
        for mailbox, group in list(_contacts_by_mailbox(store, prefix))[:mailboxes]:
            acc = ops.open_mailbox(conn, mailbox)
            for row in group.to_dict("records"):
                fields = {f: (None if row[f] != row[f] else row[f]) for f in CONTACT_FIELDS}
                new_contact(acc, fields, crm_id=row["contact_id"], categories=["PegaSASync"]).save()


def bulk_create_limit(store, prefix: str, batch_size: int) -> float:
    """The limit: per mailbox open it and ``bulk_create`` its contacts (CRM id + category), CONCURRENCY at once."""
    from workbench.exchange import mailbox_ops as ops
    from workbench.exchange.client import connect
    from workbench.store.settings_table import load
    from workbench.exchange.mapping import new_contact
    from workbench.fields import CONTACT_FIELDS
    groups = [(m, g.to_dict("records")) for m, g in _contacts_by_mailbox(store, prefix)]
    with connect(load(store)) as conn:
        def one(mailbox: str, rows: list[dict]) -> None:
            acc = ops.open_mailbox(conn, mailbox)
            items = [new_contact(acc, {f: (None if r[f] != r[f] else r[f]) for f in CONTACT_FIELDS},
                                 crm_id=r["contact_id"], categories=["PegaSASync"]) for r in rows]
            acc.bulk_create(folder=acc.contacts, items=items, chunk_size=batch_size)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            list(pool.map(lambda mg: one(*mg), groups))
        return time.perf_counter() - t0


def timed(store, sb, fn) -> tuple[float, int, float, float, object]:
    """(seconds, EWS requests, seconds holding the store, seconds in sync_tables writes, fn's result)."""
    from workbench.store import connection
    from workbench.store import sync_tables as st
    spent = [0.0]
    originals = {name: getattr(st, name) for name in BOOKKEEPING}

    def clocked(f):
        @functools.wraps(f)
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                spent[0] += time.perf_counter() - t
        return wrapper
    for name, f in originals.items():
        setattr(st, name, clocked(f))
    mark, held = len(sb.requests()), connection.held_seconds()
    try:
        t0 = time.perf_counter()
        out = fn()
        elapsed = time.perf_counter() - t0
    finally:
        for name, f in originals.items():
            setattr(st, name, f)
    return elapsed, len(sb.requests()) - mark, connection.held_seconds() - held, spent[0], out


def main(argv: list[str] | None = None) -> dict:
    backend = argparse.ArgumentParser(add_help=False)
    backend.add_argument("--backend", choices=("ews", "graph"), default="ews")
    chosen, rest = backend.parse_known_args(argv)
    if chosen.backend == "graph":
        from sync_initial_graph import main as graph_main
        return graph_main(rest)
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("ews", "graph"), default="ews",
                        help="graph: the same over the Graph sandbox (bench/sync_initial_graph.py)")
    parser.add_argument("--small", action="store_true", help="5 mailboxes x 100 contacts")
    parser.add_argument("--quick", action="store_true", help="4 mailboxes x 150 contacts, batch 100 (tests/bench)")
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument("--contacts", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--no-loop", action="store_true", help="skip the per-item save() loop")
    parser.add_argument("--loop-mailboxes", type=int, help="time the loop over this many mailboxes, count it "
                                                           "mailboxes/K times (default: all)")
    args = parser.parse_args(argv)
    if args.small:
        args.mailboxes, args.contacts = 5, 100
    if args.quick:
        args.mailboxes, args.contacts, args.batch_size = 4, 150, 100
        args.loop_mailboxes = args.loop_mailboxes or 1
    args.loop_mailboxes = min(args.mailboxes, args.loop_mailboxes or args.mailboxes)
    import logging
    logging.getLogger("workbench.exchange").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        m = measure(Path(tmp), args)
    return summarise(args, m)


def measure(workdir: Path, args) -> dict:
    from _sandbox_proc import SandboxProcess
    from workbench.store import Store
    from workbench.sync.engine import run_sync
    os.environ["WORKBENCH_KEYSTORE_PASSWORD"] = "ks-" + secrets.token_urlsafe(8)
    m: dict = {}
    boxes = [a for prefix in PREFIXES for a in addresses(args.mailboxes, prefix)]
    with SandboxProcess(workdir / "sandbox", boxes) as sb:
        os.environ["WORKBENCH_EWS_PASSWORD"] = sb.info.service_account.password
        store = Store(workdir / "bench.duckdb")
        configure(store, sb, workdir, args.batch_size)
        for prefix in PREFIXES:
            build(store, args.mailboxes, args.contacts, prefix)
        with store.write() as con:       # the limit's and the loop's operators are only for the baselines
            con.execute("UPDATE operators SET contact_sync = false WHERE operator_id NOT LIKE 'WB-%'")
        n = args.mailboxes * args.contacts
        print(f"initial sync: {args.mailboxes} mailboxes x {args.contacts} contacts = {n} contacts, "
              f"batch_size {args.batch_size}, {CONCURRENCY} mailboxes at once")
        m["wb"] = timed(store, sb, lambda: run_sync(store, trigger="bench"))
        result = m["wb"][4]
        assert result.status == "ok" and result.done == n, result.to_json()
        mark = len(sb.requests())
        m["rerun"] = timed(store, sb, lambda: run_sync(store, trigger="bench"))
        m["re_writes"] = sum(1 for r in sb.requests()[mark:]
                             if r["operation"] in ("CreateItem", "UpdateItem", "DeleteItem"))
        assert m["rerun"][4].plan.is_empty
        mark = len(sb.requests())
        m["limit"] = (bulk_create_limit(store, "lim", args.batch_size), 0)
        m["limit"] = (m["limit"][0], len(sb.requests()) - mark)
        if not args.no_loop:
            k = args.loop_mailboxes
            loop_time, loop_req, *_ = timed(store, sb, lambda: per_item_loop(store, "loop", k))
            m["loop"] = (loop_time * args.mailboxes / k, round(loop_req * args.mailboxes / k))
    return m


def summarise(args, m: dict) -> dict:
    wb_time, wb_req, held, booked, _ = m["wb"]
    re_time, re_req, *_ = m["rerun"]
    lim_time, lim_req = m["limit"]
    print(f"{'':28}{'EWS requests':>14}{'wall time s':>14}")
    print(f"{'workbench run_sync':28}{wb_req:>14}{wb_time:>14.2f}")
    print(f"{'limit: bulk_create':28}{lim_req:>14}{lim_time:>14.2f}")
    ratios = {TO_LIMIT: wb_time / lim_time, STORE_SHARE: held / wb_time}
    numbers = {"mailboxes": args.mailboxes, "contacts": args.contacts, "run_sync_s": wb_time,
               "run_sync_requests": wb_req, "bulk_create_s": lim_time, "store_held_s": held,
               "sync_tables_s": booked, "rerun_s": re_time, "rerun_requests": re_req}
    loop_text = ";"
    if "loop" in m:
        loop_time, loop_req, *_ = m["loop"]
        k, n = args.loop_mailboxes, args.mailboxes
        sampled = f" (timed over {k} of {n} mailboxes, x{n / k:g})" if k < n else ""
        print(f"{'per-item save() loop':28}{loop_req:>14}{loop_time:>14.2f}  {sampled}")
        ratios = {FEWER_REQUESTS: loop_req / max(1, wb_req), LESS_TIME: loop_time / wb_time, **ratios}
        numbers.update(loop_s=loop_time, loop_requests=loop_req, loop_mailboxes_timed=k)
        loop_text = (f" vs {loop_req:,} requests / {loop_time:.0f} s for a per-item `save()` loop{sampled}: "
                     f"{loop_req / max(1, wb_req):.0f}× fewer requests, {loop_time / wb_time:.1f}× less time;")
    print(f"{'workbench no-change re-run':28}{re_req:>14}{re_time:>14.2f}   (write requests: {m['re_writes']})")
    print(f"store: held {held:.2f} s of run_sync's {wb_time:.2f} s ({held / wb_time:.1%}); "
          f"sync_tables writes {booked:.2f} s ({booked / wb_time:.1%})")
    summary = (f"initial sync of {args.mailboxes} mailboxes × {args.contacts} contacts: {wb_req} EWS requests / "
               f"{wb_time:.1f} s{loop_text} {wb_time / lim_time:.2f}× exchangelib `bulk_create` of the same contacts "
               f"at the same concurrency ({lim_time:.1f} s); store held {held / wb_time:.0%} of the run "
               f"(sync_tables writes {booked / wb_time:.0%}); a no-change re-run: {re_req} requests, "
               f"{m['re_writes']} writes, {re_time:.1f} s")
    return report("sync_initial", f"{args.mailboxes}x{args.contacts}", summary, ratios, **numbers)


if __name__ == "__main__":
    sys.exit(exit_code(main()))
