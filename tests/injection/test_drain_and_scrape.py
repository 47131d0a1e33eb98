"""What injection adds for a graceful stop (preStop, drain flag, grace period) and for Prometheus."""

from __future__ import annotations

from typing import Any

from smi.injection import InjectionSettings, apply_patch, inject


def app_pod(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "annotations": {"team": "a"}},
            "spec": {"containers": [{"name": "web", "image": "web:1"}], **spec}}  # fmt: skip


def sidecar(pod: dict[str, Any]) -> dict[str, Any]:
    (found,) = [c for c in pod["spec"]["containers"] if c["name"] == "smi-proxy"]
    return found


def test_with_a_drain_grace_the_sidecar_drains_and_the_pod_waits_long_enough() -> None:
    settings = InjectionSettings(drain_grace=40, prestop_delay=3)
    pod = apply_patch(app_pod(), inject(app_pod(), settings=settings))
    proxy = sidecar(pod)
    assert proxy["args"][proxy["args"].index("--drain-grace") + 1] == "40"
    assert proxy["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "3"]
    assert pod["spec"]["terminationGracePeriodSeconds"] == 45  # preStop 3 + drain 40 + 2 (more than the default 30)
    short = InjectionSettings(drain_grace=10, prestop_delay=3)  # 15 fits in the default 30: left alone
    assert "terminationGracePeriodSeconds" not in apply_patch(app_pod(), inject(app_pod(), settings=short))["spec"]
    # a longer grace the pod already asks for is kept
    longer = app_pod(terminationGracePeriodSeconds=120)
    assert apply_patch(longer, inject(longer, settings=settings))["spec"]["terminationGracePeriodSeconds"] == 120


def test_without_a_drain_grace_the_stop_is_left_as_it_was() -> None:
    pod = apply_patch(app_pod(), inject(app_pod(), settings=InjectionSettings()))
    assert "--drain-grace" not in sidecar(pod)["args"] and "lifecycle" not in sidecar(pod)
    assert "terminationGracePeriodSeconds" not in pod["spec"]


def test_scrape_annotations_are_added_but_never_override_the_pods_own() -> None:
    pod = apply_patch(app_pod(), inject(app_pod(), settings=InjectionSettings()))
    notes = pod["metadata"]["annotations"]
    assert (notes["prometheus.io/scrape"], notes["prometheus.io/port"], notes["team"]) == ("true", "15000", "a")
    own = app_pod()
    own["metadata"]["annotations"]["prometheus.io/scrape"] = "false"
    notes = apply_patch(own, inject(own, settings=InjectionSettings()))["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "false" and "prometheus.io/port" not in notes
