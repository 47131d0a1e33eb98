"""``smi up``: run a folder of Kubernetes + SMI manifests as a local mesh (no cluster, no root).

Without ``-f`` it runs the bundled bookstore demo (``manifests/demo/``).  Sidecars talk
strict mutual TLS by default, with certificates from the runtime's own CA in
``<state dir>/ca`` (``--mtls permissive|off`` for migration or debugging).  See
docs/local-runtime.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import smi
from smi.proxyconfig import EgressPolicy

DEMO_DIR = Path(smi.__file__).resolve().parent.parent / "manifests" / "demo"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("up", help="run manifests as a local mesh (default: the bookstore demo)")
    parser.add_argument("-f", "--filename", metavar="DIR", help="manifest folder (or file) to run and watch")
    parser.add_argument("--address-base", default="127.1.0.0", help="pods get base+2, base+3, … (in 127/8)")
    parser.add_argument("--state-dir", help="where runtime.json and logs go (default $SMI_STATE_DIR or ./.smi)")
    parser.add_argument("--permissive", action="store_true", help="allow all traffic (TrafficTargets not enforced)")
    parser.add_argument(
        "--mtls",
        choices=("strict", "permissive", "off"),
        default="strict",
        help="mutual TLS between sidecars: strict (default; plain text refused), permissive (plain text accepted "
        "and counted, for migration) or off (no CA, plain text everywhere, for debugging)",
    )
    parser.add_argument(
        "--isolation",
        choices=("loopback", "netns"),
        default="loopback",
        help="loopback (default, no root): pods on 127/8 addresses, apps use HTTP_PROXY; netns (root): each pod "
        "in its own network namespace with iptables capture, services by name (docs/local-runtime.md)",
    )
    parser.add_argument(
        "--egress-policy",
        metavar="FILE",
        help="mesh-wide egress policy (YAML: mode: allow|deny, allow: [{hosts, cidrs, ports}]); default allow all",
    )
    parser.add_argument(
        "--max-pods",
        type=int,
        default=64,
        metavar="N",
        help="run at most N pods (replicas beyond it are not started, and that is reported); default 64",
    )
    parser.add_argument(
        "--cert-lifetime",
        type=_duration,
        metavar="DURATION",
        help="lifetime of the workload and control-plane certificates (e.g. 20s, 10m, 24h; for drills); "
        "default: the CA's (24h)",
    )
    parser.add_argument("--no-watch", action="store_true", help="do not watch the folder for changes")
    parser.add_argument(
        "--dashboard",
        choices=("auto", "live", "plain", "off"),
        default="auto",
        help="live traffic view: redrawn (live), printed frames (plain), or none; auto = live on a terminal",
    )
    parser.set_defaults(func=run)


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a duration like 20s, 10m or 24h, got {text!r}") from None
    if not 5 <= seconds <= 366 * 86400:
        raise argparse.ArgumentTypeError(f"must be between 5s and 366 days, got {text!r}")
    return seconds


def run(args: argparse.Namespace) -> int:
    from smi.runtime import quietoutput

    quietoutput.install()  # first: a closed pipe or terminal must never stop the shutdown

    from smi.compile import MeshSettings
    from smi.runtime import statefile
    from smi.runtime.addresses import AddressAllocator, AddressError
    from smi.runtime.mtls import RuntimeTlsError
    from smi.runtime.serving import AlreadyRunning, serve
    from smi.runtime.settings import RuntimeSettings

    manifests = Path(args.filename) if args.filename else DEMO_DIR
    if not manifests.exists():
        print(f"smi up: {manifests}: no such file or folder", file=sys.stderr)
        return 2
    try:
        AddressAllocator(args.address_base)
    except AddressError as exc:
        print(f"smi up: {exc}", file=sys.stderr)
        return 2
    if args.isolation == "netns":
        from smi.runtime.netns import missing

        reason = missing()
        if reason is not None:
            print(f"smi up: --isolation netns: {reason}", file=sys.stderr)
            return 2
    try:
        egress = _egress_policy(args.egress_policy)
    except ValueError as exc:
        print(f"smi up: {exc}", file=sys.stderr)
        return 2
    settings = RuntimeSettings(
        manifests=manifests.resolve(),
        state_dir=statefile.state_dir(args.state_dir).resolve(),
        address_base=args.address_base,
        mesh=MeshSettings(permissive=args.permissive, egress=egress),
        watch=not args.no_watch,
        mtls=args.mtls,
        isolation=args.isolation,
        max_pods=args.max_pods,
        cert_lifetime=args.cert_lifetime,
    )
    if not args.filename:
        print(
            f"smi up: running the bookstore demo from {manifests} (edit its files: changes apply live)", file=sys.stderr
        )
    try:
        return asyncio.run(serve(settings, dashboard=args.dashboard))
    except (AlreadyRunning, RuntimeTlsError) as exc:
        print(f"smi up: {exc}", file=sys.stderr)
        return 1


def _egress_policy(path: str | None) -> EgressPolicy:
    """The ``--egress-policy`` file as an EgressPolicy (ValueError naming the file and field)."""
    from proxy.capture.egress import parse_policy

    if path is None:
        return EgressPolicy()
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"--egress-policy {path}: {exc}") from exc
    try:
        return parse_policy(data)
    except ValueError as exc:
        raise ValueError(f"--egress-policy {path}: {exc}") from exc
