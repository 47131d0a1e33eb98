"""The sidecar's HTTP engine: a sans-IO core inside a thin asyncio shell.

Layout (one direction of dependency, top to bottom)::

    (proxy.httpshell, outside this package so that the package stays free of I/O and of
    the pool and admission modules it would otherwise import back:) the only I/O,
                 asyncio.Protocol for the client side, one per upstream socket;
                 feeds events to a core, executes the commands it returns, owns timers
    connection   HttpConnection(Requesting): the HTTP/1.1 downstream connection state machine (sans-IO)
    requesting   Requesting(Responding): client bytes parsed into exchanges, limits, request trailers
    responding   Responding(Relay): the upstream's response relayed to the client (response trailers)
    relaying     Relay(CoreState): route, attempt, finish, errors (the exchange side of the core)
    state        CoreState: a connection core's attributes, its output and its one timer
    exchanges    Exchange: one request and its response as the core tracks it
    writing      bytes of heads the core writes (local replies, request and response heads)
    events       what happened (ClientData, UpstreamData, UpstreamConnected, DeadlineReached, ...)
    commands     what to do (WriteClient, OpenUpstream, WriteUpstream, ReleaseUpstream, SetTimer, ...)
    attempts     Attempt (one try at one upstream), ConnectFailure, RetryPolicy (ConnectRetry)
    upstreams    Upstream: sans-IO state of one upstream HTTP/1.1 connection (response parser)

Using a core (what the shell does, and what a test does without sockets)::

    conn = HttpConnection(router=router, clock=loop.time, limits=limits, retry=ConnectRetry())
    for command in conn.handle(ClientData(b"GET / HTTP/1.1\\r\\nHost: web\\r\\n\\r\\n")):
        ...   # e.g. OpenUpstream(attempt): connect, then conn.handle(UpstreamConnected(attempt, upstream))

``handle(event) -> list[Command]`` is the whole interface; the shell also calls the
event's method directly on the hot path (``conn.client_data(data)``, same code, no event
object).  Events are past-tense facts, commands imperatives (``events``, ``commands``).
Time comes from the injected ``clock``; the core asks for a wake-up with ``SetTimer`` and
gets ``DeadlineReached``.  Logging is the ``Log`` command (the shell rate-limits it).

The exchange, protocol-neutral (what an HTTP/2 stream drives the same way):

1. a request head is complete -> ``proxy.headers.RequestHead`` (method, normalised path,
   end-to-end headers) and the authority; the ``Router`` (``proxy.targets``) decides:
   a ``Target`` or a ``LocalReply``.  Routing only decides; the core counts metrics after.
2. an attempt is made at the target (``Relay._attempt``): an idle connection taken from the
   pool (taking one is pure; the exchange's first ``WriteUpstream`` binds it), or ``OpenUpstream(attempt)`` with
   an ``Attempt``, which the shell answers with ``UpstreamConnected(attempt, upstream)`` or
   ``UpstreamConnectFailed(attempt, failure)``.  On a failure before any byte was sent
   the ``RetryPolicy`` may name another target: a new ``Attempt`` (``number`` + 1) within
   the request's deadline.  This is the one place a retry policy plugs in.
3. request body chunks and the end (trailers are dropped by HTTP/1.1 re-framing) go to
   the upstream as ``WriteUpstream``; response head, body chunks and end come back from
   the upstream's codec (``Upstream.feed`` -> ``ResponseSink`` callbacks) and go to the
   client as ``WriteClient``.
4. the exchange ends: ``ReleaseUpstream`` (pooled when both sides keep it alive), the
   outcome is counted on the target's edge and told to a learning picker once.

Per-config state (pickers, caches) is in ``proxy.runtime.ConfigRuntime``; compiled tables
(``proxy.compiled``) are immutable.  Upstream connections are pooled per destination
endpoint (``proxy.upstream.UpstreamPool``) and outlive the client connections they serve.
"""
