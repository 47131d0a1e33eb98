"""The incremental compile (an index built from the previous one) gives exactly what a fresh compile gives.

Every golden case is loaded into a real ``Store``; then each of its objects in turn is
deleted and put back.  After every change the configs of every pod of the case and every
object status are compiled twice: with one long-lived cache (incremental: what did not
change is taken over from the previous index) and from scratch.  They must be equal.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from smi import model as m
from smi.compile import IndexCache, MeshSettings
from smi.model import key_of
from smi.state import Store
from tests.compile import builders as b
from tests.compile.compiling import compile_proxy, object_statuses
from tests.compile.manifests import load_file

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "input.yaml").is_file())


def assert_same_as_fresh(store: Store, settings: MeshSettings, cache: IndexCache, *, after: str) -> None:
    snapshot = store.snapshot()
    fresh = IndexCache(incremental=False)
    pods = [(p.meta.namespace, p.meta.name) for p in snapshot.all(m.Pod)]
    for ns, pod in pods:
        incremental = compile_proxy(snapshot, namespace=ns, pod=pod, settings=settings, cache=cache)
        scratch = compile_proxy(snapshot, namespace=ns, pod=pod, settings=settings, cache=fresh)
        assert incremental == scratch, f"config of {ns}/{pod} differs after {after}"
    statuses = object_statuses(snapshot, settings=settings, cache=cache)
    assert statuses == object_statuses(snapshot, settings=settings, cache=fresh), f"statuses differ after {after}"


@pytest.mark.parametrize("case", CASES)
def test_deleting_and_restoring_each_object_compiles_as_from_scratch(case: str) -> None:
    spec = yaml.safe_load((GOLDEN / case / "proxies.yaml").read_text()) or {}
    settings = MeshSettings(**(spec.get("settings") or {}))
    objects = load_file(GOLDEN / case / "input.yaml")
    store = Store()
    for obj in objects:
        store.apply(obj)
    cache = IndexCache()
    assert_same_as_fresh(store, settings, cache, after="loading")
    for obj in objects:
        store.delete(key_of(obj))
        assert_same_as_fresh(store, settings, cache, after=f"deleting {key_of(obj)}")
        store.apply(obj)
        assert_same_as_fresh(store, settings, cache, after=f"restoring {key_of(obj)}")


def test_a_weight_change_reaches_the_caller_and_leaves_unrelated_configs_identical() -> None:
    store = Store()
    web = b.pod("web-1", ip="10.0.0.1", sa="web", labels={"app": "web"})
    api_v1 = b.pod("api-v1-1", ip="10.0.0.2", sa="api", labels={"app": "api", "v": "1"})
    api_v2 = b.pod("api-v2-1", ip="10.0.0.3", sa="api", labels={"app": "api", "v": "2"})
    other = b.pod("other-1", ip="10.0.0.4", sa="other", labels={"app": "other"})
    for obj in (
        web,
        api_v1,
        api_v2,
        other,
        b.service("api", selector={"app": "api"}),
        b.service("api-v1", selector={"app": "api", "v": "1"}),
        b.service("api-v2", selector={"app": "api", "v": "2"}),
        b.service("other", selector={"app": "other"}),
        b.tcp_all(),
        b.target("web-to-api", "api", ("web",), (m.RuleRef("TCPRoute", "all-tcp"),)),
        b.split("api-split", "api", ("api-v1", 1), ("api-v2", 1)),
    ):
        store.apply(obj)
    settings, cache = MeshSettings(), IndexCache()

    def compile_all() -> dict[str, m.Resource | object]:
        snapshot = store.snapshot()
        return {
            p: compile_proxy(snapshot, namespace="default", pod=p, settings=settings, cache=cache)
            for p in ("web-1", "api-v1-1", "other-1")
        }

    before = compile_all()
    split = store.snapshot().get(m.TrafficSplit, "default", "api-split")
    assert split is not None
    heavier = dataclasses.replace(split, backends=(split.backends[0], m.SplitBackend("api-v2", Decimal(3))))
    store.apply(heavier)
    after = compile_all()

    def weights(config: object) -> list[int]:
        services = config.outbound.services  # type: ignore[attr-defined]
        api = next(s for s in services if s.name == "api")
        return [w.weight for w in api.ports[0].splits[0].backends]

    assert weights(before["web-1"]) == [1, 1]
    assert weights(after["web-1"]) == [1, 3]
    # a proxy the split does not concern gets back the very same parts (so nothing is re-sent)
    assert after["other-1"] == before["other-1"]
    assert after["other-1"].inbound is before["other-1"].inbound  # type: ignore[union-attr]
    assert after["api-v1-1"].inbound is before["api-v1-1"].inbound  # type: ignore[union-attr]
    assert after["web-1"].outbound.clusters == before["web-1"].outbound.clusters  # type: ignore[union-attr]
