"""Compile benchmark: a synthetic mesh of 1,000 services, 5,000 pods and 2,000 SMI objects.

Measures (no test, just figures): the full compile of one snapshot, i.e. indexing, the
statuses of every SMI object and the configs of a representative set of proxies; the
per-proxy cost; and the extrapolated cost of compiling all 5,000 proxies.  Prints the
figures and writes them to ``bench/results/compile.json``.

    python bench/compile_bench.py [--sample 200] [--repeat 5]

Mesh shape: 20 namespaces x 50 services; each service has 5 pods with their own
ServiceAccount per service; 500 TrafficSplits (root + 2 backends drawn from the
namespace's services), 500 HTTPRouteGroups, 500 TCPRoutes and 500 TrafficTargets (each
lets 3 client services' identities call one service over its HTTPRouteGroup and TCPRoute).
Deny-by-default, so each proxy gets only the services it may reach (permissive mode is
measured too).  The "extrapolated" figure is an upper bound (sample per-proxy cost, where
nearly every sampled proxy is a new identity, times 5,000); "measured" compiles all 5,000,
which share per-identity work (outbound and inbound rules are built once per identity).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

from smi import model as m
from smi.compile import Compiler, MeshSettings
from smi.groups import MESH_GROUPS
from smi.proxyconfig import encode
from smi.state import Snapshot

NAMESPACES, SERVICES_PER_NS, PODS_PER_SERVICE = 20, 50, 5
SPLITS = GROUPS = TCP_ROUTES = TARGETS = 500


def build_mesh(seed: int = 1) -> Snapshot:
    rnd = random.Random(seed)
    objs: list[m.Resource] = []
    ip = 0
    for n in range(NAMESPACES):
        ns = f"ns-{n:02d}"
        objs.append(m.Namespace(meta=m.ObjectMeta(name=ns)))
        for s in range(SERVICES_PER_NS):
            svc = f"svc-{s:02d}"
            objs.append(m.ServiceAccount(meta=m.ObjectMeta(name=svc, namespace=ns)))
            objs.append(
                m.Service(
                    meta=m.ObjectMeta(name=svc, namespace=ns),
                    ports=(m.ServicePort(port=80, name="http", target_port=8080),),
                    selector={"app": svc},
                    cluster_ip=f"10.96.{n}.{s}",
                )
            )
            objs.append(m.Deployment(meta=m.ObjectMeta(name=svc, namespace=ns), selector={"app": svc}))
            for p in range(PODS_PER_SERVICE):
                ip += 1
                objs.append(
                    m.Pod(
                        meta=m.ObjectMeta(
                            name=f"{svc}-{p}",
                            namespace=ns,
                            labels={"app": svc, "pod-template-hash": "abc"},
                            annotations={"smi-mesh.io/inbound-port": "15003"},
                        ),
                        spec=m.PodSpec(
                            service_account=svc,
                            containers=(m.Container(name="app", ports=(m.ContainerPort(8080, "http"),)),),
                        ),
                        pod_ip=f"10.{ip >> 16}.{(ip >> 8) & 255}.{ip & 255}",
                        phase="Running",
                        ready=True,
                    )
                )
    per_ns = SPLITS // NAMESPACES
    for n in range(NAMESPACES):
        ns = f"ns-{n:02d}"
        for k in range(per_ns):
            root, b1, b2 = rnd.sample(range(SERVICES_PER_NS), 3)
            objs.append(
                m.TrafficSplit(
                    meta=m.ObjectMeta(name=f"split-{k}", namespace=ns),
                    service=f"svc-{root:02d}",
                    backends=(
                        m.SplitBackend(f"svc-{b1:02d}", Decimal(rnd.randint(0, 100))),
                        m.SplitBackend(f"svc-{b2:02d}", Decimal(rnd.randint(1, 100))),
                    ),
                )
            )
            objs.append(
                m.HTTPRouteGroup(
                    meta=m.ObjectMeta(name=f"routes-{k}", namespace=ns),
                    matches=(
                        m.HTTPMatch("read", path_regex="/api/.*", methods=("GET",)),
                        m.HTTPMatch("write", path_regex="/api/.*", methods=("POST",), headers=(("x-a", ".*"),)),
                    ),
                )
            )
            objs.append(m.TCPRoute(meta=m.ObjectMeta(name=f"tcp-{k}", namespace=ns), ports=(8080,)))
            dest = rnd.randrange(SERVICES_PER_NS)
            sources = rnd.sample([i for i in range(SERVICES_PER_NS) if i != dest], 3)
            objs.append(
                m.TrafficTarget(
                    meta=m.ObjectMeta(name=f"target-{k}", namespace=ns),
                    destination=m.IdentityRef("ServiceAccount", f"svc-{dest:02d}", ns),
                    sources=tuple(m.IdentityRef("ServiceAccount", f"svc-{i:02d}", ns) for i in sources),
                    rules=(m.RuleRef("HTTPRouteGroup", f"routes-{k}"), m.RuleRef("TCPRoute", f"tcp-{k}")),
                )
            )
    buckets: dict[str, dict[tuple[str, str], m.Resource]] = {}
    for obj in objs:
        key = m.key_of(obj)
        buckets.setdefault(key.kind, {})[(key.namespace, key.name)] = obj
    return Snapshot(version=1, objects=MappingProxyType({k: MappingProxyType(v) for k, v in buckets.items()}))


def counts(snapshot: Snapshot) -> dict[str, int]:
    return {kind: len(bucket) for kind, bucket in sorted(snapshot.objects.items())}


def run(snapshot: Snapshot, pods: list[tuple[str, str]], settings: MeshSettings) -> dict[str, float]:
    compiler = Compiler(settings, MESH_GROUPS)
    t0 = time.perf_counter()
    statuses = compiler.statuses(snapshot)
    t1 = time.perf_counter()
    for ns, pod in pods:
        assert compiler.compile_proxy(snapshot, namespace=ns, pod=pod) is not None
    t2 = time.perf_counter()
    assert len(statuses) == SPLITS + GROUPS + TCP_ROUTES + TARGETS
    return {"statuses_s": t1 - t0, "proxies_s": t2 - t1, "total_s": t2 - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=200, help="proxies compiled per run (representative set)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "compile.json")
    args = parser.parse_args()

    t0 = time.perf_counter()
    snapshot = build_mesh()
    built = time.perf_counter() - t0
    all_pods = sorted(snapshot.objects["Pod"])
    rnd = random.Random(7)
    sample = rnd.sample(all_pods, args.sample)
    results: dict[str, object] = {}
    for mode, settings in (("deny", MeshSettings()), ("permissive", MeshSettings(permissive=True))):
        runs = [run(snapshot, sample, settings) for _ in range(args.repeat)]
        full_all = run(snapshot, all_pods, settings)
        per_proxy = statistics.median(r["proxies_s"] for r in runs) / len(sample)
        cfg = Compiler(settings, MESH_GROUPS).compile_proxy(snapshot, namespace=sample[0][0], pod=sample[0][1])
        assert cfg is not None
        results[mode] = {
            "full_compile_s_median": statistics.median(r["total_s"] for r in runs),
            "full_compile_s_max": max(r["total_s"] for r in runs),
            "index_and_statuses_s_median": statistics.median(r["statuses_s"] for r in runs),
            "sample_proxies": len(sample),
            "per_proxy_ms": per_proxy * 1000,
            "extrapolated_all_proxies_s": statistics.median(r["statuses_s"] for r in runs) + per_proxy * len(all_pods),
            "measured_all_proxies_s": full_all["total_s"],
            "example_config_services": len(cfg.outbound.services),
            "example_config_json_bytes": len(json.dumps(encode(cfg), separators=(",", ":"))),
        }
    figures = {
        "benchmark": "compile",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "mesh": {"objects": counts(snapshot), "build_s": built},
        "target_full_compile_s": 1.0,
        **results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"mesh: {counts(snapshot)}")
    for mode in ("deny", "permissive"):
        r = results[mode]
        assert isinstance(r, dict)
        n_smi = SPLITS + GROUPS + TCP_ROUTES + TARGETS
        print(
            f"{mode:>10}: full compile (index + {n_smi} statuses + {r['sample_proxies']} proxies) "
            f"median {r['full_compile_s_median'] * 1000:.0f} ms (max {r['full_compile_s_max'] * 1000:.0f} ms); "
            f"index+statuses {r['index_and_statuses_s_median'] * 1000:.0f} ms; per proxy {r['per_proxy_ms']:.3f} ms; "
            f"all 5,000 proxies: extrapolated {r['extrapolated_all_proxies_s'] * 1000:.0f} ms, "
            f"measured {r['measured_all_proxies_s'] * 1000:.0f} ms; example config {r['example_config_services']} "
            f"services, {r['example_config_json_bytes']} bytes JSON"
        )
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
