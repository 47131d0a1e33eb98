"""The original destination of a connection that iptables REDIRECTed to a proxy listener.

After ``-j REDIRECT`` the accepted socket's local address is the proxy's port; the address
the client actually dialled is kept by conntrack and read with ``getsockopt``:
``SO_ORIGINAL_DST`` (80) on ``SOL_IP`` for IPv4 (a ``sockaddr_in``), ``IP6T_SO_ORIGINAL_DST``
(80) on ``SOL_IPV6`` (= ``IPPROTO_IPV6``) for IPv6 (a ``sockaddr_in6``).  An IPv4 connection accepted on a
dual-stack IPv6 socket (a ``::ffff:a.b.c.d`` local address) is asked for on ``SOL_IP``.

Works with plain sockets and with asyncio's ``transport.get_extra_info("socket")``.
"""

from __future__ import annotations

import socket
import struct
from asyncio.trsock import TransportSocket

SO_ORIGINAL_DST = 80
IP6T_SO_ORIGINAL_DST = 80
_SOCKADDR_IN = struct.Struct("!2xH4s8x")  # family (native order, skipped), port, address, zero padding
_SOCKADDR_IN6 = struct.Struct("!2xHI16sI")  # family, port, flowinfo, address, scope id

SocketLike = socket.socket | TransportSocket


class NoOriginalDestination(Exception):
    """The socket has no NAT record (it was not redirected), or is not a TCP/IP socket."""


def _is_v4_mapped(sock: SocketLike) -> bool:
    try:
        local = sock.getsockname()
    except OSError:
        return False
    return isinstance(local, tuple) and isinstance(local[0], str) and local[0].startswith("::ffff:")


def original_destination(sock: SocketLike) -> tuple[str, int]:
    """``(ip, port)`` the client dialled before it was redirected to this socket's listener."""
    try:
        if sock.family == socket.AF_INET or (sock.family == socket.AF_INET6 and _is_v4_mapped(sock)):
            raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, _SOCKADDR_IN.size)
            port, packed = _SOCKADDR_IN.unpack(raw[: _SOCKADDR_IN.size].ljust(_SOCKADDR_IN.size, b"\0"))
            return socket.inet_ntop(socket.AF_INET, packed), port
        if sock.family == socket.AF_INET6:
            raw = sock.getsockopt(socket.IPPROTO_IPV6, IP6T_SO_ORIGINAL_DST, _SOCKADDR_IN6.size)
            port, _flow, packed6, _scope = _SOCKADDR_IN6.unpack(
                raw[: _SOCKADDR_IN6.size].ljust(_SOCKADDR_IN6.size, b"\0")
            )
            return socket.inet_ntop(socket.AF_INET6, packed6), port
    except OSError as e:
        raise NoOriginalDestination(f"no original destination for this connection: {e.strerror or e}") from e
    raise NoOriginalDestination(f"not an IPv4/IPv6 socket (family {sock.family!r})")
