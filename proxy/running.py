"""Wires one sidecar together: listeners, admin server, config source; and runs it until a signal.

``Proxy`` is used both by ``smi proxy`` (through ``run``) and in-process by the tests; it runs
with a ``proxy.settings.ProxySettings``.  Addresses may use port 0; the bound addresses are in
``Proxy.addresses`` after ``start``.

Mutual TLS (``ProxySettings.mtls``: ``strict``, ``permissive`` or ``off``): before any
listener opens, the proxy gets its workload certificate from the CA (``ca_url``, proving
who it is with the token in ``token_file``, trusting the CA through ``trust_bundle_pem``) and
keeps renewing it (``proxy.workloadidentity``, ``proxy.identity.CertificateManager``;
``/ready`` stays 503 until it has one).  The inbound listener then accepts mTLS only
(strict) or also plain text (permissive); connections to meshed endpoints are mTLS with
the endpoint's identity checked; the config stream (an ``https://`` control plane)
presents the certificate.
A ``TlsContexts`` can also be handed in (``Proxy(settings, tls=...)``), e.g. by tests.

Memory (docs/proxy.md, "Memory"): a sidecar runs next to every pod, so it imports only
what its settings use.  The config stream client and the certificate manager are imported
when started; ``cryptography`` only with mTLS on; no web framework and no
``prometheus_client`` at all (the admin listener is ``proxy.admin``, the control-plane calls
``proxy.httpclient``, the metrics text ``proxy.exposition``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from proxy.admission import ConnectionGate, default_cap, raise_fd_limit
from proxy.exposition import Registry
from proxy.healthprobes import HealthProber
from proxy.holder import ConfigHolder
from proxy.identity.inbound import InboundListener, InboundStats, Mode
from proxy.identity.metrics import TlsMetricsCollector
from proxy.inbound import InboundAcceptor
from proxy.metrics import Metrics, MetricsCollector
from proxy.outbound import forward_factory, outbound_factory
from proxy.resilience_metrics import ResilienceCollector
from proxy.settings import MTLS_MODES, Address, ProxySettings, load_config_file
from proxy.tcp import Refuse
from proxy.upstream import UpstreamPool
from proxy.workloadidentity import ExpectedIdentities, IdentitySetupError, certificate_manager, first_certificate

if TYPE_CHECKING:
    from proxy.configstream import ConfigStreamClient
    from proxy.identity.manager import CertificateManager
    from proxy.identity.switching import TlsContexts

logger = logging.getLogger(__name__)


@dataclass
class Proxy:
    settings: ProxySettings
    metrics: Metrics = field(default_factory=Metrics)
    addresses: dict[str, Address] = field(default_factory=dict)
    tls: TlsContexts | None = None

    def __post_init__(self) -> None:
        if self.settings.mtls not in MTLS_MODES:
            raise IdentitySetupError(f"mtls: must be one of {', '.join(MTLS_MODES)}, got {self.settings.mtls!r}")
        self.holder = ConfigHolder(self.metrics)
        self.pool = UpstreamPool(idle_timeout=self.settings.http_limits.upstream_idle_timeout)
        from proxy.http2.listeners import Http2Hub

        self.http2 = Http2Hub(self.pool)  # HTTP/2 and gRPC on the HTTP listeners (proxy.http2)
        self.holder.on_swap.append(self.http2.config_changed)
        self.inbound_stats = InboundStats()
        self.certificates: CertificateManager | None = None
        self.registry = Registry()
        self.registry.register(MetricsCollector(self.metrics))
        self.registry.register(ResilienceCollector(self.holder))
        self.tls_metrics = TlsMetricsCollector(
            mode=self.settings.mtls, inbound=self.inbound_stats, outbound=self.pool, manager=None
        )
        self.registry.register(self.tls_metrics)
        self._servers: list[asyncio.AbstractServer] = []
        self._listeners: list[InboundListener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._admin: asyncio.AbstractServer | None = None
        self._tap: asyncio.AbstractServer | None = None
        self._datagram: list[asyncio.BaseTransport] = []  # UDP listeners (proxy.udp)
        self.stream: ConfigStreamClient | None = None
        self.gates: dict[str, ConnectionGate] = {}  # per data listener: connection cap and draining
        self.draining = False
        self.listening = False  # every listener bound (start() done): /ready waits for it

    @property
    def mtls(self) -> bool:
        return self.settings.mtls != "off"

    def _not_ready(self) -> str | None:
        if self.draining:
            return "draining (shutting down)"
        if not self.listening:
            return "starting: listeners not bound yet"
        return "no workload certificate yet" if self.mtls and self.tls is None else None

    def _gate(self, name: str) -> ConnectionGate:
        s = self.settings
        listeners = 2 + len(s.forwards)
        cap = s.max_connections if s.max_connections > 0 else default_cap(listeners)
        gate = self.gates[name] = ConnectionGate(name, cap=cap)
        return gate

    async def drain(self, grace: float) -> None:
        """Stop taking connections, let in-flight requests finish (closing idle keep-alives), for ``grace`` s."""
        self.draining = True
        for server in self._servers:
            server.close()  # no new connections; the open ones carry on
        for gate in self.gates.values():
            gate.drain()
        waiting = [gate.drained() for gate in self.gates.values()]
        open_now = sum(len(g.live) for g in self.gates.values())
        logger.info("draining: %d connection(s) open, up to %g s", open_now, grace)
        try:
            await asyncio.wait_for(asyncio.gather(*waiting), grace)
        except TimeoutError:
            left = sum(len(g.live) for g in self.gates.values())
            logger.warning("draining: %d connection(s) still open after %g s; closing them", left, grace)

    async def _start_identity(self) -> None:
        """Get the first certificate (or take the given contexts) and wire renewal and the pool."""
        if self.tls is None:
            manager = self.certificates = certificate_manager(self.settings, self.holder)
            self.tls_metrics.manager = manager
            self.tls = await first_certificate(manager, give_up_after=self.settings.certificate_timeout)
        self.pool.tls = self.tls
        self.metrics.mtls_hops = self.tls is not None  # the pool's hops to peer sidecars are mTLS (label tls)
        self.pool.expected = ExpectedIdentities(self.holder)

    def _control_plane_tls(self) -> ssl.SSLContext:
        from proxy.identity.contexts import control_plane_client_context

        assert self.tls is not None
        material = self.tls.material
        return control_plane_client_context(material.bundle_pem, material)

    async def _listen(self, name: str, factory: Callable[[], asyncio.BaseProtocol], address: Address) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, address[0], address[1], reuse_address=True, backlog=1024)
        self._servers.append(server)
        sockname = server.sockets[0].getsockname()
        self.addresses[name] = (sockname[0], sockname[1])

    async def _listen_inbound(self, factory: Callable[[], asyncio.BaseProtocol], address: Address) -> None:
        assert self.tls is not None
        mode = Mode.STRICT if self.settings.mtls == "strict" else Mode.PERMISSIVE
        listener = InboundListener(protocol_factory=factory, contexts=self.tls, mode=mode, stats=self.inbound_stats)
        await listener.start(address[0], address[1])
        self._listeners.append(listener)
        self.addresses["inbound"] = (address[0], listener.port)

    async def _start_admin(self, address: Address) -> None:
        from proxy.admin import start_admin

        self._admin = await start_admin(
            address[0],
            address[1],
            holder=self.holder,
            registry=self.registry,
            not_ready=self._not_ready,
            tap=self.metrics.tap,
        )
        sockets = getattr(self._admin, "sockets", None) or []
        if sockets:
            name = sockets[0].getsockname()
            self.addresses["admin"] = (name[0], name[1])

    async def _start_tap(self, address: Address) -> None:
        """Tap on the pod's address over mTLS, for the metrics API only (needs mTLS on)."""
        if not self.mtls or not self.settings.tap_identities:
            logger.warning("--tap needs mTLS and --tap-identity: the tap listener is not started")
            return
        from proxy.admin import start_tap_listener

        assert self.tls is not None
        self._tap = await start_tap_listener(
            address[0], address[1], hub=self.metrics.tap, holder=self.holder, registry=self.registry,
            contexts=self.tls, allowed=frozenset(self.settings.tap_identities),
        )  # fmt: skip
        sockets = getattr(self._tap, "sockets", None) or []
        if sockets:
            name = sockets[0].getsockname()
            self.addresses["tap"] = (name[0], name[1])

    async def start(self) -> None:
        s = self.settings
        if s.config_file is not None:
            config, version = load_config_file(s.config_file)
            self.holder.swap(config, version=version)
        if s.admin is not None:
            await self._start_admin(s.admin)
        if self.mtls:
            await self._start_identity()
        if s.tap is not None:
            await self._start_tap(s.tap)
        if s.outbound is not None:
            factory = outbound_factory(
                holder=self.holder, metrics=self.metrics, pool=self.pool, bind_address=s.bind_address,
                limits=s.http_limits, gate=self._gate("outbound"), http2=self.http2, h1_over_h2=s.h1_over_h2,
                detect_timeout=s.detect_timeout,
            )  # fmt: skip
            if s.capture:  # redirected connections: original destination, sniffing, egress
                from proxy.capture import capture_outbound

                factory = capture_outbound(
                    factory, holder=self.holder, metrics=self.metrics, pool=self.pool, registry=self.registry,
                    bind_address=s.bind_address, limits=s.http_limits, gate=self.gates.get("outbound"),
                    http2=self.http2, detect_timeout=s.detect_timeout,
                )  # fmt: skip
            await self._listen("outbound", factory, s.outbound)
        if s.inbound is not None:
            inbound_gate = self._gate("inbound")

            def inbound() -> asyncio.Protocol:
                if not inbound_gate.admit():
                    return Refuse()
                return InboundAcceptor(
                    holder=self.holder,
                    metrics=self.metrics,
                    pool=self.pool,
                    connect_timeout=s.inbound_connect_timeout,
                    request_timeout=s.inbound_request_timeout,
                    limits=s.http_limits,
                    gate=inbound_gate,
                    http2=self.http2,
                    detect_timeout=s.detect_timeout,
                )

            if self.mtls:
                await self._listen_inbound(inbound, s.inbound)
            else:
                await self._listen("inbound", inbound, s.inbound)
        await self._start_udp(s)
        for fw in s.forwards:
            factory = forward_factory(
                holder=self.holder,
                metrics=self.metrics,
                pool=self.pool,
                service=(fw.namespace, fw.service, fw.port),
                bind_address=s.bind_address,
                limits=s.http_limits,
                gate=self._gate(f"forward:{fw.service}.{fw.namespace}:{fw.port}"),
                http2=self.http2,
                detect_timeout=s.detect_timeout,
            )
            await self._listen(f"forward:{fw.service}.{fw.namespace}:{fw.port}", factory, fw.listen)
        if s.control_plane:
            from proxy.configstream import ConfigStreamClient

            use_tls = self.mtls and s.control_plane.startswith("https:")
            self.stream = ConfigStreamClient(
                url=s.control_plane,
                namespace=s.namespace,
                pod=s.pod,
                holder=self.holder,
                backoff_initial=s.backoff_initial,
                backoff_max=s.backoff_max,
                tls=self._control_plane_tls if use_tls else None,
            )
            self._tasks.append(asyncio.get_running_loop().create_task(self.stream.run(), name="config-stream"))
        prober = HealthProber(self.holder, bind=s.bind_address)  # active health checks (UpstreamTrafficPolicy)
        self._tasks.append(asyncio.get_running_loop().create_task(prober.run(), name="health-checks"))
        self.listening = True
        logger.info("proxy listening: %s", ", ".join(f"{k}={a[0]}:{a[1]}" for k, a in self.addresses.items()))

    async def _start_udp(self, s: ProxySettings) -> None:
        """UDP counters always (inbound udp ports), and one listener per ``--udp-forward``."""
        from proxy.udp.outbound import start_udp_forward
        from proxy.udp.stats import udp_stats_for

        self.registry.register(udp_stats_for(self.metrics))
        for fw in s.udp_forwards:
            service = (fw.namespace, fw.service, fw.port)
            self._datagram.append(await start_udp_forward(
                address=fw.listen, holder=self.holder, metrics=self.metrics, pool=self.pool, service=service,
                bind_address=s.bind_address,
            ))  # fmt: skip
            self.addresses[f"udp:{fw.service}.{fw.namespace}:{fw.port}"] = fw.listen

    async def stop(self) -> None:
        for transport in self._datagram:
            transport.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.certificates is not None:
            await self.certificates.stop()
        for server in self._servers:
            server.close()
        self.http2.goaway()  # HTTP/2 connections: no new streams; the ones in flight finish
        left = await self.http2.drain(self.settings.drain_grace)
        if left:
            logger.warning("stopping with %d HTTP/2 calls in flight after %g s", left, self.settings.drain_grace)
        for listener in self._listeners:
            await listener.close()
        self.pool.close_all()
        if self._tap is not None:
            self._tap.close()
        if self._admin is not None:
            self._admin.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._admin.wait_closed(), 1.0)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)


async def serve(settings: ProxySettings) -> None:
    """Run until SIGTERM or SIGINT; then drain (``ProxySettings.drain_grace``) and stop."""
    raise_fd_limit()
    proxy = Proxy(settings)
    await proxy.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        await proxy.drain(settings.drain_grace)
    finally:
        await proxy.stop()


def run(settings: ProxySettings) -> None:
    """The process entry point: uvloop when available."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(serve(settings))
        return
    uvloop.run(serve(settings))
