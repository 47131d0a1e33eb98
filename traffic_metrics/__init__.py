"""TrafficMetrics (metrics.smi-spec.io v1alpha1): the read side, an aggregated API over the sidecars' metrics.

* ``group``: the group as the compile driver sees it (``smi.compile.groups.Group``): it
  watches no kind and contributes nothing to proxy configs (TrafficMetrics are computed and
  served, never stored).
* pure: ``samples`` (the sidecar's exposition text → one vector per edge), ``history``
  (bounded, thinned counters per sidecar and their change over a window), ``topology``
  (pods, workloads, services, splits), ``query`` (resources, edges both sides, split
  backends), ``model`` (the exact JSON), ``table`` (kubectl's Table), ``discovery``,
  ``selector``, ``quantity``.
* I/O: ``direct`` (scrapes every sidecar), ``promsource`` (PromQL over Prometheus),
  ``server`` (aiohttp routes), ``security`` (front-proxy certificate, SubjectAccessReview),
  ``cluster`` and ``kube`` (the topology listed from an API server).

The metric names come from ``smi.proxyconfig.metricnames``, shared with the sidecar.
docs/metrics.md describes the API.
"""
