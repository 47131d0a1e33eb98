"""The group interface (smi.compile.groups): what a group contributes reaches the proxies and statuses."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import pytest

from smi import model as m
from smi.compile import Compiler, Contribution, GroupKind, IndexCache, MeshIndex, MeshSettings, ObjectStatus
from smi.compile.groups import References
from smi.groups import MESH_GROUPS
from smi.proxyconfig import PROTOCOL_TCP, AllowRule
from smi.state import Store
from tests.compile.builders import pod, service

WEB_ID = "spiffe://cluster.local/ns/default/sa/web"
CLIENT_ID = "spiffe://cluster.local/ns/default/sa/client"
MARKER = m.ObjectKey("Policy", "default", "p")


class AllowAllToWeb:
    """A stand-in group (as the mesh's policy group would be): one rule and one status."""

    name = "test.smi-mesh.io"
    kinds: tuple[GroupKind, ...] = ()
    depends = frozenset({m.Service.KIND})

    def __init__(self) -> None:
        self.calls = 0

    def contribute(self, index: MeshIndex) -> Contribution:
        self.calls += 1
        rule = AllowRule(name="test/all", sources=(CLIENT_ID,), protocol=PROTOCOL_TCP, ports=(), matches=None)
        return Contribution(
            allow=MappingProxyType({WEB_ID: (rule,)}),
            reach=MappingProxyType({CLIENT_ID: frozenset({WEB_ID})}),
            statuses=MappingProxyType({MARKER: ObjectStatus(True, "Accepted", "Policy default/p: accepted.")}),
        )

    def statuses(
        self, index: MeshIndex, own: Contribution, referenced_by: References
    ) -> Mapping[m.ObjectKey, ObjectStatus]:
        return own.statuses


def objects() -> list[m.Resource]:
    return [
        pod("client", ip="10.0.0.1", sa="client"),
        pod("web-1", ip="10.0.1.1", sa="web", labels={"app": "web"}),
        service("web", selector={"app": "web"}),
    ]


def test_a_new_group_reaches_proxies_and_statuses_through_the_interface_alone() -> None:
    store = Store()
    for obj in objects():
        store.apply(obj)
    group = AllowAllToWeb()
    compiler = Compiler(MeshSettings(), (*MESH_GROUPS, group))
    web = compiler.compile_proxy(store.snapshot(), namespace="default", pod="web-1")
    client = compiler.compile_proxy(store.snapshot(), namespace="default", pod="client")
    assert web is not None and client is not None
    assert [r.name for r in web.inbound.rules] == ["test/all"]
    assert [s.name for s in client.outbound.services] == ["web"]  # reach: the client may call web now
    assert compiler.statuses(store.snapshot())[MARKER].accepted
    without = Compiler(MeshSettings(), MESH_GROUPS).compile_proxy(store.snapshot(), namespace="default", pod="client")
    assert without is not None and without.outbound.services == ()  # deny by default without the group

    # incremental: a change outside the group's ``depends`` keeps its contribution
    calls = group.calls
    store.apply(pod("client-2", ip="10.0.0.2", sa="client"))
    assert compiler.compile_proxy(store.snapshot(), namespace="default", pod="web-1") is not None
    assert group.calls == calls
    store.apply(service("web-2", selector={"app": "web"}))
    assert compiler.compile_proxy(store.snapshot(), namespace="default", pod="web-1") is not None
    assert group.calls == calls + 1


def test_each_group_needs_its_own_name() -> None:
    with pytest.raises(ValueError, match="every group needs its own name"):
        Compiler(MeshSettings(), (AllowAllToWeb(), AllowAllToWeb()), cache=IndexCache())
