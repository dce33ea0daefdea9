"""Sandbox Exchange throughput through exchangelib (HTTPS + NTLM + impersonation).

Creates N contacts in batches of 512, lists them, syncs them with SyncFolderItems (items/s each), then
lists a folder of M items page by page and prints the per-page time at the start and at the end (a flat
ratio means paging is O(page), not O(offset)). Ratio target: end/start per-page time at most 1.5.

    python bench/sandbox_throughput.py [--contacts 10000] [--list 50000] [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests.adapters
from exchangelib import IMPERSONATION, NTLM, Account, Configuration, Contact, Credentials, EWSTimeZone, FailFast, Version
from exchangelib.protocol import BaseProtocol, close_connections
from exchangelib.version import EXCHANGE_2016

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _result import Target, exit_code, report  # noqa: E402
from workbench.sandbox import Sandbox  # noqa: E402

PAGE = 100
PAGING = Target("paging_end_over_start", 1.5, at_least=False, what="per-page time at the end / at the start")


def account(sb: Sandbox, mailbox: str) -> Account:
    class CA(requests.adapters.HTTPAdapter):
        def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
            kwargs["verify"] = str(sb.info.ca_cert)
            return super().send(request, *args, **kwargs)
    BaseProtocol.HTTP_ADAPTER_CLS = CA
    close_connections()
    config = Configuration(credentials=Credentials(sb.info.service_account.username, sb.info.service_account.password),
                           service_endpoint=sb.info.url, auth_type=NTLM, version=Version(build=EXCHANGE_2016),
                           retry_policy=FailFast(), max_connections=2)
    return Account(mailbox, config=config, access_type=IMPERSONATION, autodiscover=False,
                   default_timezone=EWSTimeZone("UTC"))


def rate(n: int, seconds: float) -> str:
    return f"{n:>7} items in {seconds:7.2f} s = {n / seconds:9.0f} items/s"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=10_000)
    ap.add_argument("--list", type=int, default=50_000)
    ap.add_argument("--quick", action="store_true", help="1,000 contacts, a folder of 3,000 (tests/bench)")
    args = ap.parse_args(argv)
    if args.quick:
        args.contacts, args.list = 1_000, 3_000
    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp), autosave_seconds=3600) as sb:
        sb.add_mailbox("bench@example.com")
        acc = account(sb, "bench@example.com")
        contacts = [Contact(display_name=f"Bench {i:06}", given_name="Bench", surname=f"{i:06}",
                            categories=["PegaSASync"]) for i in range(args.contacts)]
        t0 = time.perf_counter()
        acc.bulk_create(acc.contacts, contacts, chunk_size=512)
        created = time.perf_counter() - t0
        print("create (bulk 512)  ", rate(args.contacts, created))
        t0 = time.perf_counter()
        qs = acc.contacts.all().only("display_name", "surname")
        qs.page_size = 512
        n = sum(1 for _ in qs)
        print("list (FindItem)    ", rate(n, time.perf_counter() - t0))
        t0 = time.perf_counter()
        n = sum(1 for _ in acc.contacts.sync_items(max_changes_returned=512))
        print("sync (SyncFolder)  ", rate(n, time.perf_counter() - t0))

        sb.add_mailbox("big@example.com", contacts=({"display_name": f"Big {i:06}"} for i in range(args.list)))
        big = account(sb, "big@example.com")
        qs = big.contacts.all().only("display_name")
        qs.page_size = PAGE
        times: list[float] = []
        t0 = last = time.perf_counter()
        for i, _ in enumerate(qs, 1):
            if i % PAGE == 0:
                now = time.perf_counter()
                times.append(now - last)
                last = now
        total = time.perf_counter() - t0
        k = max(1, min(20, len(times) // 5))
        first, final = statistics.median(times[1:k + 1] or times), statistics.median(times[-k:])
        print("list paginated     ", rate(args.list, total), f"({len(times)} pages of {PAGE})")
        print(f"per-page time: start {first * 1000:.1f} ms, end {final * 1000:.1f} ms, "
              f"ratio end/start {final / first:.2f} (baseline = the first pages, same run)")
    summary = (f"{args.contacts:,} contacts created through exchangelib at {args.contacts / created:,.0f}/s "
               f"(batches of 512); listing {args.list:,} paginated: per-page time {first * 1000:.0f} ms at the "
               f"start, {final * 1000:.0f} ms at the end (linear, not quadratic)")
    return report("sandbox_throughput", f"{args.contacts} contacts, list {args.list}", summary,
                  {PAGING: final / first}, create_per_s=args.contacts / created, page_start_ms=first * 1000,
                  page_end_ms=final * 1000, pages=len(times))


if __name__ == "__main__":
    sys.exit(exit_code(main()))
