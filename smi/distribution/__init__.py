"""Config distribution: from store changes to each proxy's config stream.

    Store --listener--> Coalescer --batch--> Publisher.refresh() --put_nowait--> Subscription queue
                                              (compile per connected proxy,        |
                                               push only what changed)             v
                                                                  aiohttp stream handler --ndjson--> proxy

* ``coalescing``: debounce (short window) with a maximum wait.
* ``publishing``: the compile loop, memoised per (snapshot version, pod), per-proxy versions,
  the synced gate.
* ``streams``: one bounded queue per connected proxy; overflow closes the stream.
* ``identity``: who the caller is (query parameters now, the client certificate with mTLS).
* ``server``: the aiohttp routes (stream, /healthz, /readyz, /metrics).
* ``service``: all of the above started as one unit on a real socket.
"""

from smi.distribution.coalescing import Coalescer, CoalescingSettings
from smi.distribution.identity import IdentityRefused, PeerIdentity, ProxyId, QueryIdentity
from smi.distribution.metrics import DistributionMetrics
from smi.distribution.publishing import ProxyCompiler, Publisher
from smi.distribution.server import STREAM_PATH, ServerSettings, make_app
from smi.distribution.service import ConfigService
from smi.distribution.streams import Subscription
from smi.proxyconfig.canonical import canonical

__all__ = [
    "STREAM_PATH",
    "Coalescer",
    "CoalescingSettings",
    "ConfigService",
    "DistributionMetrics",
    "IdentityRefused",
    "PeerIdentity",
    "ProxyCompiler",
    "ProxyId",
    "Publisher",
    "QueryIdentity",
    "ServerSettings",
    "Subscription",
    "canonical",
    "make_app",
]
