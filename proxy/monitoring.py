"""The sidecar's monitoring level (``smi.proxyconfig.monitoring``) applied to its series' labels.

The level is the config's ``monitoring`` field; ``proxy.holder`` applies it on every swap,
so it changes live with no restart and no lost request: requests already in flight finish
on the edges they started with.

* ``routes``: labels as they are (one series per edge and route, tap on).
* ``golden``: the ``route`` label is emptied, so every route of an edge counts on one
  series; at scrape time series counted earlier per route are summed into it too.
* ``off``: every label but ``direction`` is emptied: the proxy keeps one counter set per
  direction, and ``/metrics`` exports only its errors and denials from it (no request series).

Tap is on only at ``routes``: a swap to another level ends every tap stream with a line that
says so (``proxy.tapstream``).
"""

from __future__ import annotations

from typing import Final, TypeVar

from smi.proxyconfig.metricnames import EDGE_LABELS
from smi.proxyconfig.monitoring import MONITORING_GOLDEN, MONITORING_OFF

ROUTE: Final = EDGE_LABELS.index("route")
L = TypeVar("L", bound=tuple[str, ...])


def leveled(labels: L, level: str) -> L:
    """The labels an edge is counted under at ``level`` (the same tuple at ``routes``)."""
    if level == MONITORING_GOLDEN:
        if len(labels) <= ROUTE or not labels[ROUTE]:
            return labels
        return (*labels[:ROUTE], "", *labels[ROUTE + 1 :])  # type: ignore[return-value]
    if level == MONITORING_OFF:
        return (labels[0], *("",) * (len(labels) - 1))  # type: ignore[return-value]
    return labels
