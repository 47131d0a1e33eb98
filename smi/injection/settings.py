"""What the injector puts into pods (``InjectionSettings``) and the names users write on objects."""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE_LABEL = "smi-mesh.io/monitored-by"  # on a Namespace: its new pods are injected
ANNOTATION_INJECT = "smi-mesh.io/inject"  # on a Pod (template): "false" opts out
ANNOTATION_INBOUND_PORT = "smi-mesh.io/inbound-port"  # set by the injector: the pod is meshed
ANNOTATION_EXCLUDE_INBOUND_PORTS = "smi-mesh.io/exclude-inbound-ports"  # "22,8081"
ANNOTATION_EXCLUDE_OUTBOUND_PORTS = "smi-mesh.io/exclude-outbound-ports"  # "5432"
ANNOTATION_EXCLUDE_OUTBOUND_CIDRS = "smi-mesh.io/exclude-outbound-cidrs"  # "10.96.0.1/32"
PROMETHEUS_SCRAPE = "prometheus.io/scrape"
PROMETHEUS_PORT = "prometheus.io/port"
PROMETHEUS_PATH = "prometheus.io/path"

SIDECAR_NAME = "smi-proxy"
INIT_NAME = "smi-proxy-init"
TOKEN_VOLUME = "smi-mesh-token"
TOKEN_DIR = "/var/run/secrets/smi-mesh"
TOKEN_FILE = "token"


@dataclass(frozen=True, slots=True, kw_only=True)
class InjectionSettings:
    image: str = "smi-mesh:latest"
    image_pull_policy: str = "IfNotPresent"
    control_plane_url: str = "https://smi-controller.smi-system.svc:15010"  # smi controller: config stream + CA, TLS
    trust_bundle: str = ""  # PEM roots the proxy trusts the control plane with at first (env SMI_TRUST_BUNDLE)
    proxy_uid: int = 1337
    inbound_port: int = 15003
    outbound_port: int = 15001
    admin_port: int = 15000
    tap_port: int = 15002  # the mTLS tap listener (only with mTLS and a tap_identity)
    tap_identity: str = ""  # the metrics API's SPIFFE id: the one client the sidecar's tap answers
    token_audience: str = "smi-mesh"
    token_expiration_seconds: int = 3600
    # applied to every injected pod, before each pod's own annotations
    exclude_outbound_cidrs: tuple[str, ...] = ()
    exclude_inbound_ports: tuple[int, ...] = ()
    exclude_outbound_ports: tuple[int, ...] = ()
    cpu_request: str = "50m"
    memory_request: str = "64Mi"
    memory_limit: str = "256Mi"
    log_level: str = "info"
    # Graceful stop: the sidecar gets ``--drain-grace N`` (it keeps serving N seconds after
    # SIGTERM), a preStop hook that waits ``prestop_delay`` seconds (endpoints stop sending
    # new connections first) and the pod's terminationGracePeriodSeconds is raised to fit
    # both.  0 leaves the pod's stop as it is (and the sidecar's flags unchanged).
    drain_grace: int = 0
    prestop_delay: int = 3
    # Prometheus scrape annotations on every injected pod (the sidecar's /metrics)
    metrics_port: int = 15000
    metrics_path: str = "/metrics"
