"""Small hub-object builders for unit tests (goldens use YAML manifests instead)."""

from __future__ import annotations

from decimal import Decimal

from smi import model as m

MESHED = {"smi-mesh.io/inbound-port": "15003"}


def meta(name: str, ns: str = "default", **kw: object) -> m.ObjectMeta:
    return m.ObjectMeta(name=name, namespace=ns, **kw)  # type: ignore[arg-type]


def pod(
    name: str,
    *,
    ip: str | None,
    sa: str = "default",
    ns: str = "default",
    labels: dict[str, str] | None = None,
    ports: tuple[m.ContainerPort, ...] = (),
    ready: bool = True,
    phase: str = "Running",
    meshed: bool = True,
) -> m.Pod:
    return m.Pod(
        meta=m.ObjectMeta(name=name, namespace=ns, labels=labels or {}, annotations=MESHED if meshed else {}),
        spec=m.PodSpec(service_account=sa, containers=(m.Container(name="app", ports=ports),)),
        pod_ip=ip,
        phase=phase,
        ready=ready,
    )


def service(
    name: str,
    *,
    selector: dict[str, str] | None,
    ports: tuple[m.ServicePort, ...] = (m.ServicePort(port=80, name="http", target_port=8080),),
    ns: str = "default",
) -> m.Service:
    return m.Service(meta=meta(name, ns), ports=ports, selector=selector)


def split(name: str, root: str, *backends: tuple[str, int | str], ns: str = "default") -> m.TrafficSplit:
    return m.TrafficSplit(
        meta=meta(name, ns),
        service=root,
        backends=tuple(m.SplitBackend(s, Decimal(w)) for s, w in backends),
    )


def sa_ref(name: str, ns: str | None = "default") -> m.IdentityRef:
    return m.IdentityRef("ServiceAccount", name, ns)


def target(
    name: str, dest: str, sources: tuple[str, ...], rules: tuple[m.RuleRef, ...], ns: str = "default"
) -> m.TrafficTarget:
    return m.TrafficTarget(
        meta=meta(name, ns), destination=sa_ref(dest, ns), sources=tuple(sa_ref(s, ns) for s in sources), rules=rules
    )


def tcp_all(name: str = "all-tcp", ns: str = "default") -> m.TCPRoute:
    return m.TCPRoute(meta=meta(name, ns))
