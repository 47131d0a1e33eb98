"""``smi proxy``: run the sidecar proxy next to one workload.

Config comes from the control plane's stream (``--control-plane URL --namespace NS --pod
POD``) or from a static ProxyConfig JSON file (``--config-file``).  See docs/proxy.md for
every flag, the listeners and the metrics.

Mutual TLS (docs/identity.md): ``--mtls strict|permissive|off`` (default: strict when a CA
is given, i.e. ``--ca-url`` or an ``https://`` control plane, whose CA is ``<url>/ca``);
``--token-file`` (env ``SMI_TOKEN_FILE``) holds the credential the CA checks, and
``--trust-bundle`` (env ``SMI_TRUST_BUNDLE``; a PEM file or the PEM text itself) the roots
the control plane is trusted with; the identity asked for is
``spiffe://<--trust-domain>/ns/<--namespace>/sa/<--service-account>`` (env
``SMI_SERVICE_ACCOUNT``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from proxy.running import run
from proxy.settings import MTLS_MODES, Forward, ProxySettings, load_config_file
from proxy.workloadidentity import IdentitySetupError
from smi.proxyconfig.spiffe import InvalidSpiffeId, spiffe_id


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


def parse_seconds(text: str) -> float:
    """A positive number of seconds (``--detect-timeout``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0 and at most 60 seconds")
    return value


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
    parser.add_argument("--max-connections", type=int, default=0, metavar="N",
                        help="open connections per data listener, more are refused (503); "
                        "default: from the open-files limit")  # fmt: skip
    parser.add_argument("--drain-grace", type=float, default=5.0, metavar="SECONDS",
                        help="on SIGTERM: seconds to finish in-flight requests before exiting; default 5")  # fmt: skip
    mtls = parser.add_argument_group("mutual TLS (docs/identity.md)")
    mtls.add_argument("--mtls", choices=MTLS_MODES, default=None,
                      help="strict: mTLS only; permissive: also accept plain text inbound (migration); "
                           "off: no TLS.  Default: strict when a CA is given (--ca-url or an https control plane), "
                           "else off")  # fmt: skip
    mtls.add_argument("--ca-url", metavar="URL", default=os.environ.get("SMI_CA_URL") or None,
                      help="the CA API (default: <control plane>/ca when https; env SMI_CA_URL)")  # fmt: skip
    mtls.add_argument("--token-file", type=Path, metavar="PATH", default=_env_path("SMI_TOKEN_FILE"),
                      help="the credential for the CA: the local runtime's bootstrap token or the projected "
                           "ServiceAccount token (re-read on every request; env SMI_TOKEN_FILE)")  # fmt: skip
    mtls.add_argument("--trust-bundle", metavar="PATH|PEM", default=os.environ.get("SMI_TRUST_BUNDLE") or None,
                      help="the roots that the control plane's certificate is checked against before the first "
                           "workload certificate: a PEM file, or the PEM text (env SMI_TRUST_BUNDLE)")  # fmt: skip
    mtls.add_argument("--service-account", default=os.environ.get("SMI_SERVICE_ACCOUNT", ""),
                      help="the pod's ServiceAccount: the identity asked for (env SMI_SERVICE_ACCOUNT; "
                           "default: the static config's node identity)")  # fmt: skip
    mtls.add_argument("--trust-domain", default="cluster.local", help="SPIFFE trust domain; default cluster.local")
    mtls.add_argument("--tap", type=parse_address, default=None, metavar="ADDR:PORT",
                      help="serve /tap here over mTLS to --tap-identity only (the cluster's metrics API)")  # fmt: skip
    mtls.add_argument("--tap-identity", action="append", default=_env_list("SMI_TAP_IDENTITY"), metavar="SPIFFE_ID",
                      help="who may tap through --tap (repeatable; env SMI_TAP_IDENTITY, comma-separated)")  # fmt: skip
    parser.add_argument("--h1-over-h2", action="store_true",
                        help="carry the app's HTTP/1.1 requests to peer sidecars on multiplexed HTTP/2 (docs/proxy.md)")
    parser.add_argument("--udp-forward", type=parse_forward, action="append", default=[],
                        metavar="LISTEN_ADDR:PORT=SERVICE.NAMESPACE:PORT",
                        help="a UDP listener for one service's UDP port (repeatable); sessions go over mTLS")
    parser.add_argument("--no-capture", dest="capture", action="store_false",
                        help="outbound listener: skip SO_ORIGINAL_DST and sniffing (HTTP proxy use only)")
    parser.add_argument("--detect-timeout", type=parse_seconds, default=1.0, metavar="SECONDS",
                        help="ports that declare no protocol: how long to wait for a client's first bytes before "
                             "the connection is relayed as opaque TCP (server speaks first); default 1")  # fmt: skip
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.set_defaults(func=main)


def _env_list(name: str) -> list[str]:
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


class UsageError(ValueError):
    pass


def trust_bundle_pem(value: str | None) -> str | None:
    """``--trust-bundle``: PEM text as given, else the content of the file it names."""
    if not value:
        return None
    if value.lstrip().startswith("-----BEGIN"):
        return value
    try:
        return Path(value).read_text()
    except OSError as e:
        raise UsageError(f"--trust-bundle: cannot read {value}: {e.strerror or e}") from e


def mtls_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The mTLS part of ``ProxySettings`` from the flags; raises :class:`UsageError`."""
    ca_url = args.ca_url
    if ca_url is None and args.control_plane and args.control_plane.startswith("https://"):
        ca_url = args.control_plane.rstrip("/") + "/ca"
    mode = args.mtls or ("strict" if ca_url else "off")
    if mode == "off":
        return {"mtls": "off"}
    if not ca_url:
        raise UsageError(f"--mtls {mode} needs --ca-url (or an https:// --control-plane)")
    identity = ""
    if args.service_account:
        if not args.namespace:
            raise UsageError("--service-account needs --namespace")
        try:
            identity = spiffe_id(args.trust_domain, args.namespace, args.service_account)
        except InvalidSpiffeId as e:
            raise UsageError(f"--service-account/--namespace/--trust-domain: {e}") from e
    elif args.config_file is None:
        raise UsageError(f"--mtls {mode} needs --service-account (or env SMI_SERVICE_ACCOUNT)")
    return {
        "mtls": mode,
        "ca_url": ca_url,
        "token_file": args.token_file,
        "trust_bundle_pem": trust_bundle_pem(args.trust_bundle),
        "identity": identity,
    }


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.control_plane and not (args.namespace and args.pod):
        print("smi proxy: --control-plane needs --namespace and --pod", file=sys.stderr)
        return 2
    try:
        tls = mtls_settings(args)
    except UsageError as e:
        print(f"smi proxy: {e}", file=sys.stderr)
        return 2
    settings = ProxySettings(
        **tls,
        namespace=args.namespace,
        pod=args.pod,
        control_plane=args.control_plane,
        config_file=args.config_file,
        outbound=args.outbound,
        inbound=args.inbound,
        admin=args.admin,
        bind_address=args.bind_address,
        forwards=tuple(args.forward),
        max_connections=max(args.max_connections, 0),
        drain_grace=max(args.drain_grace, 0.0),
        h1_over_h2=args.h1_over_h2,
        capture=args.capture,
        detect_timeout=args.detect_timeout,
        udp_forwards=tuple(args.udp_forward),
        tap=args.tap,
        tap_identities=tuple(args.tap_identity),
    )
    if settings.config_file is not None:
        try:
            load_config_file(settings.config_file)
        except ValueError as e:
            print(f"smi proxy: {e}", file=sys.stderr)
            return 2
    try:
        run(settings)
    except IdentitySetupError as e:
        print(f"smi proxy: {e}", file=sys.stderr)
        return 1
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
