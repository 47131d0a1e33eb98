// Draws the model with cytoscape, updating elements in place so a redraw every 2 s keeps every
// node where it was (the layout runs only when the set of nodes changes).

import cytoscape from "./vendor/cytoscape.esm.min.mjs";
import { edgeLabel, formatPercent, hasLock, keyOf } from "./graph.js";

const STYLE = [
  { selector: "node", style: { label: "data(label)", "font-size": 11, "text-valign": "bottom", "text-margin-y": 4,
    "background-color": "#4a7bd0", width: 26, height: 26, color: "#1d2733" } },
  { selector: "node.namespace", style: { label: "data(label)", "text-valign": "top", "font-size": 13, "font-weight": "bold",
    "background-color": "#eef2f7", "background-opacity": 1, "border-width": 1, "border-color": "#b8c3d1", shape: "round-rectangle",
    padding: 18, color: "#51606f" } },
  { selector: "node.split", style: { shape: "diamond", "background-color": "#8a5cc7", width: 30, height: 30 } },
  { selector: "node.service", style: { shape: "round-rectangle", "background-color": "#7d8b99" } },
  { selector: "node.failing", style: { "background-color": "#d9822b" } },
  { selector: "node:selected", style: { "border-width": 3, "border-color": "#111" } },
  { selector: "edge", style: { label: "data(label)", "font-size": 10, "curve-style": "bezier", "target-arrow-shape": "triangle",
    width: "data(width)", "line-color": "#6f8fb8", "target-arrow-color": "#6f8fb8", "text-background-color": "#fff",
    "text-background-opacity": 0.85, "text-background-padding": 2, color: "#1d2733", "min-zoomed-font-size": 9 } },
  { selector: "edge.failing", style: { "line-color": "#d9822b", "target-arrow-color": "#d9822b" } },
  { selector: "edge.denied", style: { "line-color": "#c62828", "target-arrow-color": "#c62828", "line-style": "dashed", color: "#c62828" } },
  { selector: "edge.split", style: { "line-color": "#8a5cc7", "target-arrow-color": "#8a5cc7", "line-style": "dotted", width: 2 } },
  { selector: "edge.mtls", style: { "source-arrow-shape": "square", "source-arrow-color": "#2e7d32" } },
  { selector: "node.level-off", style: { "background-color": "#c3cad3", "border-width": 2, "border-style": "dashed",
    "border-color": "#7d8b99", color: "#7d8b99" } },
  { selector: "node.level-golden", style: { "border-width": 2, "border-color": "#d9a400" } },
  { selector: "node.namespace.level-off", style: { "background-color": "#f4f5f7", "border-style": "dashed" } },
  { selector: "edge:selected", style: { width: 5 } },
];

// Past this many workloads a force layout turns into a hairball: each namespace then gets its own
// box on a grid, its workloads in rows inside it, in name order (stable between redraws).
const FORCE_LAYOUT_LIMIT = 40;
const CELL = 110;

function namespaceGrid(leaves) {
  const groups = new Map();
  leaves.forEach((n) => {
    const ns = n.data("parent") || "";
    if (!groups.has(ns)) groups.set(ns, []);
    groups.get(ns).push(n.id());
  });
  const names = [...groups.keys()].sort();
  const perRow = Math.ceil(Math.sqrt(names.length));
  const positions = {};
  let boxWidth = 0;
  for (const ids of groups.values()) boxWidth = Math.max(boxWidth, Math.ceil(Math.sqrt(ids.length)));
  const span = (boxWidth + 1) * CELL;
  names.forEach((ns, index) => {
    const ids = groups.get(ns).sort();
    const columns = Math.ceil(Math.sqrt(ids.length));
    const ox = (index % perRow) * span;
    const oy = Math.floor(index / perRow) * span;
    ids.forEach((id, i) => { positions[id] = { x: ox + (i % columns) * CELL, y: oy + Math.floor(i / columns) * CELL }; });
  });
  return positions;
}

export class TrafficMap {
  constructor(container, { onSelect } = {}) {
    this.cy = cytoscape({ container, style: STYLE, wheelSensitivity: 0.3, minZoom: 0.2, maxZoom: 3 });
    this.layoutKey = "";
    this.cy.on("tap", "node, edge", (event) => onSelect && onSelect(event.target.id()));
    this.cy.on("tap", (event) => { if (event.target === this.cy && onSelect) onSelect(null); });
  }

  // Elements of the model, as cytoscape element definitions (no positions).
  // `levels`: the monitoring level of each namespace and workload by map id (or null: unknown).
  static elements(model, namespaceFilter, levels = null) {
    const keep = (ns) => !namespaceFilter || ns === namespaceFilter;
    const out = [];
    const namespaces = new Set();
    const present = new Set();
    const levelOf = (id) => (levels && levels.get(id) ? levels.get(id).level : "routes");
    const levelClass = (id) => (levelOf(id) === "routes" ? "" : `level-${levelOf(id)}`);
    const levelNote = { off: " · not monitored", golden: " · golden", routes: "" };
    for (const node of model.nodes) {
      if (!keep(node.namespace)) continue;
      namespaces.add(node.namespace);
      present.add(node.id);
      const f = node.figures;
      const failing = f && f.total > 0 && f.success_rate !== null && f.success_rate < 0.95;
      out.push({ group: "nodes", data: { id: node.id, parent: `ns/${node.namespace}`, label: node.name + levelNote[levelOf(node.id)] },
        classes: [node.kind === "Service" ? "service" : "workload", failing ? "failing" : "", levelClass(node.id)].join(" ") });
    }
    for (const split of model.splits) {
      if (!keep(split.namespace)) continue;
      namespaces.add(split.namespace);
      present.add(split.id);
      out.push({ group: "nodes", data: { id: split.id, parent: `ns/${split.namespace}`, label: `${split.apex} (split)` }, classes: "split" });
      for (const backend of split.backends) {
        let target = keyOf({ kind: "Deployment", namespace: split.namespace, name: backend.name });
        if (!present.has(target)) {
          target = keyOf({ kind: "Service", namespace: split.namespace, name: backend.name });
          if (!present.has(target)) {
            present.add(target);
            out.push({ group: "nodes", data: { id: target, parent: `ns/${split.namespace}`, label: backend.name }, classes: "service" });
          }
        }
        out.push({ group: "edges", data: { id: `${split.id}=>${backend.name}`, source: split.id, target, width: 2,
          label: `weight ${formatPercent(backend.configured)} · measured ${formatPercent(backend.measured)}` }, classes: "split" });
      }
    }
    for (const edge of model.edges) {
      if (!present.has(edge.source) || !present.has(edge.target)) continue;
      const f = edge.figures;
      const denied = edge.denied > 0;
      const failing = !denied && f.total > 0 && f.success_rate !== null && f.success_rate < 0.95;
      out.push({ group: "edges", data: { id: edge.id, source: edge.source, target: edge.target, label: edgeLabel(edge),
        width: Math.min(8, 1.5 + Math.log10(1 + f.rps) * 2) },
        classes: [denied ? "denied" : "", failing ? "failing" : "", hasLock(edge) ? "mtls" : ""].join(" ") });
    }
    for (const ns of namespaces) {
      const id = `ns/${ns}`;
      out.unshift({ group: "nodes", data: { id, label: ns + levelNote[levelOf(id)] }, classes: `namespace ${levelClass(id)}` });
    }
    return out;
  }

  render(model, namespaceFilter, levels = null) {
    const wanted = TrafficMap.elements(model, namespaceFilter, levels);
    const cy = this.cy;
    const ids = new Set(wanted.map((e) => e.data.id));
    cy.batch(() => {
      cy.elements().forEach((element) => { if (!ids.has(element.id())) element.remove(); });
      for (const definition of wanted) {
        const existing = cy.getElementById(definition.data.id);
        if (existing.nonempty()) {
          existing.data(definition.data);
          existing.classes(definition.classes);
        } else {
          cy.add(definition);
        }
      }
    });
    const layoutKey = [...cy.nodes().map((n) => n.id())].sort().join("|");
    if (layoutKey !== this.layoutKey) {
      this.layoutKey = layoutKey;
      const leaves = cy.nodes().filter((n) => !n.isParent());
      if (leaves.length <= FORCE_LAYOUT_LIMIT) {
        cy.layout({ name: "cose", animate: false, randomize: false, nodeRepulsion: () => 9000, idealEdgeLength: () => 110,
          padding: 20, numIter: 600 }).run();
      } else {
        cy.layout({ name: "preset", positions: namespaceGrid(leaves), fit: false }).run();
      }
      cy.fit(undefined, 30);
    }
    return cy.elements().length;
  }
}
