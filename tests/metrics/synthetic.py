"""A small synthetic mesh for the pure tests: a buyer calling a split web (75/25), web calling a db."""

from __future__ import annotations

from traffic_metrics.query import Query, WindowData
from traffic_metrics.samples import FAILURES, MTLS_RESPONSES, REQUESTS, RESPONSES, WIDTH
from traffic_metrics.topology import PodInfo, ServiceInfo, SplitInfo, Topology

TD = "spiffe://cluster.local"


def row(ok: int, failed: int = 0) -> list[float]:
    r = [0.0] * WIDTH
    r[RESPONSES] = r[REQUESTS] = ok + failed
    r[MTLS_RESPONSES] = ok + failed  # every synthetic edge is labelled tls="true"
    r[FAILURES] = failed
    return r


def edge(direction: str, src: tuple[str, str], dst: tuple[str, str], *, backend: str = "", service: str = "web",
         src_workload: str | None = None) -> tuple[str, ...]:  # fmt: skip
    return (direction, src[0], src[1] if src_workload is None else src_workload, f"{TD}/ns/{src[0]}/sa/{src[1]}",
            dst[0], service, dst[1], f"{TD}/ns/{dst[0]}/sa/{dst[1]}", "", backend, "true")  # fmt: skip


def synthetic_query() -> Query:
    topo = Topology(
        pods=[
            PodInfo("shop", "buyer-1", {"app": "buyer"}, "Deployment", "buyer", "buyer"),
            PodInfo("shop", "web-v1-1", {"app": "web"}, "Deployment", "web-v1", "web"),
            PodInfo("shop", "web-v2-1", {"app": "web"}, "Deployment", "web-v2", "web"),
            PodInfo("shop", "db-0", {"app": "db"}, "StatefulSet", "db", "db"),
        ],
        services=[ServiceInfo("shop", "web", {"app": "web"})],
        splits=[SplitInfo("shop", "web-split", "web", (("web-v1", 75), ("web-v2", 25)))],
    )
    data = WindowData(when=1_700_000_000, window=30)
    data.rows[("shop", "buyer-1")] = {
        edge("outbound", ("shop", "buyer"), ("shop", "web-v1"), backend="web-v1"): row(70, 5),
        edge("outbound", ("shop", "buyer"), ("shop", "web-v2"), backend="web-v2"): row(25),
    }
    # inbound: the caller named only by identity (source_workload empty), as the sidecar reports it
    data.rows[("shop", "web-v1-1")] = {
        edge("inbound", ("shop", "buyer"), ("shop", "web-v1"), src_workload=""): row(70, 5),
        edge("outbound", ("shop", "web"), ("shop", "db"), service="db"): row(10),
    }
    data.rows[("shop", "web-v2-1")] = {edge("inbound", ("shop", "buyer"), ("shop", "web-v2"), src_workload=""): row(25)}
    return Query(topo, data)
