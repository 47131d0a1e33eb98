"""``smi check --proxy``: does each sidecar run the config the control plane has for it?

Readiness alone says a sidecar got *a* config once.  This compares versions, both read
through the API server's proxy (what ``kubectl get --raw`` can reach, no port-forward):

* the sidecar's: its admin ``/ready`` answers ``ready: config version N``
  (``/api/v1/namespaces/NS/pods/POD:15000/proxy/ready``);
* the control plane's: each running controller replica answers
  ``/v1/config/versions?namespace=NS`` on its config port with the version it last sent to
  each proxy streaming from it.  Versions count per replica, so a sidecar is compared with
  the replica that streams to it.

A sidecar behind its replica, or streaming from no replica that answered, fails its line.
When the versions cannot be read (no pod proxy, a replica unreachable), the line keeps the
readiness verdict and says what could not be compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from smi.cluster.kube import KubeClient, KubeError
from smi.cluster.options import CONFIG_PORT
from smi.cluster.resources import KINDS

CONTROLLER_SELECTOR = "app.kubernetes.io/name=smi-controller"
DEFAULT_ADMIN_PORT = 15000
_READY = re.compile(r"config version (\d+)")


@dataclass
class ControlPlaneVersions:
    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    answered: int = 0  # replicas that answered
    problems: list[str] = field(default_factory=list)  # replicas that did not, and why


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:160]


def control_plane_versions(
    client: KubeClient, namespace: str, meshed_namespaces: Iterable[str]
) -> ControlPlaneVersions:
    """What every running controller replica in ``namespace`` last sent to the proxies of those namespaces."""
    found = ControlPlaneVersions()
    try:
        replicas = client.items(KINDS["Pod"].collection(namespace), query=[("labelSelector", CONTROLLER_SELECTOR)])
    except KubeError as e:
        found.problems.append(f"listing the controller pods: {_short(e)}")
        return found
    running = [p for p in replicas if (p.get("status") or {}).get("phase") == "Running"]
    if not running:
        found.problems.append(f"no running controller pod in {namespace}")
    for replica in running:
        name = replica["metadata"]["name"]
        path = KINDS["Pod"].path(f"https:{name}:{CONFIG_PORT}", namespace)  # the pod proxy, over TLS
        try:
            for ns in sorted(set(meshed_namespaces)):
                answer = client.get(f"{path}/proxy/v1/config/versions", query=[("namespace", ns)])
                if answer is None:
                    raise KubeError("the API server does not proxy to it (404)")
                for entry in answer.get("proxies") or ():
                    key = (str(entry.get("namespace")), str(entry.get("pod")))
                    found.versions[key] = max(found.versions.get(key, 0), int(entry.get("version") or 0))
            found.answered += 1
        except (KubeError, ValueError, TypeError, AttributeError) as e:
            found.problems.append(f"{name}: {_short(e)}")
    return found


def _admin_port(pod: dict[str, Any], sidecar_name: str) -> int:
    for container in (pod.get("spec") or {}).get("containers") or ():
        if container.get("name") == sidecar_name:
            for port in container.get("ports") or ():
                if port.get("name") == "smi-admin":
                    return int(port.get("containerPort") or DEFAULT_ADMIN_PORT)
    return DEFAULT_ADMIN_PORT


def sidecar_version(client: KubeClient, pod: dict[str, Any], sidecar_name: str) -> int:
    """The config version the sidecar runs (its ``/ready``); KubeError when it cannot be read."""
    meta = pod["metadata"]
    target = f"{meta['name']}:{_admin_port(pod, sidecar_name)}"
    answer = client.text(KINDS["Pod"].path(target, meta["namespace"]) + "/proxy/ready")
    match = _READY.search(answer)
    if match is None:
        raise KubeError(f"its /ready names no config version: {answer.strip()[:80]!r}")
    return int(match.group(1))


def verdict(
    client: KubeClient, versions: ControlPlaneVersions, pod: dict[str, Any], sidecar_name: str
) -> tuple[bool, str]:
    """(ok, detail) of a ready sidecar's version against the control plane's."""
    if not versions.answered:
        return True, f"ready (config version not compared: {'; '.join(versions.problems)})"
    try:
        running = sidecar_version(client, pod, sidecar_name)
    except KubeError as e:
        return True, f"ready (its config version could not be read: {_short(e)})"
    meta = pod["metadata"]
    expected = versions.versions.get((meta["namespace"], meta["name"]))
    if expected is None:
        if versions.problems:
            return True, f"ready, config version {running} (not compared: {'; '.join(versions.problems)})"
        return False, f"config version {running}, but no control plane replica streams config to it"
    if running != expected:
        return False, f"config version {running}, the control plane's is {expected}: it has not applied the latest"
    return True, f"config version {running}, the control plane's"
