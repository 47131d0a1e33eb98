"""The compile is pure: same inputs, same output; the index cache never mixes snapshots."""

from __future__ import annotations

from smi import model as m
from smi.compile import IndexCache, MeshSettings
from smi.state import Store
from tests.compile.builders import pod, service, split
from tests.compile.compiling import compile_proxy
from tests.compile.manifests import snapshot_of


def objects(weight: int) -> list[m.Resource]:
    return [
        pod("client", ip="10.0.0.1", sa="client"),
        pod("web-1", ip="10.0.1.1", sa="web", labels={"app": "web"}),
        service("web", selector={"app": "web"}),
        service("web-v1", selector={"app": "web"}),
        split("s", "web", ("web", 1), ("web-v1", weight)),
    ]


def weights(snapshot_objects: list[m.Resource], cache: IndexCache) -> list[int]:
    cfg = compile_proxy(
        snapshot_of(snapshot_objects, version=5),
        namespace="default",
        pod="client",
        settings=MeshSettings(permissive=True),
        cache=cache,
    )
    assert cfg is not None
    (web,) = [s for s in cfg.outbound.services if s.name == "web"]
    return [b.weight for b in web.ports[0].splits[0].backends]


def test_two_snapshots_with_the_same_version_do_not_share_an_index() -> None:
    cache = IndexCache()
    assert weights(objects(1), cache) == [1, 1]
    assert weights(objects(3), cache) == [1, 3]


def test_same_inputs_give_equal_configs_with_or_without_cache() -> None:
    store = Store()
    for obj in objects(2):
        store.apply(obj)
    snap = store.snapshot()
    settings = MeshSettings(permissive=True)
    shared = IndexCache()
    first = compile_proxy(snap, namespace="default", pod="client", settings=settings, cache=shared)
    again = compile_proxy(snap, namespace="default", pod="client", settings=settings, cache=shared)
    fresh = compile_proxy(snap, namespace="default", pod="client", settings=settings, cache=IndexCache())
    assert first == again == fresh
    assert first is not None and again is not None
    assert first.outbound is again.outbound  # shared per identity within a snapshot


def test_settings_are_part_of_the_cache_key() -> None:
    snap = snapshot_of(objects(1))
    cache = IndexCache()
    deny = compile_proxy(snap, namespace="default", pod="client", settings=MeshSettings(), cache=cache)
    allow = compile_proxy(snap, namespace="default", pod="client", settings=MeshSettings(permissive=True), cache=cache)
    assert deny is not None and allow is not None
    assert deny.outbound.services == ()
    assert [s.name for s in allow.outbound.services] == ["web", "web-v1"]


def test_store_change_is_seen_by_the_next_compile() -> None:
    store = Store()
    for obj in objects(1):
        store.apply(obj)
    settings = MeshSettings(permissive=True)
    before = compile_proxy(store.snapshot(), namespace="default", pod="client", settings=settings)
    store.apply(split("s", "web", ("web", 1), ("web-v1", 0)))
    after = compile_proxy(store.snapshot(), namespace="default", pod="client", settings=settings)
    assert before is not None and after is not None
    assert [b.weight for b in after.outbound.services[0].ports[0].splits[0].backends] == [1, 0]
    assert before != after
