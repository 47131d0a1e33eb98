"""The smi-mesh sidecar proxy: the data plane next to one workload.

Layout (one direction of dependency, top to bottom)::

    running      wires everything: listeners, admin server, config stream client
    admin        /ready /live /metrics /config (asyncio + httptools, off the hot path)
    configstream the control plane's ndjson config stream: reconnect, backoff, last good config
    httpclient   a small HTTP/1.1 client for the control plane (config stream, CA)
    identity     the workload certificate: key, CSR, renewal, TLS contexts, peer identity
    init         proxy-init: iptables capture rules and SO_ORIGINAL_DST
    inbound      the inbound listener: PROXY v2 header, identity, per-port HTTP or TCP
    outbound     the outbound listener (HTTP proxy) and static ``--forward`` listeners
    http1        the HTTP/1.1 forwarding engine (asyncio.Protocol + httptools)
    upstream     upstream connections and the keep-alive pool
    tcp          opaque TCP splicing (through the upstream pool, so mTLS applies)
    sniff        pure: protocol detection from a connection's first bytes (HTTP/1, h2c, TLS, opaque)
    metrics      counters aggregated in plain dicts, rendered at scrape time
    exposition   the Prometheus text format, without prometheus_client
    compiled     a ProxyConfig turned into lookup tables (immutable, swapped atomically)
    routing      pure: request head + compiled config -> cluster (splits, matches)
    authz        pure: identity + port + request head + rules -> Allow | Deny
    balancing    pure: smooth weighted round-robin, round-robin, EWMA pickers
    proxyproto   pure: PROXY protocol v2 encoding and decoding
    headers      pure: hop-by-hop header handling, request target parsing

The proxy imports nothing from the control plane except ``smi.proxyconfig`` (the contract).
"""
