"""The objects the injector adds to a pod: sidecar container, init container, token volume.

* The sidecar runs ``smi proxy`` as uid 1337 (the uid the capture exempts), asks the control
  plane for the config of ``$(SMI_POD_NAMESPACE)/$(SMI_POD_NAME)`` (downward API; a pod made
  by a ReplicaSet has no name yet at admission), listens on 15003 (inbound, all addresses),
  127.0.0.1:15001 (outbound) and 15000 (admin: ``/ready`` and ``/live`` for the kubelet).
* It authenticates to the CA with a projected ServiceAccount token of audience ``smi-mesh``
  (kubelet-rotated; the file path is in ``SMI_TOKEN_FILE``), which the CA checks with a
  TokenReview for that audience: a token meant for the Kubernetes API is not accepted.
* The init container runs ``smi proxy-init`` as root with NET_ADMIN and NET_RAW only.
"""

from __future__ import annotations

from typing import Any

from smi.injection.deciding import Exclusions
from smi.injection.settings import INIT_NAME, SIDECAR_NAME, TOKEN_DIR, TOKEN_FILE, TOKEN_VOLUME, InjectionSettings


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _probe(path: str, port: int, *, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "failureThreshold": failures}


def taps(settings: InjectionSettings) -> bool:
    """The sidecar serves tap to the metrics API (needs mTLS, so an https:// control plane)."""
    return bool(settings.tap_identity) and settings.control_plane_url.startswith("https://")


def sidecar(settings: InjectionSettings) -> dict[str, Any]:
    env: list[dict[str, Any]] = [
        _field_env("SMI_POD_NAME", "metadata.name"),
        _field_env("SMI_POD_NAMESPACE", "metadata.namespace"),
        _field_env("SMI_POD_IP", "status.podIP"),
        _field_env("SMI_SERVICE_ACCOUNT", "spec.serviceAccountName"),
        {"name": "SMI_TOKEN_FILE", "value": f"{TOKEN_DIR}/{TOKEN_FILE}"},
    ]
    args = [
        "proxy",
        "--control-plane", settings.control_plane_url,
        "--namespace", "$(SMI_POD_NAMESPACE)",
        "--pod", "$(SMI_POD_NAME)",
        "--inbound", f"0.0.0.0:{settings.inbound_port}",
        "--outbound", f"127.0.0.1:{settings.outbound_port}",
        "--admin", f"0.0.0.0:{settings.admin_port}",
        "--log-level", settings.log_level,
        # mTLS (docs/identity.md): the CA is <control plane>/ca; token, trust bundle and
        # ServiceAccount come from SMI_TOKEN_FILE, SMI_TRUST_BUNDLE and SMI_SERVICE_ACCOUNT.
        "--mtls", "strict" if settings.control_plane_url.startswith("https://") else "off",
    ]  # fmt: skip
    tap = taps(settings)
    if tap:  # tap on the pod's address over mTLS, for the metrics API's identity only (docs/tap.md)
        args += ["--tap", f"0.0.0.0:{settings.tap_port}", "--tap-identity", settings.tap_identity]
    if settings.drain_grace > 0:
        args += ["--drain-grace", str(settings.drain_grace)]
    if settings.trust_bundle:
        env.append({"name": "SMI_TRUST_BUNDLE", "value": settings.trust_bundle})
    container: dict[str, Any] = {
        "name": SIDECAR_NAME,
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["smi"],
        "args": args,
        "env": env,
        "ports": [
            {"name": "smi-inbound", "containerPort": settings.inbound_port, "protocol": "TCP"},
            {"name": "smi-outbound", "containerPort": settings.outbound_port, "protocol": "TCP"},
            {"name": "smi-admin", "containerPort": settings.admin_port, "protocol": "TCP"},
            *([{"name": "smi-tap", "containerPort": settings.tap_port, "protocol": "TCP"}] if tap else []),
        ],
        "readinessProbe": _probe("/ready", settings.admin_port, period=2, failures=3),
        "livenessProbe": _probe("/live", settings.admin_port, period=10, failures=3),
        "resources": {
            "requests": {"cpu": settings.cpu_request, "memory": settings.memory_request},
            "limits": {"memory": settings.memory_limit},
        },
        "securityContext": {
            "runAsUser": settings.proxy_uid,
            "runAsGroup": settings.proxy_uid,
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": TOKEN_VOLUME, "mountPath": TOKEN_DIR, "readOnly": True}],
    }
    if settings.drain_grace > 0 and settings.prestop_delay > 0:
        container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(settings.prestop_delay)]}}}
    return container


def termination_grace(settings: InjectionSettings, current: Any) -> int | None:
    """The pod's terminationGracePeriodSeconds so the sidecar can drain (None: leave it)."""
    if settings.drain_grace <= 0:
        return None
    needed = settings.prestop_delay + settings.drain_grace + 2
    have = current if isinstance(current, int) and not isinstance(current, bool) else 30  # Kubernetes' default
    return needed if needed > have else None


def init_container(settings: InjectionSettings, exclusions: Exclusions) -> dict[str, Any]:
    args = [
        "proxy-init",
        "--proxy-uid", str(settings.proxy_uid),
        "--inbound-port", str(settings.inbound_port),
        "--outbound-port", str(settings.outbound_port),
        "--proxy-ports", ",".join(str(p) for p in (settings.admin_port, settings.outbound_port, settings.inbound_port,
                                                    *((settings.tap_port,) if taps(settings) else ()))),
    ]  # fmt: skip
    if exclusions.inbound_ports:
        args += ["--exclude-inbound-ports", ",".join(map(str, exclusions.inbound_ports))]
    if exclusions.outbound_ports:
        args += ["--exclude-outbound-ports", ",".join(map(str, exclusions.outbound_ports))]
    if exclusions.outbound_cidrs:
        args += ["--exclude-outbound-cidrs", ",".join(exclusions.outbound_cidrs)]
    return {
        "name": INIT_NAME,
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["smi"],
        "args": args,
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {
            "runAsUser": 0,
            "runAsGroup": 0,
            "runAsNonRoot": False,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
        },
    }


def token_volume(settings: InjectionSettings) -> dict[str, Any]:
    return {
        "name": TOKEN_VOLUME,
        "projected": {
            "sources": [
                {
                    "serviceAccountToken": {
                        "audience": settings.token_audience,
                        "expirationSeconds": settings.token_expiration_seconds,
                        "path": TOKEN_FILE,
                    }
                }
            ]
        },
    }
