"""The mesh's own policy group (policy.smi-mesh.io v1alpha1), end to end, shaped like ``traffic_split``.

* ``group``: the group as the compile driver sees it (``smi.compile.groups.Group``): its kinds
  (UpstreamTrafficPolicy, RateLimitPolicy) and what its contribution depends on.
* ``handlers``: thin kopf handlers (parse, validate, feed the store).
* ``compile``: policies -> per-cluster ``ClusterResilience`` (caller side) and per-service
  ``InboundRateLimit`` (destination side), and statuses.

The hub types, schema and parsing are where every kind's are (``smi.model.policy``,
``smi.schemas.policy``, ``smi.model.parsing.policy``); docs/resilience.md is the user's view.
Per-route policies read HTTPRouteGroup matches through ``traffic_access.matches``, like
``traffic_split``.
"""
