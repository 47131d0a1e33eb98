"""The admission webhook over real HTTP (aiohttp test server on loopback) with real AdmissionReview bodies."""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from smi.injection import InjectionSettings, apply_patch
from smi.injection.webhook import INJECT_PATH, NotAReview, make_app, review_response

REVIEW = json.loads((Path(__file__).parent / "admission_review.json").read_text())
SETTINGS = InjectionSettings(image="smi-mesh:test")


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(make_app(settings=SETTINGS))) as test_client:
        yield test_client


async def post(client: TestClient[Any, Any], body: Any) -> dict[str, Any]:
    response = await client.post(INJECT_PATH, json=body)
    assert response.status == 200
    answer: dict[str, Any] = await response.json()
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    assert answer["response"]["uid"] == body["request"]["uid"]
    return answer["response"]


def review_with(**changes: Any) -> dict[str, Any]:
    review = copy.deepcopy(REVIEW)
    review["request"].update(changes)
    return review


async def test_a_replicaset_pod_is_admitted_with_a_jsonpatch_that_adds_the_sidecar(
    client: TestClient[Any, Any],
) -> None:
    response = await post(client, REVIEW)
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(response["patch"]))
    pod = apply_patch(REVIEW["request"]["object"], ops)
    assert [c["name"] for c in pod["spec"]["containers"]] == ["bookstore", "smi-proxy"]
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["smi-proxy-init"]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["kube-api-access-7x2kq", "smi-mesh-token"]
    assert pod["metadata"]["annotations"]["smi-mesh.io/inbound-port"] == "15003"


async def test_an_already_injected_pod_is_admitted_without_a_patch(client: TestClient[Any, Any]) -> None:
    first = await post(client, REVIEW)
    pod = apply_patch(REVIEW["request"]["object"], json.loads(base64.b64decode(first["patch"])))
    response = await post(client, review_with(object=pod))
    assert response == {"uid": REVIEW["request"]["uid"], "allowed": True}


async def test_other_kinds_and_operations_pass_untouched(client: TestClient[Any, Any]) -> None:
    service = review_with(kind={"group": "", "version": "v1", "kind": "Service"}, object={"spec": {}})
    assert await post(client, service) == {"uid": REVIEW["request"]["uid"], "allowed": True}
    assert (await post(client, review_with(operation="UPDATE"))).get("patch") is None


async def test_a_malformed_pod_is_allowed_unpatched_and_logged(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    pod = copy.deepcopy(REVIEW["request"]["object"])
    pod["spec"]["containers"] = "bookstore"
    with caplog.at_level(logging.WARNING, logger="smi.injection.webhook"):
        response = await post(client, review_with(object=pod))
    assert response == {"uid": REVIEW["request"]["uid"], "allowed": True}
    assert "Not injecting pod bookstore/bookstore-v1-5d8f7c9b6d-*: malformed: spec.containers: expected a list" in (
        caplog.text
    )


async def test_an_unreadable_exclusion_annotation_is_refused_with_a_clear_message(
    client: TestClient[Any, Any],
) -> None:
    pod = copy.deepcopy(REVIEW["request"]["object"])
    pod["metadata"]["annotations"] = {"smi-mesh.io/exclude-outbound-cidrs": "10.0.0.0/99"}
    response = await post(client, review_with(object=pod))
    assert response["allowed"] is False
    assert response["status"] == {
        "code": 400,
        "message": "Pod bookstore/bookstore-v1-5d8f7c9b6d-*: annotation smi-mesh.io/exclude-outbound-cidrs: "
        "'10.0.0.0/99' is not an IPv4 address or CIDR",
    }


async def test_a_body_that_is_not_an_admission_review_gets_http_400(client: TestClient[Any, Any]) -> None:
    for body in (b"{not json", b'{"kind": "Pod"}', b'{"kind": "AdmissionReview", "request": {}}'):
        response = await client.post(INJECT_PATH, data=body, headers={"Content-Type": "application/json"})
        assert response.status == 400
        assert "bad AdmissionReview" in (await response.json())["error"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
pod_like = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.dictionaries(st.sampled_from(["name", "annotations", "generateName"]), json_values),
        "spec": st.dictionaries(
            st.sampled_from(["containers", "initContainers", "volumes", "hostNetwork"]), json_values, max_size=4
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(pod=pod_like | json_values)
def test_no_pod_body_makes_the_webhook_fail_closed_or_crash(pod: Any) -> None:
    response = review_response(review_with(object=pod), settings=SETTINGS)["response"]
    assert response["allowed"] is True
    if "patch" in response:
        apply_patch(pod, json.loads(base64.b64decode(response["patch"])))


def test_review_response_rejects_what_is_not_a_review() -> None:
    with pytest.raises(NotAReview):
        review_response([], settings=SETTINGS)
