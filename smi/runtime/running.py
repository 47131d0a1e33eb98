"""The local runtime: manifests in, a running mesh out, kept in step with the folder.

::

    manifest folder ──rescan──► desired objects ──diff──► Store ──► ConfigService ──stream──► sidecars
    smi apply/delete ──API───┘                              │
                                                            └──► pod reconcile: a PodRunner (app processes
                                                                  + sidecar) per Deployment replica

``LocalRuntime.run()`` starts the config service (in-process) and the control API, loads the
folder, starts the pods, then watches the folder (``watchfiles``, debounced) until stopped.
Every change goes through ``sync()``: the desired objects (folder + API + implied defaults)
are diffed into the store, then ``reconcile_pods()`` makes the running pods match the
Deployments: new replicas are started, removed ones stopped, and a changed template rolls
its pods (new ones first; old ones stop once the new ones are ready).

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
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import smi
from smi.compile import Compiler, MeshSettings
from smi.distribution import CoalescingSettings, ConfigService
from smi.groups import MESH_GROUPS
from smi.model import Deployment, Namespace, ObjectKey, ObjectMeta, Pod, Resource, Service, ServiceAccount, key_of
from smi.proxyconfig import ProxyConfig
from smi.runtime import pods as podsynth
from smi.runtime.addresses import AddressAllocator
from smi.runtime.draining import DRAIN_GRACE, callers_caught_up
from smi.runtime.environment import app_argv, app_environment, plan_forwards, sidecar_argv
from smi.runtime.folders import ManifestFolder
from smi.runtime.isolation import ISOLATION_MODES, NetnsIsolation
from smi.runtime.leftovers import MARKER
from smi.runtime.monitoring import lay_over
from smi.runtime.mtls import MTLS_MODES, RuntimeTls
from smi.runtime.netnspods import NetnsPodRunner
from smi.runtime.podrunning import PodRunner
from smi.runtime.udpforwards import plan_udp_forwards, udp_environment, udp_flags
from smi.state import Snapshot, Store

logger = logging.getLogger(__name__)

WATCH_DEBOUNCE_MS = 50
DEFAULT_MAX_PODS = 64


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    manifests: Path | None
    state_dir: Path
    address_base: str = "127.1.0.0"
    mesh: MeshSettings = field(default_factory=MeshSettings)
    watch: bool = True
    mtls: str = "strict"  # strict | permissive | off
    isolation: str = "loopback"  # loopback | netns (smi.runtime.isolation)
    max_pods: int = DEFAULT_MAX_PODS  # pods the runtime runs at most (replicas beyond it are not started)
    cert_lifetime: float | None = None  # workload (and control plane) certificate lifetime, seconds; None: the CA's

    def __post_init__(self) -> None:
        if self.mtls not in MTLS_MODES:
            raise ValueError(f"mtls: must be one of {', '.join(MTLS_MODES)}, got {self.mtls!r}")
        if self.isolation not in ISOLATION_MODES:
            raise ValueError(f"isolation: must be one of {', '.join(ISOLATION_MODES)}, got {self.isolation!r}")


@dataclass
class Report:
    """What the runtime tells its user: problems in the manifests and notable events."""

    problems: list[str] = field(default_factory=list)
    limits: dict[str, str] = field(default_factory=dict)  # what the runtime did not do, by object (e.g. replicas)
    events: deque[str] = field(default_factory=lambda: deque(maxlen=50))
    printer: Callable[[str], None] | None = None

    def event(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.events.append(f"{stamp} {text}")
        if self.printer is not None:
            self.printer(text)


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What every child inherits: this environment, with this very ``smi`` package importable.

    The source root goes first on ``PYTHONPATH`` so that sidecars (``python -m smi.cli.main
    proxy``) and the demo apps run the same code as the runtime, installed or not.
    """
    env = {k: v for k, v in environ.items() if k != MARKER}
    root = str(Path(smi.__file__).resolve().parent.parent)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    env["PYTHONPATH"] = os.pathsep.join([root, *paths])
    return env


class LocalRuntime:
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

    @property
    def config_url(self) -> str:
        assert self.config is not None
        return self.config.url

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

    # -- pods ------------------------------------------------------------------------------

    def reconcile_pods(self) -> None:
        snapshot = self.store.snapshot()
        deployments = {key_of(d): d for d in snapshot.all(Deployment)}
        for runner in list(self.pods.values()):
            owner = runner.pod.meta.annotations.get(podsynth.OWNER_ANNOTATION, "")
            if ObjectKey(Deployment.KIND, runner.pod.meta.namespace, owner) not in deployments:
                self._stop_pod(runner, "its Deployment is gone")
        for name in [n for n in self.report.limits if n not in {str(k) for k in deployments}]:
            del self.report.limits[name]
        budget = self.settings.max_pods
        for key in sorted(deployments):
            deployment = deployments[key]
            replicas = self._capped(key, deployment.replicas, budget)
            budget -= replicas
            mine = [r for r in self.pods.values() if podsynth.owned_by(r.pod, deployment)]
            current = [r for r in mine if podsynth.is_current(r.pod, deployment)]
            old = [r for r in mine if not podsynth.is_current(r.pod, deployment)]
            for _ in range(replicas - len(current)):
                current.append(self._start_pod(deployment, snapshot))
            for runner in current[replicas:]:
                self._stop_pod(runner, "scaled down")
            ready = sum(1 for r in current[:replicas] if r.ready)
            if old and ready >= replicas:
                for runner in old:
                    self._stop_pod(runner, "replaced by the new template")

    def _capped(self, key: ObjectKey, wanted: int, budget: int) -> int:
        """``wanted`` replicas within what is left of ``--max-pods``; a cap is reported once and listed."""
        allowed = max(0, min(wanted, budget))
        name = str(key)
        if allowed < wanted:
            text = (
                f"{key}: replicas {wanted}: the local runtime runs at most {self.settings.max_pods} pods "
                f"(smi up --max-pods); running {allowed}"
            )
            if self.report.limits.get(name) != text:
                self.report.limits[name] = text
                self.report.event(text)
        else:
            self.report.limits.pop(name, None)
        return allowed

    def _start_pod(self, deployment: Deployment, snapshot: Snapshot) -> PodRunner:
        name = podsynth.pod_name(deployment, rng=self._rng)
        ip = self.netns.allocate() if self.netns is not None else self.allocator.allocate()
        pod = podsynth.synthesize(deployment, name=name, pod_ip=ip)
        self.store.apply(pod)
        services = tuple(snapshot.all(Service, pod.meta.namespace))
        forwards = plan_forwards(pod, services) if self.netns is None else ()
        udp = plan_udp_forwards(pod, services)  # UDP service ports: sidecar listeners (both isolations)
        extra = {MARKER: self.runtime_id}
        apps: dict[str, tuple[list[str], dict[str, str], str | None]] = {}
        for container in pod.spec.containers:
            env, warnings = app_environment(
                pod=pod, container=container, forwards=forwards, inherited=self._inherited, extra=extra
            )
            for warning in warnings:
                self.report.event(warning)
            if self.netns is not None:
                env = self.netns.app_env(pod, env, services)
            else:
                udp_environment(env, udp)
            argv = app_argv(container, env)
            if not argv:
                self.report.event(
                    f"Pod {pod.meta.namespace}/{name}: container {container.name} has no command; "
                    "the local runtime cannot run images, give it a command"
                )
                argv = ["sleep", "infinity"]
            if self.netns is not None:
                argv = self.netns.app_argv(pod, argv)
            apps[container.name] = (argv, env, container.working_dir)
        sidecar_env = {**self._inherited, **extra, "PYTHONUNBUFFERED": "1"}
        sidecar_args = sidecar_argv(pod=pod, control_plane=self.config_url, forwards=forwards) + udp_flags(udp)
        if self.tls is not None:
            sidecar_args += self.tls.sidecar_flags(self.tls.admit(pod))
        extra_runner: dict[str, Any] = {}
        runner_class: type[PodRunner] = PodRunner
        if self.netns is not None:
            sidecar_args = self.netns.sidecar_argv(pod, sidecar_args)
            extra_runner["netns"] = self.netns.add_pod(pod, udp)
            runner_class = NetnsPodRunner
        runner = runner_class(
            **extra_runner,
            pod=pod,
            apps=apps,
            sidecar=(sidecar_args, sidecar_env),
            forwards=forwards,
            log_dir=self.settings.state_dir / "logs" / pod.meta.namespace / name,
            on_ready=self._pod_ready_changed,
            # a one-time token is spent by the sidecar's first certificate: every (re)start gets a new one
            before_sidecar_start=self._readmitter(pod),
        )
        self.pods[runner.key] = runner
        runner.start()
        self.report.event(f"started pod {pod.meta.namespace}/{name} at {pod.pod_ip}")
        return runner

    def _readmitter(self, pod: Pod) -> Callable[[], None] | None:
        tls = self.tls
        if tls is None:
            return None

        def readmit() -> None:
            tls.admit(pod)

        return readmit

    def _pod_ready_changed(self, runner: PodRunner) -> None:
        if runner.key not in self.pods:
            return
        state = podsynth.with_state(runner.pod, phase="Running" if runner.ready else "Pending", ready=runner.ready)
        runner.pod = state
        self.store.apply(state)
        self.reconcile_pods()

    def _stop_pod(self, runner: PodRunner, why: str) -> None:
        if self.pods.pop(runner.key, None) is None:
            return
        self.store.delete(key_of(runner.pod))
        self.report.event(f"stopping pod {runner.key[0]}/{runner.key[1]}: {why}")
        if self.tls is not None:  # no new certificates for it from now on
            self.tls.tokens.revoke(namespace=runner.key[0], pod=runner.key[1])
        task = asyncio.create_task(self._stop_and_forget(runner), name=f"stop {runner.key[1]}")
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _stop_and_forget(self, runner: PodRunner) -> None:
        moving = not self.stopped.is_set() and self.config is not None  # a pod change: callers move off it first
        if moving and self.config is not None and not await callers_caught_up(self.config, self.pods.values()):
            logger.warning("Not every caller has dropped pod %s/%s yet; stopping it anyway", *runner.key)
        await runner.stop(sidecar_grace=DRAIN_GRACE)
        if self.netns is not None:
            self.netns.remove_pod(runner.pod)
        if self.tls is not None:
            self.tls.forget(*runner.key)

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

__all__ = ["LocalRuntime", "Report", "RuntimeSettings", "child_environment"]
