"""``smi webhook``: the control plane's HTTPS admission endpoints (sidecar injection and CRD conversion).

::

    smi webhook --tls-cert-file tls.crt --tls-key-file tls.key [--listen 0.0.0.0:8443]
                [--image smi-mesh:latest] [--control-plane-url http://smi-controller.smi-system.svc:15010]
                [--trust-bundle-file ca.crt] [--exclude-outbound-cidrs 10.96.0.1/32]

The API server only calls webhooks over HTTPS, so this serves ``POST /inject``
(``smi.injection.webhook``), ``POST /convert`` (``smi.controllers.conversion``) and
``GET /healthz``.  With ``--ca-dir`` (what ``smi install`` deploys) each replica makes its
own key and serving certificate from the webhook CA and re-issues it at half its
``--cert-lifetime`` without a restart (``smi.cluster.certificates``); the leader keeps the
caBundles equal to that CA.  ``--tls-cert-file``/``--tls-key-file`` serve fixed files
instead.  ``--plain-http`` is for local tests only.
Runs beside ``smi controller`` in the control-plane pod (manifests/install/controller.yaml).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from smi.cli.ca import parse_duration
from smi.controllers.conversion import add_conversion_route
from smi.injection import InjectionSettings
from smi.injection.webhook import MAX_BODY, add_routes
from smi.proxyconfig.capture import parse_cidrs


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "0.0.0.0", int(port)


def _cidrs(text: str) -> tuple[str, ...]:
    try:
        return parse_cidrs(text, what="--exclude-outbound-cidrs")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def register(subparsers: Any) -> None:
    defaults = InjectionSettings()
    parser = subparsers.add_parser("webhook", help="serve the sidecar injection and CRD conversion webhooks (HTTPS)")
    parser.add_argument("--listen", type=_address, default=("0.0.0.0", 8443), metavar="HOST:PORT")
    parser.add_argument("--tls-cert-file", type=Path, metavar="PATH", help="serving certificate (PEM)")
    parser.add_argument("--tls-key-file", type=Path, metavar="PATH", help="its private key (PEM)")
    parser.add_argument("--plain-http", action="store_true", help="serve without TLS (local tests only)")
    parser.add_argument("--ca-dir", type=Path, metavar="DIR",
                        help="the webhook CA (ca.crt, ca.key: the mounted Secret smi-webhook-ca): this replica "
                             "issues and rotates its own serving certificate (not --tls-cert-file)")  # fmt: skip
    parser.add_argument("--dns-name", action="append", default=[], metavar="NAME",
                        help="with --ca-dir: a name in the serving certificate (repeatable; default "
                             "smi-controller.smi-system.svc and its longer forms)")  # fmt: skip
    parser.add_argument(
        "--cert-lifetime",
        type=parse_duration,
        default=datetime.timedelta(hours=24),
        metavar="DURATION",
        help="with --ca-dir: serving certificate lifetime, re-issued at half (24h)",
    )
    parser.add_argument(
        "--drain-grace",
        type=int,
        default=defaults.drain_grace,
        metavar="SECONDS",
        help="injected sidecars drain this long on SIGTERM (preStop + grace period; 0: off)",
    )
    parser.add_argument("--image", default=defaults.image, help="image of the injected containers")
    parser.add_argument("--image-pull-policy", default=defaults.image_pull_policy,
                        choices=("Always", "IfNotPresent", "Never"))  # fmt: skip
    parser.add_argument("--control-plane-url", default=defaults.control_plane_url,
                        help="the config server URL the injected proxies use")  # fmt: skip
    parser.add_argument("--trust-bundle-file", type=Path, metavar="PATH",
                        help="PEM roots handed to injected proxies (env SMI_TRUST_BUNDLE)")  # fmt: skip
    parser.add_argument("--tap-identity", default="", metavar="SPIFFE_ID",
                        help="injected sidecars serve tap over mTLS to it only (the metrics API)")  # fmt: skip
    parser.add_argument("--exclude-outbound-cidrs", type=_cidrs, default=(), metavar="CIDR,CIDR",
                        help="never captured in any injected pod (e.g. the API server)")  # fmt: skip
    parser.add_argument("--proxy-uid", type=int, default=defaults.proxy_uid)
    parser.add_argument("--proxy-log-level", default=defaults.log_level, choices=("debug", "info", "warning", "error"))
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.set_defaults(func=main)


def settings_from(args: argparse.Namespace) -> InjectionSettings:
    bundle = args.trust_bundle_file.read_text() if args.trust_bundle_file else ""
    return InjectionSettings(
        image=args.image,
        image_pull_policy=args.image_pull_policy,
        control_plane_url=args.control_plane_url,
        trust_bundle=bundle,
        exclude_outbound_cidrs=args.exclude_outbound_cidrs,
        proxy_uid=args.proxy_uid,
        log_level=args.proxy_log_level,
        drain_grace=args.drain_grace,
        tap_identity=args.tap_identity,
    )


def build_app(settings: InjectionSettings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    add_routes(app, settings=settings)
    add_conversion_route(app)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app.router.add_get("/healthz", healthz)
    return app


async def _rotate(serving: Any, stop: asyncio.Event) -> None:
    """Re-issue the serving certificate at half its life (``smi.cluster.certificates.keep_fresh``)."""
    from smi.cluster.certificates import keep_fresh

    await keep_fresh(serving, stop)


async def _serve(
    app: web.Application, *, host: str, port: int, tls: ssl.SSLContext | None, serving: Any = None
) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, host, port, ssl_context=tls)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        print(f"smi webhook: serving on {'http' if tls is None else 'https'}://{host}:{bound}", flush=True)
        if serving is not None:
            await asyncio.gather(stop.wait(), _rotate(serving, stop))
        else:
            await stop.wait()
    finally:
        await runner.cleanup()


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    tls: ssl.SSLContext | None = None
    serving = None
    try:
        settings = settings_from(args)
        if args.ca_dir is not None and not args.plain_http:
            from smi.cluster.certificates import ServingCertificate, service_dns_names

            names = args.dns_name or service_dns_names("smi-controller", "smi-system")
            try:
                serving = ServingCertificate(args.ca_dir, dns_names=names, lifetime=args.cert_lifetime)
            except ValueError as e:
                print(f"smi webhook: --ca-dir: {e}", file=sys.stderr)
                return 2
            tls = serving.listening
        elif not args.plain_http:
            if not (args.tls_cert_file and args.tls_key_file):
                print("smi webhook: --tls-cert-file and --tls-key-file are required (or --plain-http)", file=sys.stderr)
                return 2
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(args.tls_cert_file, args.tls_key_file)
    except (OSError, ssl.SSLError) as e:
        print(f"smi webhook: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(build_app(settings), host=args.listen[0], port=args.listen[1], tls=tls, serving=serving))
    except OSError as e:
        print(f"smi webhook: cannot listen on {args.listen[0]}:{args.listen[1]}: {e}", file=sys.stderr)
        return 1
    return 0
