"""Network-namespace plumbing (Linux, root): a private L2 network of namespaces, and its cleanup.

A leaf module (standard library only) for anything that runs processes in network
namespaces: ``smi up --isolation netns`` and test-only node agents.  Everything it creates
carries a caller-chosen ``prefix`` (``make_prefix(seed)``: ``smi-`` + 6 hex digits), so
``sweep(prefix)`` removes exactly what an earlier, crashed owner of that prefix left and
never touches anyone else's namespaces.  API::

    missing() -> str | None                    why namespaces cannot be used here (None: they can)
    make_prefix(seed) -> str                   "smi-<6 hex of seed>", e.g. seed = a state folder's path
    fabric = Fabric(prefix)                    one bridge, in its own namespace "<prefix>-hub"
    fabric.create()                            (sweeps the prefix first)
    fabric.add(name, address, prefix_len=15)   namespace "<prefix>-<name>": lo up, eth0 (veth to the
                                               bridge) with address/prefix_len; returns the netns name.
                                               Another process may add members to a running fabric
                                               with its own ``Fabric(prefix)`` (e.g. a test host)
    fabric.remove(name)                        its processes killed, the namespace (and its veth) deleted
    fabric.destroy()                           every namespace of the prefix, and /etc/netns/<ns>
    sweep(prefix) -> list[str]                 the same, for what a dead owner left
    write_hosts(netns, lines)                  /etc/netns/<netns>/hosts (``ip netns exec`` bind-mounts it
                                               over /etc/hosts; rewritten in place, so running processes
                                               see updates)
    socket_in(netns, family, type) -> socket   a socket created inside the namespace (the calling
                                               process stays where it is: setns in a short-lived thread)
    exec_prefix(netns) -> ["ip", "netns", "exec", netns]

Nothing is added to the caller's own namespace: the bridge lives in the hub namespace, each
veth pair has one end in the hub and one (``eth0``) in a member namespace, so two fabrics with
the same addresses never meet.  Deleting a namespace deletes its end of a veth, and with it
the pair.  Every command failure raises ``NetnsError`` with the command and its stderr.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/var/run/netns")
ETC_NETNS = Path("/etc/netns")
TIMEOUT = 15.0
BRIDGE = "br0"  # inside the hub namespace: the name is private to it


class NetnsError(Exception):
    """An ``ip`` command failed, or namespaces cannot be used here."""


def missing() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root (run as root, or use --isolation loopback)"
    for tool in ("ip", "iptables-restore"):
        if shutil.which(tool) is None:
            return f"{tool!r} is not on PATH (apt-get install -y iproute2 iptables)"
    return None


def make_prefix(seed: str) -> str:
    return "smi-" + hashlib.sha256(seed.encode()).hexdigest()[:6]


def ip(*args: str, stdin: str | None = None) -> str:
    return run(["ip", *args], stdin=stdin)


def run(argv: list[str], *, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NetnsError(f"{' '.join(argv)}: {e}") from e
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} failed (exit {done.returncode}): {done.stderr.strip()[:500]}")
    return done.stdout


def exec_prefix(netns: str) -> list[str]:
    return ["ip", "netns", "exec", netns]


def namespaces() -> list[str]:
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except OSError:
        return []


def kill_processes(netns: str) -> int:
    """SIGKILL every process in ``netns``; returns how many there were."""
    try:
        pids = [int(p) for p in run(["ip", "netns", "pids", netns]).split()]
    except (NetnsError, ValueError):
        return 0
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(pids)


def delete(netns: str) -> None:
    kill_processes(netns)
    subprocess.run(["ip", "netns", "delete", netns], capture_output=True, timeout=TIMEOUT, check=False)
    shutil.rmtree(ETC_NETNS / netns, ignore_errors=True)


def sweep(prefix: str) -> list[str]:
    """Delete every namespace named ``<prefix>-*`` (and its /etc/netns folder); returns their names."""
    doomed = [n for n in namespaces() if n.startswith(prefix + "-")]
    for name in doomed:
        delete(name)
    try:
        stale = [p for p in ETC_NETNS.iterdir() if p.name.startswith(prefix + "-")]
    except OSError:
        stale = []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return doomed


def write_hosts(netns: str, lines: Iterable[str]) -> Path:
    folder = ETC_NETNS / netns
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hosts"
    text = "".join(f"{line}\n" for line in lines)
    with path.open("a+") as f:  # in place: a bind mount of this file keeps showing the same inode
        f.seek(0)
        f.truncate()
        f.write(text)
    path.chmod(0o644)
    return path


def _setns(netns: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_DIR / netns, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetnsError(f"setns into {netns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def socket_in(netns: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A new socket that belongs to ``netns`` (a thread enters it, creates the socket and ends)."""
    result: list[socket.socket | BaseException] = []

    def make() -> None:
        try:
            _setns(netns)
            result.append(socket.socket(family, kind))
        except BaseException as e:  # handed to the caller's thread
            result.append(e)

    thread = threading.Thread(target=make, name=f"setns {netns}")
    thread.start()
    thread.join(TIMEOUT)
    if not result:
        raise NetnsError(f"setns into {netns}: timed out")
    made = result[0]
    if isinstance(made, BaseException):
        raise made if isinstance(made, NetnsError) else NetnsError(f"socket in {netns}: {made}")
    return made


class Fabric:
    """Namespaces ``<prefix>-<name>`` joined by one bridge in ``<prefix>-hub``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.hub = f"{prefix}-hub"
        self.members: set[str] = set()

    def netns(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def create(self) -> None:
        sweep(self.prefix)
        ip("netns", "add", self.hub)
        ip("-n", self.hub, "link", "set", "lo", "up")
        ip("-n", self.hub, "link", "add", BRIDGE, "type", "bridge")
        ip("-n", self.hub, "link", "set", BRIDGE, "up")

    def add(self, name: str, address: str, prefix_len: int = 15) -> str:
        netns = self.netns(name)
        port = "v" + hashlib.sha256(netns.encode()).hexdigest()[:12]  # hub side: unique for any adder
        ip("netns", "add", netns)
        self.members.add(netns)
        try:
            ip("-n", netns, "link", "set", "lo", "up")
            ip("link", "add", "eth0", "netns", netns, "type", "veth", "peer", "name", port, "netns", self.hub)
            ip("-n", self.hub, "link", "set", port, "master", BRIDGE)
            ip("-n", self.hub, "link", "set", port, "up")
            ip("-n", netns, "addr", "add", f"{address}/{prefix_len}", "dev", "eth0")
            ip("-n", netns, "link", "set", "eth0", "up")
        except NetnsError:
            self.remove(name)
            raise
        return netns

    def remove(self, name: str) -> None:
        netns = self.netns(name)
        self.members.discard(netns)
        delete(netns)

    def destroy(self) -> list[str]:
        self.members.clear()
        return sweep(self.prefix)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def listen_in(netns: str, address: tuple[str, int], handler: Handler) -> asyncio.AbstractServer:
    """An asyncio server on ``address`` inside ``netns`` (the socket is made there; the loop stays here)."""
    sock = socket_in(netns)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(64)
    sock.setblocking(False)
    return await asyncio.start_server(handler, sock=sock)


async def splice_to(target: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Relay one accepted connection to ``target`` (in this process's namespace) both ways, then close."""
    try:
        up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*target), 5)
    except (OSError, TimeoutError):
        writer.close()
        return

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except OSError:
            pass
        finally:
            dst.close()

    await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
