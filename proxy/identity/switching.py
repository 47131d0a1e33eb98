"""The proxy's current TLS contexts, swapped on renewal without dropping a connection.

Established TLS connections keep the certificate they were made with, so swapping only
ever concerns new handshakes:

* a renewed certificate under the same trust bundle is loaded into the live contexts
  (``load_cert_chain`` affects only later handshakes; session tickets stay valid);
* a changed trust bundle (root rotation) needs new contexts, because OpenSSL cannot forget
  a trusted root.  Clients read :attr:`TlsContexts.client` at connect time; servers that
  were started with a fixed context (``asyncio.start_server(ssl=...)``, aiohttp sites)
  listen with :attr:`TlsContexts.listening`, whose SNI callback points each new handshake
  at the current server context (it runs for every ClientHello, with or without SNI).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

from proxy.identity.contexts import ResumingClientContext, client_context, load_material, server_context
from proxy.identity.material import WorkloadMaterial


class TlsContexts:
    def __init__(self, material: WorkloadMaterial) -> None:
        self._material = material
        self.server: ssl.SSLContext = server_context(material)
        self.client: ResumingClientContext = client_context(material)
        self.listening: ssl.SSLContext = server_context(material)
        self.listening.sni_callback = self._switch
        self.generation = 0
        self._listeners: list[Callable[[TlsContexts], None]] = []

    @property
    def material(self) -> WorkloadMaterial:
        return self._material

    def on_change(self, callback: Callable[[TlsContexts], None]) -> None:
        self._listeners.append(callback)

    def update(self, material: WorkloadMaterial) -> None:
        """Use ``material`` for every handshake from now on."""
        if material.bundle_pem == self._material.bundle_pem:
            load_material(self.server, material)
            load_material(self.client, material)
        else:
            self.server = server_context(material)
            self.client = client_context(material)
        self._material = material
        self.generation += 1
        for callback in list(self._listeners):
            callback(self)

    def _switch(self, ssl_object: Any, server_name: str | None, context: ssl.SSLContext) -> None:
        if ssl_object.context is not self.server:
            ssl_object.context = self.server
