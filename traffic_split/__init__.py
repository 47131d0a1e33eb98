"""TrafficSplit (split.smi-spec.io v1alpha1..v1alpha4), end to end.

* ``group``: the group as the compile driver sees it (``smi.compile.groups.Group``): its
  kinds and served versions, what its contribution depends on.
* ``handlers``: thin kopf handlers (parse, validate, feed the store) at the watched version.
* ``compile``: TrafficSplit → weighted split routes per root service port, and statuses;
  the decided semantics are listed in its docstring (docs/semantics.md, "TrafficSplit").
* ``weights``: exact integer weights from quantities and integers.

Request matching (v1alpha3/4 ``matches``) uses ``traffic_access.matches``: the
HTTPRouteGroups it names belong to the traffic specs group, which ``traffic_access`` owns.
"""
