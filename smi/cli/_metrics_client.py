"""How ``smi stat``, ``smi edges`` and ``smi top`` reach the TrafficMetrics API.

Against a cluster (``--kubeconfig`` or ``--context`` given) the kubeconfig's server,
credentials and CA are used through the ``kubernetes`` client, as kubectl would; otherwise
the running local mesh (``--state-dir``), whose control address serves the same paths.
Never the sidecars directly.
"""

from __future__ import annotations

import argparse
import json
import urllib.parse
from typing import Any

from smi.runtime import client, statefile

BASE = "/apis/metrics.smi-spec.io/v1alpha1"


class MetricsError(Exception):
    pass


def add_target_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="use this cluster's metrics API (default: the local mesh)")
    parser.add_argument("--context", help="kubeconfig context (implies the cluster)")
    parser.add_argument("--state-dir", help="the local mesh's state dir (default $SMI_STATE_DIR or ./.smi)")


def path_for(plural: str, name: str | None, namespace: str | None, *, edges: bool = False) -> str:
    if plural == "namespaces":
        path = f"{BASE}/namespaces" + (f"/{name}" if name else "")
    elif namespace is None:
        path = f"{BASE}/{plural}"
    else:
        path = f"{BASE}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")
    return path + ("/edges" if edges else "")


def _error_text(status: int, body: Any) -> str:
    if isinstance(body, dict) and body.get("message"):
        return f"{body['message']} (HTTP {status})"
    return f"HTTP {status}: {body}"


def get(args: argparse.Namespace, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    url = path + ("?" + urllib.parse.urlencode(query) if query else "")
    if args.kubeconfig or args.context:
        return _cluster_get(args, url)
    try:
        info = client.find(statefile.state_dir(args.state_dir))
        answer: dict[str, Any] = client.call(info, "GET", url, timeout=10)
        return answer
    except client.NotRunning as exc:
        raise MetricsError(f"{exc} (or pass --kubeconfig/--context for a cluster)") from exc
    except client.ApiError as exc:
        raise MetricsError(_error_text(exc.status, exc.body)) from exc


def _cluster_get(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from kubernetes import client as kclient
    from kubernetes import config

    try:
        api = config.new_client_from_config(config_file=args.kubeconfig, context=args.context)  # type: ignore[no-untyped-call]
    except Exception as exc:  # the kubernetes package raises ConfigException and plain errors
        raise MetricsError(f"cannot load the kubeconfig: {exc}") from exc
    headers = {"Accept": "application/json"}
    try:
        if hasattr(api, "param_serialize"):  # kubernetes >= 30: serialize (host, auth), then call
            path, _, query = url.partition("?")
            params = urllib.parse.parse_qsl(query)
            method, full, head, body, post = api.param_serialize(
                "GET", path, query_params=params, header_params=headers, auth_settings=["BearerToken"]
            )
            response = api.call_api(method, full, head, body, post, _request_timeout=15)
            response.read()
            raw = response.data
            if response.status >= 300:
                raise kclient.ApiException(status=response.status, reason=response.reason, http_resp=response)
        else:
            legacy = api.call_api(url, "GET", auth_settings=["BearerToken"], _preload_content=False,
                                  _request_timeout=15, header_params=headers)  # fmt: skip
            raw = legacy[0].data
    except kclient.ApiException as exc:
        try:
            body = json.loads(exc.body or "null")
        except ValueError:
            body = exc.body
        raise MetricsError(_error_text(exc.status or 0, body)) from exc
    except Exception as exc:  # urllib3 connection errors
        raise MetricsError(f"cannot reach the cluster's API server: {exc}") from exc
    finally:
        api.close()
    parsed: dict[str, Any] = json.loads(raw)
    return parsed
