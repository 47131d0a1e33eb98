"""Which versions the controller watches, and that one object seen twice is one store change."""

from __future__ import annotations

from typing import Any

import pytest

from smi.compile import Compiler, MeshSettings
from smi.controllers import ControllerSettings
from smi.controllers.kinds import ALL, Watched
from smi.crds import build_crds
from smi.groups import MESH_GROUPS
from smi.kubefeed.feeding import Feed
from smi.state import Store
from tests.controllers.objects import split


def storage_versions() -> dict[str, str]:
    return {
        crd["spec"]["names"]["kind"]: next(v["name"] for v in crd["spec"]["versions"] if v["storage"])
        for crd in build_crds()
        if crd["spec"]["group"].endswith("smi-spec.io")
    }


def test_each_smi_kind_is_watched_once_at_its_crds_storage_version() -> None:
    smi = [w for w in ALL if w.group.endswith("smi-spec.io")]
    assert sorted(w.kind for w in smi) == sorted(storage_versions())
    assert {w.kind: w.version for w in smi} == storage_versions()


def test_the_watched_version_is_a_setting_checked_against_what_is_served() -> None:
    compiler = Compiler(MeshSettings(), MESH_GROUPS)
    watched = ControllerSettings(smi_versions={"TrafficSplit": "v1alpha2"}).smi_kinds(compiler)
    assert [w.api_version for w in watched if w.kind == "TrafficSplit"] == ["split.smi-spec.io/v1alpha2"]
    assert {w.kind: w.version for w in watched}["TrafficTarget"] == "v1alpha3"  # the others keep the default
    with pytest.raises(ValueError, match=r"TrafficTarget: version 'v1alpha4' is not served \(served: v1alpha1, "):
        ControllerSettings(smi_versions={"TrafficTarget": "v1alpha4"}).smi_kinds(compiler)


def test_the_same_object_seen_through_another_version_does_not_change_the_store() -> None:
    store = Store()
    v4 = Watched("split.smi-spec.io", "v1alpha4", "trafficsplits", "TrafficSplit")
    v3 = Watched("split.smi-spec.io", "v1alpha3", "trafficsplits", "TrafficSplit")
    feed = Feed(store=store, kinds=(v4, v3))
    body: dict[str, Any] = split("api-split", weights={"api-v1": 3, "api-v2": 1})
    assert feed.accept(body, where=v4) is None
    version = store.version

    as_v3 = dict(body, apiVersion="split.smi-spec.io/v1alpha3")
    assert feed.accept(as_v3, where=v3) is None
    assert store.version == version  # nothing changed, so nothing is recompiled or pushed

    changed = split("api-split", weights={"api-v1": 1, "api-v2": 1})
    changed["apiVersion"] = "split.smi-spec.io/v1alpha3"
    feed.accept(changed, where=v3)
    assert store.version == version + 1
