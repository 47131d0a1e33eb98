"""``smi controller``: the cluster-mode control plane in one process.

Runs the kopf operator (feeding the store from the Kubernetes API) and the config server
(streaming each proxy its config, plus ``/healthz``, ``/readyz``, ``/metrics`` and the
``/convert`` conversion webhook) until interrupted.

The config server is also the mesh's certificate authority (docs/identity.md): it serves
HTTPS with its own certificate from the CA in ``--ca-dir`` (created on first start, loaded
after, never regenerated), mounts the CA's signing API under ``/ca`` (proxies prove who
they are with ``--authenticator tokenreview``, their projected ServiceAccount token, or
``bootstrap``, tokens from ``--bootstrap-tokens``), and gives a config stream only to a
proxy whose client certificate is the pod's ServiceAccount identity.
``--insecure-plaintext`` serves plain HTTP and trusts the query (tests and development).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import re
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from smi.compile import Compiler, MeshSettings
from smi.controllers import Controller, ControllerSettings
from smi.controllers.conversion import add_conversion_route
from smi.distribution import CoalescingSettings, ConfigService
from smi.distribution.identity import CertificateIdentity, PeerIdentity, pod_identities
from smi.groups import MESH_GROUPS
from smi.state import Store

IN_CLUSTER_API = "https://kubernetes.default.svc"
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)?$")


def parse_duration(text: str) -> datetime.timedelta:
    """``90``, ``90s``, ``15m``, ``24h``, ``7d``."""
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration like 30s, 15m or 24h, got {text!r}")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2) or "s"]
    return datetime.timedelta(seconds=float(match.group(1)) * unit)


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
    ca = parser.add_argument_group("certificate authority and TLS (docs/identity.md)")
    ca.add_argument("--ca-dir", type=Path, default=Path("/var/lib/smi-mesh/ca"), metavar="DIR",
                    help="the CA's directory (ca.crt, tls.crt, tls.key; a mounted Secret works): loaded when it has "
                         "files, created when missing or empty")  # fmt: skip
    ca.add_argument("--cert-lifetime", type=parse_duration, default=datetime.timedelta(hours=24), metavar="DURATION",
                    help="lifetime of workload certificates (e.g. 24h, 15m); default 24h")  # fmt: skip
    ca.add_argument("--authenticator", choices=("tokenreview", "bootstrap"), default="tokenreview",
                    help="how proxies prove their identity: projected ServiceAccount tokens checked with the "
                         "TokenReview API (cluster), or bootstrap tokens (local); default tokenreview")  # fmt: skip
    ca.add_argument("--token-audience", default="smi-mesh",
                    help="the audience TokenReview requires of proxy tokens; default smi-mesh")  # fmt: skip
    ca.add_argument("--bootstrap-tokens", type=Path, metavar="PATH",
                    help="with --authenticator bootstrap: a JSON file (or a directory of them) listing "
                         '{"token", "namespace", "pod", "service_account"} entries')  # fmt: skip
    ca.add_argument("--tls-dns-name", action="append", default=[], metavar="NAME",
                    help="a DNS name proxies dial the control plane by (repeatable; default: localhost and "
                         "smi-controller.smi-system.svc)")  # fmt: skip
    ca.add_argument("--tls-ip-address", action="append", default=[], metavar="IP",
                    help="an IP address proxies dial the control plane by (repeatable; default 127.0.0.1)")  # fmt: skip
    ca.add_argument("--identity", default="smi-system/smi-controller", metavar="NAMESPACE/SERVICEACCOUNT",
                    help="the control plane's own identity in its certificate")  # fmt: skip
    ca.add_argument("--insecure-plaintext", action="store_true",
                    help="plain HTTP, no CA API, trust the pod named in the query (tests/dev only)")  # fmt: skip
    parser.add_argument("--api-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="exit 1 when the Kubernetes API server does not answer within this at start")  # fmt: skip
    ha = parser.add_argument_group("high availability (docs/cluster-mode.md)")
    ha.add_argument("--leader-elect", action="store_true",
                    help="only the Lease holder writes statuses, caBundles; all replicas serve")  # fmt: skip
    ha.add_argument("--lease-namespace", default="smi-system", help="namespace of the Lease")
    ha.add_argument("--lease-name", default="smi-controller", help="name of the Lease")
    ha.add_argument("--lease-duration", type=float, default=15.0, help="seconds a Lease holds without renewal")
    ha.add_argument("--lease-identity", default=None,
                    help="this replica's name in the Lease (default: $POD_NAME, else host-pid)")  # fmt: skip
    ha.add_argument("--webhook-ca-file", type=Path, default=None, metavar="PATH",
                    help="the webhook CA (mounted Secret): the leader keeps every caBundle equal to it")  # fmt: skip
    ha.add_argument("--webhook-configuration", default="smi-mesh-sidecar-injector",
                    help="the MutatingWebhookConfiguration whose caBundles the leader keeps")  # fmt: skip
    ha.add_argument("--apiservice", action="append", default=[], help="an APIService whose caBundle the leader keeps")
    ha.add_argument("--ca-bundle-interval", type=float, default=30.0, help="seconds between caBundle checks")
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
    settings = ControllerSettings(namespaces=tuple(args.namespace), server=args.server)
    from smi.cli.apiserver import ApiServerUnavailable, check_api_server, resolve

    try:
        asyncio.run(check_api_server(resolve(args.server), within=args.api_timeout))
    except ApiServerUnavailable as exc:
        print(f"smi controller: {exc}", file=sys.stderr)
        return 1
    asyncio.run(_serve(args, host=host, port=port, mesh=mesh, coalescing=coalescing, settings=settings))
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _authenticator(args: argparse.Namespace) -> Any:
    from smi.identity import BootstrapTokenAuthenticator, TokenReviewAuthenticator
    from smi.identity.authenticating import load_bootstrap_tokens

    if args.authenticator == "bootstrap":
        tokens = BootstrapTokenAuthenticator()
        if args.bootstrap_tokens is not None:
            try:
                load_bootstrap_tokens(args.bootstrap_tokens, tokens)
            except ValueError as e:
                raise SystemExit(f"smi controller: --bootstrap-tokens: {e}") from e
        return tokens
    if args.server:  # kubectl proxy: no credentials
        return TokenReviewAuthenticator(api_url=args.server, audiences=[args.token_audience])
    context = ssl.create_default_context(cafile=str(SA_DIR / "ca.crt")) if (SA_DIR / "ca.crt").exists() else None
    return TokenReviewAuthenticator(
        api_url=IN_CLUSTER_API, credentials=lambda: _read(SA_DIR / "token"), audiences=[args.token_audience],
        ssl_context=context,
    )  # fmt: skip


def _service(args: argparse.Namespace, *, store: Store, host: str, port: int, compiler: Compiler,
             coalescing: CoalescingSettings) -> ConfigService:  # fmt: skip
    if args.insecure_plaintext:
        return ConfigService(store=store, compiler=compiler.compile_proxy, host=host, port=port, coalescing=coalescing)
    from smi.identity import CAStoreError, CertificateAuthority
    from smi.identity.server import make_app
    from smi.identity.serving import ControlPlaneTls

    try:
        ca = CertificateAuthority.open(args.ca_dir, trust_domain=args.trust_domain, leaf_lifetime=args.cert_lifetime)
    except (CAStoreError, OSError, ValueError) as e:
        raise SystemExit(f"smi controller: --ca-dir {args.ca_dir}: {e}") from e
    namespace, _, account = args.identity.partition("/")
    tls = ControlPlaneTls(
        ca, namespace=namespace, service_account=account or "smi-controller",
        dns_names=args.tls_dns_name or ("localhost", "smi-controller.smi-system.svc"),
        ip_addresses=args.tls_ip_address or ("127.0.0.1",),
    )  # fmt: skip
    identity: PeerIdentity = CertificateIdentity(pod_identities(store, trust_domain=args.trust_domain))
    return ConfigService(
        store=store, compiler=compiler.compile_proxy, host=host, port=port, coalescing=coalescing, identity=identity,
        tls=tls,
        ca_app=make_app(ca, _authenticator(args)),
    )  # fmt: skip


async def _serve(
    args: argparse.Namespace, *, host: str, port: int, mesh: MeshSettings, coalescing: CoalescingSettings,
    settings: ControllerSettings,
) -> None:  # fmt: skip
    compiler = Compiler(mesh, MESH_GROUPS)  # one compiler (and index cache) for configs and statuses
    service = _service(args, store=Store(), host=host, port=port, compiler=compiler, coalescing=coalescing)
    add_conversion_route(service.app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with service:
        controller = Controller(store=service.store, publisher=service.publisher, compiler=compiler, settings=settings)
        from smi.cli._leadership import Leadership

        async with Leadership(args, controller=controller, stop=stop):
            await controller.run(stop_flag=stop)
