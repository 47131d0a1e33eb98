"""``smi proxy-init``: install (or ``--cleanup``) the iptables capture in the pod's network namespace.

::

    smi proxy-init [--proxy-uid 1337] [--proxy-gid GID] [--inbound-port 15003] [--outbound-port 15001]
                   [--proxy-ports 15000,15001,15003] [--exclude-inbound-ports 22,8081]
                   [--exclude-outbound-ports 5432] [--exclude-outbound-cidrs 10.96.0.1/32]
                   [--dry-run] [--cleanup]

Runs as root with NET_ADMIN (the injected init container).  ``--dry-run`` prints the
``iptables-restore`` input without touching anything.  Exit codes: 0 done, 1 iptables
failed, 2 bad arguments.  See docs/cluster-mode.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from proxy.init import (
    DEFAULT_INBOUND_PORT,
    DEFAULT_OUTBOUND_PORT,
    DEFAULT_PROXY_UID,
    CaptureError,
    CaptureSettings,
    apply,
    cleanup,
    install_rules,
    parse_cidrs,
    parse_ports,
)


def _list_of(parse: Callable[..., Any], what: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text, what=what)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return convert


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("proxy-init", help="install the iptables capture for a sidecar (root, NET_ADMIN)")
    parser.add_argument("--proxy-uid", type=int, default=DEFAULT_PROXY_UID, help="the sidecar's uid (not captured)")
    parser.add_argument("--proxy-gid", type=int, default=None, help="also not captured: this gid's sockets")
    parser.add_argument("--inbound-port", type=int, default=DEFAULT_INBOUND_PORT, help="inbound TCP goes here")
    parser.add_argument("--outbound-port", type=int, default=DEFAULT_OUTBOUND_PORT, help="outbound TCP goes here")
    parser.add_argument("--proxy-ports", type=_list_of(parse_ports, "--proxy-ports"), default=None,
                        metavar="P,P", help="not redirected inbound (default 15000,15001,15003)")  # fmt: skip
    parser.add_argument("--exclude-inbound-ports", type=_list_of(parse_ports, "--exclude-inbound-ports"), default=(),
                        metavar="P,P", help="inbound destination ports not captured")  # fmt: skip
    parser.add_argument("--exclude-outbound-ports", type=_list_of(parse_ports, "--exclude-outbound-ports"), default=(),
                        metavar="P,P", help="outbound destination ports not captured")  # fmt: skip
    parser.add_argument("--exclude-outbound-cidrs", type=_list_of(parse_cidrs, "--exclude-outbound-cidrs"),
                        default=(), metavar="CIDR,CIDR", help="outbound destinations not captured (IPv4)")  # fmt: skip
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--cleanup", action="store_true", help="remove the capture rules and chains")
    mode.add_argument("--dry-run", action="store_true", help="print the iptables-restore input; change nothing")
    parser.set_defaults(func=main)


def settings_from(args: argparse.Namespace) -> CaptureSettings:
    defaults = CaptureSettings()
    return CaptureSettings(
        proxy_uid=args.proxy_uid,
        proxy_gid=args.proxy_gid,
        inbound_port=args.inbound_port,
        outbound_port=args.outbound_port,
        proxy_ports=defaults.proxy_ports if args.proxy_ports is None else args.proxy_ports,
        exclude_inbound_ports=args.exclude_inbound_ports,
        exclude_outbound_ports=args.exclude_outbound_ports,
        exclude_outbound_cidrs=args.exclude_outbound_cidrs,
    )


def main(args: argparse.Namespace) -> int:
    try:
        if args.cleanup:
            text = cleanup()
            print("smi proxy-init: removed the capture rules" if text else "smi proxy-init: nothing to remove")
            return 0
        settings = settings_from(args)
        problems = settings.problems()
        if problems:
            for problem in problems:
                print(f"smi proxy-init: {problem}", file=sys.stderr)
            return 2
        if args.dry_run:
            sys.stdout.write(install_rules(settings))
            return 0
        apply(settings)
    except CaptureError as e:
        print(f"smi proxy-init: {e}", file=sys.stderr)
        return 1
    print(
        f"smi proxy-init: capturing inbound TCP -> :{settings.inbound_port}, outbound TCP -> :{settings.outbound_port}"
        f" (uid {settings.proxy_uid} exempt)"
    )
    return 0
