# smi-mesh: one image for the control plane (`smi controller`, `smi webhook`), the sidecar
# (`smi proxy`) and its init container (`smi proxy-init`), and the demo apps.
#
#   docker build -t smi-mesh:latest .
#
# The default user is unprivileged (uid 10001).  The injected sidecar overrides it with
# uid 1337 (the uid the iptables capture exempts); only the proxy-init init container runs
# as root, with NET_ADMIN and NET_RAW, to install the rules.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# iptables (nft backend by default; the legacy binaries come with it) for proxy-init
RUN apt-get update \
    && apt-get install -y --no-install-recommends iptables \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY smi ./smi
COPY proxy ./proxy
COPY traffic_split ./traffic_split
COPY traffic_access ./traffic_access
COPY traffic_metrics ./traffic_metrics
COPY conformance ./conformance
RUN pip install . && rm -rf /src

RUN groupadd --gid 10001 smi \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin smi \
    && groupadd --gid 1337 smi-proxy \
    && useradd --uid 1337 --gid 1337 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin smi-proxy

WORKDIR /
USER 10001:10001
ENTRYPOINT ["smi"]
CMD ["--help"]
