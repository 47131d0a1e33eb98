"""Opening mTLS connections to a peer sidecar and checking who answered.

:func:`connect_mesh` connects with the current client context (chain verified against
the trust bundle), then requires the server's SPIFFE id to be one the destination service
may run as (``expected``, from ``Endpoint.identity`` in the ProxyConfig).  A mismatch
closes the connection and raises :class:`PeerIdentityRejected`.  The SNI name is derived
from the address, so TLS 1.3 session tickets are cached per peer; call
:meth:`MeshStream.release` when done (or after the first response) to keep the ticket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass

from proxy.identity.contexts import PeerIdentityRejected, ResumingClientContext, sni_name, verify_peer
from proxy.identity.switching import TlsContexts

__all__ = ["MeshStream", "PeerIdentityRejected", "connect_mesh"]


@dataclass(frozen=True)
class MeshStream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    peer_identity: str
    context: ResumingClientContext

    @property
    def resumed(self) -> bool:
        return bool(self.writer.get_extra_info("ssl_object").session_reused)

    def remember_session(self) -> None:
        self.context.remember(self.writer.get_extra_info("ssl_object"))

    def release(self) -> None:
        self.remember_session()
        self.writer.close()


async def connect_mesh(
    host: str,
    port: int,
    *,
    contexts: TlsContexts,
    expected: Collection[str],
    local_addr: tuple[str, int] | None = None,
    connect_timeout: float = 10.0,
) -> MeshStream:
    context = contexts.client
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=context, server_hostname=sni_name(host, port), local_addr=local_addr),
        connect_timeout,
    )
    try:
        peer = verify_peer(writer.get_extra_info("ssl_object"), expected)
    except PeerIdentityRejected:
        writer.close()
        raise
    return MeshStream(reader, writer, peer, context)
