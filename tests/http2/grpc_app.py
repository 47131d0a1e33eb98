"""A gRPC test service and client built with grpcio, raw-bytes methods (no protoc).

Service ``test.Echo``:

* ``Unary``: answers ``<name>:`` + the request; a request starting with ``fail`` ends with
  ``INVALID_ARGUMENT``; ``sleep:<seconds>`` waits that long first (for deadlines).
* ``ServerStream``: ``n`` replies ``<name>:<i>`` for a request ``b"<n>"``.
* ``ClientStream``: the requests joined with ``+``.
* ``Bidi``: each request echoed back as it comes.

Run as a program (``python -m tests.http2.grpc_app``) it serves on ``PORT`` (env) and
answers with ``NAME`` (env), for the local runtime tests.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc

SERVICE = "test.Echo"


def _handlers(name: str) -> grpc.GenericRpcHandler:
    prefix = name.encode() + b":"

    def unary(request: bytes, context: Any) -> bytes:
        if request.startswith(b"fail"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "asked to fail")
        if request.startswith(b"sleep:"):
            time.sleep(float(request[6:]))
        return prefix + request

    def server_stream(request: bytes, context: Any) -> Iterator[bytes]:
        for i in range(int(request)):
            yield prefix + str(i).encode()

    def client_stream(requests: Iterator[bytes], context: Any) -> bytes:
        return prefix + b"+".join(requests)

    def bidi(requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
        for r in requests:
            yield prefix + r

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        },
    )


def serve(host: str, port: int, name: str) -> tuple[grpc.Server, int]:
    """Start the service (threads); returns the server and its bound port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((_handlers(name),))
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server, bound


def channel(address: str, authority: str) -> grpc.Channel:
    """A plain-text (h2c) channel to ``address`` that names ``authority`` (the mesh service)."""
    return grpc.insecure_channel(
        address, options=[("grpc.default_authority", authority), ("grpc.enable_http_proxy", 0)]
    )


class Echo:
    """Client stubs of ``test.Echo`` on a channel."""

    def __init__(self, ch: grpc.Channel) -> None:
        self.unary = ch.unary_unary(f"/{SERVICE}/Unary")
        self.server_stream = ch.unary_stream(f"/{SERVICE}/ServerStream")
        self.client_stream = ch.stream_unary(f"/{SERVICE}/ClientStream")
        self.bidi = ch.stream_stream(f"/{SERVICE}/Bidi")


def main() -> None:
    env = os.environ
    server, port = serve(env.get("HOST", "0.0.0.0"), int(env.get("PORT", "50051")), env.get("NAME", "echo"))
    print(f"serving {SERVICE} on port {port}", flush=True)
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(1)


if __name__ == "__main__":
    main()
