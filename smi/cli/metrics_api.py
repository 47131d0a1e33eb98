"""``smi metrics-api``: the TrafficMetrics aggregated API server of a cluster (manifests/install/metrics-api.yaml).

Serves metrics.smi-spec.io/v1alpha1 over TLS on ``--listen``: the aggregator's front-proxy
certificate is checked against the requestheader CA of
kube-system/extension-apiserver-authentication and every request is authorized with a
SubjectAccessReview (traffic_metrics.security).  Numbers come from the sidecars directly
(``--source direct``, the default: scraped every ``--scrape-interval``) or from Prometheus
(``--source prometheus --prometheus-url URL``).  It runs apart from the controller, so the
API stays up while the controller restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from aiohttp import web


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("metrics-api", help="cluster mode: the metrics.smi-spec.io aggregated API")
    parser.add_argument("--listen", default="0.0.0.0:8443", help="ADDR:PORT (default 0.0.0.0:8443)")
    parser.add_argument("--tls-cert", help="serving certificate (PEM)")
    parser.add_argument("--tls-key", help="its key (PEM)")
    parser.add_argument("--source", choices=("direct", "prometheus"), default="direct")
    parser.add_argument("--prometheus-url", help="with --source prometheus, e.g. http://prometheus.monitoring:9090")
    parser.add_argument("--scrape-interval", type=float, default=10.0, help="seconds between sidecar scrapes")
    parser.add_argument("--admin-port", type=int, default=15000, help="the sidecars' admin port (/metrics)")
    parser.add_argument("--api-url", help="the API server (default: in-cluster)")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    parser.set_defaults(func=run)


async def serve(args: argparse.Namespace) -> int:
    from traffic_metrics.cluster import ClusterTopology
    from traffic_metrics.dashboard.serving import add_dashboard_routes
    from traffic_metrics.direct import DirectSource
    from traffic_metrics.kube import Kube, KubeError
    from traffic_metrics.levels import add_level_routes
    from traffic_metrics.levels_cluster import ClusterLevels
    from traffic_metrics.promsource import PrometheusSource
    from traffic_metrics.security import Authorizer, load_request_header_config, server_ssl_context
    from traffic_metrics.server import MetricsApi, make_app
    from traffic_metrics.sources import Source

    host, _, port = args.listen.rpartition(":")
    try:
        kube = Kube.in_cluster(args.api_url)
        config = await load_request_header_config(kube)
        context = server_ssl_context(args.tls_cert, args.tls_key, config)
    except (KubeError, OSError) as exc:
        print(f"smi metrics-api: {exc}", file=sys.stderr)
        return 1
    topology = ClusterTopology(kube, admin_port=args.admin_port)
    tasks = [asyncio.create_task(topology.run(), name="topology")]
    source: Source
    if args.source == "prometheus":
        source = PrometheusSource(args.prometheus_url)
    else:
        direct = DirectSource(targets=topology.targets, interval=args.scrape_interval)
        tasks.append(asyncio.create_task(direct.run(), name="scrape"))
        source = direct
    app = make_app(MetricsApi(topology=topology.topology, source=source, authorize=Authorizer(kube, config)))
    add_dashboard_routes(app)  # the traffic map (static files; its API calls are authorized as any other)
    add_level_routes(app, ClusterLevels(kube, config))  # monitoring levels: reviewed for the user, then patched
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host or "0.0.0.0", int(port), ssl_context=context).start()
    except OSError as exc:
        print(f"smi metrics-api: cannot listen on {args.listen}: {exc.strerror or exc}", file=sys.stderr)
        await runner.cleanup()
        return 1
    logging.getLogger(__name__).info("metrics.smi-spec.io serving on %s (source %s)", args.listen, source.name)
    try:
        await asyncio.Event().wait()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runner.cleanup()
    return 0


def run(args: argparse.Namespace) -> int:
    if args.source == "prometheus" and not args.prometheus_url:
        print("smi metrics-api: --source prometheus needs --prometheus-url", file=sys.stderr)
        return 2
    if not args.tls_cert or not args.tls_key:
        print(
            "smi metrics-api: --tls-cert and --tls-key are required (the aggregator speaks TLS only)", file=sys.stderr
        )
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0
