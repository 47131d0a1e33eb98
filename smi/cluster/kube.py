"""A small synchronous Kubernetes API client for the CLI, configured the way kubectl is.

``KubeClient.connect(kubeconfig=..., context=...)`` reads the kubeconfig with the
``kubernetes`` package (``$KUBECONFIG`` or ``~/.kube/config``; every auth method it knows:
client certificates, tokens, exec plugins), or the in-cluster ServiceAccount when there is
no kubeconfig.  ``namespace`` is the context's namespace (``default`` when it names none),
which is what ``-n`` defaults to, as in kubectl.  Requests are plain REST on
``ApiClient.call_api``: the installer works on raw dicts, not generated models.

Errors are two exceptions with a one-line message: ``KubeError`` (no usable
configuration, the API server unreachable) and ``ApiError`` (an HTTP status from the API).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    """The cluster cannot be used: no configuration, or the API server does not answer."""


class ApiError(KubeError):
    def __init__(self, status: int, method: str, path: str, body: str) -> None:
        self.status = status
        message = body
        try:
            parsed = json.loads(body)
            message = str(parsed.get("message") or body) if isinstance(parsed, dict) else body
        except ValueError:
            pass
        super().__init__(f"{method} {path}: HTTP {status}: {message.strip()[:300]}")


class KubeClient:
    def __init__(self, api_client: Any, *, namespace: str = "default", server: str = "") -> None:
        self._api = api_client
        self.namespace = namespace
        self.server = server

    @classmethod
    def connect(cls, *, kubeconfig: str | None = None, context: str | None = None, timeout: float = 15.0) -> KubeClient:
        from kubernetes import client as k8s
        from kubernetes import config as k8s_config
        from kubernetes.config.config_exception import ConfigException

        configuration = k8s.Configuration()
        namespace = "default"
        path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube/config")
        try:
            if kubeconfig or Path(path).exists() or context:
                contexts, active = k8s_config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
                chosen = next((c for c in contexts if c["name"] == context), None) if context else active
                if chosen is None:
                    raise KubeError(f"{path}: no context named {context!r}")
                namespace = (chosen.get("context") or {}).get("namespace") or "default"
                k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=path, context=context, client_configuration=configuration
                )
            else:
                k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
                ns_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                namespace = ns_file.read_text().strip() if ns_file.exists() else "default"
        except (ConfigException, OSError, ValueError, TypeError) as e:
            raise KubeError(f"no usable Kubernetes configuration ({path}): {e}") from None
        configuration.retries = 0
        api_client = k8s.ApiClient(configuration)
        client = cls(api_client, namespace=namespace, server=configuration.host)
        client.timeout = timeout
        return client

    timeout: float = 15.0

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        query: Sequence[tuple[str, str]] = (),
    ) -> Any:
        try:
            method_, url, headers, payload, post = self._api.param_serialize(
                method, path, query_params=list(query), body=body, auth_settings=["BearerToken"],
                header_params={"Content-Type": content_type, "Accept": "application/json"},
            )  # fmt: skip
            response = self._api.call_api(method_, url, header_params=headers, body=payload, post_params=post,
                                          _request_timeout=self.timeout)  # fmt: skip
            data = response.read()
            status = int(response.status)
        except Exception as e:  # urllib3's connection errors, TLS errors
            raise KubeError(f"cannot reach the API server at {self.server}: {type(e).__name__}: {e}") from None
        if status >= 400:
            raise ApiError(status, method, path, data.decode(errors="replace") if data else "")
        return json.loads(data) if data else None

    def text(self, path: str) -> str:
        """GET ``path`` as text: a pod proxy (``.../pods/NAME:PORT/proxy/...``) answers what the pod does."""
        try:
            method_, url, headers, payload, post = self._api.param_serialize(
                "GET", path, auth_settings=["BearerToken"], header_params={"Accept": "*/*"}
            )
            response = self._api.call_api(method_, url, header_params=headers, body=payload, post_params=post,
                                          _request_timeout=self.timeout)  # fmt: skip
            data = response.read()
            status = int(response.status)
        except Exception as e:  # urllib3's connection errors, TLS errors
            raise KubeError(f"cannot reach the API server at {self.server}: {type(e).__name__}: {e}") from None
        if status >= 400:
            raise ApiError(status, "GET", path, data.decode(errors="replace") if data else "")
        return data.decode(errors="replace") if data else ""

    def get(self, path: str, *, query: Sequence[tuple[str, str]] = ()) -> dict[str, Any] | None:
        """The object at ``path``, or None when it does not exist."""
        try:
            found: dict[str, Any] = self.request("GET", path, query=query)
        except ApiError as e:
            if e.status == 404:
                return None
            raise
        return found

    def items(self, path: str, *, query: Sequence[tuple[str, str]] = ()) -> list[dict[str, Any]]:
        found = self.get(path, query=query)
        items = (found or {}).get("items") or []
        return [i for i in items if isinstance(i, dict)]

    def create(self, collection: str, body: Mapping[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.request("POST", collection, dict(body))
        return created

    def merge_patch(self, path: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.request("PATCH", path, dict(patch), content_type=MERGE_PATCH)
        return patched

    def delete(self, path: str) -> bool:
        """Delete; False when it was already gone."""
        try:
            self.request("DELETE", path)
        except ApiError as e:
            if e.status == 404:
                return False
            raise
        return True

    def close(self) -> None:
        self._api.close()
