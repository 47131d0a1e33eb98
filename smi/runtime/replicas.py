"""Deployments to running pods: the local runtime's pod reconcile (start, scale, roll, stop).

``ReplicaReconciler.reconcile_pods()`` makes the running pods match the Deployments in the
store: new replicas are started (a ``PodRunner``: app processes + sidecar, or a
``NetnsPodRunner`` under ``--isolation netns``), removed ones stopped, and a changed
template rolls its pods (new ones first; old ones stop once the new ones are ready).  At
most ``RuntimeSettings.max_pods`` pods run; a Deployment cut short is listed in
``Report.limits``.  A pod that stops first waits until every caller has dropped it
(``smi.runtime.draining``), then gets ``DRAIN_GRACE`` to finish its requests.

It is a part of ``smi.runtime.running.LocalRuntime`` (which inherits it): the attributes
declared below are the runtime's, set in its ``__init__`` and ``start``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from smi.distribution import ConfigService
from smi.model import Deployment, ObjectKey, Pod, Service, key_of
from smi.runtime import pods as podsynth
from smi.runtime.addresses import AddressAllocator
from smi.runtime.draining import DRAIN_GRACE, callers_caught_up
from smi.runtime.environment import app_argv, app_environment, plan_forwards, sidecar_argv
from smi.runtime.isolation import NetnsIsolation
from smi.runtime.leftovers import MARKER
from smi.runtime.mtls import RuntimeTls
from smi.runtime.netnspods import NetnsPodRunner
from smi.runtime.podrunning import PodRunner
from smi.runtime.settings import Report, RuntimeSettings
from smi.runtime.udpforwards import plan_udp_forwards, udp_environment, udp_flags
from smi.state import Snapshot, Store

logger = logging.getLogger(__name__)


class ReplicaReconciler:
    settings: RuntimeSettings
    runtime_id: str
    store: Store
    report: Report
    pods: dict[tuple[str, str], PodRunner]
    allocator: AddressAllocator
    config: ConfigService | None
    tls: RuntimeTls | None
    netns: NetnsIsolation | None
    stopped: asyncio.Event
    _stopping: set[asyncio.Task[None]]
    _rng: random.Random
    _inherited: dict[str, str]

    @property
    def config_url(self) -> str:
        assert self.config is not None
        return self.config.url

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


__all__ = ["ReplicaReconciler"]
