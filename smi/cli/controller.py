"""``smi controller``: the cluster-mode control plane in one process.

Runs the kopf operator (feeding the store from the Kubernetes API) and the config server
(streaming each proxy its config, plus ``/healthz``, ``/readyz``, ``/metrics`` and the
``/convert`` conversion webhook) until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

from smi.compile import MeshSettings
from smi.controllers import Controller, ControllerSettings, compiler_for
from smi.controllers.conversion import add_conversion_route
from smi.distribution import CoalescingSettings, ConfigService
from smi.state import Store


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "controller", help="run the kopf controllers and the config server (cluster mode)"
    )
    parser.add_argument("--listen", default="0.0.0.0:15000", help="config server address (host:port)")
    parser.add_argument(
        "--namespace", action="append", default=[], help="watch only this namespace (repeatable; default: all)"
    )
    parser.add_argument("--permissive", action="store_true", help="allow all traffic (TrafficTargets not enforced)")
    parser.add_argument("--trust-domain", default="cluster.local", help="SPIFFE trust domain")
    parser.add_argument("--server", default=None, help="API server URL to use without credentials (kubectl proxy)")
    parser.add_argument("--debounce", type=float, default=0.05, help="coalescing quiet window, seconds")
    parser.add_argument("--max-wait", type=float, default=0.5, help="coalescing maximum wait, seconds")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.set_defaults(func=run)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"smi controller: --listen: expected host:port, got {text!r}")
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    host, port = _address(args.listen)
    mesh = MeshSettings(trust_domain=args.trust_domain, permissive=args.permissive)
    try:
        coalescing = CoalescingSettings(window=args.debounce, max_wait=args.max_wait)
    except ValueError as exc:
        raise SystemExit(f"smi controller: {exc}") from exc
    settings = ControllerSettings(namespaces=tuple(args.namespace), server=args.server, mesh=mesh)
    asyncio.run(_serve(host=host, port=port, mesh=mesh, coalescing=coalescing, settings=settings))
    return 0


async def _serve(
    *, host: str, port: int, mesh: MeshSettings, coalescing: CoalescingSettings, settings: ControllerSettings
) -> None:
    service = ConfigService(store=Store(), compiler=compiler_for(mesh), host=host, port=port, coalescing=coalescing)
    add_conversion_route(service.app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with service:
        controller = Controller(store=service.store, publisher=service.publisher, settings=settings)
        await controller.run(stop_flag=stop)
