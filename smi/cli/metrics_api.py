"""``smi metrics-api``: the TrafficMetrics aggregated API server of a cluster (manifests/install/metrics-api.yaml).

Serves metrics.smi-spec.io/v1alpha1 over TLS on ``--listen``: the aggregator's front-proxy
certificate is checked against the requestheader CA of
kube-system/extension-apiserver-authentication and every request is authorized with a
SubjectAccessReview (traffic_metrics.security).  Numbers come from the sidecars directly
(``--source direct``, the default: scraped every ``--scrape-interval``) or from Prometheus
(``--source prometheus --prometheus-url URL``).  It runs apart from the controller, so the
API stays up while the controller restarts.

Its serving certificate: ``--ca-dir`` (the mounted webhook CA, as each ``smi webhook``
replica) issues its own for ``smi-metrics-api.<--namespace>.svc`` and re-issues it at half
of ``--cert-lifetime`` without a restart; or a fixed pair with ``--tls-cert``/``--tls-key``.

Tap (``tap.smi-mesh.io/v1alpha1``, docs/tap.md): with ``--ca-url`` it gets its own workload
certificate from the mesh CA as sidecars do (the identity of ``--service-account`` in
``--namespace``, proven with ``--token-file``, the CA trusted through ``--trust-bundle``) and
connects to each tapped pod's sidecar at ``podIP:--tap-port`` over mutual TLS.  Without a
certificate (yet) a tap request gets 503; the metrics keep answering.

Monitoring levels (``monitoring.smi-mesh.io/v1alpha1``, the page's switch, docs/dashboard.md):
listed and switched for the requesting user (``traffic_metrics.levels_cluster``); the
group's discovery is served from memory as tap's is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import logging
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from smi.cli.ca import parse_duration


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("metrics-api", help="cluster mode: the metrics.smi-spec.io aggregated API")
    parser.add_argument("--listen", default="0.0.0.0:8443", help="ADDR:PORT (default 0.0.0.0:8443)")
    parser.add_argument("--tls-cert", help="serving certificate (PEM)")
    parser.add_argument("--tls-key", help="its key (PEM)")
    parser.add_argument("--ca-dir", type=Path, help="issue and rotate the serving certificate from this CA")
    parser.add_argument("--cert-lifetime", type=parse_duration, default=datetime.timedelta(hours=24),
                        help="with --ca-dir: serving certificate lifetime, re-issued at half (24h)")  # fmt: skip
    parser.add_argument("--namespace", default="smi-system", help="where this runs (DNS names, mesh identity)")
    tap = parser.add_argument_group("tap (its mesh identity, docs/tap.md)")
    tap.add_argument("--ca-url", help="the mesh CA, e.g. https://smi-controller.smi-system.svc:15010/ca")
    tap.add_argument("--token-file", type=Path, help="the projected ServiceAccount token the CA checks")
    tap.add_argument("--trust-bundle", help="the mesh's roots: a PEM file")
    tap.add_argument("--service-account", default="smi-metrics-api", help="whose identity to ask for")
    tap.add_argument("--trust-domain", default="cluster.local")
    tap.add_argument("--tap-port", type=int, default=15002, help="the sidecars' mTLS tap listener")
    parser.add_argument("--source", choices=("direct", "prometheus"), default="direct")
    parser.add_argument("--prometheus-url", help="with --source prometheus, e.g. http://prometheus.monitoring:9090")
    parser.add_argument("--scrape-interval", type=float, default=10.0, help="seconds between sidecar scrapes")
    parser.add_argument("--admin-port", type=int, default=15000, help="the sidecars' admin port (/metrics)")
    parser.add_argument("--api-url", help="the API server (default: in-cluster)")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    parser.set_defaults(func=run)


def _serving(args: argparse.Namespace, client_ca: str) -> tuple[ssl.SSLContext, Any]:
    """(the listening context, the rotating certificate or None); the front proxy's CA verifies clients."""

    def verify_clients(context: ssl.SSLContext) -> None:
        context.load_verify_locations(cadata=client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL  # /healthz and the kubelet's probes come without one

    if args.ca_dir is None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        verify_clients(context)
        return context, None
    from smi.cluster.certificates import ServingCertificate, service_dns_names

    names = service_dns_names("smi-metrics-api", args.namespace)
    serving = ServingCertificate(args.ca_dir, dns_names=names, lifetime=args.cert_lifetime, configure=verify_clients)
    return serving.listening, serving


class MeshIdentity:
    """The metrics API's own workload certificate (as a sidecar gets one) and mTLS to sidecars with it."""

    def __init__(self, args: argparse.Namespace) -> None:
        from proxy.identity.manager import CertificateManager
        from smi.proxyconfig.spiffe import spiffe_id

        token_file: Path | None = args.token_file
        bundle = Path(args.trust_bundle).read_text() if args.trust_bundle else None
        self.identity = spiffe_id(args.trust_domain, args.namespace, args.service_account)
        def credential() -> str:  # re-read on every request: the projected token rotates
            try:
                return token_file.read_text().strip() if token_file is not None else ""
            except OSError as exc:
                logging.getLogger(__name__).warning("cannot read the token file %s: %s", token_file, exc.strerror)
                return ""

        self.manager = CertificateManager(
            ca_url=args.ca_url, identity=self.identity, bootstrap_bundle_pem=bundle, credential=credential
        )
        self.contexts: Any = None

    async def run(self) -> None:
        from proxy.identity.switching import TlsContexts

        material = await self.manager.start(give_up_after=None)  # retries until the CA answers
        self.contexts = TlsContexts(material)
        self.manager.subscribe(self.contexts.update)
        logging.getLogger(__name__).info("mesh identity %s until %s", self.identity, material.not_after)

    async def connect(self, host: str, port: int, expected: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        from proxy.identity.outbound import connect_mesh

        if self.contexts is None:
            raise OSError(f"no workload certificate for {self.identity} yet (is the mesh CA reachable?)")
        stream = await connect_mesh(host, port, contexts=self.contexts, expected=(expected,), connect_timeout=5.0)
        return stream.reader, stream.writer


async def serve(args: argparse.Namespace) -> int:
    from smi.cluster.certificates import keep_fresh
    from traffic_metrics.cluster import ClusterTopology
    from traffic_metrics.dashboard.serving import add_dashboard_routes
    from traffic_metrics.direct import DirectSource
    from traffic_metrics.kube import Kube, KubeError
    from traffic_metrics.levels import add_level_discovery, add_level_routes
    from traffic_metrics.levels_cluster import ClusterLevels
    from traffic_metrics.promsource import PrometheusSource
    from traffic_metrics.security import Authorizer, load_request_header_config
    from traffic_metrics.server import MetricsApi, make_app
    from traffic_metrics.sources import Source
    from traffic_metrics.tapcluster import add_tap_discovery, cluster_openers
    from traffic_metrics.tapfanin import add_tap_routes

    host, _, port = args.listen.rpartition(":")
    try:
        kube = Kube.in_cluster(args.api_url)
        config = await load_request_header_config(kube)
        context, serving = _serving(args, config.client_ca)
        mesh = MeshIdentity(args) if args.ca_url else None
    except (KubeError, OSError, ValueError, ssl.SSLError) as exc:
        print(f"smi metrics-api: {exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    topology = ClusterTopology(kube, admin_port=args.admin_port)
    tasks = [asyncio.create_task(topology.run(), name="topology")]
    if serving is not None:
        tasks.append(asyncio.create_task(keep_fresh(serving, stop), name="serving certificate"))
    source: Source
    if args.source == "prometheus":
        source = PrometheusSource(args.prometheus_url)
    else:
        direct = DirectSource(targets=topology.targets, interval=args.scrape_interval)
        tasks.append(asyncio.create_task(direct.run(), name="scrape"))
        source = direct
    authorizer = Authorizer(kube, config)
    app = make_app(MetricsApi(topology=topology.topology, source=source, authorize=authorizer,
                              permits=authorizer.permits))  # fmt: skip
    add_dashboard_routes(app)  # the traffic map (static files; its API calls are authorized as any other)
    add_level_routes(app, ClusterLevels(kube, config))  # monitoring levels: reviewed for the user, then patched
    add_level_discovery(app)
    add_tap_discovery(app)
    if mesh is not None:
        tasks.append(asyncio.create_task(mesh.run(), name="mesh identity"))
        openers = cluster_openers(topology.topology, mesh.connect, tap_port=args.tap_port,
                                  trust_domain=args.trust_domain)  # fmt: skip
    else:
        openers = _no_tap
    add_tap_routes(app, openers, authorize=authorizer, permits=authorizer.permits)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host or "0.0.0.0", int(port), ssl_context=context)
        await site.start()
    except OSError as exc:
        print(f"smi metrics-api: cannot listen on {args.listen}: {exc.strerror or exc}", file=sys.stderr)
        await runner.cleanup()
        return 1
    bound = runner.addresses[0][1] if runner.addresses else port
    print(f"smi metrics-api: serving on https://{host or '0.0.0.0'}:{bound} (source {source.name})", flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if mesh is not None:
            await mesh.manager.stop()
        await runner.cleanup()
    return 0


def _no_tap(namespace: str, plural: str, name: str) -> list[Any]:
    async def refuse() -> Any:
        raise OSError("this metrics API has no mesh identity to tap with (started without --ca-url)")

    return [refuse]  # every tap is a 503 saying why


def run(args: argparse.Namespace) -> int:
    if args.source == "prometheus" and not args.prometheus_url:
        print("smi metrics-api: --source prometheus needs --prometheus-url", file=sys.stderr)
        return 2
    if args.ca_dir is None and (not args.tls_cert or not args.tls_key):
        print(
            "smi metrics-api: --tls-cert and --tls-key are required, or --ca-dir to issue its own (the aggregator "
            "speaks TLS only)",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0
