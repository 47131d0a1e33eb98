"""The live traffic map: a static page that reads the SMI metrics API (and, later, tap).

The page is plain ES modules (``static/``) plus one library, cytoscape (graph drawing and layout,
MIT), which is installed from npm at build time into ``web/node_modules`` by
``scripts/build-dashboard`` and served from there; it is never committed.  ``serving`` mounts it
on any aiohttp application that also serves the metrics API, so the page and the API share one
origin and one authorization.
"""

from traffic_metrics.dashboard.serving import DASHBOARD_PREFIX, add_dashboard_routes, library_path

__all__ = ["DASHBOARD_PREFIX", "add_dashboard_routes", "library_path"]
