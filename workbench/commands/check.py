"""`workbench check [--operator ID] [--json]` — the seed's set-up as a checklist against the server."""
from __future__ import annotations

import argparse

MARKS = {"ok": "✓", "warning": "!", "failed": "✗", "skipped": "-"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check settings, keystore, TLS, credentials, version, impersonation, listener")
    p.add_argument("--operator", metavar="ID", help="test impersonation with this operator's mailbox")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per network step (default 30)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=check)


def format_step(s) -> list[str]:
    line = f"{MARKS.get(s.status, '?')} {s.title}"
    if s.code:
        line += f" — {s.code}: {s.code_title}"
    lines = [line]
    if s.detail:
        lines.append(f"    {s.detail}")
    if s.code and s.status in ("failed", "warning"):
        lines.append(f"    remedy: {s.remedy}")
    return lines


def check(args) -> int:
    from workbench.checks import run_check
    from workbench.commands.output import print_json
    from workbench.store import Store

    def progress(step) -> None:
        if not args.json:
            print("\n".join(format_step(step)), flush=True)

    report = run_check(Store(), operator_id=args.operator, timeout=args.timeout, progress=progress)
    if args.json:
        print_json(report.as_dict())
    else:
        failed = report.failed
        print("all checks passed" if report.ok else
              f"{len(failed)} check{'s' * (len(failed) != 1)} failed: " + ", ".join(s.step for s in failed))
    return 0 if report.ok else 1
