"""A tiny TCP endpoint for the capture tests, run inside a network namespace.

``python _endpoint.py [--v6] PORT [PORT...]`` listens on 0.0.0.0:PORT (``--v6``: dual-stack
[::]:PORT) for each port, prints
``ready`` once all are bound, and answers every connection with one JSON line
``{"listener": <port it was accepted on>, "orig": [ip, port] | null, "peer": ip}`` where
``orig`` is SO_ORIGINAL_DST (null when the connection was not redirected).  Runs until killed.
"""

from __future__ import annotations

import json
import selectors
import socket
import sys

from proxy.init.origdst import NoOriginalDestination, original_destination


def main(ports: list[int], *, v6: bool) -> None:
    selector = selectors.DefaultSelector()
    for port in ports:
        listener = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if v6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind(("::" if v6 else "0.0.0.0", port))
        listener.listen(16)
        selector.register(listener, selectors.EVENT_READ, port)
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            listener = key.fileobj
            assert isinstance(listener, socket.socket)
            conn, peer = listener.accept()
            with conn:
                try:
                    orig: list[object] | None = list(original_destination(conn))
                except NoOriginalDestination:
                    orig = None
                reply = {"listener": key.data, "orig": orig, "peer": peer[0]}
                conn.sendall(json.dumps(reply).encode() + b"\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    main([int(p) for p in args if p != "--v6"], v6="--v6" in args)
