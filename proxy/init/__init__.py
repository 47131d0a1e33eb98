"""proxy-init: transparent capture of a pod's TCP traffic for its sidecar (iptables, nat table).

Runs once, as root with NET_ADMIN, in the pod's network namespace before the app starts
(the injected init container ``smi proxy-init``)::

    rules      pure: CaptureSettings -> the iptables-restore text (own chains SMI_INBOUND,
               SMI_IN_REDIRECT, SMI_OUTBOUND, SMI_OUT_REDIRECT) and the cleanup text
    applying   runs iptables-save / iptables-restore --noflush (whichever ``iptables`` is on PATH)
    origdst    ``original_destination(sock)``: the address a redirected connection was meant for
               (SO_ORIGINAL_DST), for the proxy's listeners

Imports only the standard library (and may import ``smi.proxyconfig``), never control-plane code.
See docs/cluster-mode.md for which traffic is redirected and why.
"""

from proxy.init.applying import CaptureError, apply, cleanup, installed_chains
from proxy.init.origdst import NoOriginalDestination, original_destination
from proxy.init.rules import (
    CHAINS,
    DEFAULT_INBOUND_PORT,
    DEFAULT_OUTBOUND_PORT,
    DEFAULT_PROXY_UID,
    CaptureSettings,
    cleanup_rules,
    install_rules,
    parse_cidrs,
    parse_ports,
    udp_service_rules,
)

__all__ = [
    "CHAINS",
    "DEFAULT_INBOUND_PORT",
    "DEFAULT_OUTBOUND_PORT",
    "DEFAULT_PROXY_UID",
    "CaptureError",
    "CaptureSettings",
    "NoOriginalDestination",
    "apply",
    "cleanup",
    "cleanup_rules",
    "install_rules",
    "installed_chains",
    "original_destination",
    "parse_cidrs",
    "parse_ports",
    "udp_service_rules",
]
