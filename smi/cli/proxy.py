"""``smi proxy``: run the sidecar proxy next to one workload.

Config comes from the control plane's stream (``--control-plane URL --namespace NS --pod
POD``) or from a static ProxyConfig JSON file (``--config-file``).  See docs/proxy.md for
every flag, the listeners and the metrics.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from proxy.running import Forward, ProxySettings, load_config_file, run


def parse_address(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[v6]:PORT`` for IPv6) -> (addr, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected ADDR:PORT, got {text!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host or "0.0.0.0", int(port)


def parse_forward(text: str) -> Forward:
    """``LISTEN_ADDR:PORT=SERVICE.NAMESPACE:PORT``."""
    listen, sep, dest = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected LISTEN_ADDR:PORT=SERVICE.NAMESPACE:PORT, got {text!r}")
    name, port = parse_address(dest)
    service, dot, namespace = name.partition(".")
    if not dot or not service or not namespace or port == 0:
        raise argparse.ArgumentTypeError(f"expected SERVICE.NAMESPACE:PORT after '=', got {dest!r}")
    return Forward(parse_address(listen), namespace, service, port)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("proxy", help="run the sidecar proxy next to one workload")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--control-plane", metavar="URL", help="base URL of the control plane's config server")
    source.add_argument("--config-file", type=Path, metavar="PATH", help="a static ProxyConfig JSON file")
    parser.add_argument("--namespace", default="", help="the pod's namespace (asked for in the config stream)")
    parser.add_argument("--pod", default="", help="the pod's name (asked for in the config stream)")
    parser.add_argument("--outbound", type=parse_address, default=("127.0.0.1", 15001), metavar="ADDR:PORT",
                        help="the listener the app calls (HTTP proxy); default 127.0.0.1:15001")  # fmt: skip
    parser.add_argument("--inbound", type=parse_address, default=("0.0.0.0", 15003), metavar="ADDR:PORT",
                        help="the listener other sidecars call; default 0.0.0.0:15003")  # fmt: skip
    parser.add_argument("--admin", type=parse_address, default=("127.0.0.1", 15000), metavar="ADDR:PORT",
                        help="/ready /live /metrics /config; default 127.0.0.1:15000")  # fmt: skip
    parser.add_argument("--bind-address", default="", metavar="ADDR",
                        help="source address of upstream connections; default: the config's pod address")  # fmt: skip
    parser.add_argument("--forward", type=parse_forward, action="append", default=[],
                        metavar="LISTEN_ADDR:PORT=SERVICE.NAMESPACE:PORT",
                        help="a static outbound listener bound to one service port; repeatable")  # fmt: skip
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.control_plane and not (args.namespace and args.pod):
        print("smi proxy: --control-plane needs --namespace and --pod", file=sys.stderr)
        return 2
    settings = ProxySettings(
        namespace=args.namespace,
        pod=args.pod,
        control_plane=args.control_plane,
        config_file=args.config_file,
        outbound=args.outbound,
        inbound=args.inbound,
        admin=args.admin,
        bind_address=args.bind_address,
        forwards=tuple(args.forward),
    )
    if settings.config_file is not None:
        try:
            load_config_file(settings.config_file)
        except ValueError as e:
            print(f"smi proxy: {e}", file=sys.stderr)
            return 2
    try:
        run(settings)
    except OSError as e:
        print(f"smi proxy: cannot listen: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # ``python -m smi.cli.proxy ...``: the same command without importing every other
    # sub-command of ``smi`` (keeps the sidecar's memory small).
    _parser = argparse.ArgumentParser(prog="smi")
    register(_parser.add_subparsers())
    _args = _parser.parse_args(["proxy", *sys.argv[1:]])
    sys.exit(main(_args))
