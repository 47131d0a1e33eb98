"""HTTP/2 (h2c and h2 over mTLS) and gRPC for the sidecar.

Sans-IO core (no sockets, no clocks; tested event by event):

* ``connection``: one HTTP/2 connection on top of the ``h2`` package, server or client
  role: events in/out, send buffering under flow control with back-pressure, stream
  limits, RST_STREAM, graceful GOAWAY (streams in flight finish), trailers.
* ``messages``: a head (``:method``, ``:scheme``, ``:authority``, ``:path`` or
  ``:status`` + fields) and its mapping to the proxy's neutral ``RequestHead`` (what
  routing, TrafficSplit and HTTPRouteGroup matches and access control read, the same as
  for HTTP/1.1) and to and from HTTP/1.1 heads (protocol conversion).
* ``events``: what a connection reports.
* ``grpc``: ``grpc-timeout`` as a deadline, ``grpc-status`` as success or failure,
  gRPC-shaped local replies.
* ``ports``: which protocol a connection on a port speaks (the port's protocol, else
  detection from the first bytes with ``proxy.sniff``).

Why ``h2``: it is the maintained sans-IO HTTP/2 implementation for Python (python-hyper;
used by httpx, hypercorn and mitmproxy), so framing, HPACK and the stream state machines
are not written here.
"""
