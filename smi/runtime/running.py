"""The local runtime: manifests in, a running mesh out, kept in step with the folder.

::

    manifest folder ──rescan──► desired objects ──diff──► Store ──► ConfigService ──stream──► sidecars
    smi apply/delete ──API───┘                              │
                                                            └──► pod reconcile: a PodRunner (app processes
                                                                  + sidecar) per Deployment replica

``LocalRuntime.run()`` starts the config service (in-process) and the control API, loads the
folder, starts the pods, then watches the folder (``watchfiles``, debounced) until stopped.
Every change goes through ``sync()``: the desired objects (folder + API + implied defaults)
are diffed into the store, then ``reconcile_pods()`` (``smi.runtime.replicas``, which
``LocalRuntime`` inherits) makes the running pods match the Deployments: new replicas are
started, removed ones stopped, and a changed template rolls its pods (new ones first; old
ones stop once the new ones are ready).  Its settings and report are in ``smi.runtime.settings``.

Mutual TLS (``RuntimeSettings.mtls``, default ``strict``): the runtime is the mesh's CA
(``smi.runtime.mtls``, kept in ``<state>/ca`` across restarts), serves the config stream
and the CA API over TLS, and gives each pod's sidecar a bootstrap token (revoked when the
pod goes) and the trust bundle.  ``off`` runs the pre-mTLS mesh (plain HTTP, plain hops).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid

from smi.compile import Compiler
from smi.distribution import CoalescingSettings, ConfigService
from smi.groups import MESH_GROUPS
from smi.model import Namespace, ObjectKey, ObjectMeta, Pod, Resource, ServiceAccount, key_of
from smi.proxyconfig import ProxyConfig
from smi.runtime.addresses import AddressAllocator
from smi.runtime.folders import ManifestFolder
from smi.runtime.isolation import NetnsIsolation
from smi.runtime.monitoring import lay_over
from smi.runtime.mtls import RuntimeTls
from smi.runtime.podrunning import PodRunner
from smi.runtime.replicas import ReplicaReconciler
from smi.runtime.settings import Report, RuntimeSettings, child_environment
from smi.state import Snapshot, Store

logger = logging.getLogger(__name__)

WATCH_DEBOUNCE_MS = 50


class LocalRuntime(ReplicaReconciler):
    def __init__(self, settings: RuntimeSettings, *, report: Report | None = None) -> None:
        self.settings = settings
        self.runtime_id = uuid.uuid4().hex
        self.store = Store()
        self.compiler = Compiler(settings.mesh, MESH_GROUPS)  # configs and statuses, one index cache
        self.report = report or Report()
        self.folder = ManifestFolder(settings.manifests) if settings.manifests is not None else None
        self.api_objects: dict[ObjectKey, Resource] = {}
        self.tombstones: dict[ObjectKey, str] = {}  # folder objects deleted by `smi delete`: key -> file
        self.monitoring: dict[ObjectKey, str] = {}  # levels set by `smi monitor` / the page (smi.runtime.monitoring)
        self.pods: dict[tuple[str, str], PodRunner] = {}
        self.allocator = AddressAllocator(settings.address_base)
        self.config: ConfigService | None = None
        self.tls: RuntimeTls | None = None
        self.stopped = asyncio.Event()
        self._applied: dict[ObjectKey, Resource] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._rng = random.Random()
        self._inherited = child_environment(os.environ)
        self.netns: NetnsIsolation | None = None  # --isolation netns: pods in network namespaces
        if settings.isolation == "netns":
            self.netns = NetnsIsolation(state_dir=settings.state_dir, cluster_domain=settings.mesh.cluster_domain)

    # -- the control plane -----------------------------------------------------------------

    def compile(self, snapshot: Snapshot, *, namespace: str, pod: str) -> ProxyConfig | None:
        return self.compiler.compile_proxy(snapshot, namespace=namespace, pod=pod)

    async def start(self) -> None:
        """Start the control plane (raises ``RuntimeTlsError`` when the state dir's CA is unusable)."""
        if self.settings.mtls != "off" and self.tls is None:
            self.tls = RuntimeTls.open(
                state_dir=self.settings.state_dir,
                mode=self.settings.mtls,
                trust_domain=self.settings.mesh.trust_domain,
                runtime_address=self.allocator.runtime_address,
                cert_lifetime=self.settings.cert_lifetime,
            )
        self.config = ConfigService(
            store=self.store,
            compiler=self.compile,
            host=self.allocator.runtime_address,
            coalescing=CoalescingSettings(window=0.01, max_wait=0.1),
            synced=True,
            **(self.tls.config_service_args(self.store) if self.tls is not None else {}),
        )
        await self.config.start()
        if self.netns is not None:
            self.netns.start(self._config_address())
        if self.folder is not None:
            self.rescan()
        self.sync()

    def _config_address(self) -> tuple[str, int]:
        from urllib.parse import urlsplit

        url = urlsplit(self.config_url)
        return (url.hostname or self.allocator.runtime_address, url.port or 443)

    # -- desired objects ---------------------------------------------------------------------

    def rescan(self) -> bool:
        assert self.folder is not None
        changes = self.folder.rescan()
        for problem in changes.problems:
            self.report.event(f"ignored: {problem}")
        for source in (*changes.changed_files, *changes.removed_files):
            for key, origin in list(self.tombstones.items()):
                if origin == source:
                    del self.tombstones[key]
        if changes:
            self.report.event(
                "manifests changed: " + ", ".join((*changes.changed_files, *(f"-{r}" for r in changes.removed_files)))
            )
        self.report.problems = self.folder.problems()
        return bool(changes)

    def desired(self) -> dict[ObjectKey, Resource]:
        objects: dict[ObjectKey, Resource] = {}
        if self.folder is not None:
            objects.update(self.folder.objects())
        for key in self.tombstones:
            objects.pop(key, None)
        objects.update(self.api_objects)
        for key in [k for k in objects if k.kind == Pod.KIND]:
            self.report.event(f"{key}: bare Pods are not run by the local runtime; use a Deployment")
            del objects[key]
        namespaces = (
            {"default"}
            | {k.namespace for k in objects if k.namespace}
            | {k.name for k in objects if k.kind == Namespace.KIND}
        )
        for ns in namespaces:
            implied: list[Resource] = [ServiceAccount(meta=ObjectMeta(name="default", namespace=ns))]
            if ns == "default":
                implied.append(Namespace(meta=ObjectMeta(name="default")))
            for obj in implied:
                objects.setdefault(key_of(obj), obj)
        lay_over(objects, self.monitoring)
        return objects

    def sync(self) -> None:
        """Bring the store in line with the desired objects, then the pods with the Deployments."""
        desired = self.desired()
        if self.netns is not None:  # services get virtual IPs from 198.19.0.0/17
            desired = self.netns.with_virtual_ips(desired)
        for key in [k for k in self._applied if k not in desired]:
            self.store.delete(key)
            del self._applied[key]
        for key, obj in desired.items():
            if self._applied.get(key) != obj:
                self.store.apply(obj)
                self._applied[key] = obj
        self.reconcile_pods()

    # -- running -----------------------------------------------------------------------------

    async def watch(self) -> None:
        """Rescan the folder after every (debounced) change on disk, until stopped."""
        import watchfiles

        assert self.settings.manifests is not None
        async for _ in watchfiles.awatch(
            self.settings.manifests,
            debounce=WATCH_DEBOUNCE_MS,
            step=10,
            stop_event=self.stopped,
            recursive=True,
        ):
            try:
                if self.rescan():
                    self.sync()
            except Exception:  # the watch loop must survive anything a file can do
                logger.exception("Applying the manifest folder failed; keeping the running mesh as it is")

    async def shutdown(self) -> None:
        """Stop every pod (their whole process groups) and the control plane."""
        self.stopped.set()
        for runner in list(self.pods.values()):
            self._stop_pod(runner, "shutting down")
        while self._stopping:
            await asyncio.gather(*list(self._stopping), return_exceptions=True)
        if self.config is not None:
            await self.config.stop()
            self.config = None
        if self.tls is not None:
            self.tls.close()
        if self.netns is not None:
            self.netns.close()

    # -- the API's operations ------------------------------------------------------------

    def apply_objects(self, objects: list[Resource]) -> list[str]:
        changed = []
        for obj in objects:
            key = key_of(obj)
            self.tombstones.pop(key, None)
            if self._applied.get(key) != obj:
                changed.append(f"{key} applied")
            else:
                changed.append(f"{key} unchanged")
            self.api_objects[key] = obj
        self.sync()
        return changed

    def set_monitoring(self, key: ObjectKey, level: str | None) -> None:
        """Set (or clear, with None) the monitoring level overlay of a Namespace or Deployment."""
        if level is None:
            self.monitoring.pop(key, None)
        else:
            self.monitoring[key] = level
        self.report.event(f"{key}: monitoring level {level or 'cleared (the manifest decides)'}")
        self.sync()

    def delete_keys(self, keys: list[ObjectKey]) -> list[str]:
        done = []
        for key in keys:
            found = key in self._applied
            self.api_objects.pop(key, None)
            if self.folder is not None:
                for source, parsed in self.folder.files.items():
                    if key in parsed.objects:
                        self.tombstones[key] = source
            done.append(f"{key} deleted" if found else f"{key} not found")
        self.sync()
        return done

    def find_pod(self, namespace: str, name: str) -> PodRunner | None:
        return self.pods.get((namespace, name))

    @property
    def started_at(self) -> float:
        return _STARTED

    async def wait_stopped(self) -> None:
        await self.stopped.wait()

    def request_stop(self) -> None:
        self.stopped.set()


_STARTED = time.time()

__all__ = ["LocalRuntime"]
