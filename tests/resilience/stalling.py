"""A backend that starts every response and then stalls: ``python -m tests.resilience.stalling``.

For each request it sends a response head announcing ``content-length: 100`` and the first
five bytes of the body, then nothing more (the connection stays open).  Listens on
``$HOST:0`` and prints ``listening on <host>:<port>``.
"""

from __future__ import annotations

import asyncio
import os

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello"


async def _serve(host: str) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if await reader.readuntil(b"\r\n\r\n"):
                writer.write(ANSWER)
                await writer.drain()
            await reader.read()  # until the caller gives up
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, host, 0)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    try:
        asyncio.run(_serve(os.environ.get("HOST", "127.0.0.1")))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
