"""`workbench demo [--dir DIR] [--fresh] [--no-tui] [--json]` and `workbench demo --serve [--dir DIR]`."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the demo organisation (store + sandbox Exchange kept in --dir), then the "
                                    "dashboard; --serve runs its Exchange")
    p.add_argument("--dir", default="demo", help="demo directory (store, keystore, sandbox state); default ./demo")
    p.add_argument("--fresh", action="store_true", help="rebuild the demo from the seed (the old world is lost)")
    p.add_argument("--serve", action="store_true",
                   help="bring the demo's Exchange back on its URL and serve it until stopped (Ctrl-C, SIGTERM)")
    p.add_argument("--no-tui", action="store_true",
                   help="run check -> verify -> preview -> sync and print a summary instead of the dashboard "
                        "(also the default without a terminal)")
    p.add_argument("--json", action="store_true", help="with --no-tui: the summary as JSON")
    p.set_defaults(handler=demo_cmd)


def demo_cmd(args) -> int:
    from pathlib import Path

    from workbench.errors import WorkbenchError
    from workbench.settings import excerpt
    target = Path(args.dir).absolute()
    for path in (target, *target.parents):
        if path.exists() and not path.is_dir():
            raise WorkbenchError("USAGE", f"--dir {excerpt(args.dir)}: {excerpt(str(path))} is a file, not a directory")
    if args.serve:
        if args.fresh or args.no_tui or args.json:
            raise WorkbenchError("USAGE", "--serve takes only --dir (build or rebuild the demo without --serve)")
        from workbench.demo_serve import serve
        return serve(target)
    from workbench.demo import run_demo
    return run_demo(target, tui=False if (args.no_tui or args.json) else None, as_json=args.json,
                    rebuild=args.fresh)
