"""The monitoring level a proxy's config carries: from the annotation on its pod, workload or namespace."""

from __future__ import annotations

import logging

import pytest

from smi import model as m
from smi.compile import MeshSettings
from smi.compile.monitoring import MONITORING_ANNOTATION, monitoring_problems
from smi.proxyconfig import decode, encode
from smi.proxyconfig.types import ProxyConfig
from tests.compile.builders import MESHED
from tests.compile.compiling import compiler
from tests.compile.manifests import snapshot_of


def objects(*, ns: str | None = None, deploy: str | None = None, pod: str | None = None) -> list[m.Resource]:
    def ann(value: str | None) -> dict[str, str]:
        return {MONITORING_ANNOTATION: value} if value is not None else {}

    return [
        m.Namespace(meta=m.ObjectMeta(name="shop", annotations=ann(ns))),
        m.Deployment(
            meta=m.ObjectMeta(name="web", namespace="shop", annotations=ann(deploy)),
            selector={"app": "web"},
            template_labels={"app": "web"},
        ),
        m.Pod(
            meta=m.ObjectMeta(
                name="web-1", namespace="shop", labels={"app": "web"}, annotations={**MESHED, **ann(pod)}
            ),
            pod_ip="10.0.0.5",
            phase="Running",
            ready=True,
        ),
    ]


def level(**annotations: str | None) -> str:
    config = compiler().compile_proxy(snapshot_of(objects(**annotations)), namespace="shop", pod="web-1")
    assert config is not None
    return config.monitoring


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, "routes"),
        ({"ns": "off"}, "off"),
        ({"ns": "off", "deploy": "golden"}, "golden"),
        ({"ns": "golden", "deploy": "routes"}, "routes"),
        ({"ns": "off", "deploy": "golden", "pod": "routes"}, "routes"),
        ({"deploy": " off "}, "off"),
    ],
)
def test_the_most_specific_annotation_decides(annotations: dict[str, str], expected: str) -> None:
    assert level(**annotations) == expected


def test_an_invalid_value_warns_naming_object_field_and_value_and_gets_the_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    snapshot = snapshot_of(objects(ns="off", deploy="verbose"))
    compile_ = compiler()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            config = compile_.compile_proxy(snapshot, namespace="shop", pod="web-1")
            assert config is not None and config.monitoring == "routes"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "Deployment shop/web: metadata.annotations[smi-mesh.io/monitoring]: must be one of off, golden, routes,"
        " got 'verbose'; the default 'routes' applies"
    ]  # once, however often the proxy is compiled
    assert list(monitoring_problems(compile_.index(snapshot))) == [warnings[0]]


def test_the_level_travels_in_the_config_stream_and_the_default_is_not_written() -> None:
    config = compiler().compile_proxy(snapshot_of(objects(ns="golden")), namespace="shop", pod="web-1")
    assert config is not None
    wire = encode(config)
    assert wire["monitoring"] == "golden"
    assert decode(ProxyConfig, wire) == config
    default = compiler(MeshSettings()).compile_proxy(snapshot_of(objects()), namespace="shop", pod="web-1")
    assert "monitoring" not in encode(default)  # configs (and goldens) without a level are unchanged
