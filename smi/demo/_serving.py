"""What every demo server shares: a real listen backlog and no Nagle delay.

Python's ``socketserver`` listens with a backlog of 5: a burst of new connections from a
sidecar (a weight edit, a sidecar restart) overflows it, Linux retries the dropped SYN after
exactly one second, and the caller's connect deadline fires.  And ``BaseHTTPRequestHandler``
writes the head and the body separately, so with Nagle on, the body waits for the peer's
delayed ACK (~40 ms per request).  Demo figures should show the mesh, not that.
"""

from __future__ import annotations

import socket
import socketserver

LISTEN_BACKLOG = 1024  # clamped by the kernel to net.core.somaxconn (4096 on current kernels)


class DemoServerMixin:
    """Mix in before ``socketserver.ThreadingTCPServer`` (or ``ThreadingHTTPServer``)."""

    request_queue_size = LISTEN_BACKLOG
    allow_reuse_address = True
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = socketserver.TCPServer.get_request(self)  # type: ignore[arg-type]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address
