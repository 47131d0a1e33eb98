"""The drills of issue 13, each a real ``smi up`` mesh under load, every request counted.

Shared by the drill tests (``tests/drills``: they assert what a user would notice) and
``bench/drills.py`` (prints, per drill, requests sent, failed and the recovered time).

The mesh: a ``buyer`` pod whose sidecar the load goes through (its outbound listener, the
HTTP proxy its app would use), and the bookstore behind the ``store`` service, with a
TrafficTarget letting ``buyer`` in (strict mTLS, deny by default).  Every drill starts the
load, makes its change, waits (bounded) until the change has visibly taken effect in the
answers and the mesh is settled again, then stops the load.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smi.runtime.addresses import OUTBOUND_PORT
from tests.drills.load import DrillResult, Load
from tests.runtime import manifests as m
from tests.runtime.harness import Mesh, wait_for

URL = "http://store.shop:8080/books"

BUYER = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: buyer, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: buyer}}
  template:
    metadata: {labels: {app: buyer}}
    spec:
      serviceAccountName: buyer
      containers:
        - name: app
          command: [sleep, "3600"]
"""


def store_services() -> str:
    return "---\n".join(
        [
            m.service("store", "{app: store}"),
            m.service("store-v1", "{app: store, version: v1}"),
            m.service("store-v2", "{app: store, version: v2}"),
        ]
    )


def write_mesh(
    folder: Path, *, v1_replicas: int = 1, with_v2: bool = False, split: tuple[int, int] | None = None
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.yaml").write_text("---\n".join([m.NAMESPACE, m.ACCESS, store_services(), BUYER]))
    (folder / "store-v1.yaml").write_text(m.store("v1", replicas=v1_replicas))
    if with_v2:
        (folder / "store-v2.yaml").write_text(m.store("v2"))
    if split is not None:
        (folder / "split.yaml").write_text(m.split(*split))


@contextmanager
def mesh_in(work: Path, folder: Path, *extra: str) -> Iterator[Mesh]:
    mesh = Mesh(manifests=folder, work=work, extra_args=extra)
    try:
        yield mesh
    finally:
        mesh.close()


def buyer_proxy(mesh: Mesh) -> tuple[str, int]:
    pod = mesh.wait_ready(["buyer"])
    ip = next(p["ip"] for p in pod["pods"] if p["deployment"] == "buyer")
    return ip, OUTBOUND_PORT


def ready_pods(mesh: Mesh, deployment: str) -> list[dict[str, Any]]:
    return [p for p in mesh.pods(deployment) if p["ready"]]


def _answers_settle(load: Load, want: Callable[[dict[str, int]], bool], *, within: float, what: str) -> None:
    """Wait until the answers of one polling interval satisfy ``want`` (counts by body, e.g. "bookstore v2")."""
    before = load.recent()
    last = [before]

    def settled() -> bool:
        now = load.recent()
        delta = {k: now[k] - last[0].get(k, 0) for k in now}
        if sum(delta.values()) < 50:
            return False  # keep accumulating this interval
        last[0] = now
        return want(delta)

    try:
        wait_for(what, settled, within=within, every=0.2)
    except AssertionError as exc:
        now = load.recent()
        raise AssertionError(
            f"{exc}; answers since: { {k: now[k] - before.get(k, 0) for k in now} }, "
            f"failures: {load.tally.failed} {load.tally.failures[:3]}"
        ) from None


def _started(mesh: Mesh, load: Load) -> None:
    wait_for("the load answered", lambda: load.answered("bookstore") >= 20, within=60)


def weight_edit(work: Path, *, workers: int = 4, cycles: int = 3) -> DrillResult:
    """TrafficSplit weights 100/0 -> 0/100 -> 50/50 -> 100/0, ``cycles`` times, under load."""
    folder = work / "manifests"
    write_mesh(folder, with_v2=True, split=(100, 0))
    with mesh_in(work, folder) as mesh:
        mesh.wait_ready(["buyer", "store-v1", "store-v2"])
        with Load(proxy=buyer_proxy(mesh), url=URL, workers=workers) as load:
            _started(mesh, load)
            for w1, w2 in ((0, 100), (50, 50), (100, 0)) * cycles:
                (folder / "split.yaml").write_text(m.split(w1, w2))

                def shifted(delta: dict[str, int], w1: int = w1, w2: int = w2) -> bool:
                    v1, v2 = delta.get("bookstore v1", 0), delta.get("bookstore v2", 0)
                    if w1 == 0:
                        return v2 >= 50 and v1 == 0
                    if w2 == 0:
                        return v1 >= 50 and v2 == 0
                    return v1 >= 20 and v2 >= 20

                _answers_settle(load, shifted, within=60, what=f"traffic at {w1}/{w2}")
            return load.result("weight-edit")


def rolling_update(work: Path, *, workers: int = 4) -> DrillResult:
    """store-v1's pod template changes (an env value): its pods are replaced under load."""
    folder = work / "manifests"
    write_mesh(folder, v1_replicas=2)
    with mesh_in(work, folder) as mesh:
        mesh.wait_ready(["buyer", "store-v1"])
        old = {p["name"] for p in mesh.pods("store-v1")}
        with Load(proxy=buyer_proxy(mesh), url=URL, workers=workers) as load:
            _started(mesh, load)
            (folder / "store-v1.yaml").write_text(m.store("v1", replicas=2).replace("value: v1}", "value: v1b}"))
            _answers_settle(
                load, lambda d: d.get("bookstore v1b", 0) >= 50 and d.get("bookstore v1", 0) == 0,
                within=90, what="only the new pods answering",
            )  # fmt: skip
            wait_for("the old pods gone", lambda: not old & {p["name"] for p in mesh.pods("store-v1")}, within=60)
            return load.result("rolling-update")


def pod_stop(work: Path, *, workers: int = 4) -> DrillResult:
    """store-v1 scaled from 2 to 1 under load: one pod stops."""
    folder = work / "manifests"
    write_mesh(folder, v1_replicas=2)
    with mesh_in(work, folder) as mesh:
        mesh.wait_ready(["buyer", "store-v1"])
        wait_for("two store pods ready", lambda: len(ready_pods(mesh, "store-v1")) == 2, within=60)
        with Load(proxy=buyer_proxy(mesh), url=URL, workers=workers) as load:
            _started(mesh, load)
            (folder / "store-v1.yaml").write_text(m.store("v1", replicas=1))
            wait_for("one store pod left", lambda: len(mesh.pods("store-v1")) == 1, within=60)
            _answers_settle(load, lambda d: d.get("bookstore v1", 0) >= 50, within=60, what="answers after the stop")
            return load.result("pod-stop")


def sidecar_restart_with_second_replica(work: Path, *, workers: int = 4) -> DrillResult:
    """One of two store replicas loses its sidecar (SIGKILL); the runtime restarts it."""
    folder = work / "manifests"
    write_mesh(folder, v1_replicas=2)
    with mesh_in(work, folder) as mesh:
        mesh.wait_ready(["buyer", "store-v1"])
        wait_for("two store pods ready", lambda: len(ready_pods(mesh, "store-v1")) == 2, within=60)
        victim = mesh.pods("store-v1")[0]
        sidecar = next(p for p in victim["processes"] if p["name"].endswith("/sidecar"))
        with Load(proxy=buyer_proxy(mesh), url=URL, workers=workers) as load:
            _started(mesh, load)
            os.kill(sidecar["pid"], signal.SIGKILL)

            def restarted_and_ready() -> bool:
                pod = next((p for p in mesh.pods("store-v1") if p["name"] == victim["name"]), None)
                if pod is None or not pod["ready"]:
                    return False
                now = next(p for p in pod["processes"] if p["name"].endswith("/sidecar"))
                return bool(now["restarts"] >= 1 and now["pid"])

            wait_for("the sidecar restarted and the pod ready again", restarted_and_ready, within=60)
            _answers_settle(load, lambda d: d.get("bookstore v1", 0) >= 50, within=60, what="answers after")
            return load.result("sidecar-restart-second-replica")


def control_plane_pause(work: Path, *, workers: int = 4) -> DrillResult:
    """The control plane (the runtime process) frozen for 3 s under load: sidecars keep their config."""
    folder = work / "manifests"
    write_mesh(folder)
    with mesh_in(work, folder) as mesh:
        mesh.wait_ready(["buyer", "store-v1"])
        with Load(proxy=buyer_proxy(mesh), url=URL, workers=workers) as load:
            _started(mesh, load)
            os.kill(mesh.process.pid, signal.SIGSTOP)
            try:
                before = load.answered("bookstore")
                deadline = time.monotonic() + 3.0
                wait_for("answers while frozen", lambda: load.answered("bookstore") >= before + 50, within=30)
                while time.monotonic() < deadline:  # the freeze lasts 3 s: a drill length, not a sync wait
                    time.sleep(0.1)
            finally:
                os.kill(mesh.process.pid, signal.SIGCONT)
            _answers_settle(load, lambda d: d.get("bookstore v1", 0) >= 50, within=60, what="answers after")
            return load.result("control-plane-pause")


def short_cert_lifetime(work: Path, *, workers: int = 4, lifetime: int = 6, lifetimes: int = 3) -> DrillResult:
    """``smi up --cert-lifetime 6s`` under load for three lifetimes: renewals (by certificate, the
    bootstrap token being one-time) keep every sidecar's certificate valid, and no request fails."""
    folder = work / "manifests"
    write_mesh(folder)
    with mesh_in(work, folder, "--cert-lifetime", f"{lifetime}s") as mesh:
        mesh.wait_ready(["buyer", "store-v1"])
        with Load(proxy=buyer_proxy(mesh), url=URL, workers=workers) as load:
            _started(mesh, load)
            seen: dict[str, set[float]] = {}
            expired: list[str] = []

            def renewed_enough() -> bool:
                now = time.time()
                for pod in mesh.status()["pods"]:
                    expiry = pod["sidecar"].get("certificate_expiry")
                    if expiry is None:
                        continue
                    if expiry <= now:
                        expired.append(f"{pod['name']}: certificate expired at {expiry:.0f}, now {now:.0f}")
                    seen.setdefault(pod["name"], set()).add(expiry)
                return len(seen) == 2 and all(len(e) > lifetimes for e in seen.values())

            bound = lifetime * (lifetimes + 4)
            wait_for("every sidecar renewed several times", renewed_enough, within=bound, every=0.5)
            assert not expired, expired
            return load.result("short-cert-lifetime")


def controller_restart(work: Path, *, workers: int = 4) -> DrillResult:
    """``smi controller``'s operator (kopf on kmock) restarted 3 times under load (``controller_drill``)."""
    import asyncio

    from tests.drills.controller_drill import controller_restart as drill

    return asyncio.run(drill(work, workers=workers))


DRILLS: dict[str, Callable[..., DrillResult]] = {
    "weight-edit": weight_edit,
    "rolling-update": rolling_update,
    "pod-stop": pod_stop,
    "sidecar-restart-second-replica": sidecar_restart_with_second_replica,
    "control-plane-pause": control_plane_pause,
    "short-cert-lifetime": short_cert_lifetime,
    "controller-restart": controller_restart,
}
