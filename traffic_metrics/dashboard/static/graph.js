// From metrics API answers to the picture's model: nodes, edges and splits.  Pure: no DOM, no
// fetch, so the render benchmark and the browser test feed it the same way the page does.

import { figures } from "./api.js";

export const WORKLOAD_KINDS = ["deployments", "statefulsets", "daemonsets"];

export function keyOf(resource) {
  if (!resource || !resource.name) return null;
  return `${resource.kind || "?"}/${resource.namespace || ""}/${resource.name}`;
}

function metricByPrefix(fig, words) {
  for (const [name, value] of Object.entries(fig)) {
    if (words.some((word) => name.includes(word))) return value;
  }
  return 0;
}

// How much of the traffic on an edge the mesh refused (403 from the caller's own sidecar or from
// the destination's), per second; 0 when the server reports nothing of the kind.
export function deniedRate(fig) {
  const perSecond = metricByPrefix(fig, ["denied_per_second", "denied_rps"]);
  if (perSecond) return perSecond;
  const count = metricByPrefix(fig, ["denied_count", "denied"]);
  return fig.window_seconds > 0 ? count / fig.window_seconds : 0;
}

// The share of an edge's requests that went over mutual TLS (0..1), or null when unknown.
export function tlsShare(fig) {
  for (const name of ["tls_share", "mtls_share", "tls_ratio"]) {
    if (name in fig) return fig[name];
  }
  if ("tls_count" in fig && fig.total > 0) return fig.tls_count / fig.total;
  return null;
}

/**
 * @param {object} input
 * @param {Array} input.workloads   TrafficMetrics items of workload kinds (no edge)
 * @param {Array} input.edgeLists   TrafficMetricsList answers of /edges, one per workload
 * @param {Array} input.splits      TrafficMetrics items of trafficsplits (one per backend)
 */
export function buildModel({ workloads = [], edgeLists = [], splits = [] }) {
  const nodes = new Map();
  const edges = new Map();
  const addNode = (resource, fig) => {
    const id = keyOf(resource);
    if (id === null) return null;
    const existing = nodes.get(id);
    if (existing) {
      if (fig && !existing.figures) existing.figures = fig;
      return id;
    }
    nodes.set(id, { id, kind: resource.kind, namespace: resource.namespace || "", name: resource.name, figures: fig || null });
    return id;
  };
  for (const item of workloads) addNode(item.resource, figures(item));
  for (const list of edgeLists) {
    for (const item of (list && list.items) || []) {
      const edge = item.edge || {};
      const self = addNode(item.resource, null);
      const other = addNode(edge.resource, null);
      if (self === null || other === null) continue;
      const outbound = edge.direction === "to";
      const source = outbound ? self : other;
      const target = outbound ? other : self;
      const side = edge.side || (outbound ? "client" : "server");
      const id = `${source}->${target}`;
      const fig = figures(item);
      const known = edges.get(id);
      // The client's side sees what the server never does (denials, failed connects): prefer it.
      if (known && (known.side === "client" || side !== "client")) continue;
      edges.set(id, { id, source, target, side, figures: fig, denied: deniedRate(fig), tls: tlsShare(fig) });
    }
  }
  const byApex = new Map();
  for (const item of splits) {
    const backend = item.backend;
    if (!backend) continue;
    const namespace = (item.resource && item.resource.namespace) || "";
    const id = `split/${namespace}/${item.resource ? item.resource.name : backend.apex}`;
    if (!byApex.has(id)) {
      byApex.set(id, { id, namespace, name: item.resource ? item.resource.name : backend.apex, apex: backend.apex, backends: [] });
    }
    byApex.get(id).backends.push({ name: backend.name, weight: Number(backend.weight) || 0, figures: figures(item) });
  }
  for (const split of byApex.values()) {
    const weights = split.backends.reduce((sum, b) => sum + b.weight, 0);
    const total = split.backends.reduce((sum, b) => sum + b.figures.total, 0);
    for (const b of split.backends) {
      b.configured = weights > 0 ? b.weight / weights : 0;
      b.measured = total > 0 ? b.figures.total / total : null;
    }
    split.backends.sort((a, b) => a.name.localeCompare(b.name));
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()], splits: [...byApex.values()] };
}

// Namespaces present in a model, sorted.
export function namespacesOf(model) {
  return [...new Set(model.nodes.map((n) => n.namespace).concat(model.splits.map((s) => s.namespace)))].filter(Boolean).sort();
}

export function formatRate(value) {
  if (!value) return "0";
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function formatPercent(value) {
  if (value === null || value === undefined) return "–";
  return `${(value * 100).toFixed(value >= 0.9995 || value === 0 ? 0 : 1)}%`;
}

export function formatMs(value) {
  if (!value) return "0 ms";
  return value >= 100 ? `${value.toFixed(0)} ms` : `${value.toFixed(1)} ms`;
}

// An edge gets the lock when (nearly) all of its requests went over mutual TLS: the metrics API's
// `mtls_share` (0..1) at or above 0.999.  Without the metric (an older server): no lock.
export const LOCK_SHARE = 0.999;
export function hasLock(edge) {
  return edge.tls !== null && edge.tls !== undefined && edge.tls >= LOCK_SHARE;
}

export function edgeLabel(edge) {
  const f = edge.figures;
  const parts = [];
  if (f.total > 0 || !edge.denied) parts.push(`${formatRate(f.rps)} rps`, formatPercent(f.success_rate), `p99 ${formatMs(f.p99)}`);
  if (edge.denied > 0) parts.push(`denied ${formatRate(edge.denied)}/s`);
  if (hasLock(edge)) parts.push("\u{1F512}");
  return parts.join(" · ");
}
