"""Before ``smi controller`` starts watching: is there a Kubernetes API server, and does it answer?

kopf would otherwise retry an unreachable server for minutes, logging a traceback per
attempt, and a missing kubeconfig ends in a traceback.  ``check_api_server`` resolves the
server the way the controller will (``--server``, else in-cluster or kubeconfig through
kopf's login) and sends ``GET /version`` within a bound; any HTTP answer (even 401) means
reachable.  Failures come back as one line for the user.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time

import aiohttp
import kopf

RETRY_EVERY = 0.5


class ApiServerUnavailable(Exception):
    """One line: which server, and why it cannot be used."""


def _ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    context = ssl.create_default_context()
    if info.ca_path:
        context.load_verify_locations(cafile=info.ca_path)
    elif info.ca_data:
        data = info.ca_data
        text = data.decode() if isinstance(data, bytes) else str(data)
        if "BEGIN CERTIFICATE" not in text:
            text = base64.b64decode(text).decode()
        context.load_verify_locations(cadata=text)
    if info.certificate_path and info.private_key_path:
        context.load_cert_chain(info.certificate_path, info.private_key_path)
    return context


def resolve(server: str | None) -> kopf.ConnectionInfo:
    """The API server the controller will use (raises ``ApiServerUnavailable`` when there is none)."""
    if server is not None:
        return kopf.ConnectionInfo(server=server)
    try:
        quiet = logging.getLogger("smi.cli.apiserver")
        info: kopf.ConnectionInfo | None = kopf.login_via_client(logger=quiet, settings=kopf.OperatorSettings())
    except kopf.LoginError as e:
        raise ApiServerUnavailable(f"no Kubernetes API server: {e} (give one with --server URL)") from e
    except Exception as e:  # the client library's own errors (a broken kubeconfig, ...)
        raise ApiServerUnavailable(f"no Kubernetes API server: {type(e).__name__}: {e}") from e
    if info is None:
        raise ApiServerUnavailable("no Kubernetes API server: no in-cluster or kubeconfig credentials (use --server)")
    return info


async def check_api_server(info: kopf.ConnectionInfo, *, within: float) -> None:
    """``GET /version`` until an HTTP answer, for at most ``within`` seconds."""
    url = info.server.rstrip("/") + "/version"
    headers = {"Authorization": f"Bearer {info.token}"} if info.token else {}
    try:
        context = _ssl_context(info) if info.server.startswith("https:") else True
    except (OSError, ssl.SSLError, ValueError) as e:
        raise ApiServerUnavailable(f"cannot use the API server's TLS settings for {info.server}: {e}") from e
    deadline = time.monotonic() + within
    last = ""
    async with aiohttp.ClientSession() as session:
        while True:
            left = deadline - time.monotonic()
            try:
                async with session.get(
                    url, headers=headers, ssl=context, timeout=aiohttp.ClientTimeout(total=max(left, 0.1))
                ):
                    return
            except aiohttp.ClientConnectorError as e:
                last = str(e.os_error).split("] ", 1)[-1]
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
                last = str(e) or type(e).__name__
            if time.monotonic() + RETRY_EVERY >= deadline:
                raise ApiServerUnavailable(
                    f"cannot reach the Kubernetes API server at {info.server} within {within:.0f} s: {last}"
                )
            await asyncio.sleep(RETRY_EVERY)  # retry pacing within the bound


__all__ = ["ApiServerUnavailable", "check_api_server", "resolve"]
