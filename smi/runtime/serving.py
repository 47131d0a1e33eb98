"""``smi up`` as one coroutine: runtime + control API + state file + dashboard, until stopped.

Stops on SIGINT (Ctrl-C), SIGTERM, SIGHUP (the terminal closed) or ``POST /v1/down``; on the
way out every pod's process group is stopped (SIGTERM, bounded wait, SIGKILL) and the state
file removed.  Nothing printed can interrupt that (``quietoutput``): a closed pipe or
terminal only silences the output.  Before anything starts, what a dead runtime left in the
same state dir is swept (``sweeping``), the runtime's claim is written, and a ``Lifeline``
watchdog is started: if this process is killed (SIGKILL), its pods die with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time

from aiohttp import web

from smi.runtime import statefile, sweeping
from smi.runtime.control import make_app
from smi.runtime.dashboard import Dashboard
from smi.runtime.lifeline import Lifeline
from smi.runtime.metricsapi import remove_kubeconfig, write_kubeconfig
from smi.runtime.running import LocalRuntime
from smi.runtime.settings import Report, RuntimeSettings

logger = logging.getLogger(__name__)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class AlreadyRunning(Exception):
    pass


def _printer(text: str) -> None:
    print(f"smi: {text}", file=sys.stderr, flush=True)


async def serve(settings: RuntimeSettings, *, dashboard: str = "auto") -> int:
    """Run the local mesh until stopped; returns the exit code."""
    me = os.getpid()
    existing = sweeping.live_runtime(settings.state_dir, me=me)
    if existing is not None:
        raise AlreadyRunning(
            f"a local mesh is already running (pid {existing.pid}, state dir {settings.state_dir}); "
            "stop it with `smi down` or use another SMI_STATE_DIR"
        )
    live = dashboard == "live" or (dashboard == "auto" and sys.stdout.isatty())
    report = Report(printer=None if live else _printer)
    swept = sweeping.sweep_dead(settings.state_dir, me=me)
    if swept:
        report.event(f"stopped {swept} process(es) a dead runtime left in {settings.state_dir}")
    runtime = LocalRuntime(settings, report=report)
    statefile.write_claim(
        settings.state_dir,
        statefile.Claim(pid=me, runtime_id=runtime.runtime_id, start_ticks=statefile.start_ticks(me)),
    )
    lifeline = Lifeline(runtime.runtime_id)
    lifeline.start()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, runtime.request_stop)
    runner = web.AppRunner(make_app(runtime), access_log=None, shutdown_timeout=0.5)
    tasks: list[asyncio.Task[None]] = []
    try:
        await runtime.start()
        await runner.setup()
        site = web.TCPSite(runner, runtime.allocator.runtime_address, 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        port = server.sockets[0].getsockname()[1]
        info = statefile.RuntimeInfo(
            pid=os.getpid(),
            runtime_id=runtime.runtime_id,
            control_url=f"http://{runtime.allocator.runtime_address}:{port}",
            config_url=runtime.config_url,
            manifests=str(settings.manifests) if settings.manifests else "",
            address_base=settings.address_base,
            started_at=time.time(),
            start_ticks=statefile.start_ticks(me),
        )
        statefile.write(settings.state_dir, info)
        write_kubeconfig(settings.state_dir, info.control_url)  # kubectl against the metrics API
        report.event(f"local mesh up: control API {info.control_url}, state {settings.state_dir}")
        report.event(f"traffic map: {info.control_url}/dashboard/ (smi dashboard opens it)")
        if settings.watch and settings.manifests is not None:
            tasks.append(asyncio.create_task(runtime.watch(), name="watch manifests"))
        if dashboard != "off":
            view = Dashboard(runtime, live=live)
            tasks.append(asyncio.create_task(view.run(should_stop=runtime.stopped.is_set), name="dashboard"))
        await runtime.wait_stopped()
    finally:
        report.event("stopping the local mesh")
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await runtime.shutdown()
        await runner.cleanup()
        current = statefile.read(settings.state_dir)
        if current is None or current.runtime_id == runtime.runtime_id:
            remove_kubeconfig(settings.state_dir)
        statefile.remove(settings.state_dir, runtime_id=runtime.runtime_id)
        lifeline.release()
        statefile.remove_claim(settings.state_dir, runtime_id=runtime.runtime_id)
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        report.event("stopped; every process it started is gone")
    return 0
