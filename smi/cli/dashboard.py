"""``smi dashboard``: print (and, with $BROWSER set, open) the traffic map of the running local mesh.

The page is served by ``smi up`` on its control address (``/dashboard/``); in a cluster the
metrics API server serves it too (see docs/dashboard.md for the port-forward).  A browser is
started only when ``$BROWSER`` names one; without it the command just prints the URL, so it
never fails on a machine without a display.
"""

from __future__ import annotations

import argparse
import os
import sys

from smi.cli._runtime_client import add_state_dir, with_runtime
from smi.runtime import statefile

PATH = "/dashboard/"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("dashboard", help="print (and open, with $BROWSER set) the live traffic map")
    parser.add_argument("--no-browser", action="store_true", help="only print the URL, even with $BROWSER set")
    add_state_dir(parser)
    parser.set_defaults(func=run)


def open_in_browser(url: str) -> str | None:
    """Open ``url`` with the browser $BROWSER names; a line saying why not, or None when it opened."""
    if not os.environ.get("BROWSER"):
        return None
    import webbrowser

    try:
        opened = webbrowser.open(url)
    except webbrowser.Error as exc:
        return f"could not start $BROWSER: {exc}"
    return None if opened else "could not start $BROWSER"


def run(args: argparse.Namespace) -> int:
    def body(info: statefile.RuntimeInfo) -> int:
        url = info.control_url + PATH
        print(url, flush=True)
        if not args.no_browser:
            problem = open_in_browser(url)
            if problem:
                print(f"smi dashboard: {problem}; open {url} yourself", file=sys.stderr)
        return 0

    return with_runtime("dashboard", body, args)
