"""Manifests as real clients write them (Flagger, Argo Rollouts) are read as they mean them (issue 16)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from smi.model import TrafficSplit
from smi.model.conversion import convert
from smi.model.parsing import parse
from smi.schemas import split as split_schema


def flagger_split(version: str) -> dict[str, Any]:
    return {
        "apiVersion": f"split.smi-spec.io/{version}",
        "kind": "TrafficSplit",
        "metadata": {
            "name": "podinfo",
            "namespace": "test",
            "ownerReferences": [
                {
                    "apiVersion": "flagger.app/v1beta1",
                    "kind": "Canary",
                    "name": "podinfo",
                    "uid": "1234",
                    "controller": True,
                    "blockOwnerDeletion": True,
                },
            ],
        },
        "spec": {
            "service": "podinfo.test.svc.cluster.local",
            "backends": [{"service": "podinfo-primary", "weight": 100}, {"service": "podinfo-canary"}],
        },
    }


@pytest.mark.parametrize("version", split_schema.VERSIONS)
def test_an_omitted_weight_is_read_as_zero_in_every_version(version: str) -> None:
    obj = parse(flagger_split(version), source="flagger.yaml")
    assert isinstance(obj, TrafficSplit)
    assert [(b.service, b.weight) for b in obj.backends] == [("podinfo-primary", 100), ("podinfo-canary", Decimal(0))]


@pytest.mark.parametrize("version", split_schema.VERSIONS)
def test_a_root_written_as_its_in_cluster_name_is_valid_and_kept_as_written(version: str) -> None:
    obj = parse(flagger_split(version), source="flagger.yaml")
    assert isinstance(obj, TrafficSplit)
    assert obj.service == "podinfo.test.svc.cluster.local"


def test_a_bad_root_name_is_still_refused() -> None:
    raw = flagger_split("v1alpha4")
    raw["spec"]["service"] = "Podinfo_Test"
    with pytest.raises(Exception, match=r"spec.service: service name must be a DNS-1123 label"):
        parse(raw, source="bad.yaml")


def test_convert_keeps_owner_references_and_other_metadata() -> None:
    raw = flagger_split("v1alpha2")
    raw["metadata"]["finalizers"] = ["example.com/keep"]
    out = convert(raw, to="split.smi-spec.io/v1alpha4").raw
    assert out["metadata"]["ownerReferences"] == raw["metadata"]["ownerReferences"]
    assert out["metadata"]["finalizers"] == ["example.com/keep"]
    assert out["spec"]["backends"] == [
        {"service": "podinfo-primary", "weight": 100},
        {"service": "podinfo-canary", "weight": 0},
    ]
