"""The stand-in API server's front: what kube-apiserver does that kmock's emulator does not.

Clients (``smi install``, ``smi check``, the tests creating pods) talk to this front; it
forwards every request to the emulator, except:

* **Pod creation** runs mutating admission as kube-apiserver does: every entry of every
  MutatingWebhookConfiguration whose rules, ``namespaceSelector`` and ``objectSelector``
  match is called with a real ``admission.k8s.io/v1`` AdmissionReview over HTTPS, its
  certificate verified against the entry's ``caBundle`` for the Service's DNS name; the
  JSON Patch is applied; a failed call is an error for ``failurePolicy: Fail`` and skipped
  for ``Ignore``.  ``?dryRun=All`` answers the admitted pod without storing it.
* **SMI objects written in a version other than the CRD's storage version** are converted
  by the CRD's conversion webhook (a real ``ConversionReview`` over HTTPS, to the same
  endpoints) and stored at the storage version, which is what the controllers watch.
* The Service behind ``clientConfig.service`` resolves through ``endpoints``, which the
  test's control-plane runner fills (the endpoints controller's job).

The controllers talk to the emulator directly (watches are not proxied); a real API server
is one address for both, which changes nothing they do.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from cryptography import x509

from smi.injection import apply_patch

WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"


class WebhookFailed(Exception):
    pass


def _matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


@dataclass
class Calls:
    """What the front saw: admitted pods, failures, and the serving certificates presented."""

    admitted: int = 0
    failed: list[str] = field(default_factory=list)
    serials: list[int] = field(default_factory=list)


class AdmissionFront:
    def __init__(self, emulator_url: str) -> None:
        self.emulator_url = emulator_url.rstrip("/")
        self.endpoints: dict[tuple[str, str], list[tuple[str, int]]] = {}  # (ns, service) -> webhook addresses
        self.calls = Calls()
        self._rr = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> AdmissionFront:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._session = aiohttp.ClientSession()
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def emulator(self, method: str, path: str, body: Any = None, *, query: Any = None) -> tuple[int, Any]:
        assert self._session is not None
        async with self._session.request(method, self.emulator_url + path, json=body, params=query) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")}
        async with self._session.request(
            request.method, self.emulator_url + request.path, params=request.query, data=body or None, headers=headers
        ) as resp:
            return web.Response(status=resp.status, body=await resp.read(), content_type="application/json")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parts = request.path.strip("/").split("/")
        if request.method == "POST" and parts[:3] == ["api", "v1", "namespaces"] and parts[4:] == ["pods"]:
            return await self._create_pod(request, namespace=parts[3])
        if (request.method in ("POST", "PATCH") and len(parts) >= 6 and parts[0] == "apis"
                and parts[1].endswith("smi-spec.io") and parts[3] == "namespaces"):  # fmt: skip
            converted = await self._to_storage_version(request, parts)
            if converted is not None:
                return converted
        return await self._forward(request)

    async def _to_storage_version(self, request: web.Request, parts: list[str]) -> web.Response | None:
        group, version, plural = parts[1], parts[2], parts[5]
        _, crd = await self.emulator("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.{group}")
        versions = ((crd or {}).get("spec") or {}).get("versions") or []
        storage = next((v["name"] for v in versions if v.get("storage")), None)
        if storage is None or storage == version:
            return None
        obj = await request.json()
        hook = crd["spec"]["conversion"]["webhook"]["clientConfig"]
        wanted = {"uid": str(uuid.uuid4()), "desiredAPIVersion": f"{group}/{storage}", "objects": [obj]}
        review = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview", "request": wanted}
        try:
            answer = await self._post_https(hook, review, within=10)
        except (OSError, ssl.SSLError, ValueError, TimeoutError) as e:
            message = f"conversion webhook for {group}/{version}, Kind={obj.get('kind')} failed: {e}"
            status = {"kind": "Status", "status": "Failure", "code": 500, "message": message}
            return web.json_response(status, status=500)
        result = answer.get("response") or {}
        if (result.get("result") or {}).get("status") != "Success":
            return web.json_response({"kind": "Status", "code": 500, "message": str(result.get("result"))}, status=500)
        (converted,) = result["convertedObjects"]
        parts = [*parts[:2], storage, *parts[3:]]
        method = request.method
        status, body = await self.emulator(method, "/" + "/".join(parts), converted)
        return web.json_response(body, status=status)

    # -- admission -------------------------------------------------------------------------

    async def _create_pod(self, request: web.Request, *, namespace: str) -> web.Response:
        pod = await request.json()
        pod.setdefault("metadata", {})["namespace"] = namespace
        try:
            pod = await self.admit(pod, namespace=namespace, dry_run=request.query.get("dryRun") == "All")
        except WebhookFailed as e:
            self.calls.failed.append(str(e))
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": str(e),
                      "reason": "InternalError", "code": 500}  # fmt: skip
            return web.json_response(status, status=500)
        except PermissionError as e:
            return web.json_response({"kind": "Status", "status": "Failure", "message": str(e), "code": 400},
                                     status=400)  # fmt: skip
        if request.query.get("dryRun") == "All":
            return web.json_response(pod, status=201)
        status, created = await self.emulator("POST", f"/api/v1/namespaces/{namespace}/pods", pod)
        return web.json_response(created, status=status)

    async def admit(self, pod: dict[str, Any], *, namespace: str, dry_run: bool) -> dict[str, Any]:
        _, ns_obj = await self.emulator("GET", f"/api/v1/namespaces/{namespace}")
        ns_labels = dict(((ns_obj or {}).get("metadata") or {}).get("labels") or {})
        ns_labels["kubernetes.io/metadata.name"] = namespace
        _, configs = await self.emulator("GET", WEBHOOKS)
        for config in (configs or {}).get("items") or []:
            for hook in config.get("webhooks") or []:
                if not any("pods" in r.get("resources", []) and "CREATE" in r.get("operations", [])
                           for r in hook.get("rules") or []):  # fmt: skip
                    continue
                pod_labels = (pod.get("metadata") or {}).get("labels") or {}
                if not (_matches(hook.get("namespaceSelector"), ns_labels)
                        and _matches(hook.get("objectSelector"), pod_labels)):  # fmt: skip
                    continue
                try:
                    answer = await self._call(hook, pod, namespace=namespace, dry_run=dry_run)
                except (OSError, ssl.SSLError, ValueError, TimeoutError) as e:
                    if hook.get("failurePolicy", "Fail") == "Fail":
                        raise WebhookFailed(f'Internal error occurred: failed calling webhook "{hook["name"]}": '
                                            f"{type(e).__name__}: {e}") from None  # fmt: skip
                    continue
                response = answer.get("response") or {}
                if not response.get("allowed"):
                    raise PermissionError(f'admission webhook "{hook["name"]}" denied the request: '
                                          f"{(response.get('status') or {}).get('message', '')}")  # fmt: skip
                if response.get("patch"):
                    pod = apply_patch(pod, json.loads(base64.b64decode(response["patch"])))
        self.calls.admitted += 1
        return pod

    async def _call(self, hook: Mapping[str, Any], pod: Any, *, namespace: str, dry_run: bool) -> dict[str, Any]:
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": str(uuid.uuid4()), "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": namespace,
            "operation": "CREATE", "object": pod, "dryRun": dry_run,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        }}  # fmt: skip
        return await self._post_https(hook["clientConfig"], review, within=float(hook.get("timeoutSeconds") or 10))

    async def _post_https(self, client: Mapping[str, Any], review: Any, *, within: float) -> dict[str, Any]:
        """POST a review to a webhook Service the way kube-apiserver does (TLS verified with the caBundle)."""
        timeout = within
        service = client["service"]
        addresses = self.endpoints.get((service["namespace"], service["name"])) or []
        if not addresses:
            raise ConnectionRefusedError(f"no endpoints available for service {service['name']!r}")
        host, port = addresses[next(self._rr) % len(addresses)]
        context = ssl.create_default_context(cadata=base64.b64decode(client.get("caBundle") or "").decode() or None)
        body = json.dumps(review).encode()
        server_name = f"{service['name']}.{service['namespace']}.svc"
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=server_name), timeout
        )
        try:
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            self.calls.serials.append(x509.load_der_x509_certificate(der).serial_number)
            head = (
                f"POST {service.get('path', '/')}?timeout={int(timeout)}s HTTP/1.1\r\nHost: {server_name}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            raw = await asyncio.wait_for(reader.read(), timeout)
        finally:
            writer.close()
        status_line, _, rest = raw.partition(b"\r\n")
        if b" 200 " not in status_line + b" ":
            raise ValueError(f"webhook answered {status_line.decode(errors='replace')}")
        answer: dict[str, Any] = json.loads(rest.partition(b"\r\n\r\n")[2])
        return answer
