"""`workbench sandbox ...`: the sandbox Exchange in the foreground (options are the sandbox's own)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sandbox", add_help=False,
                       help="run the sandbox Exchange (EWS over HTTPS + NTLM on 127.0.0.1); --help for options")
    p.set_defaults(handler=run_sandbox, passthrough=True)


def run_sandbox(args) -> int:
    from workbench.sandbox.cli import main
    return main(args.argv)
