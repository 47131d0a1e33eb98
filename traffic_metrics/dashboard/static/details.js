// The side panel: what a click on a node, a split or an edge tells.

import { LEVELS } from "./api.js";
import { formatMs, formatPercent, formatRate } from "./graph.js";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function table(headers, rows) {
  const t = el("table");
  t.append(el("tr", {}, ...headers.map((h) => el("th", {}, h))));
  for (const row of rows) t.append(el("tr", {}, ...row.map((c) => el("td", {}, c))));
  return t;
}

function figureRows(f) {
  if (!f) return [["no traffic in the window", ""]];
  return [
    ["requests per second", formatRate(f.rps)],
    ["success rate", formatPercent(f.success_rate)],
    ["successes / failures", `${Math.round(f.success_count || 0)} / ${Math.round(f.failure_count || 0)}`],
    ["latency p50 / p90 / p99", `${formatMs(f.p50)} / ${formatMs(f.p90)} / ${formatMs(f.p99)}`],
  ];
}

function edgeRows(edges, nameOf) {
  return edges.map((e) => [nameOf(e), formatRate(e.figures.rps), formatPercent(e.figures.success_rate), formatMs(e.figures.p99),
    e.denied > 0 ? `${formatRate(e.denied)}/s` : "", e.tls === null ? "?" : formatPercent(e.tls), e.side]);
}

function tapRows(feed) {
  return feed.events.map((e) => [new Date(e.time * 1000).toLocaleTimeString(), e.direction,
    `${e.source_workload || (e.source_identity || "?").split("/").pop()} → ${e.destination_workload || e.destination_service}`,
    e.method, e.path, String(e.status || e.error), `${Number(e.latency_ms).toFixed(1)} ms`, e.tls ? "\u{1F512}" : ""]);
}

const LEVEL_TEXT = {
  off: "off: no per-edge request series and no tap (the sidecar still reports its errors)",
  golden: "golden: requests, status classes and latency per edge, without routes; no tap",
  routes: "routes: per-route series and tap (the default)",
};

// The monitoring switch of a namespace or a Deployment (absent when the server has no levels).
function monitoringSection(target, item, { onLevel, levelError }) {
  const section = el("section", { id: "monitoring" }, el("h3", {}, "monitoring"));
  const select = el("select", { id: "monitoring-level", "aria-label": "monitoring level" });
  for (const level of LEVELS) {
    const option = new Option(level, level, false, level === item.level);
    select.add(option);
  }
  select.addEventListener("change", () => { select.disabled = true; onLevel(target, select.value); });
  const row = el("p", {}, "level ", select, " ");
  if (item.annotation || item.overlay) {
    const clear = el("button", { type: "button", id: "monitoring-clear" }, "clear");
    clear.addEventListener("click", () => { clear.disabled = true; onLevel(target, null); });
    row.append(clear);
  }
  section.append(row, el("p", { class: "hint", id: "monitoring-text" }, LEVEL_TEXT[item.level] || item.level),
    el("p", { class: "hint" }, `set by: ${item.overlay ? "this page / smi monitor" : item.source}`));
  if (item.problem) section.append(el("p", { class: "error" }, item.problem));
  if (levelError) section.append(el("p", { class: "error" }, levelError));
  return section;
}

function tapSection(feed) {
  const section = el("section", { id: "tap" }, el("h3", {}, "recent requests (tap)"));
  if (feed.ended) section.append(el("p", { class: "hint", id: "tap-off" }, feed.ended));
  if (feed.error) section.append(el("p", { class: "error" }, `tap: ${feed.error}`));
  else if (feed.ended && !feed.events.length) { /* said above */ }
  else if (!feed.events.length) section.append(el("p", { class: "hint" }, "waiting for requests…"));
  else section.append(table(["time", "dir", "from → to", "method", "path", "status", "latency", "mTLS"], tapRows(feed)));
  return section;
}

export function showDetails(panel, model, id, feed = null, { levels = null, onLevel = null, levelError = null } = {}) {
  panel.replaceChildren();
  if (!model || !id) {
    panel.append(el("p", { class: "hint" }, "Click a workload, a split or an edge for its details."));
    return;
  }
  const label = (key) => key.split("/").slice(1).join("/");
  const node = model.nodes.find((n) => n.id === id);
  const split = model.splits.find((s) => s.id === id);
  const edge = model.edges.find((e) => e.id === id);
  const headers = ["peer", "rps", "success", "p99", "denied", "mTLS", "measured"];
  const switchable = (key, target) => levels && onLevel && levels.get(key)
    ? monitoringSection(target, levels.get(key), { onLevel, levelError }) : null;
  if (id.startsWith("ns/")) {
    const name = id.slice(3);
    panel.append(el("h2", {}, `Namespace ${name}`));
    const inside = model.nodes.filter((n) => n.namespace === name);
    panel.append(el("p", {}, `${inside.length} workloads on the map`));
    const section = switchable(id, { kind: "Namespace", namespace: name, name });
    if (section) panel.append(section);
    return;
  }
  if (node) {
    panel.append(el("h2", {}, `${node.kind} ${node.namespace}/${node.name}`));
    const level = levels && levels.get(node.id);
    if (level && level.level === "off") panel.append(el("p", { class: "unmonitored" }, "not monitored (level off): no request series from its sidecar"));
    panel.append(table(["", ""], figureRows(node.figures)));
    const out = model.edges.filter((e) => e.source === id);
    const into = model.edges.filter((e) => e.target === id);
    panel.append(el("h3", {}, "calls"), table(headers, edgeRows(out, (e) => label(e.target))));
    panel.append(el("h3", {}, "called by"), table(headers, edgeRows(into, (e) => label(e.source))));
    const splits = model.splits.filter((s) => s.backends.some((b) => b.name === node.name) && s.namespace === node.namespace);
    if (splits.length) panel.append(el("h3", {}, "backend of"), table(["TrafficSplit", "weight"], splits.map((s) => [s.name, formatPercent(s.backends.find((b) => b.name === node.name).configured)])));
    const section = node.kind === "Deployment" ? switchable(node.id, node) : null;
    if (section) panel.append(section);
    if (feed) panel.append(tapSection(feed));
  } else if (split) {
    panel.append(el("h2", {}, `TrafficSplit ${split.namespace}/${split.name}`), el("p", {}, `root service: ${split.apex}`));
    panel.append(table(["backend", "weight", "configured", "measured", "rps", "success", "p99"],
      split.backends.map((b) => [b.name, String(b.weight), formatPercent(b.configured), formatPercent(b.measured),
        formatRate(b.figures.rps), formatPercent(b.figures.success_rate), formatMs(b.figures.p99)])));
  } else if (edge) {
    panel.append(el("h2", {}, `${label(edge.source)} → ${label(edge.target)}`));
    panel.append(el("p", {}, `measured on the ${edge.side} side`));
    const rows = figureRows(edge.figures);
    rows.push(["denied by the mesh", edge.denied > 0 ? `${formatRate(edge.denied)}/s` : "none"]);
    rows.push(["mutual TLS", edge.tls === null ? "unknown" : formatPercent(edge.tls)]);
    panel.append(table(["", ""], rows));
  } else {
    panel.append(el("p", { class: "hint" }, "That element left the map."));
  }
}
