"""TrafficTarget (access.smi-spec.io v1alpha1..v1alpha3) and the traffic specs it uses
(specs.smi-spec.io: HTTPRouteGroup, TCPRoute, UDPRoute), end to end.

* ``group``: the group as the compile driver sees it (``smi.compile.groups.Group``): its
  kinds and served versions, what its contribution depends on.
* ``handlers``: thin kopf handlers (parse, validate, feed the store) at the watched versions.
* ``compile``: TrafficTarget → allow rules per destination identity and who may reach whom,
  and statuses (docs/semantics.md, "TrafficTarget").
* ``matches``: HTTPRouteGroup matches → the proxy's ``HttpMatch``es (also used by
  ``traffic_split`` for TrafficSplit ``matches``).
* ``routes``: the statuses of the traffic specs (who uses them, unusable matches).
"""
