"""Graph sandbox throughput through plain httpx (HTTPS + bearer token from the sandbox's token endpoint).

Creates N contacts through $batch (20 per batch) and prints items/s; then runs a full delta round over
folders of growing size (up to 50,000 contacts) and prints the time per contact for each size and its ratio
to the smallest size, and the per-page time at the start and the end of the largest round (flat ratios mean
delta paging is linear in the folder size and O(page) per page).

    python bench/graph_sandbox.py [--contacts 2000] [--sizes 5000,10000,25000,50000] [--page 500] [--quick]
"""
from __future__ import annotations

import argparse
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from workbench.sandbox import Sandbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _result import Target, exit_code, report  # noqa: E402

SCOPE = "https://graph.microsoft.com/.default"


def client(sb: Sandbox) -> httpx.Client:
    g = sb.info.graph
    verify = ssl.create_default_context(cafile=g["ca_cert"])
    with httpx.Client(verify=verify, trust_env=False) as c:
        token = c.post(f"{g['authority']}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": g["client_id"], "client_secret": g["client_secret"],
            "scope": SCOPE}).json()["access_token"]
    return httpx.Client(base_url=g["graph_url"] + "/", verify=verify, trust_env=False, timeout=60,
                        headers={"Authorization": f"Bearer {token}"})


def rate(n: int, seconds: float) -> str:
    return f"{n:>7} items in {seconds:7.2f} s = {n / seconds:9.0f} items/s"


def create_batched(c: httpx.Client, mailbox: str, n: int) -> float:
    t0 = time.perf_counter()
    for start in range(0, n, 20):
        parts = [{"id": str(i), "method": "POST", "url": f"/users/{mailbox}/contacts",
                  "headers": {"Content-Type": "application/json"},
                  "body": {"givenName": "Bench", "surname": f"{i:06}", "categories": ["PegaSASync"]}}
                 for i in range(start, min(n, start + 20))]
        statuses = [p["status"] for p in c.post("$batch", json={"requests": parts}).json()["responses"]]
        assert statuses == [201] * len(parts), statuses
    return time.perf_counter() - t0


def delta_round(c: httpx.Client, mailbox: str, page: int) -> tuple[int, float, list[float]]:
    url, n, times = f"users/{mailbox}/contacts/delta", 0, []
    t0 = last = time.perf_counter()
    while url:
        body = c.get(url, headers={"Prefer": f"odata.maxpagesize={page}"}).json()
        n += len(body["value"])
        now = time.perf_counter()
        times.append(now - last)
        last = now
        url = body.get("@odata.nextLink")
    return n, time.perf_counter() - t0, times


#: a delta round costs about the same per contact at the largest size as at the smallest (linear paging)
DELTA_LINEAR = Target("delta_per_contact_largest_over_smallest", 2.0, at_least=False,
                      what="time per contact of a full delta round, largest size over smallest")
#: and a page late in the round costs what one early in the round costs
PAGE_FLAT = Target("delta_page_end_over_start", 2.0, at_least=False, what="per-page time, end of round over start")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=2_000)
    ap.add_argument("--sizes", default="5000,10000,25000,50000")
    ap.add_argument("--page", type=int, default=500)
    ap.add_argument("--quick", action="store_true", help="400 contacts, delta rounds of 1,000 and 4,000 (tests/bench)")
    args = ap.parse_args(argv)
    if args.quick:
        args.contacts, args.sizes, args.page = 400, "1000,4000", 200
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp), autosave_seconds=3600, graph=True) as sb:
        sb.add_mailbox("bench@example.com")
        sb.graph.set_scope(sb.graph.default_client_id, None)      # the bench app may use every mailbox
        with client(sb) as c:
            created = create_batched(c, "bench@example.com", args.contacts)
            print("create ($batch 20) ", rate(args.contacts, created))
            per_item: dict[int, float] = {}
            times: list[float] = []
            for size in sizes:
                box = f"delta{size}@example.com"
                sb.add_mailbox(box, contacts=({"display_name": f"Delta {i:06}", "email": f"d{i}@x.test"}
                                              for i in range(size)))
                n, seconds, times = delta_round(c, box, args.page)
                assert n == size, (n, size)
                per_item[size] = seconds / size
                print(f"delta round {size:>6}", rate(n, seconds), f"({len(times)} pages of {args.page})")
            base = per_item[sizes[0]]
            for size in sizes:
                print(f"time per contact at {size:>6}: {per_item[size] * 1e6:7.1f} us, "
                      f"ratio to {sizes[0]}: {per_item[size] / base:.2f}")
            k = max(1, min(10, len(times) // 5))
            first, final = statistics.median(times[:k]), statistics.median(times[-k:])
            print(f"per-page time in the {sizes[-1]} round: start {first * 1000:.1f} ms, end {final * 1000:.1f} ms, "
                  f"ratio end/start {final / first:.2f} (baseline = the first pages, same run)")
    summary = (f"{args.contacts:,} contacts created through Graph `$batch` at {args.contacts / created:,.0f}/s; a full "
               f"delta round (pages of {args.page}) costs "
               + ", ".join(f"{per_item[s] * 1e6:.0f} µs per contact at {s:,}" for s in sizes))
    return report("graph_sandbox", f"{args.contacts} contacts, delta {args.sizes}", summary,
                  {DELTA_LINEAR: per_item[sizes[-1]] / base, PAGE_FLAT: final / first},
                  create_per_s=args.contacts / created, page_start_ms=first * 1000, page_end_ms=final * 1000)


if __name__ == "__main__":
    sys.exit(exit_code(main()))
