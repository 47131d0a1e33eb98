"""``smi tap deploy/NAME -n NS``: the requests of a workload as they happen, one line each.

Reads the tap endpoint (``/apis/tap.smi-mesh.io/v1alpha1/...``, docs/dashboard.md) of the
running local mesh (served by ``smi up`` on its control address), or with ``--kubeconfig`` /
``--context`` of a cluster (through its API server, with the kubeconfig's credentials, as
kubectl would; the aggregator hands it to ``smi metrics-api``): an ndjson stream the sidecars
of the workload's pods publish, filtered by them and capped per second.  Stops on Ctrl-C,
when the stream ends, or after ``--max-events``.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from urllib.parse import quote, urlencode

from smi.cli._runtime_client import add_state_dir, with_runtime
from smi.runtime import statefile
from traffic_metrics.tapfanin import TAP_BASE, event_line

KINDS = {"deploy": "deployments", "deployment": "deployments", "deployments": "deployments",
         "po": "pods", "pod": "pods", "pods": "pods"}  # fmt: skip


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("tap", help="stream the requests of a workload of the local mesh as they happen")
    parser.add_argument("target", metavar="deploy/NAME", help="deploy/NAME or po/NAME")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("--path-prefix", default="", help="only paths starting with this (e.g. /books)")
    parser.add_argument("--method", default="", help="only this method (GET, POST, ...)")
    parser.add_argument("--status-class", default="", help="only 2xx, 3xx, 4xx, 5xx or error")
    parser.add_argument("--max-rps", type=float, default=100.0, help="at most this many events per second (100)")
    parser.add_argument("--max-events", type=int, default=0, help="stop after this many events (0: never)")
    parser.add_argument("-o", "--output", choices=("line", "json"), default="line")
    parser.add_argument("--kubeconfig", help="tap in this cluster (default: the local mesh)")
    parser.add_argument("--context", help="kubeconfig context (implies the cluster)")
    add_state_dir(parser)
    parser.set_defaults(func=run)


def tap_path(args: argparse.Namespace) -> str:
    kind, _, name = args.target.partition("/")
    plural = KINDS.get(kind.lower())
    if plural is None or not name:
        raise ValueError(f"target {args.target!r}: expected deploy/NAME or po/NAME")
    query = {"path_prefix": args.path_prefix, "method": args.method, "status_class": args.status_class}
    params = {k: v for k, v in query.items() if v}
    params["rate"] = f"{args.max_rps:g}"
    return f"{TAP_BASE}/namespaces/{quote(args.namespace)}/{plural}/{quote(name)}/tap?{urlencode(params)}"


def _refusal(exc: urllib.error.HTTPError) -> str:
    raw = exc.read()
    try:
        return str(json.loads(raw).get("message") or raw.decode())
    except (ValueError, AttributeError):
        return raw.decode("utf-8", "replace").strip()


def run(args: argparse.Namespace) -> int:
    try:
        path = tap_path(args)
    except ValueError as exc:
        print(f"smi tap: {exc}", file=sys.stderr)
        return 2

    if args.kubeconfig or args.context:
        return _cluster(args, path)

    def body(info: statefile.RuntimeInfo) -> int:
        try:
            response = urllib.request.urlopen(info.control_url + path, timeout=3600)
        except urllib.error.HTTPError as exc:
            print(f"smi tap: {_refusal(exc)}", file=sys.stderr)
            return 1
        except (urllib.error.URLError, OSError) as exc:
            print(f"smi tap: cannot reach the local mesh at {info.control_url}: {exc}", file=sys.stderr)
            return 1
        with response:
            return _print(args, response)

    return with_runtime("tap", body, args)


def _print(args: argparse.Namespace, lines: Iterable[bytes]) -> int:
    seen = 0
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        event = json.loads(line)
        if "end" in event:  # not an event: the sidecar's monitoring level has tap off
            print(f"smi tap: {event['end']}", file=sys.stderr)
            continue
        print(line.decode() if args.output == "json" else event_line(event), flush=True)
        seen += 1
        if args.max_events and seen >= args.max_events:
            break
    return 0


def _cluster(args: argparse.Namespace, path: str) -> int:
    """Stream through the kubeconfig's API server (its URL, credentials and CA, as kubectl)."""
    from kubernetes import config

    try:
        api = config.new_client_from_config(config_file=args.kubeconfig, context=args.context)  # type: ignore[no-untyped-call]
    except Exception as exc:  # the kubernetes package raises ConfigException and plain errors
        print(f"smi tap: cannot load the kubeconfig: {exc}", file=sys.stderr)
        return 1
    try:
        target, _, query = path.partition("?")
        _, url, headers, _, _ = api.param_serialize(
            "GET", target, query_params=urllib.parse.parse_qsl(query), header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )  # fmt: skip
        try:
            response = api.rest_client.pool_manager.request("GET", url, headers=headers, preload_content=False,
                                                            timeout=None, retries=False)  # fmt: skip
        except Exception as exc:  # urllib3's connection and TLS errors
            print(f"smi tap: cannot reach the cluster's API server: {exc}", file=sys.stderr)
            return 1
        try:
            if response.status >= 300:
                raw = response.read()
                try:
                    message = str(json.loads(raw).get("message") or raw.decode())
                except (ValueError, AttributeError):
                    message = raw.decode("utf-8", "replace").strip()
                print(f"smi tap: {message} (HTTP {response.status})", file=sys.stderr)
                return 1
            return _print(args, response)
        finally:
            response.close()  # a stream cut short is not returned to the pool
    finally:
        api.close()
