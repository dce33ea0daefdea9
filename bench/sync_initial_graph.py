"""Initial sync of N mailboxes x M contacts over the Graph sandbox (``backend=graph``): the workbench vs a
per-item POST loop, and vs the limit: the sandbox's own ``$batch`` throughput for the same contacts at the same
concurrency (plain httpx, 20 creates per ``$batch``, 4 in flight per mailbox, CONCURRENCY mailboxes at once).

Prints the Graph HTTP requests (as the sandbox logged them; token requests not counted) and wall time of each
and their ratios, and a no-change re-run. Also ``python bench/sync_initial.py --backend graph``.

The sandbox runs as a server in a process of its own (``_sandbox_proc.py``), as Graph is another machine:
in-process its HTTPS server and JSON work competed with run_sync and with the baselines for this interpreter's
GIL. run_sync, the limit and the loop run one after another against that one sandbox process, in this one
bench process; requests are counted by the sandbox (its Graph admin ``GET /requests``).

Usage: python bench/sync_initial_graph.py [--small | --quick] [--mailboxes N --contacts M] [--no-loop]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _result import Target, exit_code, report  # noqa: E402
from graph_sandbox import client  # noqa: E402
from sync_initial import CONCURRENCY, PREFIXES, _contacts_by_mailbox, addresses, build  # noqa: E402
from workbench.graph.transport import IMMUTABLE_IDS  # noqa: E402

FEWER_REQUESTS = Target("fewer_requests_than_post_loop", 10.0, what="per-item POST requests / run_sync requests")
LESS_TIME = Target("less_time_than_post_loop", 2.0, what="per-item POST loop time / run_sync time")
TO_LIMIT = Target("run_sync_over_batch_limit", 1.5, at_least=False,
                  what="run_sync time / plain $batch creates of the same contacts, same concurrency")
PER_BATCH = 20                     # Graph's limit of requests in one $batch
IN_FLIGHT = 4                      # Exchange Online's MailboxConcurrency
SERVICE_MAILBOX = "bench-service@example.com"


def configure(store, sb, batch_size: int) -> None:
    """The settings a user sets for backend=graph, trust pinned to the sandbox CA; the secret in the environment."""
    from workbench.store import settings_table
    g = sb.info.graph
    host, tenant = g["authority"].rsplit("/", 1)
    os.environ["WORKBENCH_GRAPH_CLIENT_SECRET"] = g["client_secret"]
    settings_table.update(store, {
        "contact_integration": "true", "backend": "graph", "graph_tenant_id": tenant,
        "graph_client_id": g["client_id"], "graph_authority_host": host, "graph_endpoint": g["graph_url"],
        "graph_ca_bundle": g["ca_cert"], "graph_service_mailbox": SERVICE_MAILBOX,
        "notification_url": "https://127.0.0.1:9/graph/notify", "failure_recipients": "ops@example.com",
        "batch_size": str(batch_size), "max_concurrent_mailboxes": str(CONCURRENCY)}, source="bench")


def _bodies(store, prefix: str) -> list[tuple[str, list[dict]]]:
    """(mailbox, the create bodies the workbench sends) per mailbox of the baseline operators ``prefix``."""
    from workbench.fields import CONTACT_FIELDS
    from workbench.graph.mapping import contact_body
    return [(mailbox, [contact_body({f: (None if r[f] != r[f] else r[f]) for f in CONTACT_FIELDS},
                                    crm_id=r["contact_id"], categories=["PegaSASync"])
                       for r in group.to_dict("records")])
            for mailbox, group in _contacts_by_mailbox(store, prefix)]


def post_loop(sb, groups) -> None:
    """The baseline: one POST per contact, mailbox after mailbox (immutable ids asked for, as the workbench does)."""
    with client(sb) as c:
        for mailbox, bodies in groups:
            for body in bodies:
                answer = c.post(f"users/{mailbox}/contacts", json=body, headers={"Prefer": IMMUTABLE_IDS})
                assert answer.status_code == 201, answer.text[:300]


def batch_limit(sb, groups) -> None:
    """The limit: every mailbox's creates in ``$batch`` requests of 20, 4 in flight per mailbox, CONCURRENCY
    mailboxes at once, nothing else (no reads, no store)."""
    with client(sb) as c:                # httpx's default pool (100 connections) is no bound here
        def send(mailbox: str, chunk: list[dict]) -> None:
            parts = [{"id": str(i), "method": "POST", "url": f"/users/{mailbox}/contacts",
                      "headers": {"Content-Type": "application/json", "Prefer": IMMUTABLE_IDS}, "body": body}
                     for i, body in enumerate(chunk)]
            statuses = [p["status"] for p in c.post("$batch", json={"requests": parts}).json()["responses"]]
            assert statuses == [201] * len(parts), statuses

        def one(mailbox: str, bodies: list[dict]) -> None:
            with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
                list(pool.map(lambda chunk: send(mailbox, chunk),
                              [bodies[i:i + PER_BATCH] for i in range(0, len(bodies), PER_BATCH)]))
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            list(pool.map(lambda g: one(*g), groups))


def timed(sb, fn) -> tuple[float, int, int, object]:
    """(seconds, HTTP requests, write parts inside $batch, fn's result), from the sandbox's request log."""
    mark = len(sb.graph_requests())
    t0 = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - t0
    new = sb.graph_requests()[mark:]
    return (elapsed, sum(1 for r in new if not r["batch"]),
            sum(1 for r in new if r["batch"] and r["method"] in ("POST", "PATCH", "DELETE")), out)


def measure(workdir: Path, args) -> dict:
    from _sandbox_proc import SandboxProcess
    from workbench.sandbox.graph.routing import MAX_LOG
    from workbench.store import Store
    from workbench.sync.engine import run_sync
    m: dict = {}
    boxes = [SERVICE_MAILBOX] + [a for prefix in PREFIXES for a in addresses(args.mailboxes, prefix)]
    with SandboxProcess(workdir / "sandbox", boxes, graph=True) as sb:     # the bench app's scope: these mailboxes
        store = Store(workdir / "bench.duckdb")
        configure(store, sb, args.batch_size)
        for prefix in PREFIXES:
            build(store, args.mailboxes, args.contacts, prefix)
        with store.write() as con:       # the limit's and the loop's operators are only for the baselines
            con.execute("UPDATE operators SET contact_sync = false WHERE operator_id NOT LIKE 'WB-%'")
        n = args.mailboxes * args.contacts
        print(f"initial sync over Graph: {args.mailboxes} mailboxes x {args.contacts} contacts = {n} contacts, "
              f"batch_size {args.batch_size}, {CONCURRENCY} mailboxes at once")
        m["wb"] = timed(sb, lambda: run_sync(store, trigger="bench"))
        result = m["wb"][3]
        assert result.status == "ok" and result.done == n, result.to_json()
        m["rerun"] = timed(sb, lambda: run_sync(store, trigger="bench"))
        assert m["rerun"][3].plan.is_empty
        m["limit"] = timed(sb, lambda: batch_limit(sb, _bodies(store, "lim")))
        if not args.no_loop:
            m["loop"] = timed(sb, lambda: post_loop(sb, _bodies(store, "loop")))
        assert len(sb.graph_requests()) < MAX_LOG, "the sandbox's request log overflowed: counts would be wrong"
    return m


def summarise(args, m: dict) -> dict:
    wb_time, wb_req, wb_writes, _ = m["wb"]
    re_time, re_req, re_writes, _ = m["rerun"]
    lim_time, lim_req, *_ = m["limit"]
    print(f"{'':30}{'HTTP requests':>14}{'wall time s':>14}")
    print(f"{'workbench run_sync':30}{wb_req:>14}{wb_time:>14.2f}   (creates inside $batch: {wb_writes})")
    print(f"{'limit: plain $batch creates':30}{lim_req:>14}{lim_time:>14.2f}")
    ratios = {TO_LIMIT: wb_time / lim_time}
    numbers = {"mailboxes": args.mailboxes, "contacts": args.contacts, "run_sync_s": wb_time,
               "run_sync_requests": wb_req, "batch_limit_s": lim_time, "batch_limit_requests": lim_req,
               "rerun_s": re_time, "rerun_requests": re_req, "rerun_writes": re_writes}
    loop_text = ";"
    if "loop" in m:
        loop_time, loop_req, *_ = m["loop"]
        print(f"{'per-item POST loop':30}{loop_req:>14}{loop_time:>14.2f}")
        ratios = {FEWER_REQUESTS: loop_req / max(1, wb_req), LESS_TIME: loop_time / wb_time, **ratios}
        numbers.update(loop_s=loop_time, loop_requests=loop_req)
        loop_text = (f" vs {loop_req:,} requests / {loop_time:.1f} s for a per-item POST loop: "
                     f"{loop_req / max(1, wb_req):.0f}× fewer requests, {loop_time / wb_time:.1f}× less time;")
    print(f"{'workbench no-change re-run':30}{re_req:>14}{re_time:>14.2f}   (writes: {re_writes})")
    summary = (f"initial sync over Graph of {args.mailboxes} mailboxes × {args.contacts} contacts: {wb_req} HTTP "
               f"requests / {wb_time:.1f} s{loop_text} {wb_time / lim_time:.2f}× plain `$batch` creates of the same "
               f"contacts at the same concurrency ({lim_req} requests, {lim_time:.1f} s); a no-change re-run: "
               f"{re_req} requests, {re_writes} writes, {re_time:.1f} s")
    return report("sync_initial_graph", f"{args.mailboxes}x{args.contacts}", summary, ratios, **numbers)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="5 mailboxes x 100 contacts")
    parser.add_argument("--quick", action="store_true", help="4 mailboxes x 150 contacts, batch 100 (tests/bench)")
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument("--contacts", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--no-loop", action="store_true", help="skip the per-item POST loop")
    args = parser.parse_args(argv)
    if args.small:
        args.mailboxes, args.contacts = 5, 100
    if args.quick:
        args.mailboxes, args.contacts, args.batch_size = 4, 150, 100
    import logging
    logging.getLogger("workbench.graph").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        m = measure(Path(tmp), args)
    return summarise(args, m)


if __name__ == "__main__":
    sys.exit(exit_code(main()))
