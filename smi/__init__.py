"""smi-mesh: a Service Mesh Interface implementation.

The flow is one-way (see docs/architecture.md)::

    sources (kopf | manifest files) -> smi.model -> smi.state (Snapshot)
        -> compile (traffic_split, traffic_access) -> ProxyConfig -> config server -> proxy

Nothing imports against that flow; ``.importlinter`` enforces it.
"""

__version__ = "0.1.0"
