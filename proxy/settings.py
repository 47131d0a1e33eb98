"""What one sidecar is told: its settings (``smi proxy``'s flags) and its static config file.

``ProxySettings`` is what ``smi proxy`` parses its flags into and what ``proxy.running.Proxy``
runs with (tests build one directly); ``Forward`` is one ``--forward`` (or ``--udp-forward``);
``load_config_file`` reads ``--config-file`` (a ProxyConfig JSON object, or a config-stream
message).  Addresses may use port 0; the bound ones are in ``Proxy.addresses`` after ``start``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from proxy.limits import DEFAULT_LIMITS, HttpLimits
from smi.proxyconfig import ProxyConfig, decode

Address = tuple[str, int]

MTLS_MODES = ("strict", "permissive", "off")


@dataclass(frozen=True, slots=True)
class Forward:
    """``--forward LISTEN_ADDR:PORT=SERVICE.NAMESPACE:PORT``."""

    listen: Address
    namespace: str
    service: str
    port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxySettings:
    namespace: str = ""
    pod: str = ""
    control_plane: str | None = None
    config_file: Path | None = None
    outbound: Address | None = ("127.0.0.1", 15001)
    inbound: Address | None = ("0.0.0.0", 15003)
    admin: Address | None = ("127.0.0.1", 15000)
    bind_address: str = ""
    forwards: tuple[Forward, ...] = ()
    inbound_connect_timeout: float = 1.0
    inbound_request_timeout: float = 60.0
    http_limits: HttpLimits = DEFAULT_LIMITS  # request-head size and time limits (proxy.limits)
    backoff_initial: float = 0.1
    backoff_max: float = 5.0
    mtls: str = "off"  # "strict", "permissive" or "off"
    ca_url: str | None = None  # the CA API, e.g. https://cp:15010/ca
    token_file: Path | None = None  # bootstrap token (local runtime) or projected ServiceAccount token
    trust_bundle_pem: str | None = None  # PEM roots to trust the control plane with before the first certificate
    identity: str = ""  # the SPIFFE id to ask a certificate for ("" = the static config's node identity)
    certificate_timeout: float = 60.0  # give up starting when no certificate arrives within this
    max_connections: int = 0  # open connections per data listener (0: from the open-files limit, proxy.admission)
    drain_grace: float = 5.0  # seconds to finish in-flight requests after SIGTERM before exiting
    h1_over_h2: bool = False  # the app's HTTP/1.1 requests ride multiplexed HTTP/2 to peer sidecars (proxy.http2)
    capture: bool = True  # the outbound listener reads SO_ORIGINAL_DST and sniffs (proxy.capture)
    detect_timeout: float = 1.0  # seconds to wait for a client's first bytes (proxy.sniff.DETECT_TIMEOUT)
    udp_forwards: tuple[Forward, ...] = ()  # UDP listeners bound to one service port each (proxy.udp)
    tap: Address | None = None  # the mTLS tap listener for the metrics API (proxy.admin.start_tap_listener)
    tap_identities: tuple[str, ...] = ()  # the SPIFFE ids it answers (the metrics API's)


class ConfigFileError(ValueError):
    pass


def load_config_file(path: Path) -> tuple[ProxyConfig, int]:
    """A static config: a ProxyConfig JSON object, or a stream message ``{"type": "config", ...}``."""
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("type") == "config":
            return decode(ProxyConfig, data["config"]), int(data.get("version", 0))
        return decode(ProxyConfig, data), 0
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigFileError(f"{path}: not a usable ProxyConfig: {e}") from e


__all__ = ["MTLS_MODES", "Address", "ConfigFileError", "Forward", "ProxySettings", "load_config_file"]
